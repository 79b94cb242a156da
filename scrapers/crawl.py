"""Run one spider in this process and write its items as JSON Lines.

`clusterdata crawl` starts this module as a subprocess per source: Twisted's reactor cannot be
restarted, so crawls never run inside the CLI or Dagster process.

    python -m scrapers.crawl SOURCE_ID --out FILE [--offline --recordings DIR] [--record DIR]

Exit 0 only when the crawl finished cleanly with items; the output file then appears atomically
(written as FILE.partial, renamed at the end). Any error: one line on stderr, exit 1, no FILE.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from scrapers.middlewares import DEFERRED_STAT, QUARANTINED_LIST_STAT
from scrapers.pipelines import ITEMS_STAT
from scrapers.registry import RegistryError, get_source

# Exit status of a source deferred by its server (Retry-After above the cap): not a failure of
# the source, and not an empty one either.
EXIT_DEFERRED = 3


def crawl_settings(
    out: Path, offline: bool, recordings: Path | None, record: Path | None, log_file: Path | None
) -> Settings:
    settings = get_project_settings()
    settings.setmodule("scrapers.settings", priority="project")
    settings.set("FEEDS", {str(out): {"format": "jsonlines", "encoding": "utf-8"}})
    settings.set("CLUSTERDATA_OFFLINE", offline)
    # Bulk files land beside the run: <run_id>.files/ (see scrapers/bulk.py).
    settings.set("CLUSTERDATA_FILES_DIR", str(files_dir(out)))
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
    if log_file:
        settings.set("LOG_FILE", str(log_file))
        settings.set("LOG_FILE_APPEND", False)
    # Scrapy's root handler writes to LOG_FILE when set, so stderr keeps only our verdict.
    settings.set("LOG_INSTALL_ROOT_HANDLER", True)
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
        n for key, n in stats.items()
        if key.startswith(ITEMS_STAT.format(entity="")) and not key.endswith("/documents")
    )
    if not data_items:
        # Documents alone mean the pages were fetched but nothing was read from them.
        return "0 items" if not stats.get("item_scraped_count") else "0 data items (only documents)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scrapers.crawl", description=__doc__)
    parser.add_argument("source_id")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--recordings", type=Path)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--stats", type=Path, help="write the crawl stats here as JSON")
    args = parser.parse_args(argv)
    try:
        get_source(args.source_id)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.offline and not (args.recordings and (args.recordings / args.source_id).is_dir()):
        print(f"error: no recordings for {args.source_id} in {args.recordings}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.unlink(missing_ok=True)
    shutil.rmtree(files_dir(partial), ignore_errors=True)
    settings = crawl_settings(partial, args.offline, args.recordings, args.record, args.log_file)
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(args.source_id)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    if args.stats:
        args.stats.write_text(json.dumps(stats, default=str, indent=2), encoding="utf-8")
    reason = failure_reason(stats)
    if reason:
        partial.unlink(missing_ok=True)
        shutil.rmtree(files_dir(partial), ignore_errors=True)
        print(f"error: {args.source_id}: {reason}", file=sys.stderr)
        return EXIT_DEFERRED if stats.get(DEFERRED_STAT) else 1
    partial.replace(args.out)
    print(
        json.dumps(
            {
                "source_id": args.source_id,
                "items": stats["item_scraped_count"],
                "pages": stats.get("response_received_count", 0),
                # Pages kept out because their text could not be decoded cleanly, with why.
                "quarantined_pages": stats.get(QUARANTINED_LIST_STAT, []),
                "out": str(args.out),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
