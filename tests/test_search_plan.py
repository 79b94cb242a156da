"""The search-plan plugin (warehouse/plugins/search_plan.py), in-process in Datasette with the
project's plugins and settings: a search matching many rows walks the sort order (`+rowid in`),
a rare one looks its matches up (`rowid in`), the rows and the count are the same either way,
and a search Datasette refuses is still refused by Datasette."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from pathlib import Path

import pytest
from datasette.app import Datasette
from datasette.tracer import capture_traces

from warehouse.metadata import datasette_settings
from warehouse.serve import PLUGINS_DIR

plan = importlib.util.spec_from_file_location("_search_plan", PLUGINS_DIR / "search_plan.py")
search_plan = importlib.util.module_from_spec(plan)
plan.loader.exec_module(search_plan)

ROWS = 200
# "common" in 3 rows of 4 (past MATCH_SHARE), "rare" in 2 of 200 (under it); the titles alternate.
COMMON, RARE = 150, 2


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "docs.db"
    conn = sqlite3.connect(path)
    conn.execute("create table docs (id text primary key, title text, body text, amount real)")
    conn.execute("create index idx_docs_amount on docs (amount)")
    conn.executemany(
        "insert into docs values (?, ?, ?, ?)",
        [
            (
                f"d{i:03d}",
                "alpha" if i % 2 else "beta",
                " ".join(["common"] * (i % 4 != 0) + ["rare"] * (i in (7, 123)) + [f"word{i}"]),
                # Distinct amounts in an order unrelated to the rowid.
                float((i * 37) % ROWS),
            )
            for i in range(ROWS)
        ],
    )
    conn.execute("create virtual table docs_fts using fts5 (title, body, content=docs)")
    conn.execute("insert into docs_fts (docs_fts) values ('rebuild')")
    conn.commit()
    conn.close()
    return path


def search(db: Path, query: str) -> tuple[int, dict, list[str]]:
    """GET /docs/docs.json?<query>: the status, the JSON and the SQL Datasette ran."""
    # As warehouse.metadata describes a table with a search index.
    table = {"sort_desc": "amount", "fts_table": "docs_fts", "fts_pk": "rowid"}
    metadata = {"databases": {"docs": {"tables": {"docs": {**table, "searchmode": "escaped"}}}}}

    async def fetch():
        ds = Datasette(
            [str(db)],
            metadata=metadata,
            plugins_dir=str(PLUGINS_DIR),
            settings=datasette_settings(),
        )
        traces: list[dict] = []
        with capture_traces(traces):
            response = await ds.client.get(f"/docs/docs.json?_shape=objects&{query}")
        return response.status_code, response.json(), [t["sql"] for t in traces if "sql" in t]

    return asyncio.run(fetch())


def expected(db: Path, word: str, column: str = "docs_fts") -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in conn.execute(
                f"select id from docs where rowid in (select rowid from docs_fts "
                f"where {column} match ?) order by amount desc",
                (word,),
            )
        ]
    finally:
        conn.close()


def rows_sql(sqls: list[str]) -> str:
    (sql,) = [s for s in sqls if s.startswith("select ") and "from docs where" in s and
              "count(*)" not in s]  # fmt: skip
    return sql


def test_a_search_matching_most_rows_walks_the_sort_order(db: Path) -> None:
    status, body, sqls = search(db, "_search=common&_size=max")
    assert status == 200
    assert "+rowid in (select rowid from docs_fts where" in rows_sql(sqls)
    assert [r["id"] for r in body["rows"]] == expected(db, "common")
    assert body["filtered_table_rows_count"] == COMMON


def test_a_rare_search_looks_up_its_matches(db: Path) -> None:
    status, body, sqls = search(db, "_search=rare")
    assert status == 200
    sql = rows_sql(sqls)
    assert "rowid in (select rowid from docs_fts where" in sql
    assert "+rowid" not in sql
    assert [r["id"] for r in body["rows"]] == expected(db, "rare") == ["d123", "d007"]
    assert body["filtered_table_rows_count"] == RARE


def test_a_column_search_and_another_filter_are_planned_alike(db: Path) -> None:
    status, body, sqls = search(db, "_search_body=common&title=alpha&_size=max")
    assert status == 200
    assert "+rowid in (select rowid from docs_fts where body match" in rows_sql(sqls)
    alpha = set(expected(db, "alpha", "title"))
    assert [r["id"] for r in body["rows"]] == [i for i in expected(db, "common") if i in alpha]
    # Odd ids are "alpha", and none of them is a multiple of 4: all 100 are "common".
    assert body["filtered_table_rows_count"] == len(body["rows"]) == 100


def test_a_search_datasette_refuses_is_still_its_own_error(db: Path) -> None:
    # Raw mode passes the text to FTS5 as it is: an unbalanced quote is a syntax error. The
    # plugin's count fails, the clause stays Datasette's, and Datasette answers as it would.
    status, body, _ = search(db, '_search="common&_searchmode=raw')
    assert status == 400
    assert body["error"] == "unterminated string"


@pytest.mark.parametrize(
    ("matches", "rows", "planned"),
    [
        (150, 200, "+"),
        (21, 200, "+"),
        (20, 200, ""),  # exactly MATCH_SHARE: the lookups
        (0, 200, ""),
        (None, 200, ""),  # the count failed
        (150, None, ""),  # the table's size is unknown
        (150, 0, ""),
    ],
)
def test_the_plan_follows_the_share_of_matching_rows(
    matches: int | None, rows: int | None, planned: str
) -> None:
    clause = "rowid in (select rowid from [docs_fts] where [docs_fts] match escape_fts(:search))"
    assert search_plan.planned_clause(clause, matches, rows) == planned + clause


@pytest.mark.parametrize(
    "clause",
    [
        "rowid in (select rowid from [docs_fts] where [docs_fts] match escape_fts(:search))",
        "rowid in (select rowid from docs_fts where body match :search_0)",
    ],
)
def test_datasettes_search_clauses_are_recognised(clause: str) -> None:
    assert search_plan.SEARCH_CLAUSE.fullmatch(clause)


@pytest.mark.parametrize(
    "clause",
    [
        "rowid in (select rowid from docs_fts where body match :search) or 1",
        "rowid in (select id from docs_fts where body match :search)",
        '"amount" > :p0',
        "rowid in (select rowid from docs_fts where body match :other)",
    ],
)
def test_other_clauses_are_left_alone(clause: str) -> None:
    assert search_plan.planned_clause(clause, 150, 200) == clause


FTS = "rowid in (select rowid from docs_fts where docs_fts match escape_fts(:search))"


@pytest.mark.parametrize(
    "sql",
    [
        f"select count(*) from docs where {FTS} ",
        f"select count(*) from docs where +{FTS} ",
        "select count(*) from [docs] where +rowid in (select rowid from [docs_fts] where [body] "
        "match :search_0) ",
    ],
)
def test_the_count_of_a_search_alone_is_taken_in_the_index(sql: str) -> None:
    counted = search_plan.search_count_sql(sql, {"docs_fts": "docs"})
    assert counted is not None
    assert counted.startswith("select count(*) from (select rowid from ")
    assert " docs " not in counted.replace("[docs]", "")  # not a row of the table read


@pytest.mark.parametrize(
    ("sql", "indexes"),
    [
        # Another filter: the count is of the rows that pass it too.
        (f'select count(*) from docs where "title" = :p0 and {FTS} ', {"docs_fts": "docs"}),
        (f'select count(*) from docs where {FTS} and "title" = :p0 ', {"docs_fts": "docs"}),
        # The FTS table indexes another table, or is not known to index any.
        (f"select count(*) from docs where {FTS} ", {"docs_fts": "other"}),
        (f"select count(*) from docs where {FTS} ", {}),
        # Not a count.
        (f"select id from docs where {FTS} ", {"docs_fts": "docs"}),
    ],
)
def test_any_other_count_is_left_to_datasette(sql: str, indexes: dict[str, str]) -> None:
    assert search_plan.search_count_sql(sql, indexes) is None


def test_only_external_content_indexes_of_a_table_count_for_it(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert search_plan.content_indexes(conn) == {"docs_fts": "docs"}
        mem = sqlite3.connect(":memory:")
        mem.execute("create table t (a text)")
        mem.execute('create virtual table q using fts5 (a, content="t")')
        mem.execute("create virtual table own using fts5 (a)")  # holds its own text
        mem.execute("create virtual table blind using fts5 (a, content='')")  # contentless
        mem.execute("create virtual table keyed using fts5 (a, content=t, content_rowid=a)")
        assert search_plan.content_indexes(mem) == {"q": "t"}
    finally:
        conn.close()
