"""Start crawls as subprocesses (Twisted's reactor cannot restart inside one process)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.layout import DataLayout


class CrawlFailed(RuntimeError):
    """A crawl that did not finish cleanly; the message is one line, for a user. `deferred`:
    the server asked us to come back later (Retry-After above the cap), so the source is not
    broken, only postponed."""

    def __init__(self, message: str, deferred: bool = False, duration_s: float | None = None):
        super().__init__(message)
        self.deferred = deferred
        # Seconds the crawl process ran before it failed (the run report and source_health).
        self.duration_s = duration_s


@dataclass(frozen=True)
class CrawlResult:
    source_id: str
    out: Path
    items: int
    pages: int
    # Pages kept out of the run because their text could not be decoded cleanly, with why.
    quarantined_pages: tuple[str, ...] = ()
    # Wall-clock seconds of the crawl subprocess (start-up included: it is what the run costs).
    duration_s: float | None = None


def new_run_id() -> str:
    """Sortable UTC run id, e.g. 20261123T071502Z."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def crawl_options(
    layout: DataLayout, offline: bool, recordings: Path | None, record: Path | None
) -> list[str]:
    """The `scrapers.crawl` options every refresh passes: replay or record, the memo of
    extractions (unchanged documents are not re-read), and live, the HTTP cache that makes
    requests conditional (a 304 is answered from the stored copy)."""
    options = ["--memo-dir", str(layout.memo)]
    if offline:
        options += ["--offline", "--recordings", str(recordings)]
    else:
        options += ["--cache-dir", str(layout.http_cache)]
    if record:
        options += ["--record", str(record)]
    return options


def crawl_source(
    source_id: str,
    layout: DataLayout,
    *,
    offline: bool,
    recordings: Path | None = None,
    record: Path | None = None,
    run_id: str | None = None,
) -> CrawlResult:
    """Crawl one source into raw/<source_id>/<run_id>.jsonl; raise CrawlFailed with the reason."""
    results, failures = crawl_sources(
        [source_id], layout, offline=offline, recordings=recordings, record=record, run_id=run_id
    )
    if source_id in failures:
        raise failures[source_id]
    return results[0]


def crawl_sources(
    source_ids: list[str],
    layout: DataLayout,
    *,
    offline: bool,
    recordings: Path | None = None,
    record: Path | None = None,
    run_id: str | None = None,
    on_done: Callable[[str], None] = lambda source_id: None,
) -> tuple[list[CrawlResult], dict[str, CrawlFailed]]:
    """Crawl every source in ONE subprocess (one reactor, one Crawler per source: start-up is
    paid once); each source's result or CrawlFailed as it ends, `on_done` called per source."""
    run_id = run_id or new_run_id()
    for source_id in source_ids:
        (layout.logs / source_id).mkdir(parents=True, exist_ok=True)
    placeholder = "{source_id}"
    cmd = [
        sys.executable,
        "-m",
        "scrapers.crawl",
        *source_ids,
        "--out",
        str(layout.raw / placeholder / f"{run_id}.jsonl"),
        "--log-file",
        str(layout.logs / placeholder / f"{run_id}.log"),
    ]
    cmd += crawl_options(layout, offline, recordings, record)
    started = time.monotonic()
    results, failures = [], {}
    # stderr to a file, not a pipe: read only at the end, a full pipe would block the crawl.
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as err,
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            summary = json.loads(line)
            source_id = summary["source_id"]
            log = layout.logs / source_id / f"{run_id}.log"
            if "error" in summary:
                failures[source_id] = CrawlFailed(
                    f"{summary['error']} (log: {log})",
                    deferred=summary.get("deferred", False),
                    duration_s=summary.get("duration_s"),
                )
            else:
                results.append(
                    CrawlResult(
                        source_id,
                        Path(summary["out"]),
                        summary["items"],
                        summary["pages"],
                        tuple(summary.get("quarantined_pages", ())),
                        summary.get("duration_s"),
                    )
                )
            on_done(source_id)
        proc.wait()
        err.seek(0)
        stderr = err.read()
    # A source the process never settled (it crashed): failed, with its last words.
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    for source_id in source_ids:
        if source_id not in failures and all(r.source_id != source_id for r in results):
            reason = lines[-1].removeprefix("error: ") if lines else f"exit {proc.returncode}"
            failures[source_id] = CrawlFailed(
                f"{reason} (log: {layout.logs / source_id / f'{run_id}.log'})",
                duration_s=round(time.monotonic() - started, 3),
            )
            on_done(source_id)
    return results, failures
