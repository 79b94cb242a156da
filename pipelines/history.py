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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from schemas import TABLE_MODELS, table_meta
from schemas.history import TRACKED_TABLES, ChangeRecord, RecordVersionRecord
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
    """The public history tables of one build, and the state to keep once it is published."""

    data_dir: Path
    tables: dict[str, pl.DataFrame]
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


def canonical_rows(table: str, frame: pl.DataFrame) -> list[tuple[str, str | None, str]]:
    """(record_id, source_id, JSON of the tracked fields with sorted keys) per row: the form
    versions are stored and compared in, so the same values always give the same text."""
    pk = table_meta(TABLE_MODELS[table])["primary_key"]
    fields = sorted(c for c in frame.columns if c != pk and c not in UNTRACKED_FIELDS)
    has_source = "source_id" in frame.columns
    out = []
    for row in frame.iter_rows(named=True):
        tracked = {f: row[f] for f in fields}
        text = json.dumps(tracked, sort_keys=True, ensure_ascii=False, default=str)
        out.append((str(row[pk]), row["source_id"] if has_source else None, text))
    return out


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


def _change(
    conn: sqlite3.Connection,
    table: str,
    record_id: str,
    source_id: str | None,
    change_type: str,
    at: str,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> None:
    change_id = f"{at}/{table}/{record_id}/{field or change_type}"
    conn.execute(
        "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (change_id, table, record_id, source_id, field, old, new, change_type, at),
    )


def _new_version(
    conn: sqlite3.Connection, table: str, rid: str, source: str | None, n: int, at: str, text: str
) -> None:
    conn.execute(
        "INSERT INTO versions VALUES (?, ?, ?, ?, ?, NULL, ?)", (table, rid, n, source, at, text)
    )


def _close_version(conn: sqlite3.Connection, table: str, rid: str, n: int, at: str) -> None:
    conn.execute(
        "UPDATE versions SET valid_to = ? WHERE table_name = ? AND record_id = ? AND version = ?",
        (at, table, rid, n),
    )


def advance_table(
    conn: sqlite3.Connection, table: str, rows: Iterable[tuple[str, str | None, str]], at: str
) -> dict[str, int]:
    """Fold one table's rows of this build into the state: new records, changed ones (a row
    per changed field and a new version), records gone (removed; their version closed), and
    last_seen moved for every record served. Returns counts per change type."""
    known = {
        rid: (h, text, version, removed_at)
        for rid, h, text, version, removed_at in conn.execute(
            "SELECT record_id, row_hash, row_json, version, removed_at FROM records "
            "WHERE table_name = ?",
            (table,),
        )
    }
    counts = {"added": 0, "changed": 0, "removed": 0}
    seen: set[str] = set()
    for rid, source, text in rows:
        if rid in seen:
            raise HistoryError(f"{table}: record {rid!r} appears twice in the build")
        seen.add(rid)
        digest = _hash(text)
        if rid not in known:
            conn.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, NULL)",
                (table, rid, source, digest, text, at, at, at),
            )
            _new_version(conn, table, rid, source, 1, at, text)
            _change(conn, table, rid, source, "added", at)
            counts["added"] += 1
            continue
        old_hash, old_text, version, removed_at = known[rid]
        if removed_at is None and old_hash == digest:
            conn.execute(
                "UPDATE records SET last_seen = ? WHERE table_name = ? AND record_id = ?",
                (at, table, rid),
            )
            continue
        # Back after a removal (a new version, first_seen kept) or changed in place.
        if removed_at is None:
            _close_version(conn, table, rid, version, at)
            for field, old, new in field_changes(old_text, text):
                _change(conn, table, rid, source, "changed", at, field, old, new)
            counts["changed"] += 1
        else:
            _change(conn, table, rid, source, "added", at)
            counts["added"] += 1
        _new_version(conn, table, rid, source, version + 1, at, text)
        conn.execute(
            "UPDATE records SET source_id = ?, row_hash = ?, row_json = ?, version = ?, "
            "last_seen = ?, valid_from = ?, removed_at = NULL "
            "WHERE table_name = ? AND record_id = ?",
            (source, digest, text, version + 1, at, at, table, rid),
        )
    for rid, (_, _, version, removed_at) in known.items():
        if rid in seen or removed_at is not None:
            continue
        (source,) = conn.execute(
            "SELECT source_id FROM records WHERE table_name = ? AND record_id = ?", (table, rid)
        ).fetchone()
        _close_version(conn, table, rid, version, at)
        _change(conn, table, rid, source, "removed", at)
        conn.execute(
            "UPDATE records SET removed_at = ? WHERE table_name = ? AND record_id = ?",
            (at, table, rid),
        )
        counts["removed"] += 1
    return counts


def _frame(conn: sqlite3.Connection, sql: str, model: type) -> pl.DataFrame:
    columns = model.to_schema().columns
    schema = {name: column.dtype.type for name, column in columns.items()}
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    if names != list(schema):
        raise HistoryError(f"history query columns {names} do not match {list(schema)}")
    return pl.DataFrame(cursor.fetchall(), schema=schema, orient="row")


def public_tables(conn: sqlite3.Connection) -> dict[str, pl.DataFrame]:
    """The `changes` and `record_versions` tables, whole, from a state."""
    changes = _frame(
        conn,
        "SELECT change_id, table_name, record_id, source_id, field, old_value, new_value, "
        "change_type, changed_at FROM changes ORDER BY change_id",
        ChangeRecord,
    )
    versions = _frame(
        conn,
        "SELECT v.table_name || '/' || v.record_id || '/' || v.version AS version_id, "
        "v.table_name, v.record_id, v.source_id, v.version, v.valid_from, v.valid_to, "
        "r.first_seen, r.last_seen, r.removed_at, v.row_json "
        "FROM versions v JOIN records r USING (table_name, record_id) "
        "ORDER BY v.table_name, v.record_id, v.version",
        RecordVersionRecord,
    )
    return {"changes": changes, "record_versions": versions}


def prepare_history(
    data_dir: Path, tables: dict[str, pl.DataFrame], built_at: str
) -> HistoryUpdate:
    """The history tables of a build from `tables` (the entity frames about to be built) and
    the store; the store itself is not touched until commit()."""
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
            frames = public_tables(conn)
        fsync_path(work)
        os.replace(work, pending)
    except BaseException:
        work.unlink(missing_ok=True)
        raise
    frames = {
        "changes": ChangeRecord.validate(frames["changes"]),
        "record_versions": RecordVersionRecord.validate(frames["record_versions"]),
    }
    return HistoryUpdate(data_dir, frames, counts)
