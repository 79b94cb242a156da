"""Datasette plugin: SQLite limits on every connection, so a memory-bomb query fails at once.

Datasette's sql_time_limit_ms is enforced by a progress handler that runs between VDBE
instructions, and one instruction can allocate without bound: `randomblob(5e8)` took seconds and
half a gigabyte before the handler ever ran. SQLITE_LIMIT_LENGTH makes SQLite refuse any string
or blob over the limit before allocating it (randomblob, zeroblob, printf padding, replace,
group_concat growth...); the hard heap limit caps what many such values together may take."""

from __future__ import annotations

import sqlite3

from datasette import hookimpl

# No value in the served file comes near this (the longest is a description of a few KB); 16 MiB
# leaves room for a large JSON array and still makes one value cheap to refuse.
MAX_VALUE_BYTES = 16 * 1024 * 1024
# The longest canned query is ~1 KB; a pasted 100 KB statement is not a query but a payload.
MAX_SQL_BYTES = 100_000
# SQLite's own allocations, for the whole process (page caches, sorter, result values): a query
# selecting twenty 16 MiB values at once is refused here rather than by the kernel.
HARD_HEAP_LIMIT_BYTES = 256 * 1024 * 1024


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    """Datasette calls this for each connection it opens (read threads, write thread, internal)."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)
    # Datasette refuses ATTACH in user SQL already; with no attach slots it cannot happen at all.
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    # Process-wide in SQLite; setting it on every connection is idempotent.
    conn.execute(f"PRAGMA hard_heap_limit={HARD_HEAP_LIMIT_BYTES}")
