"""History between refreshes: per record (table, record_id) when it was first and last served,
every version of its tracked fields, and a field-level log of changes (a call's deadline moved).

The state lives in <data-dir>/history.db, beside (never inside) the served file. A build
prepares the next state in a separate file and the public `changes` and `record_versions`
tables from it; only commit() (called after the publish succeeded) renames it over the store,
so a failed publish does not advance history and a kill at any point leaves the old state or
the new one, never half of each."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from schemas import TABLE_MODELS, table_meta
from schemas.history import TRACKED_TABLES, ChangeRecord, RecordVersionRecord
from warehouse.arrow import ReadError, iter_query, read_query
from warehouse.build import TableCopy
from warehouse.ddl import quote
from warehouse.publish import fsync_path

STORE_NAME = "history.db"
PENDING_NAME = "history.db.pending"
# Provenance that moves on every crawl of an unchanged page (a new fetch time; a new body hash
# when only a timestamp or session token in the page changed): not a change of the record.
UNTRACKED_FIELDS: frozenset[str] = frozenset({"fetched_at", "document_sha256"})

_STORE_DDL = """
CREATE TABLE IF NOT EXISTS records (
    table_name TEXT NOT NULL, record_id TEXT NOT NULL, source_id TEXT,
    row_hash TEXT NOT NULL, row_json TEXT NOT NULL, version INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, valid_from TEXT NOT NULL, removed_at TEXT,
    PRIMARY KEY (table_name, record_id)
);
CREATE TABLE IF NOT EXISTS versions (
    table_name TEXT NOT NULL, record_id TEXT NOT NULL, version INTEGER NOT NULL, source_id TEXT,
    valid_from TEXT NOT NULL, valid_to TEXT, row_json TEXT NOT NULL,
    PRIMARY KEY (table_name, record_id, version)
);
CREATE TABLE IF NOT EXISTS changes (
    change_id TEXT PRIMARY KEY, table_name TEXT NOT NULL, record_id TEXT NOT NULL,
    source_id TEXT, field TEXT, old_value TEXT, new_value TEXT, change_type TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
"""


class HistoryError(RuntimeError):
    """The history store could not be read or advanced; the message is one line."""


def store_path(data_dir: Path) -> Path:
    return Path(data_dir) / STORE_NAME


def pending_path(data_dir: Path) -> Path:
    return Path(data_dir) / PENDING_NAME


@dataclass(frozen=True)
class HistoryUpdate:
    """The public history tables of one build, and the state to keep once it is published.

    `copies` is how the warehouse build copies the public tables from the prepared state (until
    commit() renames it); `tables` holds them as frames only when prepare_history was asked
    for them (frames=True)."""

    data_dir: Path
    tables: dict[str, pl.DataFrame]
    copies: dict[str, TableCopy]
    counts: dict[str, int]

    def commit(self) -> None:
        """Make the prepared state the store (after the publish succeeded)."""
        commit_pending(self.data_dir)


def commit_pending(data_dir: Path) -> bool:
    """Rename the prepared state over the store (atomic); False when nothing was prepared."""
    pending = pending_path(data_dir)
    if not pending.is_file():
        return False
    os.replace(pending, store_path(data_dir))
    fsync_path(Path(data_dir))
    return True


def canonical_rows(table: str, frame: pl.DataFrame) -> Iterator[tuple[str, str | None, str]]:
    """(record_id, source_id, JSON of the tracked fields with sorted keys) per row, one row at a
    time: the form versions are stored and compared in, so the same values always give the same
    text."""
    pk = table_meta(TABLE_MODELS[table])["primary_key"]
    fields = sorted(c for c in frame.columns if c != pk and c not in UNTRACKED_FIELDS)
    has_source = "source_id" in frame.columns
    for row in frame.iter_rows(named=True):
        tracked = {f: row[f] for f in fields}
        text = json.dumps(tracked, sort_keys=True, ensure_ascii=False, default=str)
        yield str(row[pk]), row["source_id"] if has_source else None, text


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def field_changes(old_json: str, new_json: str) -> list[tuple[str, str | None, str | None]]:
    """(field, old value as JSON, new value as JSON) for every tracked field that differs; a
    missing or null value is NULL."""
    old, new = json.loads(old_json), json.loads(new_json)

    def encode(value: object) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    return [
        (f, encode(old.get(f)), encode(new.get(f)))
        for f in sorted(set(old) | set(new))
        if old.get(f) != new.get(f)
    ]


# One table's rows of the build, while it is folded into the state (a temporary table: on disk
# when it outgrows the cache, so a build's history costs no memory per record).
_INCOMING_DDL = """
CREATE TEMP TABLE incoming (
    record_id TEXT NOT NULL, source_id TEXT, row_hash TEXT NOT NULL, row_json TEXT NOT NULL
)
"""
# The served records the build holds again, changed or back after a removal; read before any
# of them is written.
_MOVED_DDL = """
CREATE TEMP TABLE moved AS
SELECT i.record_id, r.version, r.removed_at IS NOT NULL AS returned
FROM incoming i JOIN records r ON r.table_name = :table AND r.record_id = i.record_id
WHERE r.removed_at IS NOT NULL OR r.row_hash != i.row_hash
"""
# Records changed in place, in batches: their old and new text, for the field-level changes.
_CHANGED_BATCH = """
SELECT m.record_id, i.source_id, r.row_json, i.row_json
FROM moved m JOIN incoming i USING (record_id)
JOIN records r ON r.table_name = :table AND r.record_id = m.record_id
WHERE NOT m.returned AND m.rowid > :after AND m.rowid <= :after + :batch
"""
_BATCH = 5_000


def _whole_record_changes(
    conn: sqlite3.Connection, names: dict[str, str], change_type: str, rows: str
) -> None:
    """A `changes` row per record `rows` selects (a FROM clause that names it `x`), for a
    record added or removed as a whole: change_id <at>/<table>/<record_id>/<change_type>."""
    conn.execute(
        "INSERT INTO changes SELECT :at || '/' || :table || '/' || x.record_id || '/' || :type, "
        f":table, x.record_id, x.source_id, NULL, NULL, NULL, :type, :at {rows}",
        {**names, "type": change_type},
    )


def advance_table(
    conn: sqlite3.Connection, table: str, rows: Iterable[tuple[str, str | None, str]], at: str
) -> dict[str, int]:
    """Fold one table's rows of this build into the state: new records, changed ones (a row
    per changed field and a new version), records gone (removed; their version closed), and
    last_seen moved for every record served. Returns counts per change type.

    Set-based: the rows go into a temporary table and each kind of change is one statement
    over it; only records changed in place pass through Python (their field-level changes).
    A loop of lookups and single-row statements over every record, with the table's state
    held in a dict, cost 15 s and ~1.6 GiB at 400,000 records (bench/README.md, end to end).
    """
    names = {"table": table, "at": at}
    conn.execute("DROP TABLE IF EXISTS temp.incoming")
    conn.execute("DROP TABLE IF EXISTS temp.moved")
    conn.execute(_INCOMING_DDL)
    conn.executemany(
        "INSERT INTO incoming VALUES (?, ?, ?, ?)",
        ((rid, source, _hash(text), text) for rid, source, text in rows),
    )
    twice = conn.execute(
        "SELECT record_id FROM incoming GROUP BY record_id HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if twice:
        raise HistoryError(f"{table}: record {twice[0]!r} appears twice in the build")
    conn.execute("CREATE UNIQUE INDEX temp.incoming_record ON incoming (record_id)")

    # Gone: served records of this table that the build does not hold.
    gone = (
        "FROM records x WHERE x.table_name = :table AND x.removed_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.record_id = x.record_id)"
    )
    _whole_record_changes(conn, names, "removed", gone)
    conn.execute(
        "UPDATE versions SET valid_to = :at WHERE table_name = :table "
        f"AND (record_id, version) IN (SELECT x.record_id, x.version {gone})",
        names,
    )
    removed = conn.execute(
        f"UPDATE records SET removed_at = :at WHERE rowid IN (SELECT x.rowid {gone})", names
    ).rowcount

    # Changed in place, or back after a removal (a new version, first_seen kept).
    conn.execute(_MOVED_DDL, names)
    (last,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM moved").fetchone()
    for after in range(0, last, _BATCH):
        batch = conn.execute(_CHANGED_BATCH, {**names, "after": after, "batch": _BATCH})
        conn.executemany(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (f"{at}/{table}/{rid}/{field}", table, rid, source, field, old, new, "changed", at)
                for rid, source, old_text, new_text in batch.fetchall()
                for field, old, new in field_changes(old_text, new_text)
            ],
        )
    changed, returned = conn.execute(
        "SELECT count(*) FILTER (WHERE NOT returned), count(*) FILTER (WHERE returned) FROM moved"
    ).fetchone()
    _whole_record_changes(
        conn, names, "added", "FROM moved m JOIN incoming x USING (record_id) WHERE m.returned"
    )
    conn.execute(
        "UPDATE versions SET valid_to = :at WHERE table_name = :table "
        "AND (record_id, version) IN (SELECT record_id, version FROM moved WHERE NOT returned)",
        names,
    )
    conn.execute(
        "INSERT INTO versions SELECT :table, m.record_id, m.version + 1, i.source_id, :at, NULL, "
        "i.row_json FROM moved m JOIN incoming i USING (record_id)",
        names,
    )
    conn.execute(
        "UPDATE records SET (source_id, row_hash, row_json, version, valid_from, removed_at) = "
        "(SELECT i.source_id, i.row_hash, i.row_json, records.version + 1, :at, NULL "
        "FROM incoming i WHERE i.record_id = records.record_id) "
        "WHERE table_name = :table AND record_id IN (SELECT record_id FROM moved)",
        names,
    )

    # New: records the state has never held.
    new = (
        "FROM incoming x WHERE NOT EXISTS (SELECT 1 FROM records r "
        "WHERE r.table_name = :table AND r.record_id = x.record_id)"
    )
    conn.execute(
        "INSERT INTO versions SELECT :table, x.record_id, 1, x.source_id, :at, NULL, x.row_json "
        + new,
        names,
    )
    _whole_record_changes(conn, names, "added", new)
    added = conn.execute(
        "INSERT INTO records SELECT :table, x.record_id, x.source_id, x.row_hash, x.row_json, 1, "
        f":at, :at, :at, NULL {new}",
        names,
    ).rowcount

    # Served by this build: every record it holds, whatever happened to it.
    conn.execute(
        "UPDATE records SET last_seen = :at WHERE table_name = :table "
        "AND record_id IN (SELECT record_id FROM incoming)",
        names,
    )
    conn.execute("DROP TABLE temp.incoming")
    conn.execute("DROP TABLE temp.moved")
    return {"added": added + returned, "changed": changed, "removed": removed}


# The public tables, as SELECTs on the state file (its tables under the schema prefix `{s}`,
# "" on its own connection, "<name>." where the warehouse build attaches it), and the columns
# that order them, unique together and never NULL.
_PUBLIC: dict[str, tuple[str, list[str], type[pa.DataFrameModel]]] = {
    "changes": (
        "SELECT change_id, table_name, record_id, source_id, field, old_value, new_value, "
        "change_type, changed_at FROM {s}changes",
        ["change_id"],
        ChangeRecord,
    ),
    "record_versions": (
        "SELECT v.table_name || '/' || v.record_id || '/' || v.version AS version_id, "
        "v.table_name, v.record_id, v.source_id, v.version, v.valid_from, v.valid_to, "
        "r.first_seen, r.last_seen, r.removed_at, v.row_json "
        "FROM {s}versions v JOIN {s}records r USING (table_name, record_id)",
        ["table_name", "record_id", "version"],
        RecordVersionRecord,
    ),
}


def _schema(model: type[pa.DataFrameModel]) -> dict[str, pl.DataType]:
    return {name: column.dtype.type for name, column in model.to_schema().columns.items()}


def public_tables(path: Path) -> dict[str, pl.DataFrame]:
    """The `changes` and `record_versions` tables, whole, from the state at `path`."""
    frames = {}
    for table, (select, order, model) in _PUBLIC.items():
        try:
            frames[table] = read_query(path, select.format(s=""), _schema(model), order)
        except ReadError as exc:
            raise HistoryError(f"history query: {exc}") from None
    return frames


def check_public_tables(path: Path) -> None:
    """Validate the public tables of the state at `path` against their models, a frame of
    BATCH_ROWS rows at a time (the history of a full build is gigabytes of JSON). A value
    check fails here; uniqueness across frames is the warehouse's primary keys'."""
    for select, key, model in _PUBLIC.values():
        try:
            for frame in iter_query(path, select.format(s=""), _schema(model), key):
                model.validate(frame)
        except ReadError as exc:
            raise HistoryError(f"history query: {exc}") from None


def table_copies(path: Path) -> dict[str, TableCopy]:
    """The public tables as the warehouse build copies them from the state file at `path`, in
    SQL, never whole in memory; in key order, the order of the state's own indexes."""
    return {
        table: TableCopy(
            path,
            f"SELECT * FROM ({select.format(s=TableCopy.SCHEMA + '.')}) "
            f"ORDER BY {', '.join(quote(c) for c in key)}",
        )
        for table, (select, key, _) in _PUBLIC.items()
    }


def prepare_history(
    data_dir: Path, tables: dict[str, pl.DataFrame], built_at: str, *, frames: bool = True
) -> HistoryUpdate:
    """The history tables of a build from `tables` (the entity frames about to be built) and
    the store, validated; the store itself is not touched until commit(). `frames=False`
    leaves them in the prepared file, for the warehouse build to copy (`copies`)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store, pending = store_path(data_dir), pending_path(data_dir)
    work = data_dir / f"{PENDING_NAME}.tmp-{os.getpid()}"
    work.unlink(missing_ok=True)
    try:
        if store.is_file():
            shutil.copyfile(store, work)
        counts: dict[str, int] = {"added": 0, "changed": 0, "removed": 0}
        with contextlib.closing(sqlite3.connect(work, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.executescript(_STORE_DDL)
            last = conn.execute("SELECT max(last_seen) FROM records").fetchone()[0]
            if last is not None and built_at < last:
                raise HistoryError(
                    f"build time {built_at} is before the last recorded build {last}"
                )
            conn.execute("BEGIN")
            for table in TRACKED_TABLES:
                if table not in tables:
                    raise HistoryError(f"history needs the {table} table of the build")
                for kind, n in advance_table(
                    conn, table, canonical_rows(table, tables[table]), built_at
                ).items():
                    counts[kind] += n
            conn.execute("COMMIT")
        check_public_tables(work)
        public = public_tables(work) if frames else {}
        fsync_path(work)
        os.replace(work, pending)
    except BaseException:
        work.unlink(missing_ok=True)
        raise
    return HistoryUpdate(data_dir, public, table_copies(pending), counts)
