"""Publish a built database: check it again, then swap it in atomically so the served path always
holds either the last good release or the new one, never a half-written file."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from schemas import TABLE_MODELS
from warehouse.build import foreign_key_problems, integrity_problems
from warehouse.ddl import table_name


class PublishError(RuntimeError):
    """The built database is not fit to publish; the served file was left untouched."""


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
