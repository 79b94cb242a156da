"""warehouse/arrow.py: SQLite queries read into polars through ADBC, on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest

from warehouse import arrow
from warehouse.arrow import ReadError, read_query

SCHEMA = {"id": pl.Int64(), "note": pl.String(), "amount": pl.Float64()}
SOURCE = "SELECT id, note, amount FROM t"


def _file(tmp_path: Path, rows: list[tuple]) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT, amount REAL)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    conn.close()
    return path


def test_columns_null_for_whole_batches_then_valued_keep_their_types_and_nulls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The driver types a column by its first batch: here the first batches hold no text and
    # no amount, and NULLs, empty text and zeros are all in the data.
    monkeypatch.setattr(arrow, "BATCH_ROWS", 100)
    rows = [
        (i, None if i < 500 else ("" if i % 7 == 0 else f"n{i}"), None if i < 300 else i / 4)
        for i in range(1_000)
    ]
    path = _file(tmp_path, rows)
    frame = read_query(path, SOURCE, SCHEMA, ["id"])
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame.rows() == rows


def test_rows_come_in_the_order_asked(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, "b", 2.0), (2, "a", None), (3, "c", 1.0)])
    assert read_query(path, SOURCE, SCHEMA, ["note"])["id"].to_list() == [2, 1, 3]
    assert read_query(path, SOURCE, SCHEMA, ["amount", "id"])["id"].to_list() == [2, 3, 1]


def test_no_rows_still_gives_the_schema(tmp_path: Path) -> None:
    frame = read_query(_file(tmp_path, []), SOURCE, SCHEMA, ["id"])
    assert frame.height == 0 and frame.schema == pl.Schema(SCHEMA)


def test_a_column_the_source_lacks_is_one_line(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, "a", 1.5)])
    with pytest.raises(ReadError, match="no such column") as caught:
        read_query(path, "SELECT id, note FROM t", SCHEMA, ["id"])
    assert "\n" not in str(caught.value)


def test_a_value_that_does_not_fit_its_type_fails(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, "twelve", 1.5)])
    with pytest.raises(pl.exceptions.InvalidOperationError):
        read_query(path, "SELECT id, note, note AS amount FROM t", SCHEMA, ["id"])


def test_opens_read_only_so_a_missing_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "odd ?#name.db"  # characters a URI must escape
    with pytest.raises(ReadError, match="failed to open"):
        read_query(missing, "SELECT 1 AS id", {"id": pl.Int64()}, ["id"])
    assert not missing.exists()


def test_a_column_holding_two_types_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The driver types each column by the first batch; a later batch of another type fails.
    monkeypatch.setattr(arrow, "BATCH_ROWS", 1)
    path = tmp_path / "mixed.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note)")  # no type: any value
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 5), (2, "five")])
    conn.close()
    with pytest.raises(ReadError, match="mismatch") as caught:
        read_query(path, "SELECT id, note FROM t", {"id": pl.Int64(), "note": pl.String()}, ["id"])
    assert "\n" not in str(caught.value)


def test_iter_query_frames_cover_every_row_once_in_key_order(tmp_path: Path) -> None:
    # A key of two columns whose first repeats across frame boundaries, and NULL values.
    path = tmp_path / "k.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE k (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))")
        rows = [(f"a{i % 3}", i, None if i % 4 else f"v{i}") for i in range(50)]
        conn.executemany("INSERT INTO k VALUES (?, ?, ?)", rows)
    conn.close()
    schema = {"a": pl.String(), "b": pl.Int64(), "v": pl.String()}
    frames = list(arrow.iter_query(path, "SELECT a, b, v FROM k", schema, ["a", "b"], rows=7))
    assert [f.height for f in frames] == [7] * 7 + [1]
    assert pl.concat(frames).rows() == sorted(rows, key=lambda r: (r[0], r[1]))
    # Exactly a multiple of the frame size: no empty frame at the end.
    assert len(list(arrow.iter_query(path, "SELECT a, b, v FROM k", schema, ["b"], rows=10))) == 5


def test_iter_query_refuses_a_null_key(tmp_path: Path) -> None:
    path = _file(tmp_path, [(1, None, 1.0), (2, "b", 2.0), (3, "c", 3.0)])
    with pytest.raises(ReadError, match="a NULL in the key columns"):
        list(arrow.iter_query(path, SOURCE, SCHEMA, ["note"], rows=1))
