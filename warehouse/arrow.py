"""Read a SQLite query into a polars frame through ADBC's SQLite driver: the rows go from SQLite
to Arrow columns in C, never through a Python tuple per row.

`sqlite3`'s `fetchall()` and then `pl.DataFrame(rows)` cost 7 s and about 1.6 GiB of Python
objects for the 400,000 history rows of a medium build (bench/README.md, end to end); the
frame itself is a quarter of that.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

# Rows per Arrow batch. ADBC's driver infers each batch's column types from its own rows, and
# a text column whose first batch holds only NULLs comes out as int64 and then fails on the
# first text ("Type mismatch in column"): one batch per query, typed by all of its rows.
_ONE_BATCH = str(10**9)


class ReadError(RuntimeError):
    """The query's columns are not those asked for; the message is one line."""


def read_query(path: Path, sql: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of `sql` on the SQLite file at `path`, typed as `schema` (its columns, in its
    order, exactly). A column SQLite stores only NULLs in arrives untyped and is cast; a value
    that does not fit its type fails the cast instead of being read as something else."""
    import adbc_driver_sqlite.dbapi as adbc

    # Read-only, as a URI (percent-encoded: a path may hold "?" or "#").
    with adbc.connect(f"{Path(path).resolve().as_uri()}?mode=ro") as conn, conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": _ONE_BATCH})
        cursor.execute(sql)
        frame = pl.DataFrame(cursor.fetch_arrow())
    if frame.columns != list(schema):
        raise ReadError(f"the query's columns {frame.columns} are not {list(schema)}")
    return frame.cast(schema, strict=True)  # type: ignore[arg-type]
