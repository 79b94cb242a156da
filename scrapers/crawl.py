"""Run spiders in this process and write each one's items as JSON Lines.

`clusterdata crawl` and `clusterdata refresh` start this module as ONE subprocess for all the
sources of a run (Twisted's reactor cannot be restarted, so crawls never run inside the CLI or
Dagster process): one CrawlerProcess, one Crawler per source, all in one reactor. Start-up
(Python, Scrapy, every spider module) is paid once per run instead of once per source.

    python -m scrapers.crawl SOURCE_ID --out FILE [--offline --recordings DIR] [--record DIR]
    python -m scrapers.crawl SOURCE_ID... --out 'DIR/{source_id}/RUN.jsonl' --log-file ...

With several sources, `--out`, `--log-file` and `--stats` name each source's file through a
`{source_id}` placeholder. Each source's output file appears atomically (written as FILE.partial,
renamed when that source's crawl ends) only when it finished cleanly with items. Per source,
stdout gets one JSON line as it ends: its summary, or {"source_id", "error", "deferred"}; a
failed source also gets one `error: SOURCE: reason` line on stderr. Exit 0 when every source is
good; EXIT_DEFERRED when the only failures are deferrals; else 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from scrapers import EXIT_DEFERRED
from scrapers.extract.memo import Memo
from scrapers.middlewares import DEFERRED_STAT, QUARANTINED_LIST_STAT
from scrapers.pipelines import ITEMS_STAT
from scrapers.registry import RegistryError, get_source

PLACEHOLDER = "{source_id}"


def crawl_settings(
    out: Path | None,
    offline: bool,
    recordings: Path | None,
    record: Path | None,
    log_file: Path | None = None,
    cache_dir: Path | None = None,
    memo_dir: Path | None = None,
) -> Settings:
    settings = get_project_settings()
    settings.setmodule("scrapers.settings", priority="project")
    # A source's own files outrank the process's settings (None: those, holding no source's
    # files), which Scrapy merges into every crawler it runs.
    own = "cmdline"
    if out is not None:
        settings.set("FEEDS", {str(out): {"format": "jsonlines", "encoding": "utf-8"}}, own)
        # Bulk files land beside the run: <run_id>.files/ (see scrapers/bulk.py).
        settings.set("CLUSTERDATA_FILES_DIR", str(files_dir(out)), own)
    settings.set("CLUSTERDATA_OFFLINE", offline)
    if offline:
        settings.set("CLUSTERDATA_RECORDINGS_DIR", str(recordings))
        # robots.txt is a live-politeness concern; offline nothing reaches a server.
        settings.set("ROBOTSTXT_OBEY", False)
        settings.set("DOWNLOAD_DELAY", 0)
        settings.set("AUTOTHROTTLE_ENABLED", False)
        # A recorded error answers the same every time: waiting between replays proves nothing.
        settings.set("CLUSTERDATA_RETRY_BASE_DELAY", 0.0)
    if record:
        settings.set("CLUSTERDATA_RECORD_DIR", str(record))
    if cache_dir:
        # Conditional requests (scrapers/httpcache.py). Refreshes pass it for live crawls only:
        # offline, the recordings are the server and nothing is fetched to save.
        settings.set("HTTPCACHE_ENABLED", True)
        settings.set("HTTPCACHE_DIR", str(cache_dir.resolve()))
    if memo_dir:
        settings.set("CLUSTERDATA_MEMO_DIR", str(memo_dir))
    # Each source logs to its own file (SourceLog); the root handler gets nothing, so stderr
    # keeps only our verdicts.
    settings.set("LOG_FILE", os.devnull)
    settings.set("LOG_FILE_APPEND", True)
    settings.set("LOG_INSTALL_ROOT_HANDLER", True)
    if log_file:
        settings.set("CLUSTERDATA_LOG_FILE", str(log_file), own)
    # log_count/<LEVEL> per source, not per process (several crawlers share the root logger).
    extensions = settings.getdict("EXTENSIONS")
    extensions.update({"scrapy.extensions.logcount.LogCount": None, "scrapers.crawl.SourceLog": 0})
    settings.set("EXTENSIONS", extensions)
    return settings


def files_dir(out: Path) -> Path:
    """Where a run's bulk files go: raw/<source_id>/<run_id>.files/."""
    name = out.name.removesuffix(".partial").removesuffix(".jsonl")
    return out.parent / f"{name}.files"


def failure_reason(stats: dict) -> str | None:
    """Why a finished crawl must not count as good, or None."""
    if stats.get(DEFERRED_STAT):
        return f"deferred: {stats[DEFERRED_STAT]}"
    if stats.get("clusterdata/unrecorded"):
        return f"offline: no recording for {stats['clusterdata/unrecorded_first']}"
    if stats.get("finish_reason") != "finished":
        return f"crawl ended with {stats.get('finish_reason')!r}"
    if stats.get("log_count/ERROR"):
        return f"{stats['log_count/ERROR']} errors logged"
    if stats.get("item_dropped_count"):
        return f"{stats['item_dropped_count']} items refused by the item contract"
    data_items = sum(
        n
        for key, n in stats.items()
        if key.startswith(ITEMS_STAT.format(entity="")) and not key.endswith("/documents")
    )
    if not data_items:
        # Documents alone mean the pages were fetched but nothing was read from them.
        return "0 items" if not stats.get("item_scraped_count") else "0 data items (only documents)"
    return None


class _ThisSource(logging.Filter):
    """Records of one crawler's spider, and those that name no spider (Scrapy's and Twisted's
    own): with several crawlers open, an unattributable error counts against each of them."""

    def __init__(self, spider: Spider):
        super().__init__()
        self.spider = spider

    def filter(self, record: logging.LogRecord) -> bool:
        spider = getattr(record, "spider", None)
        return spider is None or spider is self.spider


class _Counter(logging.Handler):
    def __init__(self, crawler: Crawler, level: str):
        super().__init__(level)
        self.crawler = crawler

    def emit(self, record: logging.LogRecord) -> None:
        self.crawler.stats.inc_value(f"log_count/{record.levelname}")


class SourceLog:
    """Scrapy's LogCount, per source: counts (log_count/<LEVEL>) and a log file
    (CLUSTERDATA_LOG_FILE) of this crawler's records only, while its spider is open."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.handlers: list[logging.Handler] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SourceLog:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        settings = self.crawler.settings
        level = settings.get("LOG_LEVEL")
        self.handlers = [_Counter(self.crawler, level)]
        path = settings.get("CLUSTERDATA_LOG_FILE")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, mode="w", encoding="utf-8")
            handler.setLevel(level)
            handler.setFormatter(
                logging.Formatter(settings.get("LOG_FORMAT"), settings.get("LOG_DATEFORMAT"))
            )
            self.handlers.append(handler)
        for handler in self.handlers:
            handler.addFilter(_ThisSource(spider))
            logging.root.addHandler(handler)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        for handler in self.handlers:
            logging.root.removeHandler(handler)
            handler.close()
        self.handlers = []


@dataclass
class Job:
    """One source of a run and where its files go."""

    source_id: str
    out: Path
    log_file: Path | None
    stats: Path | None

    @property
    def partial(self) -> Path:
        return self.out.with_name(self.out.name + ".partial")


def _per_source(path: Path | None, source_id: str, many: bool) -> Path | None:
    if path is None:
        return None
    if many and PLACEHOLDER not in str(path):
        raise ValueError(f"with several sources, {path} must contain {PLACEHOLDER}")
    return Path(str(path).replace(PLACEHOLDER, source_id))


def finish(job: Job, crawler: Crawler, started: float, error: str | None) -> int:
    """Settle one source: keep or drop its output, print its line; its exit status."""
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if job.stats:
        job.stats.write_text(json.dumps(stats, default=str, indent=2), encoding="utf-8")
    reason = error or failure_reason(stats)
    if reason:
        job.partial.unlink(missing_ok=True)
        shutil.rmtree(files_dir(job.partial), ignore_errors=True)
        deferred = bool(stats.get(DEFERRED_STAT)) and not error
        print(f"error: {job.source_id}: {reason}", file=sys.stderr, flush=True)
        line = {"source_id": job.source_id, "error": reason, "deferred": deferred}
        code = EXIT_DEFERRED if deferred else 1
    else:
        job.partial.replace(job.out)
        line = {
            "source_id": job.source_id,
            "items": stats["item_scraped_count"],
            "pages": stats.get("response_received_count", 0),
            # Pages kept out because their text could not be decoded cleanly, with why.
            "quarantined_pages": stats.get(QUARANTINED_LIST_STAT, []),
            "out": str(job.out),
            "reused_pages": stats.get("clusterdata/memo/reused", 0),
            "revalidated": stats.get("httpcache/revalidate", 0),
        }
        code = 0
    line["duration_s"] = round(time.monotonic() - started, 3)
    print(json.dumps(line), flush=True)
    return code


def run(jobs: list[Job], args: argparse.Namespace) -> int:
    """Crawl every job's source in one reactor; the combined exit status."""
    codes: dict[str, int] = {}
    common = (args.offline, args.recordings, args.record)
    # Scrapy merges the process's settings into each crawler it runs: they hold no source's files.
    process = CrawlerProcess(crawl_settings(None, *common, None, args.cache_dir, args.memo_dir))
    crawlers: list[tuple[Job, Crawler]] = []
    for n, job in enumerate(jobs):
        job.out.parent.mkdir(parents=True, exist_ok=True)
        job.partial.unlink(missing_ok=True)
        shutil.rmtree(files_dir(job.partial), ignore_errors=True)
        settings = crawl_settings(job.partial, *common, job.log_file, args.cache_dir, args.memo_dir)
        # The first crawler installs the reactor.
        spidercls = process.spider_loader.load(job.source_id)
        crawlers.append((job, Crawler(spidercls, settings, init_reactor=n == 0)))
    for job, crawler in crawlers:
        started = time.monotonic()

        def done(result: Any, job: Job = job, crawler: Crawler = crawler, t: float = started):
            error = None
            if hasattr(result, "getErrorMessage"):  # a Failure: the crawler never ran
                error = f"crawl failed: {result.getErrorMessage()}"
            codes[job.source_id] = finish(job, crawler, t, error)

        process.crawl(crawler).addBoth(done)
    process.start()
    bad = [c for c in codes.values() if c]
    if not bad:
        return 0
    return EXIT_DEFERRED if all(c == EXIT_DEFERRED for c in bad) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scrapers.crawl", description=__doc__)
    parser.add_argument("source_ids", nargs="+", metavar="source_id")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--recordings", type=Path)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--stats", type=Path, help="write the crawl stats here as JSON")
    parser.add_argument("--cache-dir", type=Path, help="HTTP cache (conditional requests)")
    parser.add_argument("--memo-dir", type=Path, help="reuse extraction of unchanged documents")
    args = parser.parse_args(argv)
    many = len(args.source_ids) > 1
    try:
        jobs = []
        for source_id in dict.fromkeys(args.source_ids):
            get_source(source_id)
            if args.offline and not (args.recordings and (args.recordings / source_id).is_dir()):
                raise RegistryError(f"no recordings for {source_id} in {args.recordings}")
            jobs.append(
                Job(
                    source_id,
                    _per_source(args.out, source_id, many),
                    _per_source(args.log_file, source_id, many),
                    _per_source(args.stats, source_id, many),
                )
            )
    except (RegistryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.memo_dir:
        Memo(args.memo_dir).prune()
    return run(jobs, args)


if __name__ == "__main__":
    sys.exit(main())
