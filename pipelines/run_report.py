"""The run report of a refresh: per source health, rows added/changed/removed against the database
served before it, quarantined rows with their top reasons, and durations.

Written to DATA_DIR/reports/<run_id>.json and printed as a table by `clusterdata refresh`. The
comparison needs the served file as it was before the publish replaced it: keep_previous() takes a
hard link to it first (no copy: the publish swaps in a new file, the link keeps the old one)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines.layout import DataLayout

# source_health grows by one row per source every refresh: counting that as a change says nothing.
# The run log and the history tables describe changes; counting their rows would count twice.


def compared_tables() -> list[str]:
    """The tables whose rows a report compares (imported here: pandera's models cost ~0.5 s of
    start-up, which a no-change refresh does not otherwise pay)."""
    from schemas import TABLE_MODELS
    from schemas.history import HISTORY_TABLES

    return [t for t in TABLE_MODELS if t != "source_health" and t not in HISTORY_TABLES]


TOP_REASONS = 3


def reports_dir(layout: DataLayout) -> Path:
    return layout.root / "reports"


def keep_previous(layout: DataLayout, run_id: str) -> Path | None:
    """A hard link (or, across file systems, a copy) to the served database before the refresh
    replaces it; None when nothing is served yet."""
    if not layout.published.is_file():
        return None
    kept = layout.root / f".previous-{run_id}.db"
    kept.unlink(missing_ok=True)
    try:
        os.link(layout.published, kept)
    except OSError:
        shutil.copy2(layout.published, kept)
    return kept


def _reason(entity: str, column: str | None, check: str) -> str:
    return f"{entity}.{column}: {check}" if column else f"{entity}: {check}"


def top_quarantine_reasons(
    layout: DataLayout, pipeline_run_id: str, top: int = TOP_REASONS
) -> dict[str, list[dict]]:
    """Per source, the `top` checks that quarantined most rows in this run: [{reason, rows}]."""
    from pipelines.quarantine import read_quarantine

    q = read_quarantine(layout.quarantine_db, pipeline_run_id)
    if q.height == 0:
        return {}
    counted = (
        q.unique(["source_id", "entity", "column", "check", "record_key"])
        .group_by("source_id", "entity", "column", "check")
        .len("rows")
        .sort(["source_id", "rows", "entity", "check"], descending=[False, True, False, False])
    )
    reasons: dict[str, list[dict]] = {}
    for row in counted.iter_rows(named=True):
        mine = reasons.setdefault(row["source_id"], [])
        if len(mine) < top:
            mine.append(
                {"reason": _reason(row["entity"], row["column"], row["check"]), "rows": row["rows"]}
            )
    return reasons


def _changes(published: Path, previous: Path | None) -> list:
    from warehouse.changelog import compare_databases

    if previous is not None:
        return compare_databases(published, previous, compared_tables())
    # Nothing served before: every row is added (compared with an empty database).
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.db"
        sqlite3.connect(empty).close()
        return compare_databases(published, empty, compared_tables())


def _source_entry(row: Mapping, changes: list, reasons: list) -> dict:
    """One source's entry in a run report: its health (`row`: a source_health row, or a crawl
    outcome with the served row counts) and its row changes."""
    return {
        "source_id": row["source_id"],
        "status": row["status"],
        "reason": row.get("reason"),
        "items": row.get("items"),
        "pages": row.get("pages"),
        "duration_s": row.get("duration_s"),
        "rows_valid": row.get("rows_valid"),
        "rows_quarantined": row.get("rows_quarantined"),
        "added": sum(c.added for c in changes),
        "changed": sum(c.changed for c in changes),
        "removed": sum(c.removed for c in changes),
        "per_table": {
            c.table: {"added": c.added, "changed": c.changed, "removed": c.removed}
            for c in changes
            if c.added or c.changed or c.removed
        },
        "top_quarantine_reasons": reasons,
    }


def build_report(
    layout: DataLayout,
    run_id: str,
    pipeline_run_id: str,
    previous: Path | None,
    duration_s: float,
) -> dict:
    """The report of refresh `run_id` (its crawls' run id; `pipeline_run_id` is the Dagster run
    that wrote the quarantine rows), read from the newly published database."""
    changes = _changes(layout.published, previous)
    with contextlib.closing(sqlite3.connect(layout.published)) as conn:
        conn.row_factory = sqlite3.Row
        health = [
            dict(r)
            for r in conn.execute(
                "SELECT * FROM source_health WHERE run_id = ? ORDER BY source_id", (run_id,)
            )
        ]
    reasons = top_quarantine_reasons(layout, pipeline_run_id)
    sources = [
        _source_entry(
            row,
            [c for c in changes if c.source_id == row["source_id"]],
            reasons.get(row["source_id"], []),
        )
        for row in health
    ]
    tables = {}
    for table in compared_tables():
        mine = [c for c in changes if c.table == table]
        tables[table] = {
            "added": sum(c.added for c in mine),
            "changed": sum(c.changed for c in mine),
            "removed": sum(c.removed for c in mine),
        }
    return {
        "run_id": run_id,
        "pipeline_run_id": pipeline_run_id,
        "compared_with_previous": previous is not None,
        "duration_s": round(duration_s, 3),
        "sources": sources,
        "tables": tables,
    }


def unchanged_report(layout: DataLayout, run_id: str, built_by: str, duration_s: float) -> dict:
    """The report of a refresh whose crawls brought back what release `built_by` was built from
    (pipelines/incremental.py): this run's crawl outcomes, the served rows, nothing changed."""
    from pipelines.health import history_dir

    crawls = json.loads((history_dir(layout) / f"{run_id}.json").read_text(encoding="utf-8"))
    outcomes = crawls["sources"]
    with contextlib.closing(
        sqlite3.connect(f"{layout.published.resolve().as_uri()}?mode=ro", uri=True)
    ) as conn:
        conn.row_factory = sqlite3.Row
        served = {
            row["source_id"]: dict(row)
            # The served status (e.g. partial: the same rows are quarantined as last time).
            for row in conn.execute(
                "SELECT source_id, last_status AS status, last_reason AS reason, rows_valid,"
                " rows_quarantined FROM sources WHERE last_status IS NOT NULL"
            )
        }
    # The tables of the report of the build this run reuses (no pandera import for the names).
    built = reports_dir(layout) / f"{built_by}.json"
    try:
        tables = list(json.loads(built.read_text(encoding="utf-8"))["tables"])
    except (OSError, ValueError, KeyError):
        tables = compared_tables()
    sources = [
        _source_entry({**outcome, **served.get(source_id, {}), "source_id": source_id}, [], [])
        for source_id, outcome in sorted(outcomes.items())
    ]
    return {
        "run_id": run_id,
        "pipeline_run_id": None,
        "unchanged_since": built_by,
        "compared_with_previous": True,
        "duration_s": round(duration_s, 3),
        "sources": sources,
        "tables": {table: {"added": 0, "changed": 0, "removed": 0} for table in tables},
    }


def write_report(layout: DataLayout, report: dict) -> Path:
    """reports/<run_id>.json, written atomically."""
    target = reports_dir(layout) / f"{report['run_id']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".report-", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, ensure_ascii=False)
    os.replace(name, target)
    return target


def _n(value: object) -> str:
    return "—" if value is None else str(value)


def print_report(console: Console, report: dict, path: Path) -> None:
    """The report as a table of sources (ids never cut), a line per source that was not clean
    (its reason, or its top quarantine reasons), the tables that changed and a closing line."""
    sources = Table(box=None, title=f"refresh {report['run_id']}")
    sources.add_column("source", no_wrap=True)
    for name in ("status", "items", "pages", "secs", "valid", "quar.", "+", "~", "−"):
        sources.add_column(name, justify="left" if name == "status" else "right")
    notes = []
    for s in report["sources"]:
        secs = None if s["duration_s"] is None else round(s["duration_s"], 1)
        sources.add_row(
            s["source_id"],
            s["status"],
            _n(s["items"]),
            _n(s["pages"]),
            _n(secs),
            _n(s["rows_valid"]),
            _n(s["rows_quarantined"]),
            str(s["added"]),
            str(s["changed"]),
            str(s["removed"]),
        )
        if s["reason"]:
            notes.append(f"{s['source_id']}: {s['reason']}")
        if s["top_quarantine_reasons"]:
            top = "; ".join(f"{r['reason']} ({r['rows']})" for r in s["top_quarantine_reasons"])
            notes.append(f"{s['source_id']}: quarantined: {top}")
    console.print(sources)
    for note in notes:
        console.print(note, soft_wrap=True, markup=False, highlight=False)
    moved = {t: c for t, c in report["tables"].items() if any(c.values())}
    if moved:
        tables = Table("table", "added", "changed", "removed", box=None)
        for table, c in moved.items():
            tables.add_row(table, str(c["added"]), str(c["changed"]), str(c["removed"]))
        console.print(tables)
    else:
        console.print("no row added, changed or removed")
    against = "the previously served database" if report["compared_with_previous"] else "nothing"
    console.print(
        f"compared with {against}; {report['duration_s']:.1f} s in all; report: {path}",
        soft_wrap=True,
    )
