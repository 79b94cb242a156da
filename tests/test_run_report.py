"""The run report (reports/<run_id>.json) and the public source_health table, over two refreshes:
a clean one, then one where a source breaks."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandera.errors
import polars as pl
import pytest

from pipelines.cli import EXIT_PUBLISHED_WITH_FAILURES
from pipelines.layout import DataLayout
from pipelines.quarantine import QUARANTINE_SCHEMA, write_quarantine
from pipelines.run_report import top_quarantine_reasons
from schemas import SourceHealthRecord
from tests.conftest import empty_page, refetch_later, run_refresh

BROKEN, OTHER = "pt_ticept_projects", "it_trentino_calls"
SOURCES = ("--source", BROKEN, "--source", OTHER, "--no-release")


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def reports(data_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((data_dir / "reports").glob("*.json"))]


@pytest.mark.slow
def test_two_refreshes_report_and_log_each_source(recordings_copy: Path, capsys):
    data_dir = recordings_copy.parent / "data"
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES) == 0
    assert "refresh " in capsys.readouterr().out  # the report table's title
    (first,) = reports(data_dir)
    assert first["compared_with_previous"] is False
    db = data_dir / "clusterdata.db"
    (n_calls,) = rows(db, f"SELECT count(*) FROM calls WHERE source_id = '{OTHER}'")[0]
    by_source = {s["source_id"]: s for s in first["sources"]}
    assert set(by_source) == {BROKEN, OTHER}
    # Nothing was served before: every published row of the source is added.
    assert by_source[OTHER]["per_table"]["calls"] == {"added": n_calls, "changed": 0, "removed": 0}
    assert first["tables"]["calls"]["added"] == n_calls

    # The project sheet comes back empty; the other source is re-fetched later.
    empty_page(recordings_copy, BROKEN, "connection.html")
    refetch_later(recordings_copy, OTHER)
    code = run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES)
    assert code == EXIT_PUBLISHED_WITH_FAILURES

    _, second = reports(data_dir)
    assert second["run_id"] > first["run_id"] and second["compared_with_previous"] is True
    by_source = {s["source_id"]: s for s in second["sources"]}
    broken, other = by_source[BROKEN], by_source[OTHER]
    assert broken["status"] == "stale" and broken["reason"].startswith("failed at ")
    assert broken["items"] is None and broken["duration_s"] > 0
    # Its rows are carried forward untouched; only its sources row (status, reason) changed.
    assert (broken["added"], broken["removed"]) == (0, 0)
    assert broken["per_table"] == {"sources": {"added": 0, "changed": 1, "removed": 0}}
    assert other["status"] == "ok" and other["reason"] is None and other["items"] > 0
    assert other["per_table"]["calls"] == {"added": 0, "changed": n_calls, "removed": 0}
    for source in second["sources"]:
        assert (source["rows_quarantined"] == 0) == (source["top_quarantine_reasons"] == [])

    health = rows(
        db, "SELECT run_id, source_id, status, duration_s FROM source_health ORDER BY 1, 2"
    )
    assert [(r, s, st) for r, s, st, _ in health] == [
        (first["run_id"], OTHER, "ok"),
        (first["run_id"], BROKEN, "ok"),
        (second["run_id"], OTHER, "ok"),
        (second["run_id"], BROKEN, "stale"),
    ]
    assert all(d is not None and d > 0 for *_, d in health)
    latest = json.loads((data_dir / "health.json").read_text())
    assert latest[BROKEN]["status"] == "failed" and latest[BROKEN]["duration_s"] > 0
    assert len(list((data_dir / "health").glob("*.json"))) == 2
    # The report's rows come from the same table.
    assert rows(
        db, f"SELECT rows_valid FROM source_health WHERE health_id = '{second['run_id']}/{OTHER}'"
    ) == [(other["rows_valid"],)]


def test_top_quarantine_reasons_are_the_three_checks_that_quarantined_most_rows(tmp_path):
    layout = DataLayout(tmp_path)
    checks = {"a": 1, "b": 4, "c": 2, "d": 3}
    quarantined = [
        {
            "run_id": "",
            "entity": "clusters",
            "source_id": "pt_iapmei_clusters",
            "record_key": f"{check}{i}",
            "column": "name",
            "check": check,
            "failure_case": "x",
            "row_json": "{}",
        }
        for check, n in checks.items()
        for i in range(n)
    ]
    frame = pl.DataFrame(quarantined, schema=QUARANTINE_SCHEMA)
    write_quarantine(layout.quarantine_db, "run-1", "clusters", frame)
    write_quarantine(layout.quarantine_db, "run-0", "clusters", frame.head(1))
    got = top_quarantine_reasons(layout, "run-1")
    assert got == {
        "pt_iapmei_clusters": [
            {"reason": "clusters.name: b", "rows": 4},
            {"reason": "clusters.name: d", "rows": 3},
            {"reason": "clusters.name: c", "rows": 2},
        ]
    }


def _health_row(**change) -> pl.DataFrame:
    row = {
        "health_id": "20261201T220143556132Z/it_trentino_calls",
        "run_id": "20261201T220143556132Z",
        "checked_at": "2026-12-01T22:01:50Z",
        "source_id": "it_trentino_calls",
        "status": "ok",
        "reason": None,
        "items": 2,
        "pages": 1,
        "rows_valid": 1,
        "rows_quarantined": 0,
        "duration_s": 7.2,
    } | change
    columns = SourceHealthRecord.to_schema().columns
    return pl.DataFrame([row], schema={c: col.dtype.type for c, col in columns.items()})


def test_source_health_schema_rejects_an_unknown_status():
    SourceHealthRecord.validate(_health_row())
    with pytest.raises(pandera.errors.SchemaError, match="isin"):
        SourceHealthRecord.validate(_health_row(status="broken"))
    with pytest.raises(pandera.errors.SchemaError):
        SourceHealthRecord.validate(_health_row(duration_s=-1.0))


def test_each_refresh_appends_its_outcomes_and_the_history_keeps_the_last_runs(tmp_path):
    from pipelines.crawling import CrawlFailed, CrawlResult
    from pipelines.health import finalize_run, read_health, read_history, record_crawls

    layout = DataLayout(tmp_path)
    for n in range(3):
        ok = CrawlResult(OTHER, tmp_path / "x.jsonl", items=n + 1, pages=1, duration_s=1.5 + n)
        broken = CrawlFailed(f"{BROKEN}: 0 items", duration_s=0.25)
        record_crawls(layout, [ok], {BROKEN: broken}, run_id=f"2026120{n}T000000Z")
    latest = read_health(layout)
    assert latest[OTHER]["duration_s"] == 3.5 and latest[OTHER]["items"] == 3
    assert latest[BROKEN]["status"] == "failed" and latest[BROKEN]["duration_s"] == 0.25
    history = read_history(layout, runs=2)
    assert [run["run_id"] for run in history] == ["20261201T000000Z", "20261202T000000Z"]
    assert history[0]["sources"][OTHER]["items"] == 2
    finalize_run(layout, "20261202T000000Z", {BROKEN: {"status": "stale", "rows_valid": 2}})
    (run,) = read_history(layout, runs=1)
    assert run["sources"][BROKEN] | {"checked_at": None} == {
        "status": "stale",
        "crawl_status": "failed",
        "reason": f"{BROKEN}: 0 items",
        "items": None,
        "pages": None,
        "duration_s": 0.25,
        "rows_valid": 2,
        "checked_at": None,
    }
