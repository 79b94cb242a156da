"""Quarantine: rows that fail cleaning or validation, with the reason, beside the served database.

The served file holds public data only; `quarantine.db` keeps every refused row of every run with
its source, record key, column, check and raw value, so nothing is lost silently.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.Utf8,
    "entity": pl.Utf8,
    "source_id": pl.Utf8,
    "record_key": pl.Utf8,
    "column": pl.Utf8,
    "check": pl.Utf8,
    "failure_case": pl.Utf8,
    "row_json": pl.Utf8,
}

_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    run_id TEXT NOT NULL,
    entity TEXT NOT NULL,
    source_id TEXT,
    record_key TEXT,
    "column" TEXT,
    "check" TEXT NOT NULL,
    failure_case TEXT,
    row_json TEXT
);
CREATE INDEX IF NOT EXISTS quarantine_run ON quarantine (run_id, entity, source_id);
"""


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def rows_as_json(frame: pl.DataFrame) -> pl.Series:
    """Each row of a frame as one JSON object (to keep the refused row whole)."""
    if frame.height == 0:
        return pl.Series("row_json", [], dtype=pl.Utf8)
    return frame.select(pl.struct(pl.all()).struct.json_encode().alias("row_json")).to_series()


def reject(
    frame: pl.DataFrame,
    *,
    entity: str,
    key: str,
    column: str | None,
    check: str,
    failure_case: pl.Expr | str | None = None,
) -> pl.DataFrame:
    """Quarantine rows for every row of `frame`, all failing the same check."""
    case = failure_case if isinstance(failure_case, pl.Expr) else pl.lit(failure_case)
    return frame.select(
        pl.lit("").alias("run_id"),
        pl.lit(entity).alias("entity"),
        pl.col("source_id").cast(pl.Utf8)
        if "source_id" in frame.columns
        else pl.lit(None, pl.Utf8).alias("source_id"),
        pl.col(key).cast(pl.Utf8).alias("record_key")
        if key in frame.columns
        else pl.lit(None, pl.Utf8).alias("record_key"),
        pl.lit(column, pl.Utf8).alias("column"),
        pl.lit(check).alias("check"),
        case.cast(pl.Utf8).alias("failure_case"),
    ).with_columns(rows_as_json(frame))


def write_quarantine(db_path: Path, run_id: str, entity: str, rows: pl.DataFrame) -> None:
    """Replace this run's rows for `entity` in quarantine.db (idempotent per run)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.with_columns(pl.lit(run_id).alias("run_id")).select(list(QUARANTINE_SCHEMA))
    with sqlite3.connect(db_path) as conn:
        conn.executescript(_DDL)
        conn.execute("DELETE FROM quarantine WHERE run_id = ? AND entity = ?", (run_id, entity))
        conn.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows.iter_rows())
    conn.close()


def read_quarantine(db_path: Path, run_id: str | None = None) -> pl.DataFrame:
    """The quarantined rows, of one run or all."""
    if not db_path.exists():
        return empty_quarantine()
    with sqlite3.connect(db_path) as conn:
        sql = "SELECT * FROM quarantine" + (" WHERE run_id = ?" if run_id else "")
        cur = conn.execute(sql, (run_id,) if run_id else ())
        rows = cur.fetchall()
    conn.close()
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA, orient="row")
