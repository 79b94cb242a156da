"""Build the served SQLite database from validated DataFrames: tables from the models' DDL, bulk
inserts, FTS5, indexes, then checks that refuse a database with broken references."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandera.polars as pa
import polars as pl

from schemas import TABLE_MODELS, load_order, table_meta
from schemas.summaries import SUMMARY_MODELS, SUMMARY_SQL
from warehouse.ddl import (
    ColumnSpec,
    create_table_sql,
    foreign_keys,
    primary_key,
    quote,
    table_columns,
    table_name,
)

# Referenced tables before the tables that reference them, so a reader of the load log (and any
# connection with foreign_keys=ON) never sees a dangling reference.
LOAD_ORDER: tuple[str, ...] = load_order()

# remove_diacritics 2 also folds code points that decompose into several diacritics, so
# "acores" finds "Açores" and "Competitividade" finds "COMPETITIVIDADE".
FTS_TOKENIZE = "unicode61 remove_diacritics 2"
FTS_HASH_BYTES = 16 * 2**20


class BuildError(RuntimeError):
    """The database could not be built or failed a check; the partial file has been removed."""


@dataclass(frozen=True)
class TableCopy:
    """A table the build copies from another SQLite file in SQL, rows never in memory: `select`
    reads that file's tables as `copy_source.<table>` and names its columns as the model does."""

    path: Path
    select: str

    SCHEMA: ClassVar[str] = "copy_source"


def fts_table_name(table: str) -> str:
    """Name of a table's FTS5 index (the sqlite-utils convention Datasette also detects)."""
    return f"{table}_fts"


_STORAGE_DTYPES: dict[str, type[pl.DataType]] = {
    "text": pl.String,
    "integer": pl.Int64,
    "real": pl.Float64,
}
# A build-time page cache (256 MiB, the build's connections only; not stored in the file): the
# FTS rebuild and the index builds sort more than SQLite's 2 MiB default holds.
BUILD_CACHE_PAGES = -262144


def _sqlite_ready(df: pl.DataFrame, columns: list[ColumnSpec]) -> pl.DataFrame:
    """The frame in table column order with every value already in its SQLite form."""
    expressions = []
    for column in columns:
        col = pl.col(column.name)
        if column.storage == "json":
            # polars writes the JSON (escaping included); the struct wrapper is stripped again.
            prefix = "{" + json.dumps(column.name) + ":"
            encoded = (
                pl.struct(col).struct.json_encode().str.strip_prefix(prefix).str.strip_suffix("}")
            )
            expr = pl.when(col.is_null()).then(None).otherwise(encoded)
        elif column.storage == "date":
            expr = col.dt.to_string("%Y-%m-%d")
        elif column.storage == "bool":
            expr = col.cast(pl.Int8)
        else:
            # The declared type whatever the frame's (an all-NULL column may be typed Null,
            # which ADBC cannot bind); SQLite's column affinity would convert the same way.
            expr = col.cast(_STORAGE_DTYPES[column.storage])
        expressions.append(expr.alias(column.name))
    return df.select(expressions)


def _check_frames(tables: dict[str, pl.DataFrame], copies: Mapping[str, TableCopy]) -> None:
    missing = set(TABLE_MODELS) - set(tables) - set(copies)
    extra = (set(tables) | set(copies)) - set(TABLE_MODELS)
    if missing or extra:
        raise BuildError(f"tables missing: {sorted(missing)}, unknown: {sorted(extra)}")
    if twice := sorted(set(tables) & set(copies)):
        raise BuildError(f"tables given both as frames and as copies: {twice}")
    for name, model in TABLE_MODELS.items():
        if name in copies:
            continue
        expected = {c.name for c in table_columns(model)}
        got = set(tables[name].columns)
        if expected != got:
            missing_columns, unknown_columns = sorted(expected - got), sorted(got - expected)
            raise BuildError(
                f"{name}: columns missing {missing_columns}, unknown {unknown_columns}"
            )


def _ingest(path: Path, frames: list[tuple[type[pa.DataFrameModel], pl.DataFrame]]) -> list[int]:
    """Append every frame to its (already created) table in one transaction through ADBC's
    SQLite driver, and return the rows written per frame.

    ADBC binds the frame's Arrow columns to SQLite in C: no Python tuple per row, which is what
    bounds `sqlite3.executemany` (bench/README.md, load). The frames are in primary-key order, so
    every insert appends to the key's b-tree instead of landing on a random page of it: at
    millions of rows that is the difference between a cached append and a page-cache miss per
    row."""
    import adbc_driver_sqlite.dbapi as adbc

    written = []
    with adbc.connect(str(path)) as conn, conn.cursor() as cursor:
        cursor.execute(f"PRAGMA cache_size={BUILD_CACHE_PAGES}")
        for model, df in frames:
            columns = table_columns(model)
            ready = _sqlite_ready(df.sort(primary_key(model), nulls_last=True), columns)
            if ready.height:
                try:
                    cursor.adbc_ingest(table_name(model), ready, mode="append")
                except adbc.Error as exc:
                    # "INTERNAL: failed to execute: UNIQUE constraint failed: …\nquery was: …"
                    reason = str(exc).splitlines()[0].removeprefix("INTERNAL: ")
                    reason = reason.removeprefix("failed to execute: ")
                    raise BuildError(f"{table_name(model)}: {reason}") from None
            written.append(ready.height)
        conn.commit()
    return written


def _copy_tables(conn: sqlite3.Connection, copies: Mapping[str, TableCopy]) -> dict[str, int]:
    """INSERT … SELECT each copied table from its file, attached read-only; rows per table."""
    written = {}
    for table in (t for t in LOAD_ORDER if t in copies):
        copy, model = copies[table], TABLE_MODELS[table]
        uri = f"{Path(copy.path).resolve().as_uri()}?mode=ro"
        conn.execute(f"ATTACH DATABASE ? AS {TableCopy.SCHEMA}", (uri,))
        try:
            names = ", ".join(quote(c.name) for c in table_columns(model))
            conn.execute("BEGIN")
            try:
                cursor = conn.execute(
                    f"INSERT INTO main.{quote(table_name(model))} ({names}) "
                    f"SELECT {names} FROM ({copy.select})"
                )
            except sqlite3.DatabaseError as exc:
                reason = f"copy from {Path(copy.path).name}: {exc}"
                raise BuildError(f"{table_name(model)}: {reason}") from None
            written[table] = cursor.rowcount
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute(f"DETACH DATABASE {TableCopy.SCHEMA}")
    return written


def _create_fts(conn: sqlite3.Connection, model: type[pa.DataFrameModel]) -> str | None:
    table = table_name(model)
    fts_columns = [c.name for c in table_columns(model) if c.fts]
    if not fts_columns:
        return None
    fts = fts_table_name(table)
    # External content: the index stores no second copy of the text. The published file is
    # read-only, so no triggers are needed to keep it in step.
    conn.execute(
        f"CREATE VIRTUAL TABLE {quote(fts)} USING FTS5 ("
        + ", ".join(quote(c) for c in fts_columns)
        + f", tokenize='{FTS_TOKENIZE}', content=[{table}])"
    )
    # FTS5 writes a segment each time its pending terms pass `hashsize` (1 MiB by default) and
    # then merges the segments: a rebuild in 16 MiB steps does a third less work (bench/README.md,
    # load). The setting is stored in the index's config table and only matters to writers.
    conn.execute(
        f"INSERT INTO {quote(fts)} ({quote(fts)}, rank) VALUES ('hashsize', {FTS_HASH_BYTES})"
    )
    conn.execute(f"INSERT INTO {quote(fts)} ({quote(fts)}) VALUES ('rebuild')")
    return fts


def _create_summaries(conn: sqlite3.Connection) -> dict[str, int]:
    """Write the summary tables (schemas/summaries.py) from the loaded tables; rows per table."""
    rows = {}
    for table, sql in SUMMARY_SQL.items():
        model = SUMMARY_MODELS[table]
        conn.execute(create_table_sql(model))
        pk = primary_key(model)
        names = ", ".join(quote(c.name) for c in table_columns(model) if c.name != pk)
        conn.execute(f"INSERT INTO {quote(table)} ({names}) {sql}")
        rows[table] = conn.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()[0]
    return rows


def index_columns(model: type[pa.DataFrameModel]) -> list[str]:
    """Columns that get an index: facets (Datasette counts them), foreign keys (joins) and the
    table page's default sort (without one, every table page sorts the whole table)."""
    pk = primary_key(model)
    wanted = [c.name for c in table_columns(model) if c.facet]
    wanted += [k.column for k in foreign_keys(model)]
    meta = table_meta(model)
    wanted += [meta[key] for key in ("sort", "sort_desc") if meta.get(key)]
    # The primary key already has its own index; JSON-array facets cannot use a b-tree.
    return [c for c in dict.fromkeys(wanted) if c != pk]


def index_definitions(model: type[pa.DataFrameModel]) -> dict[str, tuple[str, ...]]:
    """Every index of a model's table, {index name: columns}: the table's declared composite
    `indexes` (Config.metadata; a filter with its sort, or the columns a canned query reads, so
    SQLite answers from the index alone), then one per index_columns() column that does not
    already lead one of those (a second index on the same leading column only costs build time)."""
    table = table_name(model)
    names = {c.name for c in table_columns(model)}
    indexes: dict[str, tuple[str, ...]] = {}
    for name, columns in table_meta(model).get("indexes", {}).items():
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise BuildError(f"{table}: index {name} names unknown columns {unknown}")
        if not columns:
            raise BuildError(f"{table}: index {name} has no columns")
        indexes[f"idx_{table}_{name}"] = tuple(columns)
    leading = {columns[0] for columns in indexes.values()}
    for column in index_columns(model):
        if column not in leading:
            indexes[f"idx_{table}_{column}"] = (column,)
    return indexes


def _create_indexes(conn: sqlite3.Connection, model: type[pa.DataFrameModel]) -> list[str]:
    table = table_name(model)
    indexes = index_definitions(model)
    for name, columns in indexes.items():
        conn.execute(
            f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(map(quote, columns))})"
        )
    return list(indexes)


def foreign_key_problems(conn: sqlite3.Connection) -> list[str]:
    """One line per broken reference kind, e.g. "participants.organisation_id -> organisations:
    2 rows (e.g. 'x')"; empty when every reference resolves."""
    violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    counts: Counter[tuple[str, str, str]] = Counter()
    examples: dict[tuple[str, str, str], object] = {}
    for table, rowid, parent, fkid in violations:
        fk_columns = {
            row[0]: row[3] for row in conn.execute(f"PRAGMA foreign_key_list({quote(table)})")
        }
        column = fk_columns[fkid]
        key = (table, column, parent)
        counts[key] += 1
        if key not in examples:
            examples[key] = conn.execute(
                f"SELECT {quote(column)} FROM {quote(table)} WHERE rowid = ?", (rowid,)
            ).fetchone()[0]
    return [
        f"{table}.{column} -> {parent}: {n} row(s) (e.g. {examples[(table, column, parent)]!r})"
        for (table, column, parent), n in sorted(counts.items())
    ]


def integrity_problems(conn: sqlite3.Connection, *, quick: bool = False) -> list[str]:
    """PRAGMA integrity_check's (or, `quick`, quick_check's) complaints; empty when it says ok."""
    pragma = "quick_check" if quick else "integrity_check"
    rows = [row[0] for row in conn.execute(f"PRAGMA {pragma}").fetchall()]
    return [] if rows == ["ok"] else rows


def build_database(
    tables: dict[str, pl.DataFrame], path: Path, copies: Mapping[str, TableCopy] | None = None
) -> dict:
    """Write a NEW SQLite database at `path` from validated frames (one per schemas.TABLE_MODELS
    name, or a TableCopy from an already validated file in `copies`) and return a report: rows
    per table, FTS tables, indexes, seconds.

    Refuses an existing path: the caller builds a fresh file and publishes it. On any failure the
    partial file is removed and BuildError (or the original error) is raised."""
    started = time.perf_counter()
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; build into a new file and publish it")
    copies = dict(copies or {})
    _check_frames(tables, copies)
    if set(LOAD_ORDER) != set(TABLE_MODELS):
        raise BuildError(f"LOAD_ORDER {LOAD_ORDER} does not cover {sorted(TABLE_MODELS)}")

    report: dict = {"path": str(path), "rows": {}, "fts_tables": {}, "indexes": []}
    # Seconds per phase, so a slow build says where its time went (bench/ reads these).
    phases: dict[str, float] = {"insert": 0.0, "fts": 0.0, "indexes": 0.0}
    report["phase_seconds"] = phases
    # isolation_level=None: transactions are explicit. Opened by URI, so that the files of
    # `copies` can be attached read-only (a URI's mode=ro).
    conn = sqlite3.connect(path.resolve().as_uri(), isolation_level=None, uri=True)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("BEGIN")
        for table in LOAD_ORDER:
            conn.execute(create_table_sql(TABLE_MODELS[table]))
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA cache_size={BUILD_CACHE_PAGES}")
        mark = time.perf_counter()
        framed = [t for t in LOAD_ORDER if t not in copies]
        written = _ingest(path, [(TABLE_MODELS[t], tables[t]) for t in framed])
        rows = dict(zip(framed, written, strict=True)) | _copy_tables(conn, copies)
        report["rows"] = {t: rows[t] for t in LOAD_ORDER}
        phases["insert"] = time.perf_counter() - mark
        # Several threads sort the keys of each CREATE INDEX (SQLite's multi-threaded sorter).
        conn.execute("PRAGMA threads=4")
        conn.execute("BEGIN")
        # The summaries first: before the indexes exist, their GROUP BY reads the table in rowid
        # order, one pass, where an index on `programme` made SQLite visit the rows in index
        # order (0.9 s for both summaries at 150 k projects, 0.5 s in rowid order). The sums
        # are the same: within a group the rows come in rowid order either way.
        mark = time.perf_counter()
        report["summaries"] = _create_summaries(conn)
        phases["summaries"] = time.perf_counter() - mark
        for table in LOAD_ORDER:
            model = TABLE_MODELS[table]
            mark = time.perf_counter()
            fts = _create_fts(conn, model)
            phases["fts"] += time.perf_counter() - mark
            if fts:
                report["fts_tables"][table] = fts
            mark = time.perf_counter()
            report["indexes"] += _create_indexes(conn, model)
            phases["indexes"] += time.perf_counter() - mark
        mark = time.perf_counter()
        broken = foreign_key_problems(conn)
        if broken:
            raise BuildError("foreign keys broken: " + "; ".join(broken))
        conn.execute("COMMIT")
        # The whole-file integrity_check is the publish gate's (warehouse.publish.check_database),
        # once per refresh: the same check here as well cost as much as all the inserts.
        conn.execute("ANALYZE")
        phases["checks"] = time.perf_counter() - mark
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if journal_mode != "delete":
            raise BuildError(f"journal_mode is {journal_mode}, expected delete")
    except BaseException:
        conn.close()
        path.unlink(missing_ok=True)
        raise
    conn.close()
    report["seconds"] = round(time.perf_counter() - started, 3)
    return report
