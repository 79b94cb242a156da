"""A source that breaks keeps its last good rows; the others still publish their updates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipelines.cli import EXIT_PUBLISHED_WITH_FAILURES
from tests.conftest import empty_page, refetch_later, run_refresh

pytestmark = pytest.mark.slow
BROKEN, OTHER = "pt_ticept_projects", "it_trentino_calls"
SOURCES = ("--source", BROKEN, "--source", OTHER, "--no-release")


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_broken_source_keeps_its_rows_and_the_others_publish(recordings_copy: Path, capsys):
    data_dir = recordings_copy.parent / "data"
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES) == 0
    db = data_dir / "clusterdata.db"
    before = rows(db, f"SELECT * FROM projects WHERE source_id = '{BROKEN}' ORDER BY 1")
    assert before  # CONNECTION
    (old_fetch,) = rows(db, f"SELECT DISTINCT fetched_at FROM calls WHERE source_id = '{OTHER}'")

    # The project sheet comes back as an empty page; the other source is re-fetched later.
    empty_page(recordings_copy, BROKEN, "connection.html")
    refetch_later(recordings_copy, OTHER)
    capsys.readouterr()

    code = run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES)
    assert code == EXIT_PUBLISHED_WITH_FAILURES
    err = capsys.readouterr().err
    assert f"{BROKEN}:" in err and "keeping its last good run" in err
    assert rows(db, f"SELECT * FROM projects WHERE source_id = '{BROKEN}' ORDER BY 1") == before
    (status, reason) = rows(
        db, f"SELECT last_status, last_reason FROM sources WHERE source_id = '{BROKEN}'"
    )[0]
    assert status == "stale" and reason.startswith("failed at ")
    (new_fetch,) = rows(db, f"SELECT DISTINCT fetched_at FROM calls WHERE source_id = '{OTHER}'")
    assert new_fetch != old_fetch and new_fetch[0] == "2026-11-30T06:00:00Z"
    assert rows(db, f"SELECT last_status FROM sources WHERE source_id = '{OTHER}'") == [("ok",)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_a_source_with_no_earlier_run_fails_alone(recordings_copy: Path, capsys):
    data_dir = recordings_copy.parent / "data"
    (recordings_copy / BROKEN / "connection.html").write_text("<html></html>", encoding="utf-8")
    code = run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES)
    assert code == EXIT_PUBLISHED_WITH_FAILURES
    assert "no earlier run to keep" in capsys.readouterr().err
    db = data_dir / "clusterdata.db"
    assert rows(db, f"SELECT count(*) FROM projects WHERE source_id = '{BROKEN}'") == [(0,)]
    assert rows(db, f"SELECT last_status FROM sources WHERE source_id = '{BROKEN}'") == [
        ("failed",)
    ]
    assert rows(db, f"SELECT count(*) FROM calls WHERE source_id = '{OTHER}'") == [(1,)]
