"""Each source's latest crawl outcome, kept beside the data in DATA_DIR/health.json.

A crawl that fails leaves no run file (scrapers/crawl.py writes it atomically), so the source's
latest run file is still its last good one: the refresh goes on with it (carry-forward) and this
file says why that source is stale, so the warehouse build can publish it as such.

Each refresh also appends its own outcomes to DATA_DIR/health/<run_id>.json (one file per run,
never rewritten by a later run): the history the public source_health table is built from."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipelines.crawling import CrawlFailed, CrawlResult, new_run_id
from pipelines.layout import DataLayout

OK, FAILED, DEFERRED = "ok", "failed", "deferred"
# Runs kept in the source_health table (older history files stay on disk, unpublished).
HISTORY_RUNS = 100


def read_health(layout: DataLayout) -> dict[str, dict]:
    """{source_id: {status, reason, items, pages, duration_s, checked_at}} of the latest crawl of
    each source (empty when no refresh has recorded one)."""
    try:
        return json.loads(layout.health.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def record_crawls(
    layout: DataLayout,
    results: Iterable[CrawlResult],
    failures: Mapping[str, CrawlFailed],
    now: dt.datetime | None = None,
    run_id: str | None = None,
) -> dict[str, dict]:
    """Update health.json with this refresh's crawls (sources not crawled keep their entry) and
    write this run's outcomes to health/<run_id>.json."""
    checked_at = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_id = run_id or new_run_id()
    health = read_health(layout)
    this_run: dict[str, dict] = {}
    for r in results:
        health[r.source_id] = {
            "status": OK,
            "reason": (
                f"{len(r.quarantined_pages)} pages kept out: " + "; ".join(r.quarantined_pages)
                if r.quarantined_pages
                else None
            ),
            "items": r.items,
            "pages": r.pages,
            "duration_s": r.duration_s,
            "checked_at": checked_at,
        }
        this_run[r.source_id] = health[r.source_id]
    for source_id, exc in failures.items():
        health[source_id] = {
            "status": DEFERRED if exc.deferred else FAILED,
            "reason": str(exc),
            "items": None,
            "pages": None,
            "duration_s": exc.duration_s,
            "checked_at": checked_at,
        }
        this_run[source_id] = health[source_id]
    _write_json(layout.health, health)
    if this_run:
        _write_json(
            history_dir(layout) / f"{run_id}.json",
            {"run_id": run_id, "checked_at": checked_at, "sources": this_run},
        )
    return health


def history_dir(layout: DataLayout) -> Path:
    return layout.root / "health"


def read_history(layout: DataLayout, runs: int = HISTORY_RUNS) -> list[dict]:
    """The last `runs` refreshes' outcomes, oldest first: [{run_id, checked_at, sources}]."""
    paths = sorted(history_dir(layout).glob("*.json"))[-runs:] if runs > 0 else []
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def finalize_run(layout: DataLayout, run_id: str, outcomes: Mapping[str, Mapping]) -> None:
    """Store what the warehouse build made of a run's crawls (final status, reason, rows valid
    and quarantined) in its history file, so later builds publish that run as it was."""
    path = history_dir(layout) / f"{run_id}.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    for source_id, outcome in outcomes.items():
        if source_id in run["sources"]:
            entry = run["sources"][source_id]
            entry.setdefault("crawl_status", entry["status"])  # what the crawl itself said
            entry.update(outcome)
    _write_json(path, run)


def _write_json(path: Path, value: object) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".health-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=2, sort_keys=True)
    os.replace(name, path)
