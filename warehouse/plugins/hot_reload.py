"""Datasette plugin: serve a newly published release without a restart.

publish_database replaces the served file with os.replace (a new inode). Datasette opens its
SQLite connections lazily, one per SQL thread, caches them per thread under the database *name*,
and keeps them open: after a publish, threads that had a connection would go on reading the old
release while a thread opening its first one would read the new one, so one server answered
from two releases. Restarting Datasette on publish fixed that but failed requests meanwhile.

Here each release is one `ReleaseDatabase`, pinned to one file: all of its connections are opened
before it is served, and checked to be the same inode. A watcher polls the file identity (inode,
mtime, size) every POLL_SECONDS; when it changes and the new file opens and answers, it swaps a
new ReleaseDatabase (and the metadata made from the new `sources` table) in under the same name,
in one step of the event loop. A request holds the Database it looked up, so requests already
running finish on the old release (its unlinked inode stays readable while open), new requests
see the new one, and none fails. The old connections are closed RETIRE_SECONDS later, so file
descriptors do not pile up over many publishes.

Datasette also refreshes its `_internal` schema catalogue at the start of every request
(BaseView.dispatch_request → refresh_schemas), outside the views' own error handling, and a swap
makes the next refresh re-read the whole schema of the new release. On a busy machine that read
(`select * from sqlite_master`, under sql_time_limit_ms) can be interrupted, and the user's
request then failed with a 500 although no view of Datasette 0.65 reads the catalogue (seen once
in the kill drill under CI load). So the watcher refreshes the catalogue itself right after a
swap, and a refresh that fails is logged and retried by the next request instead of failing it.

A new file that does not open is not served, but it is not given up on either: an error can be
passing (a busy machine, a file descriptor limit), so the same file is tried again after
RETRY_SECONDS, doubling up to RETIRE_SECONDS, and logged once. The watcher itself never stops:
anything a poll raises is logged and the next poll runs, because a watcher that died would
leave the server answering from an old release with nothing said.

Because a ReleaseDatabase only ever serves a file the warehouse built (its FTS indexes filled
from their tables) and opens it read-only, it also answers the count of a table search that is
the only filter from the FTS index alone (search_plan.search_count_sql): the same number.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import sqlite3
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl
from datasette.database import Database, QueryInterrupted

from warehouse.metadata import DATABASE_NAME, SOURCE_KEYS, datasette_metadata
from warehouse.plugins.search_plan import content_indexes, search_count_sql

POLL_SECONDS = 0.5
# A file that did not open is tried again after this, then after twice as long, up to
# RETIRE_SECONDS.
RETRY_SECONDS = 2.0
# Longer than any request runs: sql_time_limit_ms is 1 s per query and a page runs a few.
RETIRE_SECONDS = 60.0

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
Identity = tuple[int, int, int]


class ReleaseChanged(Exception):
    """The file was replaced while a release was being opened: that release is not served."""


def file_identity(path: str) -> Identity | None:
    """(inode, mtime_ns, size): os.replace gives a new inode; mtime and size catch a copy."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class ReleaseDatabase(Database):
    """A Datasette Database whose every connection reads one release (one inode) of the file.

    Datasette caches thread connections under the database name (datasette.database.connections),
    so a new Database of the same name would reuse the old release's connections: this class keeps
    its own, per instance."""

    def __init__(self, ds: Any, path: str, name: str, route: str) -> None:
        super().__init__(ds, path=path, is_mutable=True)
        self.name, self.route = name, route
        self.identity: Identity | None = None
        self.metadata: dict = {}
        # {FTS5 table: the table it indexes}, read from this release (search_plan.py).
        self.search_indexes: dict[str, str] = {}
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._local = threading.local()

    def open_release(self, connections: int) -> None:
        """Open `connections` connections (blocking), read the sources table through one, and
        pin the release; raise ReleaseChanged if the file was replaced meanwhile, sqlite3.Error
        if it does not answer."""
        before = file_identity(self.path)
        try:
            for _ in range(connections):
                self._pool.put(self._open())
            conn = self._pool.get()
            columns = ", ".join(SOURCE_KEYS)
            rows = conn.execute(f"SELECT {columns} FROM sources ORDER BY source_id").fetchall()
            search_indexes = content_indexes(conn)
            self._pool.put(conn)
            after = file_identity(self.path)
            if before is None or before != after:
                raise ReleaseChanged(self.path)
        except BaseException:
            self.close()
            raise
        self.identity = after
        self.search_indexes = search_indexes
        # Exactly what Datasette read from metadata.json (write_datasette_config) at start-up.
        self.metadata = json.loads(json.dumps(datasette_metadata([dict(r) for r in rows])))

    def _open(self) -> sqlite3.Connection:
        conn = self.connect()
        self.ds._prepare_connection(conn, self.name)
        # SQLite reads the header lazily; reading the schema now holds this inode open.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn

    def _connection(self) -> sqlite3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        # More threads than connections opened up front: open one, but only if the file is
        # still this release (checked on both sides of the open), never silently the next one.
        conn = self._open()
        if file_identity(self.path) != self.identity:
            conn.close()
            raise sqlite3.OperationalError("a new release was published; retry the request")
        return conn

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        # A table search's count, from the FTS index alone when that is the same number: this
        # file was built by the warehouse (its FTS indexes filled from their tables) and is
        # read-only, so the index holds exactly the table's rows (search_plan.py).
        counted = search_count_sql(sql, self.search_indexes)
        return await super().execute(counted or sql, *args, **kwargs)

    async def execute_fn(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self.ds.executor is None:
            if self._read_connection is None:
                self._read_connection = self._connection()
            return fn(self._read_connection)

        def in_thread() -> Any:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connection()
            return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, in_thread)


def _open_release(ds: Any, current: Database) -> ReleaseDatabase:
    release = ReleaseDatabase(ds, current.path, current.name, current.route)
    release.open_release(max(1, ds.setting("num_sql_threads") or 0))
    return release


def _swap(ds: Any, release: ReleaseDatabase) -> Database:
    """Serve `release` from the next request on (one assignment: no request sees half a swap);
    return the Database it replaces."""
    databases = dict(ds.databases)
    old = databases[release.name]
    databases[release.name] = release
    ds._metadata_local = release.metadata  # metadata.json as write_datasette_config makes it
    ds.databases = databases
    return old


async def _forget_schema(ds: Any, name: str) -> None:
    # Datasette refreshes its _internal catalogue when PRAGMA schema_version changes; two builds
    # can share a version with different tables, so make it re-read this one.
    internal = ds.databases.get("_internal")
    if internal is not None and ds.internal_db_created:
        await internal.execute_write("DELETE FROM databases WHERE database_name = ?", [name])


def _say(message: str) -> None:
    print(f"hot_reload: {message}", file=sys.stderr, flush=True)


class Refused:
    """The files that did not open, each with when to try it again (loop time) and the wait
    after that."""

    def __init__(self) -> None:
        self.retry: dict[Identity, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self.retry)

    def waiting(self, identity: Identity, now: float) -> bool:
        entry = self.retry.get(identity)
        return entry is not None and now < entry[0]

    def refuse(self, identity: Identity, now: float) -> bool:
        """Note a failure; return whether it is the first for this file (worth a log line)."""
        first = identity not in self.retry
        wait = RETRY_SECONDS if first else min(2 * self.retry[identity][1], RETIRE_SECONDS)
        self.retry[identity] = (now + wait, wait)
        return first

    def opened(self, identity: Identity) -> bool:
        """Forget a file that opened; return whether it had been refused before."""
        return self.retry.pop(identity, None) is not None


async def reload_if_published(ds: Any, refused: Refused) -> bool:
    """Swap in the file now at the served path if it is a new release that opens; return whether
    it did. A file that does not open is noted in `refused`, the old release stays, and the file
    is tried again later (RETRY_SECONDS)."""
    current = ds.databases.get(DATABASE_NAME)
    if current is None:
        return False
    identity = file_identity(current.path)
    now = asyncio.get_running_loop().time()
    if (
        identity is None
        or identity == getattr(current, "identity", None)
        or refused.waiting(identity, now)
    ):
        return False
    try:
        release = await asyncio.to_thread(_open_release, ds, current)
    except ReleaseChanged:
        return False  # replaced again while opening: the next poll takes the newest
    except sqlite3.Error as exc:
        if refused.refuse(identity, now):
            _say(
                f"{current.path}: not serving the new file ({exc}); still serving the previous"
                " one, trying the file again from time to time"
            )
        return False
    if refused.opened(identity):
        _say(f"{current.path}: the new file opened on a later try; serving it")
    old = _swap(ds, release)
    await _forget_schema(ds, DATABASE_NAME)
    # Here rather than in the next user request (guard_schema_refresh logs a failure).
    await ds.refresh_schemas()
    asyncio.get_running_loop().call_later(RETIRE_SECONDS, old.close)
    return True


async def _watch(ds: Any) -> None:
    refused = Refused()
    while True:
        try:
            await reload_if_published(ds, refused)
        except OSError as exc:
            _say(f"cannot check the served file: {exc}")
        except Exception as exc:  # noqa: BLE001 - logged; the next poll runs
            _say(f"a poll of the served file failed ({exc!r}); polling on")
        await asyncio.sleep(POLL_SECONDS)


def guard_schema_refresh(ds: Any) -> None:
    """Make a failed schema-catalogue refresh a log line instead of a failed request: the
    catalogue keeps what it had and the next request refreshes it again."""
    if getattr(ds, "_hot_reload_guarded", False):
        return
    refresh = ds.refresh_schemas

    async def refresh_schemas() -> None:
        try:
            await refresh()
        except (QueryInterrupted, sqlite3.Error) as exc:
            _say(f"schema catalogue not refreshed ({exc!r}); the next request retries")

    ds.refresh_schemas = refresh_schemas
    ds._hot_reload_guarded = True


def start_watching(ds: Any) -> None:
    """Pin the release served now and start the watcher, once per Datasette, in the running loop
    (the `startup` hook runs in a loop of its own that ends before the server starts)."""
    if getattr(ds, "_hot_reload_task", None) is not None or DATABASE_NAME not in ds.databases:
        return
    guard_schema_refresh(ds)
    current = ds.databases[DATABASE_NAME]
    if not isinstance(current, ReleaseDatabase):
        # Before the first request: Datasette's own Database has only run its start-up check.
        try:
            _swap(ds, _open_release(ds, current))
        except ReleaseChanged:
            pass  # replaced meanwhile: the watcher's first poll pins the newest
        except sqlite3.Error as exc:
            _say(f"{current.path}: cannot pin the served release ({exc})")
        else:
            current.close()
    ds._hot_reload_task = asyncio.get_running_loop().create_task(_watch(ds))


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    """Start watching on the first ASGI event (uvicorn's lifespan start-up, or a first request)."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def hot_reload(scope: dict, receive: Callable, send: Callable) -> None:
            start_watching(datasette)
            await app(scope, receive, send)

        return hot_reload

    return wrap
