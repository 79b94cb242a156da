"""Publish a built database: check it again, then swap it in atomically so the served path always
holds either the last good release or the new one, never a half-written file."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

from schemas import TABLE_MODELS
from schemas.releases import RELEASES_TABLE
from warehouse.build import foreign_key_problems, integrity_problems
from warehouse.ddl import table_name


class PublishError(RuntimeError):
    """The built database is not fit to publish; the served file was left untouched."""


# The one list of what may be served: every table the warehouse build writes (one per model in
# schemas.TABLE_MODELS) plus the tables written beside the build. Anything else in the file (a
# debugging table, a quarantine copy, a table a future step adds without thinking) is refused at
# publish time: the served file is public data only. Add a table here when it is meant to be public.
EXTRA_PUBLIC_TABLES: tuple[str, ...] = (
    RELEASES_TABLE,  # dated releases and their downloads (`clusterdata release`)
)
# FTS5 index of a public table (the sqlite-utils <table>_fts naming) and its shadow tables.
_FTS_TABLE = re.compile(r"^(?P<table>.+)_fts(?:_(?:data|idx|docsize|config|content))?$")
# What SQLite itself keeps: ANALYZE statistics and AUTOINCREMENT counters.
_SQLITE_INTERNAL = frozenset({"sqlite_stat1", "sqlite_stat4", "sqlite_sequence"})


def public_tables() -> frozenset[str]:
    """The tables and views allowed in the served database (FTS indexes not listed)."""
    return frozenset(table_name(m) for m in TABLE_MODELS.values()) | frozenset(
        EXTRA_PUBLIC_TABLES
    )


def non_public_objects(conn: sqlite3.Connection) -> list[str]:
    """'table x', 'view y', 'trigger z'... for every schema object the allowlist does not cover:
    tables and views not in public_tables() (an FTS index counts as its table's), and triggers
    (a read-only file has no use for them)."""
    allowed = public_tables()
    refused = []
    for kind, name in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') "
        "ORDER BY type, name"
    ):
        fts = _FTS_TABLE.match(name)
        if kind == "trigger":
            refused.append(f"trigger {name}")
        elif name in allowed or name in _SQLITE_INTERNAL:
            continue
        elif kind == "table" and fts and fts.group("table") in allowed:
            continue
        else:
            refused.append(f"{kind} {name}")
    return refused


def check_database(path: Path) -> None:
    """Raise PublishError (one line) unless `path` is a sound, complete clusterdata database."""
    path = Path(path)
    if not path.is_file():
        raise PublishError(f"{path} is not a file")
    try:
        # Read-only URI: checking a file must never change it (or create a journal beside it).
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as conn:
            problems = integrity_problems(conn)
            if problems:
                raise PublishError(f"{path.name}: integrity_check failed: {problems[0]}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            missing = sorted({table_name(m) for m in TABLE_MODELS.values()} - tables)
            if missing:
                raise PublishError(f"{path.name}: tables missing: {', '.join(missing)}")
            refused = non_public_objects(conn)
            if refused:
                raise PublishError(
                    f"{path.name}: not on the public allowlist (warehouse/publish.py): "
                    + ", ".join(refused)
                )
            broken = foreign_key_problems(conn)
            if broken:
                raise PublishError(f"{path.name}: foreign keys broken: {broken[0]}")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode == "wal":
                # A WAL file beside the served database would not travel with os.replace.
                raise PublishError(f"{path.name}: journal_mode is wal, expected delete")
    except sqlite3.DatabaseError as exc:
        raise PublishError(f"{path.name} is not a readable SQLite database: {exc}") from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_database(built: Path, target: Path) -> Path:
    """Check `built`, then move it onto `target` atomically and return `target`.

    `target` (the file Datasette serves) is never opened or written: it is replaced whole by a
    rename, and left untouched when the check fails (PublishError)."""
    built, target = Path(built).resolve(), Path(target).resolve()
    if built == target:
        raise PublishError(f"{built} is the published file; build into a new file")
    check_database(built)
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.stat(built.parent).st_dev == os.stat(target.parent).st_dev:
        source = built
    else:
        # A rename is only atomic within one filesystem: copy next to the target first.
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        source = Path(name)
        try:
            shutil.copyfile(built, source)
            check_database(source)
        except BaseException:
            source.unlink(missing_ok=True)
            raise
    # The new bytes reach the disk before the rename makes them the release.
    _fsync(source)
    os.replace(source, target)
    _fsync(target.parent)
    if source != built:
        built.unlink()
    return target
