"""Per-table download files of a release: CSV, Parquet and one XLSX workbook, read from the
published SQLite file with the types the pandera models declare (so a date is a date in Parquet
and Excel, not text)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

import polars as pl
import xlsxwriter
from polars.io.plugins import register_io_source

from schemas import TABLE_MODELS
from warehouse.arrow import iter_query, read_query
from warehouse.build import LOAD_ORDER
from warehouse.ddl import ColumnSpec, primary_key, quote, table_columns

# Excel's hard limit, header row included.
EXCEL_MAX_ROWS = 1_048_576
_POLARS_TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "json": pl.String(),
    "real": pl.Float64(),
    "integer": pl.Int64(),
    "bool": pl.Int64(),
    "date": pl.String(),
}


def export_tables(conn: sqlite3.Connection) -> list[str]:
    """The tables a release exports: every model table present in the database, in load order.

    FTS shadow tables, sqlite_* tables and the releases table (which describes the releases
    themselves and changes when one is rolled back) are not data and are left out."""
    present = {
        row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    return [t for t in LOAD_ORDER if t in present]


_DECLARED = {"TEXT": "text", "INTEGER": "integer", "REAL": "real"}


def file_columns(conn: sqlite3.Connection, table: str) -> list[ColumnSpec]:
    """The columns a table has in this file, in its order, typed and described by the model.

    A file built by an older model lacks the newer columns, and one the model no longer has is
    kept with its declared SQLite type: the release describes the file it ships."""
    specs = {c.name: c for c in table_columns(TABLE_MODELS[table])}
    columns = []
    for _cid, name, declared, notnull, _default, pk in conn.execute(
        f"PRAGMA table_info({quote(table)})"
    ):
        if name in specs:
            columns.append(specs[name])
            continue
        columns.append(
            ColumnSpec(
                name=name,
                sql_type=declared or "TEXT",
                storage=_DECLARED.get((declared or "TEXT").upper(), "text"),
                nullable=not (notnull or pk),
                description=f"{name} (not described by the current model)",
                facet=False,
                facet_array=False,
                fts=False,
            )
        )
    return columns


def read_table(conn: sqlite3.Connection, table: str, columns: list[ColumnSpec]) -> pl.DataFrame:
    """A table as a typed frame, ordered by primary key: dates as pl.Date, booleans as
    pl.Boolean, JSON arrays kept as their JSON text (see `decoded_lists` for Parquet).

    Read from the file `conn` has open, through ADBC (`warehouse.arrow`): about 2x faster than
    `fetchall()`, and no Python object per value."""
    path, select, schema, key = _table_query(conn, table, columns)
    return _typed(read_query(path, select, schema, [key]), columns)


def table_reader(
    conn: sqlite3.Connection, table: str, columns: list[ColumnSpec]
) -> Callable[[], Iterator[pl.DataFrame]]:
    """A function that gives `read_table`'s rows, each time it is called, as frames of
    `warehouse.arrow.BATCH_ROWS` rows in the same order: at least one frame (an empty one for an
    empty table), so a file written from them always gets its header. It does not use `conn`:
    it may be called in another thread (sink_parquet's), where a sqlite3 connection refuses to
    be used."""
    path, select, schema, key = _table_query(conn, table, columns)

    def frames() -> Iterator[pl.DataFrame]:
        empty = True
        for frame in iter_query(path, select, schema, [key]):
            empty = False
            yield _typed(frame, columns)
        if empty:
            yield _typed(pl.DataFrame(schema=schema), columns)

    return frames


def table_rows(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]


def _table_query(
    conn: sqlite3.Connection, table: str, columns: list[ColumnSpec]
) -> tuple[Path, str, dict[str, pl.DataType], str]:
    names = ", ".join(quote(c.name) for c in columns)
    ((_, _, path),) = [row for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
    schema = {c.name: _POLARS_TYPES[c.storage] for c in columns}
    key = primary_key(TABLE_MODELS[table])
    return Path(path), f"SELECT {names} FROM {quote(table)}", schema, key


def _typed(frame: pl.DataFrame, columns: list[ColumnSpec]) -> pl.DataFrame:
    casts = []
    for column in columns:
        col = pl.col(column.name)
        if column.storage == "date":
            casts.append(col.str.to_date("%Y-%m-%d", strict=True))
        elif column.storage == "bool":
            casts.append(col.cast(pl.Boolean))
    return frame.with_columns(casts) if casts else frame


def decoded_lists(frame: pl.DataFrame, columns: list[ColumnSpec]) -> pl.DataFrame:
    """JSON-array text columns decoded into list[str], for a typed Parquet file."""
    lists = [
        pl.col(c.name).str.json_decode(pl.List(pl.String())) for c in columns if c.storage == "json"
    ]
    return frame.with_columns(lists) if lists else frame


def short_name(description: str) -> str:
    """A spreadsheet header from a column description: the description without its bracketed
    asides, cut at its first clause, e.g. "Total eligible cost in EUR" or "Stable id" (from
    "Stable id: <source_id>:...")."""
    text = re.sub(r"\s*\([^()]*\)", "", " ".join(description.split()))
    text = re.split(r"\s*(?::|;|, e\.g\.|, i\.e\.| — | - )\s*", text, maxsplit=1)[0]
    text = text.rstrip(" .,")
    if len(text) > 40:
        cut = text[:40].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,") + "…"
    return text or " ".join(description.split())[:40]


def excel_headers(columns: list[ColumnSpec]) -> dict[str, str]:
    """Column name → unique short header for one sheet (a repeated short name gets the
    column name in brackets, so no two headers of a sheet are the same)."""
    shorts = {c.name: short_name(c.description) for c in columns}
    counts: dict[str, int] = {}
    for value in shorts.values():
        counts[value.casefold()] = counts.get(value.casefold(), 0) + 1
    return {
        name: value if counts[value.casefold()] == 1 else f"{value} [{name}]"
        for name, value in shorts.items()
    }


def write_csv(frame: pl.DataFrame, path: Path | IO[bytes], *, header: bool = True) -> None:
    """UTF-8 CSV with a header (unless `header=False`: rows to append to one); ISO dates, `.`
    decimals, true/false, JSON arrays as text, NULL as an empty field."""
    frame.write_csv(path, include_header=header, date_format="%Y-%m-%d", null_value="")


def write_parquet(frame: pl.DataFrame, columns: list[ColumnSpec], path: Path) -> None:
    """Typed Parquet (zstd), with JSON arrays as list[str]."""
    decoded_lists(frame, columns).write_parquet(path, compression="zstd", statistics=True)


def sink_parquet(
    batches: Callable[[], Iterator[pl.DataFrame]], columns: list[ColumnSpec], path: Path
) -> None:
    """`write_parquet` of the frames `batches()` yields, one after another, streamed: polars
    pulls them as it writes (an IO source), so the table is never whole in memory."""
    empty = pl.DataFrame(schema={c.name: _POLARS_TYPES[c.storage] for c in columns})
    schema = decoded_lists(_typed(empty, columns), columns).schema

    def source(with_columns, predicate, n_rows, batch_size) -> Iterator[pl.DataFrame]:
        for frame in batches():
            frame = decoded_lists(frame, columns)
            yield frame.select(with_columns) if with_columns is not None else frame

    lazy = register_io_source(source, schema=schema)
    lazy.sink_parquet(path, compression="zstd", statistics=True)


# Written row by row and flushed as it goes (constant_memory): polars' write_excel keeps every
# cell in memory, +3.7 GiB and 204 s for 150,000 projects (bench/README.md, end to end). Strings
# stay strings: scraped text starting with "=" is never a formula, and a URL is not turned into
# a hyperlink (Excel allows 65,530 per sheet).
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
WIDTH_SAMPLE_ROWS = 1_000
MAX_WIDTH = 60


def _widths(frame: pl.DataFrame, headers: list[str]) -> list[int]:
    """Column widths from the header and the first rows' values (autofit needs every cell)."""
    sample = frame.head(WIDTH_SAMPLE_ROWS)
    widths = []
    for header, name in zip(headers, frame.columns, strict=True):
        longest = sample.select(pl.col(name).cast(pl.Utf8).str.len_chars().max()).item() or 0
        widths.append(min(max(len(header), longest) + 2, MAX_WIDTH))
    return widths


class Workbook:
    """clusterdata.xlsx, one sheet per table added with `add`, each written row by row and
    flushed as it goes: short headers, frozen header row and a filter, dates as Excel dates.
    `skipped`: the tables left out because they exceed Excel's row limit (their CSV and
    Parquet are complete)."""

    def __init__(self, path: Path) -> None:
        self.book = xlsxwriter.Workbook(path, WORKBOOK_OPTIONS)
        self.bold = self.book.add_format({"bold": True})
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.skipped: list[str] = []

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.book.close()

    def add(self, table: str, frame: pl.DataFrame, columns: list[ColumnSpec]) -> None:
        self.add_batches(table, [frame], columns, frame.height)

    def add_batches(
        self, table: str, batches: Iterable[pl.DataFrame], columns: list[ColumnSpec], rows: int
    ) -> None:
        """A sheet of the `rows` rows the frames of `batches` hold, one frame after another
        (column widths from the first frame's first rows)."""
        if rows + 1 > EXCEL_MAX_ROWS:
            self.skipped.append(table)
            return
        sheet = self.book.add_worksheet(table[:31])
        sheet.freeze_panes(1, 0)
        names = excel_headers(columns)
        headers: list[str] = []
        written = 0
        for frame in batches:
            if not headers:
                headers = [names[c] for c in frame.columns]
                for n, width in enumerate(_widths(frame, headers)):
                    sheet.set_column(n, n, width)
                sheet.write_row(0, 0, headers, self.bold)
                dates = {n for n, dtype in enumerate(frame.dtypes) if dtype == pl.Date}
            for r, row in enumerate(frame.iter_rows(), start=written + 1):
                for n, value in enumerate(row):
                    if value is None:
                        continue
                    if n in dates:
                        sheet.write_datetime(r, n, value, self.date)
                    else:
                        sheet.write(r, n, value)
            written += frame.height
        sheet.autofilter(0, 0, rows, len(headers) - 1)


def write_workbook(
    frames: Mapping[str, pl.DataFrame], columns: dict[str, list[ColumnSpec]], path: Path
) -> list[str]:
    """Every table of `frames` into one workbook; the tables too big for Excel (see Workbook)."""
    with Workbook(path) as book:
        for table, frame in frames.items():
            book.add(table, frame, columns[table])
    return book.skipped
