"""warehouse/arrow.py: SQLite queries read into polars through ADBC, on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import adbc_driver_manager
import polars as pl
import pytest

from warehouse.arrow import ReadError, read_query


def _file(tmp_path: Path, rows: list[tuple]) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, note TEXT, amount REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    return path


SCHEMA = {"id": pl.Int64(), "note": pl.String(), "amount": pl.Float64()}


def test_a_text_column_null_for_thousands_of_rows_then_text_reads_as_text(tmp_path: Path) -> None:
    # ADBC types a batch by its own rows; the first 1,024 rows hold no text here.
    rows = [(i, None if i < 5_000 else f"n{i}", None if i < 3_000 else i / 2) for i in range(6_000)]
    path = _file(tmp_path, rows)
    frame = read_query(path, "SELECT id, note, amount FROM t ORDER BY id", SCHEMA)
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame.rows() == rows


def test_no_rows_still_gives_the_schema(tmp_path: Path) -> None:
    frame = read_query(_file(tmp_path, []), "SELECT id, note, amount FROM t", SCHEMA)
    assert frame.height == 0 and frame.schema == pl.Schema(SCHEMA)


def test_columns_other_than_asked_are_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, "a", 1.5)])
    with pytest.raises(ReadError, match=r"\['note', 'id', 'amount'\] are not"):
        read_query(path, "SELECT note, id, amount FROM t", SCHEMA)


def test_a_value_that_does_not_fit_its_type_fails(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, "twelve", 1.5)])
    with pytest.raises(pl.exceptions.InvalidOperationError):
        read_query(path, "SELECT id, note AS note, note AS amount FROM t", SCHEMA)


def test_opens_read_only_so_a_missing_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "odd ?#name.db"  # characters a URI must escape
    with pytest.raises(adbc_driver_manager.OperationalError, match="failed to open"):
        read_query(missing, "SELECT 1 AS id", {"id": pl.Int64()})
    assert not missing.exists()
