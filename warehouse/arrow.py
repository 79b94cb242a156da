"""Read a SQLite query into a polars frame through ADBC's SQLite driver: the rows go from SQLite
to Arrow columns in C, never through a Python tuple per row.

`sqlite3`'s `fetchall()` and then `pl.DataFrame(rows)` cost 7 s and about 1.6 GiB of Python
objects for the 400,000 history rows of a medium build (bench/README.md, end to end); the
frame itself is a quarter of that.

ADBC's driver types each column by the values of the first batch of rows: a text column whose
first batch holds only NULLs comes out as int64 and then fails on the first text ("Type
mismatch in column"). One batch for the whole result avoids that but not Arrow's 2 GiB of text
per array (`record_versions` at 1.5 M operations: "max string/binary length exceeded"). So no
column the driver sees is ever NULL: each comes as `coalesce(column, <a value of its type>)`
with a second column saying whether it was NULL, and the NULLs are put back in polars.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from warehouse.ddl import quote

# Rows per Arrow batch (the driver's default is 1,024).
BATCH_ROWS = 65_536
# A value of each type that stands in for NULL while the driver reads the column.
_FILL: tuple[tuple[type[pl.DataType], str], ...] = (
    (pl.String, "''"),
    (pl.Int64, "0"),
    (pl.Float64, "0.0"),
)
_NULL_SUFFIX = " is null"


class ReadError(RuntimeError):
    """The query cannot be read as asked; the message is one line."""


def read_query(
    path: Path, source: str, schema: dict[str, pl.DataType], order_by: Sequence[str]
) -> pl.DataFrame:
    """The columns of `schema`, typed as it says and in its order, of the rows of `source` (a
    SELECT without ORDER BY) on the SQLite file at `path`, ordered by the columns `order_by`
    of `source`. A value that does not fit its column's type fails instead of being read as
    something else."""
    with _connection(path) as conn, conn.cursor() as cursor:
        frame = _fetch(path, cursor, _select_sql(source, schema, order_by), ())
    return _typed(frame, schema)


def iter_query(
    path: Path,
    source: str,
    schema: dict[str, pl.DataType],
    key: Sequence[str],
    rows: int | None = None,
) -> Iterator[pl.DataFrame]:
    """`read_query`'s rows in frames of at most `rows` (default BATCH_ROWS) rows, ordered by
    `key`, columns of `source` unique together and never NULL: each frame is read when the one
    before has been used (the rows after the last key seen), so a table checked or written a
    frame at a time is never whole in memory."""
    rows = rows or BATCH_ROWS
    order = ", ".join(f"s.{quote(c)}" for c in key)
    after = f"({order}) > ({', '.join('?' for _ in key)})"
    first = _select_sql(source, schema, key, limit=rows)
    following = _select_sql(source, schema, key, where=after, limit=rows)
    with _connection(path) as conn, conn.cursor() as cursor:
        params: tuple = ()
        while True:
            frame = _typed(_fetch(path, cursor, following if params else first, params), schema)
            if frame.height == 0:
                return
            yield frame
            if frame.height < rows:
                return
            params = frame.select(key).row(-1)
            if any(value is None for value in params):
                raise ReadError(f"{Path(path).name}: a NULL in the key columns {list(key)}")


def _select_sql(
    source: str,
    schema: dict[str, pl.DataType],
    order_by: Sequence[str],
    *,
    where: str | None = None,
    limit: int | None = None,
) -> str:
    columns = []
    for name, dtype in schema.items():
        # A dtype class or instance: polars compares either with ==.
        fill = next((value for kind, value in _FILL if dtype == kind), None)
        if fill is None:
            raise ReadError(f"cannot read column {name!r} as {dtype}")
        # Qualified: SQLite reads an unknown unqualified "name" as the string 'name'.
        column = f"s.{quote(name)}"
        columns.append(f"coalesce({column}, {fill}) AS {quote(name)}")
        columns.append(f"{column} IS NULL AS {quote(name + _NULL_SUFFIX)}")
    # Ordered by the source's own columns (s.), not the coalesced ones: an index can serve it.
    order = ", ".join(f"s.{quote(c)}" for c in order_by)
    sql = f"SELECT {', '.join(columns)} FROM ({source}) AS s"
    if where:
        sql += f" WHERE {where}"
    sql += f" ORDER BY {order}"
    return sql + (f" LIMIT {int(limit)}" if limit is not None else "")


def _connection(path: Path):
    import adbc_driver_sqlite.dbapi as adbc

    # Read-only, as a URI (percent-encoded: a path may hold "?" or "#").
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    try:
        return adbc.connect(uri)
    except adbc.Error as exc:
        raise ReadError(f"{Path(path).name}: {str(exc).splitlines()[0]}") from None


def _fetch(path: Path, cursor, sql: str, params: tuple) -> pl.DataFrame:
    import adbc_driver_manager

    try:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cursor.execute(sql, params or None)
        return pl.DataFrame(cursor.fetch_arrow())
    except (adbc_driver_manager.Error, pl.exceptions.ComputeError) as exc:
        # ComputeError: the driver's own error, raised as polars reads the stream
        # ("Type mismatch in column 3": a column holding two types of value).
        raise ReadError(f"{Path(path).name}: {str(exc).splitlines()[0]}") from None


def _typed(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The NULLs put back and each column cast to its type (strictly); the schema's empty
    frame when there are no rows (the driver cannot type the columns of none)."""
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return frame.select(
        pl.when(pl.col(name + _NULL_SUFFIX) == 1)
        .then(None)
        .otherwise(pl.col(name).cast(dtype, strict=True))
        .alias(name)
        for name, dtype in schema.items()
    )
