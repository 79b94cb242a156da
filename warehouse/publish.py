"""Publish a built database: check it again, then swap it in atomically so the served path always
holds either the last good release or the new one, never a half-written file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from schemas import TABLE_MODELS
from schemas.releases import RELEASES_TABLE
from schemas.summaries import SUMMARY_MODELS
from warehouse.build import foreign_key_problems, integrity_problems
from warehouse.ddl import table_name
from warehouse.faults import fault_point
from warehouse.metadata import load_queries


class PublishError(RuntimeError):
    """The built database is not fit to publish; the served file was left untouched."""


# The one list of what may be served: every table the warehouse build writes (one per model in
# schemas.TABLE_MODELS) plus the tables written beside the build. Anything else in the file (a
# debugging table, a quarantine copy, a table a future step adds without thinking) is refused at
# publish time: the served file is public data only. Add a table here when it is meant to be public.
EXTRA_PUBLIC_TABLES: tuple[str, ...] = (
    RELEASES_TABLE,  # dated releases and their downloads (`clusterdata release`)
    *SUMMARY_MODELS,  # aggregates of the projects, written by the build (schemas/summaries.py)
)
# FTS5 index of a public table (the sqlite-utils <table>_fts naming) and its shadow tables.
_FTS_TABLE = re.compile(r"^(?P<table>.+)_fts(?:_(?:data|idx|docsize|config|content))?$")
# What SQLite itself keeps: ANALYZE statistics and AUTOINCREMENT counters.
_SQLITE_INTERNAL = frozenset({"sqlite_stat1", "sqlite_stat4", "sqlite_sequence"})


def public_tables() -> frozenset[str]:
    """The tables and views allowed in the served database (FTS indexes not listed)."""
    return frozenset(table_name(m) for m in TABLE_MODELS.values()) | frozenset(EXTRA_PUBLIC_TABLES)


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


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's, after a rename) bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_database(built: Path, target: Path, *, checked: bool = False) -> Path:
    """Check `built` (unless the caller just did: `checked`), then move it onto `target`
    atomically and return `target`.

    `target` (the file Datasette serves) is never opened or written: it is replaced whole by a
    rename, and left untouched when the check fails (PublishError)."""
    built, target = Path(built).resolve(), Path(target).resolve()
    if built == target:
        raise PublishError(f"{built} is the published file; build into a new file")
    if not checked:
        # integrity_check reads every page and index: ~6 s at 150,000 projects, once per publish.
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
    fsync_path(source)
    os.replace(source, target)
    fault_point("publish:switched")  # switched, the server not yet reloaded
    fsync_path(target.parent)
    if source != built:
        built.unlink()
    return target


LOCK_FILE = ".publish.lock"
PREVIOUS_SUFFIX = ".previous"
REJECTED_SUFFIX = ".rejected"
_NAMED_PARAMETER = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


@contextlib.contextmanager
def publish_lock(data_dir: Path) -> Iterator[None]:
    """Hold <data_dir>/.publish.lock for a whole publish; a second one fails at once.

    flock, not a pid file: the kernel drops the lock when its holder dies, so a refresh killed
    with kill -9 never leaves a stale lock behind."""
    path = Path(data_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise PublishError(
                f"another publish is running (pid {holder}); wait for it to finish"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def smoke_check(path: Path) -> None:
    """What the server will run first, on the served file: a count per public table and every
    canned query (named parameters left empty, as Datasette passes them). Raises the
    sqlite3.Error of the first that fails."""
    with contextlib.closing(_read_only(path)) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
            )
        ]
        for name in sorted(set(names) & public_tables()):
            conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        for name, query in load_queries().items():
            sql = query["sql"]
            params = {p: "" for p in _NAMED_PARAMETER.findall(sql)}
            try:
                conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise sqlite3.OperationalError(f"canned query {name}: {exc}") from exc


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def publish_checked(built: Path, target: Path, data_dir: Path) -> Path:
    """Publish `built` onto `target` one publish at a time: lock, check, switch, smoke check,
    and on a failed smoke check put the previous file back (atomically) and raise PublishError.

    The previous release is kept as a hard link <target>.previous taken before the switch, so
    the rollback is one rename of the very bytes that were served."""
    target = Path(target)
    previous = target.with_name(target.name + PREVIOUS_SUFFIX)
    with publish_lock(data_dir):
        check_database(built)
        fault_point("publish:checked")  # built and checked, not yet switched
        previous.unlink(missing_ok=True)
        had_previous = target.is_file()
        if had_previous:
            os.link(target, previous)
        publish_database(built, target, checked=True)
        try:
            smoke_check(target)
        except sqlite3.Error as exc:
            if had_previous:
                os.replace(previous, target)
                fsync_path(target.parent)
                tail = "rolled back to the previous release"
            else:
                # Nothing to go back to, and a file that fails its own smoke check is not
                # served: moved aside (kept for a look), the server then has no release.
                rejected = target.with_name(target.name + REJECTED_SUFFIX)
                os.replace(target, rejected)
                fsync_path(target.parent)
                tail = f"no previous release to roll back to; kept as {rejected.name}"
            raise PublishError(f"smoke check failed: {exc}; {tail}") from exc
        fault_point("publish:smoked")  # served and smoke-checked
        previous.unlink(missing_ok=True)
    return target.resolve()
