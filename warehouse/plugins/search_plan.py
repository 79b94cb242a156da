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
