"""History between refreshes (pipelines/history.py) on real SQLite files in tmp dirs: added,
unchanged, changed and removed records; nothing advances without commit(); the public tables
pass their models, publish, and do not make an unchanged refresh a new release."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from pandera.errors import SchemaError

from pipelines import history
from pipelines.history import HistoryError, prepare_history, store_path
from schemas import ENTITY_MODELS
from schemas.history import TRACKED_TABLES, ChangeRecord, RecordVersionRecord
from tests.test_warehouse import sample_tables
from warehouse import arrow, exports
from warehouse.build import build_database
from warehouse.changelog import compare_databases
from warehouse.publish import check_database
from warehouse.release import content_hash

T1, T2, T3 = "2026-01-01T06:00:00Z", "2026-01-08T06:00:00Z", "2026-01-15T06:00:00Z"
NEW_DEADLINE = dt.date(2031, 1, 31)


def entities() -> dict[str, pl.DataFrame]:
    tables = sample_tables()
    return {t: tables[t] for t in TRACKED_TABLES}


def total_rows(tables: dict[str, pl.DataFrame]) -> int:
    return sum(f.height for f in tables.values())


def run(data_dir: Path, tables: dict[str, pl.DataFrame], at: str) -> history.HistoryUpdate:
    update = prepare_history(data_dir, tables, at)
    update.commit()
    return update


def move_deadline(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    calls = tables["calls"]
    moved = pl.when(pl.col("call_id") == "c:soon").then(pl.lit(NEW_DEADLINE))
    return {
        **tables,
        "calls": calls.with_columns(moved.otherwise("deadline_date").alias("deadline_date")),
    }


def versions_of(update: history.HistoryUpdate, record_id: str) -> list[dict]:
    frame = update.tables["record_versions"].filter(pl.col("record_id") == record_id)
    return frame.sort("version").to_dicts()


def test_tracked_tables_are_the_entity_tables() -> None:
    assert set(TRACKED_TABLES) == set(ENTITY_MODELS)


def test_first_build_adds_every_record(tmp_path: Path) -> None:
    tables = entities()
    update = run(tmp_path, tables, T1)
    changes = update.tables["changes"]
    assert changes.height == total_rows(tables)
    assert set(changes["change_type"]) == {"added"}
    assert changes["field"].is_null().all()
    versions = update.tables["record_versions"]
    assert versions.height == total_rows(tables)
    assert (versions["version"] == 1).all() and versions["valid_to"].is_null().all()
    assert set(versions["first_seen"]) == set(versions["last_seen"]) == {T1}
    assert update.counts == {"added": total_rows(tables), "changed": 0, "removed": 0}


def test_same_data_again_changes_nothing_but_last_seen(tmp_path: Path) -> None:
    first = run(tmp_path, entities(), T1)
    # A re-crawl of unchanged pages: new fetch times and body hashes, the same data.
    recrawled = {
        t: f.with_columns(
            pl.lit("2026-01-08T05:59:00Z").alias("fetched_at"),
            pl.lit("f" * 64).alias("document_sha256"),
        )
        for t, f in entities().items()
    }
    second = run(tmp_path, recrawled, T2)
    assert second.counts == {"added": 0, "changed": 0, "removed": 0}
    assert second.tables["changes"].equals(first.tables["changes"])
    before = first.tables["record_versions"].drop("last_seen")
    after = second.tables["record_versions"]
    assert after.drop("last_seen").equals(before)
    assert set(after["last_seen"]) == {T2}


def test_moved_deadline_is_one_change_and_a_new_version(tmp_path: Path) -> None:
    tables = entities()
    old_deadline = tables["calls"].filter(pl.col("call_id") == "c:soon")["deadline_date"].item()
    run(tmp_path, tables, T1)
    update = run(tmp_path, move_deadline(tables), T2)
    changed = update.tables["changes"].filter(pl.col("changed_at") == T2).to_dicts()
    assert changed == [
        {
            "change_id": f"{T2}/calls/c:soon/deadline_date",
            "table_name": "calls",
            "record_id": "c:soon",
            "source_id": "eu_sedia_calls",
            "field": "deadline_date",
            "old_value": json.dumps(old_deadline.isoformat()),
            "new_value": json.dumps(NEW_DEADLINE.isoformat()),
            "change_type": "changed",
            "changed_at": T2,
        }
    ]
    v1, v2 = versions_of(update, "c:soon")
    assert (v1["valid_from"], v1["valid_to"]) == (T1, T2)
    assert (v2["version"], v2["valid_from"], v2["valid_to"]) == (2, T2, None)
    assert json.loads(v2["row_json"])["deadline_date"] == NEW_DEADLINE.isoformat()
    assert v1["first_seen"] == v2["first_seen"] == T1


def test_removed_record_stays_in_history(tmp_path: Path) -> None:
    tables = entities()
    run(tmp_path, tables, T1)
    gone = {**tables, "calls": tables["calls"].filter(pl.col("call_id") != "c:closed")}
    update = run(tmp_path, gone, T2)
    removed = update.tables["changes"].filter(pl.col("change_type") == "removed").to_dicts()
    assert [(r["record_id"], r["field"], r["changed_at"]) for r in removed] == [
        ("c:closed", None, T2)
    ]
    (version,) = versions_of(update, "c:closed")
    assert (version["valid_to"], version["removed_at"], version["last_seen"]) == (T2, T2, T1)
    assert json.loads(version["row_json"])["title"] == "Digital clusters"
    # Still gone a refresh later: no second removal.
    assert run(tmp_path, gone, T3).counts == {"added": 0, "changed": 0, "removed": 0}
    # Back again: added anew as version 2, first seen when it first appeared.
    back = run(tmp_path, tables, "2026-01-22T06:00:00Z")
    assert back.counts["added"] == 1
    v1, v2 = versions_of(back, "c:closed")
    assert v2["version"] == 2 and v2["removed_at"] is None and v2["first_seen"] == T1


def test_changes_read_in_batches_miss_none_behind_a_returned_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One record per batch, and the first batch holds only a record back after a removal
    # (no field-level changes): every later batch must still be read.
    monkeypatch.setattr(history, "_BATCH", 1)
    tables = entities()
    # First in the frame and in key order: the batches follow one or the other.
    tables["calls"] = calls = tables["calls"].sort("call_id")
    first_id = calls["call_id"][0]
    run(tmp_path, tables, T1)
    run(tmp_path, {**tables, "calls": calls.filter(pl.col("call_id") != first_id)}, T2)
    retitled = calls.with_columns(
        pl.when(pl.col("call_id") == first_id)
        .then(pl.col("title"))
        .otherwise(pl.col("title") + " (amended)")
    )
    update = run(tmp_path, {**tables, "calls": retitled}, T3)
    assert update.counts == {"added": 1, "changed": calls.height - 1, "removed": 0}
    at_t3 = update.tables["changes"].filter(pl.col("changed_at") == T3)
    assert sorted(at_t3.filter(pl.col("change_type") == "changed")["record_id"]) == sorted(
        calls["call_id"][1:]
    )
    assert at_t3.filter(pl.col("change_type") == "added")["record_id"].to_list() == [first_id]
    (back,) = [v for v in versions_of(update, first_id) if v["version"] == 2]
    assert (back["valid_from"], back["valid_to"], back["removed_at"]) == (T3, None, None)


def test_without_commit_the_state_does_not_advance(tmp_path: Path) -> None:
    run(tmp_path, entities(), T1)
    before = store_path(tmp_path).read_bytes()
    uncommitted = prepare_history(tmp_path, move_deadline(entities()), T2)
    assert uncommitted.counts["changed"] == 1
    assert store_path(tmp_path).read_bytes() == before
    # The publish failed; the next build compares against the old state again.
    again = run(tmp_path, move_deadline(entities()), T3)
    assert again.counts["changed"] == 1
    assert again.tables["changes"].filter(pl.col("change_type") == "changed")[
        "changed_at"
    ].to_list() == [T3]


def test_a_failure_half_way_leaves_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(tmp_path, entities(), T1)
    before = store_path(tmp_path).read_bytes()

    def crash(*args: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(history, "advance_table", crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_history(tmp_path, move_deadline(entities()), T2)
    assert store_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.db"]
    assert history.commit_pending(tmp_path) is False


def test_duplicate_record_and_clock_going_back_are_refused(tmp_path: Path) -> None:
    tables = entities()
    doubled = {**tables, "calls": pl.concat([tables["calls"], tables["calls"].head(1)])}
    with pytest.raises(HistoryError, match="appears twice"):
        prepare_history(tmp_path, doubled, T1)
    run(tmp_path, tables, T2)
    with pytest.raises(HistoryError, match="before the last recorded build"):
        prepare_history(tmp_path, tables, T1)


def build_with_history(path: Path, update: history.HistoryUpdate) -> Path:
    build_database({**sample_tables(), **update.tables}, path)
    return path


def test_history_tables_validate_and_publish(tmp_path: Path) -> None:
    run(tmp_path / "data", entities(), T1)
    update = run(tmp_path / "data", move_deadline(entities()), T2)
    ChangeRecord.validate(update.tables["changes"])
    RecordVersionRecord.validate(update.tables["record_versions"])
    db = build_with_history(tmp_path / "build.db", update)
    check_database(db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM changes WHERE field = 'deadline_date'"
        ).fetchone() == (1,)


def release_hash(path: Path) -> str:
    """The content hash `clusterdata release` gives the file (tables read as it reads them)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        columns = {t: exports.file_columns(conn, t) for t in exports.export_tables(conn)}
        return content_hash(conn, {t: [exports.read_table(conn, t, c)] for t, c in columns.items()})


def test_unchanged_refresh_is_not_a_new_release(tmp_path: Path) -> None:
    first = run(tmp_path / "data", entities(), T1)
    second = run(tmp_path / "data", entities(), T2)
    old = build_with_history(tmp_path / "old.db", first)
    new = build_with_history(tmp_path / "new.db", second)
    hashes = [release_hash(old), release_hash(new)]
    assert hashes[0] == hashes[1]
    moved = [c for c in compare_databases(new, old, ["changes", "record_versions"]) if c.changed]
    assert moved == []
    third = run(tmp_path / "data", move_deadline(entities()), T3)
    assert release_hash(build_with_history(tmp_path / "changed.db", third)) != hashes[0]


def public_rows(db: Path, table: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def test_build_copies_the_history_tables_from_the_prepared_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run(data, entities(), T1)
    framed = prepare_history(data, move_deadline(entities()), T2)
    framed_db = build_with_history(tmp_path / "framed.db", framed)
    # The warehouse asset's way: no frames, the build copies the tables in SQL.
    update = prepare_history(data, move_deadline(entities()), T2, frames=False)
    assert update.tables == {} and set(update.copies) == {"changes", "record_versions"}
    others = {t: f for t, f in sample_tables().items() if t not in update.copies}
    report = build_database(others, tmp_path / "copied.db", update.copies)
    check_database(tmp_path / "copied.db")
    for table in update.copies:
        rows = public_rows(tmp_path / "copied.db", table)
        assert rows == public_rows(framed_db, table) and len(rows) == report["rows"][table]
    assert report["rows"]["changes"] == total_rows(entities()) + 1  # added, and one change


def test_history_values_are_checked_in_every_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(tmp_path, entities(), T1)
    monkeypatch.setattr(arrow, "BATCH_ROWS", 2)
    history.check_public_tables(store_path(tmp_path))
    # A bad value in the last frame only: the first frames pass, the last one fails.
    with contextlib.closing(sqlite3.connect(store_path(tmp_path))) as conn:
        last = conn.execute("SELECT max(change_id) FROM changes").fetchone()[0]
        conn.execute("UPDATE changes SET change_type = 'moved' WHERE change_id = ?", (last,))
        conn.commit()
    with pytest.raises(SchemaError, match="change_type"):
        history.check_public_tables(store_path(tmp_path))
