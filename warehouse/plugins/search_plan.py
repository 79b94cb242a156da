"""Datasette plugin: a table's search box reads the table in its sort order when a search matches
many rows, instead of looking up every match.

Datasette 0.65 filters a table search with `rowid in (select rowid from <fts> where <fts> match
…)`. SQLite cannot know how many rows an FTS match returns (it plans any `IN (select …)` as 25
rows), so it always looks up each match by rowid: for the rows of the page, which it then sorts,
and again for the count. For a word in half the projects that is every other row of the table,
twice per request. Written `+rowid in (…)`, the same condition cannot use the rowid, so SQLite
walks the sort column's index and probes the matches, stopping at the page's last row, and
counts over the smallest index.

Which plan is faster depends on how many rows match, so each search is counted first in the FTS
index alone (a few milliseconds even for a common word) and the clause gets the `+` only when
the matches are more than MATCH_SHARE of the table. The rows and their order are the same
either way; only the plan differs. A clause this plugin does not recognise is left as it is.

The count Datasette then shows is the same kind of work again: `select count(*) from <table>
where [+]rowid in (select rowid from <fts> …)` probes every row of an index or looks up every
match (48–68 ms at 67,408 matches of 149,786, against 2 ms in the FTS index alone). When the
search is the only filter and the FTS table is an external-content index of that very table
(`content=<table>`, its rowids the table's), the matches *are* the table's rows, so the
served release (hot_reload.ReleaseDatabase, the only Database that serves a file the warehouse
built, filled with 'rebuild' and read-only) runs search_count_sql's count in the index instead.
"""

from __future__ import annotations

import re
import sqlite3

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import await_me_maybe, escape_sqlite

# Above this share of the table's rows, walking the sort order and probing the matches costs
# less than looking each match up. Measured on the bench's 149,786 projects (bench/README.md, 5;
# rows + count of one request): at 8,310 matches (5.5 %) 47 ms looked up against 62 ms walked,
# at 32,267 (21.5 %) 148 against 79 ms, at 67,408 (45 %) 230 against 90 ms. A lookup costs
# ~4.5 us per match, the walk ~0.5 us per row of the table, so they cross near 10 %.
MATCH_SHARE = 0.1
# The count of matches is a planning hint: past this it is not worth waiting for.
PROBE_TIME_LIMIT_MS = 200

# The clauses datasette.filters.search_filters writes, for ?_search= and ?_search_<column>=.
SEARCH_CLAUSE = re.compile(
    r"rowid in \((?P<select>select rowid from (?P<fts>\[[^\]]+\]|\w+) where "
    r"(?:\[[^\]]+\]|\w+) match (?:escape_fts\(:search(?:_\d+)?\)|:search(?:_\d+)?))\)"
)


# Datasette's count of a table search and nothing else (views/table.py: `select count(*)
# {from_sql}`, from_sql ending in a space), the clause planned here or not.
COUNT_OF_SEARCH = re.compile(
    r"select count\(\*\) from (?P<table>\[[^\]]+\]|\w+) where \+?" + SEARCH_CLAUSE.pattern + r" ?"
)
# An FTS5 table's `content=` option as sqlite-utils, Datasette and warehouse.build write it.
_CONTENT = re.compile(r"\bcontent\s*=\s*(?:\[([^\]]+)\]|\"([^\"]+)\"|'([^']+)'|(\w+))", re.I)


def _name(quoted: str) -> str:
    return quoted[1:-1] if quoted.startswith("[") else quoted


def content_indexes(conn: sqlite3.Connection) -> dict[str, str]:
    """{FTS5 table: the table whose rows it indexes} for each external-content FTS5 table in
    the file whose rowids are that table's (no `content_rowid` option)."""
    found = {}
    for name, sql in conn.execute(
        "select name, sql from sqlite_master where type = 'table' and sql like 'create virtual%'"
    ):
        if not re.search(r"\busing\s+fts5\b", sql, re.I) or re.search("content_rowid", sql, re.I):
            continue
        content = _CONTENT.search(sql)
        if content is not None:
            found[name] = next(group for group in content.groups() if group)
    return found


def search_count_sql(sql: str, indexes: dict[str, str]) -> str | None:
    """The count of matches in the FTS index alone, for Datasette's count of a search that is
    the table's only filter and whose FTS table indexes that table (`indexes`, from
    content_indexes); None for any other SQL. Equal counts only when the index holds exactly the
    table's rows, as a built release's does: the caller is the one that knows."""
    count = COUNT_OF_SEARCH.fullmatch(sql)
    if count is None or indexes.get(_name(count["fts"])) != _name(count["table"]):
        return None
    return f"select count(*) from ({count['select']})"


def planned_clause(clause: str, matches: int | None, rows: int | None) -> str:
    """The clause to run: `+rowid in (…)` when the search matches more than MATCH_SHARE of the
    table's `rows`, the clause itself otherwise or when either count is unknown."""
    if matches is None or not rows or not SEARCH_CLAUSE.fullmatch(clause):
        return clause
    return "+" + clause if matches > MATCH_SHARE * rows else clause


async def _count(db, sql: str, params: dict) -> int | None:
    try:
        result = await db.execute(
            sql, params, custom_time_limit=PROBE_TIME_LIMIT_MS, log_sql_errors=False
        )
    except (QueryInterrupted, sqlite3.Error):
        # A search Datasette itself will refuse (or one too slow to count): its own query
        # reports it.
        return None
    row = result.first()
    return row[0] if row else None


async def _plan(result, datasette, database: str, table: str):
    arguments = await await_me_maybe(result)
    if not arguments or not arguments.where_clauses:
        return arguments
    db = datasette.get_database(database)
    planned = []
    rows = None
    for clause in arguments.where_clauses:
        match = SEARCH_CLAUSE.fullmatch(clause)
        if match is None:
            planned.append(clause)
            continue
        if rows is None:
            # max(rowid) is one b-tree descent; the warehouse build writes rowids 1..n in order.
            rows = await _count(db, f"select max(rowid) from {escape_sqlite(table)}", {})
        matches = await _count(db, f"select count(*) from ({match['select']})", arguments.params)
        planned.append(planned_clause(clause, matches, rows))
    arguments.where_clauses = planned
    return arguments


@hookimpl(wrapper=True)
def filters_from_request(request, database, table, datasette):
    """Wraps every filters_from_request hook, Datasette's own search filter included, and plans
    the search clauses among their results."""
    results = yield

    def planned(result):
        async def inner():
            return await _plan(result, datasette, database, table)

        return inner

    return [planned(result) for result in results]
