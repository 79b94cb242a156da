"""Dated, immutable releases of the published database as downloads:
<data-dir>/releases/<release_id>/ with the SQLite file, CSV/Parquet per table, one XLSX workbook,
datapackage.json, catalog.ttl (DCAT-AP), DATA_DICTIONARY.md and CHANGELOG.md; releases/CURRENT
names the current one, and the served database's `releases` table lists them all.

A release is written into a temporary folder beside the others and renamed into place, so a
reader sees a whole release or none. Its id is the date and a hash of the data, so the same data
released twice is one release."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from pipelines.layout import DataLayout
from schemas.releases import RELEASES_TABLE, ReleaseRecord
from warehouse import DEFAULT_BASE_URL, exports, opendata
from warehouse.build import integrity_problems
from warehouse.changelog import (
    RUN_LOG_TABLES,
    VOLATILE_COLUMNS,
    changelog_markdown,
    compare_databases,
)
from warehouse.ddl import create_table_sql, quote
from warehouse.faults import fault_point
from warehouse.publish import publish_database, publish_lock

RELEASES_DIR = "releases"
CURRENT_FILE = "CURRENT"
MANIFEST = "release.json"
KEEP = 5
DB_FILE = "clusterdata.db"
XLSX_FILE = "clusterdata.xlsx"
# Rows of a table hashed at a time by content_hash.
HASH_SLICE_ROWS = 100_000


class ReleaseError(RuntimeError):
    """A release could not be made or rolled back; the message is one line for the user."""


@dataclass(frozen=True)
class ReleaseResult:
    """What a release or rollback did."""

    release_id: str
    path: Path
    created: bool
    removed: tuple[str, ...] = ()
    message: str = ""


def releases_root(data_dir: Path) -> Path:
    """<data-dir>/releases, the folder Datasette serves at /releases/."""
    return Path(data_dir) / RELEASES_DIR


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One release or rollback at a time per data directory."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def list_releases(data_dir: Path) -> list[dict]:
    """The manifests of every release on disk, oldest first."""
    root = releases_root(data_dir)
    manifests = []
    if root.is_dir():
        for manifest in root.glob(f"*/{MANIFEST}"):
            if manifest.parent.name.startswith("."):
                continue
            manifests.append(json.loads(manifest.read_text(encoding="utf-8")))
    return sorted(manifests, key=lambda m: (m["sequence"], m["built_at"]))


def current_release(data_dir: Path) -> str | None:
    """The release releases/CURRENT names, if it exists on disk."""
    path = releases_root(data_dir) / CURRENT_FILE
    if not path.is_file():
        return None
    name = path.read_text(encoding="utf-8").strip()
    return name if (releases_root(data_dir) / name / MANIFEST).is_file() else None


def _write_current(root: Path, release_id: str) -> None:
    fd, name = tempfile.mkstemp(prefix=".CURRENT.", dir=root)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(release_id + "\n")
    os.chmod(name, 0o644)
    os.replace(name, root / CURRENT_FILE)


def snapshot_database(served: Path, target: Path) -> None:
    """A clean copy of the served file: VACUUM INTO, without the releases table (it describes
    the releases, so it is no part of one), journal_mode DELETE, quick_check ok.

    quick_check, not integrity_check: the served file passed integrity_check when it was
    published, and VACUUM INTO wrote every b-tree anew from it; quick_check still reads every
    page of the copy (its structure, records and constraints) but does not re-derive each index
    from its table, the part that made integrity_check 4x slower (bench/README.md, load)."""
    fault_point("snapshot:before")
    with contextlib.closing(_ro(served)) as conn:
        conn.execute("VACUUM INTO ?", (str(target),))
    fault_point("snapshot:vacuumed")  # copied, not yet cleaned nor renamed into place
    conn = sqlite3.connect(target, isolation_level=None)
    with contextlib.closing(conn):
        conn.execute("PRAGMA journal_mode=DELETE")
        if conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (RELEASES_TABLE,)
        ).fetchone():
            conn.execute(f"DROP TABLE {quote(RELEASES_TABLE)}")
            conn.execute("VACUUM")
        try:
            problems = integrity_problems(conn, quick=True)
        except sqlite3.DatabaseError as exc:  # a page too damaged to be read at all
            problems = [str(exc)]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if problems:
        raise ReleaseError(f"snapshot quick_check failed: {problems[0]}")
    if mode != "delete":
        raise ReleaseError(f"snapshot journal_mode is {mode}, expected delete")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)


class TableBatches(Mapping[str, Iterator[pl.DataFrame]]):
    """The release's tables, each as an iterator of frames of `warehouse.arrow.BATCH_ROWS`
    rows read from the snapshot as they are used (`exports.table_reader`): the release never
    holds a whole table (one table at a time held 6.3 GiB at 1.5 M operations, the
    `record_versions` frame: bench/README.md). Each use reads the table again."""

    def __init__(self, conn: sqlite3.Connection, columns: dict[str, list]) -> None:
        self.conn, self.columns = conn, columns

    def __getitem__(self, table: str) -> Iterator[pl.DataFrame]:
        return self.reader(table)()

    def reader(self, table: str) -> Callable[[], Iterator[pl.DataFrame]]:
        """The same frames from a function that does not use the connection (it may be called
        in another thread: `exports.sink_parquet`'s)."""
        return exports.table_reader(self.conn, table, self.columns[table])

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)


def content_hash(conn: sqlite3.Connection, tables: Mapping[str, Iterable[pl.DataFrame]]) -> str:
    """SHA-256 of the data: each table's DDL and its rows (ordered by primary key, as CSV; each
    table's frames one after another), leaving out the VOLATILE_COLUMNS (the sources table's
    run timestamps, each record's last_seen) and the source_health log, so a refresh that
    changed nothing else gives the same hash (and so the same release)."""
    digest = hashlib.sha256()
    for table, frames in tables.items():
        if table in RUN_LOG_TABLES:
            continue
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        digest.update(f"{table}\n{sql}\n".encode())
        header = True
        for frame in frames:
            stable = frame.drop([c for c in VOLATILE_COLUMNS.get(table, ()) if c in frame.columns])
            # The table's CSV, hashed a slice at a time: the same bytes as the whole CSV,
            # without holding it (at 1.5 M operations `record_versions` is ~4 GB of CSV).
            for offset in range(0, max(stable.height, 1 if header else 0), HASH_SLICE_ROWS):
                buffer = io.BytesIO()
                exports.write_csv(stable.slice(offset, HASH_SLICE_ROWS), buffer, header=header)
                digest.update(buffer.getvalue())
                header = False
    return digest.hexdigest()


def _file(path: Path, fmt: str, table: str | None = None) -> opendata.ReleaseFile:
    return opendata.ReleaseFile(
        name=path.name, format=fmt, bytes=path.stat().st_size, sha256=_sha256(path), table=table
    )


def _source_states(conn: sqlite3.Connection) -> tuple[list[dict], list[dict]]:
    """(sources rows for the metadata, {source_id, status, rows, snapshot} for the table)."""
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM sources ORDER BY source_id")]
    finally:
        conn.row_factory = None
    states = [
        {
            "source_id": r["source_id"],
            "status": r.get("last_status"),
            "rows": r.get("rows_valid"),
            "snapshot": r.get("last_success"),
        }
        for r in rows
    ]
    return rows, states


def _csv_tee(frames: Iterable[pl.DataFrame], csv: IO[bytes]) -> Iterator[pl.DataFrame]:
    """Each frame appended to the open CSV file (the header with the first), then passed on."""
    for n, frame in enumerate(frames):
        exports.write_csv(frame, csv, header=n == 0)
        yield frame


def _write_files(
    work: Path,
    conn: sqlite3.Connection,
    frames: TableBatches,
    columns: dict[str, list[exports.ColumnSpec]],
    release_id: str,
    built_at: str,
    base_url: str,
    previous: dict | None,
    data_dir: Path,
) -> dict:
    """Every file of a release into `work` (which already holds clusterdata.db); return the
    manifest."""
    files = [_file(work / DB_FILE, "sqlite")]
    row_counts = {}
    # A table at a time, a batch at a time (TableBatches reads each table when asked): the
    # CSV and the workbook's sheet from one read, the Parquet file streamed from another.
    with exports.Workbook(work / XLSX_FILE) as workbook:
        for table in frames:
            rows = exports.table_rows(conn, table)
            with open(work / f"{table}.csv", "wb") as csv:
                batches = _csv_tee(frames[table], csv)
                workbook.add_batches(table, batches, columns[table], rows)
                for _ in batches:  # a table too big for Excel: the CSV still gets every row
                    pass
            exports.sink_parquet(frames.reader(table), columns[table], work / f"{table}.parquet")
            files.append(_file(work / f"{table}.csv", "csv", table))
            files.append(_file(work / f"{table}.parquet", "parquet", table))
            row_counts[table] = rows
    too_big = workbook.skipped
    files.append(_file(work / XLSX_FILE, "xlsx"))

    tables = list(frames)
    dictionary = opendata.data_dictionary(columns, release_id)
    if too_big:
        dictionary += (
            "\nNot in clusterdata.xlsx (more rows than Excel allows; use the CSV or Parquet): "
            + ", ".join(f"`{t}`" for t in too_big)
            + ".\n"
        )
    (work / "DATA_DICTIONARY.md").write_text(dictionary, encoding="utf-8")
    if previous is None:
        changes = []
    else:
        old_db = releases_root(data_dir) / previous["release_id"] / DB_FILE
        changes = compare_databases(work / DB_FILE, old_db, tables)
    (work / "CHANGELOG.md").write_text(
        changelog_markdown(
            release_id, previous["release_id"] if previous else None, changes, row_counts
        ),
        encoding="utf-8",
    )
    files.append(_file(work / "DATA_DICTIONARY.md", "md"))
    files.append(_file(work / "CHANGELOG.md", "md"))

    source_rows, states = _source_states(conn)
    info = opendata.ReleaseInfo(release_id, built_at, base_url, columns, files, source_rows)
    (work / "datapackage.json").write_text(
        json.dumps(opendata.datapackage(info), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    files.append(_file(work / "datapackage.json", "json"))
    info = opendata.ReleaseInfo(release_id, built_at, base_url, columns, files, source_rows)
    opendata.catalog_graph(info).serialize(work / "catalog.ttl", format="turtle")
    files.append(_file(work / "catalog.ttl", "ttl"))
    return {
        "release_id": release_id,
        "built_at": built_at,
        "base_url": base_url,
        "previous": previous["release_id"] if previous else None,
        "tables": row_counts,
        "files": [f.as_dict() for f in files],
        "sources": states,
    }


def make_release(
    data_dir: Path,
    base_url: str = DEFAULT_BASE_URL,
    *,
    now: dt.datetime | None = None,
    keep: int = KEEP,
) -> ReleaseResult:
    """Write a release of <data-dir>/clusterdata.db, make it current, keep the last `keep`, and
    republish the served database with its releases table updated.

    The same data as an existing release writes nothing and returns that release with
    created=False."""
    layout = DataLayout(Path(data_dir))
    served = layout.published
    if not served.is_file():
        raise ReleaseError(f"no published database at {served}; run `clusterdata refresh` first")
    root = releases_root(layout.root)
    moment = now or _utc_now()
    built_at = _iso(moment)
    with _locked(root):
        for stale in root.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a release that crashed half-way
        work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
        try:
            snapshot_database(served, work / DB_FILE)
            with contextlib.closing(_ro(work / DB_FILE)) as conn:
                columns = {t: exports.file_columns(conn, t) for t in exports.export_tables(conn)}
                frames = TableBatches(conn, columns)
                digest = content_hash(conn, frames)
                existing = list_releases(layout.root)
                same = [m for m in existing if m["content_sha256"] == digest]
                if same:
                    shutil.rmtree(work)
                    release_id = same[-1]["release_id"]
                    current = current_release(layout.root)
                    sync_releases_table(layout.root)
                    note = "" if current == release_id else f" (current: {current}, kept)"
                    return ReleaseResult(
                        release_id,
                        root / release_id,
                        created=False,
                        message=f"unchanged: release {release_id} has the same data; "
                        f"nothing rewritten{note}",
                    )
                release_id = f"{built_at[:10]}-{digest[:7]}"
                if (root / release_id).exists():
                    raise ReleaseError(
                        f"release {release_id} already exists with other content; "
                        "releases are immutable"
                    )
                current = current_release(layout.root)
                previous = next(
                    (m for m in existing if m["release_id"] == current),
                    existing[-1] if existing else None,
                )
                manifest = _write_files(
                    work,
                    conn,
                    frames,
                    columns,
                    release_id,
                    built_at,
                    base_url,
                    previous,
                    layout.root,
                )
            manifest["content_sha256"] = digest
            manifest["sequence"] = (existing[-1]["sequence"] + 1) if existing else 1
            (work / MANIFEST).write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            for path in work.iterdir():
                path.chmod(0o444)  # immutable: nothing rewrites a release's files
            work.chmod(0o755)  # mkdtemp's 0700 would hide it from a web server's user
            os.rename(work, root / release_id)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        _write_current(root, release_id)
        removed = _prune(layout.root, keep)
        sync_releases_table(layout.root)
    return ReleaseResult(
        release_id,
        root / release_id,
        created=True,
        removed=tuple(removed),
        message=f"released {release_id}",
    )


def _prune(data_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` releases (never the current one)."""
    current = current_release(data_dir)
    manifests = list_releases(data_dir)
    doomed = [m["release_id"] for m in manifests[:-keep] if m["release_id"] != current]
    root = releases_root(data_dir)
    for release_id in doomed:
        shutil.rmtree(root / release_id)
    return doomed


def rollback(data_dir: Path) -> ReleaseResult:
    """Make the release before the current one current: its database is served again (a copy of
    the release's snapshot, published atomically), and releases/CURRENT and is_current say so."""
    data_dir = Path(data_dir)
    root = releases_root(data_dir)
    with _locked(root):
        manifests = list_releases(data_dir)
        ids = [m["release_id"] for m in manifests]
        current = current_release(data_dir)
        if current is None:
            raise ReleaseError(f"no current release in {root}; run `clusterdata release` first")
        index = ids.index(current)
        if index == 0:
            raise ReleaseError(f"{current} is the oldest release kept; nothing to roll back to")
        target = ids[index - 1]
        _write_current(root, target)
        # One publish: the target release's data, with the releases table saying it is current.
        sync_releases_table(data_dir, base=root / target / DB_FILE)
    return ReleaseResult(
        target,
        root / target,
        created=False,
        message=f"rolled back: {target} is current (was {current})",
    )


def releases_rows(data_dir: Path) -> list[tuple]:
    """Rows of the releases table, newest first, as the directory says."""
    current = current_release(data_dir)
    return [
        (
            m["release_id"],
            m["built_at"],
            int(m["release_id"] == current),
            json.dumps(m["files"], ensure_ascii=False),
            json.dumps(m["sources"], ensure_ascii=False),
        )
        for m in reversed(list_releases(data_dir))
    ]


def _served_rows(served: Path) -> list[tuple] | None:
    with contextlib.closing(_ro(served)) as conn:
        try:
            return conn.execute(
                f"SELECT release_id, built_at, is_current, files, sources FROM "
                f"{quote(RELEASES_TABLE)} ORDER BY rowid"
            ).fetchall()
        except sqlite3.OperationalError:
            return None


def sync_releases_table(data_dir: Path, base: Path | None = None) -> bool:
    """Republish the served database with a releases table matching the releases folder: a
    copy is built and checked beside it, then swapped in by warehouse.publish (the file
    Datasette serves is never written). Returns False when the table was already right.

    `base`: the database to copy instead of the served one (a release's snapshot, on rollback;
    it is always republished). Under the publish lock from reading to swapping: a refresh
    publishing meanwhile would otherwise be overwritten with the copy of the release before."""
    with publish_lock(data_dir):
        return _sync_releases_table(data_dir, base)


def _sync_releases_table(data_dir: Path, base: Path | None) -> bool:
    layout = DataLayout(Path(data_dir))
    served = layout.published
    rows = releases_rows(layout.root)
    if base is None and _served_rows(served) == rows:
        return False
    layout.staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".releases-", suffix=".db", dir=layout.staging)
    os.close(fd)
    copy = Path(name)
    try:
        with contextlib.closing(_ro(base or served)) as conn:
            conn.execute("VACUUM INTO ?", (str(copy),))
        conn = sqlite3.connect(copy, isolation_level=None)
        with contextlib.closing(conn):
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("BEGIN")
            conn.execute(f"DROP TABLE IF EXISTS {quote(RELEASES_TABLE)}")
            conn.execute(create_table_sql(ReleaseRecord))
            conn.executemany(f"INSERT INTO {quote(RELEASES_TABLE)} VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        publish_database(copy, served)
    finally:
        copy.unlink(missing_ok=True)
    return True
