"""Each source's latest crawl outcome, kept beside the data in DATA_DIR/health.json.

A crawl that fails leaves no run file (scrapers/crawl.py writes it atomically), so the source's
latest run file is still its last good one: the refresh goes on with it (carry-forward) and this
file says why that source is stale, so the warehouse build can publish it as such."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Mapping

from pipelines.crawling import CrawlFailed, CrawlResult
from pipelines.layout import DataLayout

OK, FAILED, DEFERRED = "ok", "failed", "deferred"


def read_health(layout: DataLayout) -> dict[str, dict]:
    """{source_id: {status, reason, items, pages, checked_at}} of the latest crawl of each source
    (empty when no refresh has recorded one)."""
    try:
        return json.loads(layout.health.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def record_crawls(
    layout: DataLayout,
    results: Iterable[CrawlResult],
    failures: Mapping[str, CrawlFailed],
    now: dt.datetime | None = None,
) -> dict[str, dict]:
    """Update health.json with this refresh's crawls (sources not crawled keep their entry)."""
    checked_at = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    health = read_health(layout)
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
            "checked_at": checked_at,
        }
    for source_id, exc in failures.items():
        health[source_id] = {
            "status": DEFERRED if exc.deferred else FAILED,
            "reason": str(exc),
            "items": None,
            "pages": None,
            "checked_at": checked_at,
        }
    layout.root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".health-", dir=layout.root)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(health, fh, indent=2, sort_keys=True)
    os.replace(name, layout.health)
    return health
