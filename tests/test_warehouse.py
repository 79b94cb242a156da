"""The warehouse on real SQLite files built in tmp dirs: DDL from the models, bulk load, FTS,
indexes, checks, atomic publish, canned queries and the generated Datasette config."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

from schemas import TABLE_MODELS, table_meta
from schemas.common import Provenance
from schemas.releases import RELEASES_TABLE, ReleaseRecord
from schemas.summaries import SUMMARY_MODELS
from warehouse.build import (
    FTS_HASH_BYTES,
    BuildError,
    TableCopy,
    build_database,
    index_definitions,
    integrity_problems,
)
from warehouse.ddl import PROVENANCE_COLUMNS, create_table_sql, table_columns
from warehouse.metadata import (
    LICENSE,
    datasette_metadata,
    datasette_settings,
    load_queries,
    page_facets,
    write_datasette_config,
)
from warehouse.publish import PublishError, publish_database
from warehouse.serve import datasette_command

# The fixture dates are relative to TODAY, and the canned queries' date('now') is pinned to it
# (pin_clock): a run that crosses midnight UTC would otherwise see two different todays.
TODAY = dt.datetime.now(dt.UTC).date()
FETCHED_AT = "2024-05-01T10:00:00Z"
# Two history builds: the first saw every record, the second a change and a removal.
H1, H2 = "2024-05-01T10:00:00Z", "2024-06-01T10:00:00Z"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


SOURCES = {
    "pt_iapmei_clusters": ("IAPMEI competitiveness clusters", "IAPMEI", "All rights reserved"),
    "pt_portugal2020_projects": ("Portugal 2020 approved operations", "AD&C", "CC BY 4.0"),
    "eu_sedia_calls": ("EU Funding & Tenders calls", "European Commission", "CC BY 4.0"),
}
DOC = {source_id: sha(source_id) for source_id in SOURCES}

CLUSTER_ACORES = "pt_iapmei_clusters:cluster-competitividade-acores"
CLUSTER_MOBINOV = "pt_iapmei_clusters:mobinov"
PROGRAMME_RECOGNITION = "Cluster de Competitividade (IAPMEI, 2020)"


def provenance(source_id: str) -> dict:
    return {
        "source_id": source_id,
        "source_url": f"https://example.org/{source_id}/page",
        "fetched_at": FETCHED_AT,
        "document_sha256": DOC[source_id],
        "quality_flags": None,
    }


def frame(model: type[pa.DataFrameModel], rows: list[dict]) -> pl.DataFrame:
    """A frame with exactly the model's columns and dtypes, validated by the model itself."""
    columns = model.to_schema().columns
    schema = {name: column.dtype.type for name, column in columns.items()}
    df = pl.DataFrame([{name: row.get(name) for name in columns} for row in rows], schema=schema)
    return model.validate(df)


def sample_tables(project_title: str = "Competitividade Açores") -> dict[str, pl.DataFrame]:
    """A small, valid database: 3 sources, 2 clusters, 3 organisations, 3 projects, 4 calls."""
    day = dt.timedelta(days=1)
    sources = [
        {
            "source_id": source_id,
            "title": title,
            "publisher": publisher,
            "homepage": f"https://example.org/{source_id}/",
            "licence": licence,
            "entity_kinds": ["projects"],
            "cadence": "weekly",
            "last_status": "ok",
            "rows_valid": 1,
            "rows_quarantined": 0,
        }
        for source_id, (title, publisher, licence) in SOURCES.items()
    ]
    documents = [
        {
            "document_sha256": DOC[source_id],
            "url": f"https://example.org/{source_id}/page",
            "fetched_at": FETCHED_AT,
            "http_status": 200,
            "content_type": "text/html",
            "size_bytes": 1234,
            "source_id": source_id,
            "reconstructed": source_id == "eu_sedia_calls",
            "synthetic": False,
        }
        for source_id in SOURCES
    ]
    clusters = [
        {
            "cluster_id": CLUSTER_ACORES,
            "name": "Cluster Competitividade Açores",
            "acronym": "CCA",
            "country": "PT",
            "region": "PT200",
            "sectors": ["Agro-food", "Tourism"],
            "labels": ["Gold"],
            "recognitions": [PROGRAMME_RECOGNITION],
            **provenance("pt_iapmei_clusters"),
        },
        {
            "cluster_id": CLUSTER_MOBINOV,
            "name": "Mobinov",
            "country": "PT",
            "sectors": ["Automotive"],
            "recognitions": [PROGRAMME_RECOGNITION, "ECCP profile (European Commission, 2021)"],
            **provenance("pt_iapmei_clusters"),
        },
    ]
    recognitions = [
        {"recognition_id": f"{CLUSTER_ACORES}:label-gold-2024", "cluster_id": CLUSTER_ACORES,
         "kind": "label", "name": "Cluster Management Excellence Label", "level": "Gold",
         "awarded_by": "EUCLES", "valid_from": dt.date(2024, 7, 1),
         "valid_to": dt.date(2026, 6, 30), **provenance("pt_iapmei_clusters")},
        {"recognition_id": f"{CLUSTER_MOBINOV}:recognition-2020", "cluster_id": CLUSTER_MOBINOV,
         "kind": "recognition", "name": "Competitiveness Cluster", "awarded_by": "IAPMEI",
         "as_of": dt.date(2020, 7, 30), **provenance("pt_iapmei_clusters")},
    ]  # fmt: skip
    p2020 = provenance("pt_portugal2020_projects")
    organisations = [
        {"organisation_id": "org:cca", "name": "Cluster Competitividade Açores",
         "country": "PT", "cluster_id": CLUSTER_ACORES, **p2020},
        {"organisation_id": "org:uminho", "name": "Universidade do Minho", "country": "PT",
         "pic": "999999999", **p2020},
        {"organisation_id": "org:mobinov", "name": "Mobinov", "country": "PT",
         "cluster_id": CLUSTER_MOBINOV, **p2020},
    ]  # fmt: skip
    projects = [
        {"project_id": "p:1", "reference": "ACORES-01-0247-FEDER-000123",
         "title": project_title, "lead_organisation": "Cluster Competitividade Açores",
         "lead_organisation_id": "org:cca", "programme": "Açores 2020",
         "programmes": ["Açores 2020"], "funds": ["ERDF"], "total_eligible_eur": 100_000.0,
         "eu_contribution_eur": 85_000.0, "cofinancing_rate": 0.85,
         "start_date": dt.date(2021, 3, 1), "end_date": dt.date(2023, 2, 28),
         "regions": ["Açores"], "country": "PT", "cluster_support": True, **p2020},
        {"project_id": "p:2", "reference": "POCI-01-0247-FEDER-000456",
         "title": "Mobilidade Verde", "lead_organisation_id": "org:uminho",
         "programme": "Compete 2020", "funds": ["ERDF", "ESF"], "total_eligible_eur": 80_000.0,
         "eu_contribution_eur": 50_000.0, "start_date": dt.date(2022, 1, 1), "country": "PT",
         "cluster_support": False, **p2020},
        {"project_id": "p:3", "title": "Internacionalização", "programme": "Compete 2020",
         "funds": ["ERDF"], "total_eligible_eur": 20_000.0, "eu_contribution_eur": 10_000.0,
         "country": "ES", "cluster_support": True, **p2020},
    ]  # fmt: skip
    participants = [
        {"participant_id": "p:1:cca", "project_id": "p:1", "organisation_id": "org:cca",
         "name_as_published": "Cluster Competitividade Açores", "role": "beneficiary", **p2020},
        {"participant_id": "p:2:uminho", "project_id": "p:2", "organisation_id": "org:uminho",
         "name_as_published": "Universidade do Minho", "role": "coordinator",
         "work_packages_led": ["WP1", "WP5"], **p2020},
        {"participant_id": "p:2:cca", "project_id": "p:2", "organisation_id": "org:cca",
         "name_as_published": "CCA", "role": "partner", **p2020},
        {"participant_id": "p:2:mobinov", "project_id": "p:2", "organisation_id": "org:mobinov",
         "name_as_published": "MOBINOV", **p2020},
    ]  # fmt: skip
    sedia = provenance("eu_sedia_calls")
    calls = [
        {"call_id": "c:soon", "title": "Cluster internationalisation", "programme": "SMP COSME",
         "opening_date": TODAY - 5 * day, "deadline_date": TODAY + 10 * day, "status": "open",
         "eligible_applicants": ["cluster organisations"], **sedia},
        {"call_id": "c:later", "title": "Green transition", "programme": "SMP COSME",
         "opening_date": TODAY - 5 * day, "deadline_date": TODAY + 60 * day, "status": "open",
         **sedia},
        {"call_id": "c:closed", "title": "Digital clusters", "opening_date": TODAY - 50 * day,
         "deadline_date": TODAY - day, "status": "closed", **sedia},
        {"call_id": "c:forthcoming", "title": "Resilience", "opening_date": TODAY + day,
         "deadline_date": TODAY + 5 * day, "status": "forthcoming", **sedia},
        {"call_id": "c:pt-open", "title": "Clusters de Competitividade", "country": "PT",
         "opening_date": TODAY - day, "deadline_date": TODAY + 100 * day, "status": "open",
         **sedia},
    ]  # fmt: skip
    rows = {
        "sources": sources,
        "documents": documents,
        "clusters": clusters,
        "recognitions": recognitions,
        "organisations": organisations,
        "projects": projects,
        "participants": participants,
        "calls": calls,
        "source_health": [
            {"health_id": f"20261123T071502Z/{source_id}", "run_id": "20261123T071502Z",
             "checked_at": FETCHED_AT, "source_id": source_id, "status": "ok", "items": 1,
             "pages": 1, "rows_valid": 1, "rows_quarantined": 0, "duration_s": 1.5}
            for source_id in SOURCES
        ],
        # History (pipelines/history.py): c:soon's deadline moved once; p:gone was removed.
        "changes": [
            {"change_id": f"{H1}/calls/c:soon/added", "table_name": "calls",
             "record_id": "c:soon", "source_id": "eu_sedia_calls", "change_type": "added",
             "changed_at": H1},
            {"change_id": f"{H1}/projects/p:gone/added", "table_name": "projects",
             "record_id": "p:gone", "source_id": "pt_portugal2020_projects",
             "change_type": "added", "changed_at": H1},
            {"change_id": f"{H2}/calls/c:soon/deadline_date", "table_name": "calls",
             "record_id": "c:soon", "source_id": "eu_sedia_calls", "field": "deadline_date",
             "old_value": '"2024-06-30"', "new_value": '"2024-07-15"', "change_type": "changed",
             "changed_at": H2},
            {"change_id": f"{H2}/projects/p:gone/removed", "table_name": "projects",
             "record_id": "p:gone", "source_id": "pt_portugal2020_projects",
             "change_type": "removed", "changed_at": H2},
        ],
        "record_versions": [
            {"version_id": "calls/c:soon/1", "table_name": "calls", "record_id": "c:soon",
             "source_id": "eu_sedia_calls", "version": 1, "valid_from": H1, "valid_to": H2,
             "first_seen": H1, "last_seen": H2, "row_json": '{"deadline_date": "2024-06-30"}'},
            {"version_id": "calls/c:soon/2", "table_name": "calls", "record_id": "c:soon",
             "source_id": "eu_sedia_calls", "version": 2, "valid_from": H2, "first_seen": H1,
             "last_seen": H2, "row_json": '{"deadline_date": "2024-07-15"}'},
            {"version_id": "projects/p:gone/1", "table_name": "projects", "record_id": "p:gone",
             "source_id": "pt_portugal2020_projects", "version": 1, "valid_from": H1,
             "valid_to": H2, "first_seen": H1, "last_seen": H1, "removed_at": H2,
             "row_json": '{"title": "Gone"}'},
        ],
    }  # fmt: skip
    return {table: frame(model, rows[table]) for table, model in TABLE_MODELS.items()}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "build" / "clusterdata.db"
    path.parent.mkdir()
    build_database(sample_tables(), path)
    return path


@pytest.fixture
def conn(database: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(database)
    yield connection
    connection.close()


def expected_column_order(model: type[pa.DataFrameModel]) -> list[str]:
    columns = list(model.to_schema().columns)
    pk = table_meta(model)["primary_key"]
    last = list(PROVENANCE_COLUMNS) if issubclass(model, Provenance) else []
    return [pk] + [c for c in columns if c != pk and c not in last] + last


# --- DDL and build -------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(TABLE_MODELS))
def test_table_has_every_model_column_in_documented_order(
    conn: sqlite3.Connection, table: str
) -> None:
    model = TABLE_MODELS[table]
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()
    assert [row[1] for row in info] == expected_column_order(model)
    schema_columns = model.to_schema().columns
    for _, name, sql_type, notnull, _, pk in info:
        column = schema_columns[name]
        assert bool(notnull) == (not column.nullable or bool(pk)), name
        assert bool(pk) == (name == table_meta(model)["primary_key"]), name
        dtype = column.dtype.type
        if dtype.is_float():
            expected_type = "REAL"
        elif dtype.is_integer() or dtype == pl.Boolean:
            expected_type = "INTEGER"
        else:  # strings, ISO dates, JSON arrays
            expected_type = "TEXT"
        assert sql_type == expected_type, name
        # Each description travels into the schema Datasette and `.schema` show.
        assert column.description in " ".join(create_table_sql(model).split()), name


def test_provenance_columns_come_last_and_primary_key_first(conn: sqlite3.Connection) -> None:
    names = [row[1] for row in conn.execute("PRAGMA table_info(participants)")]
    assert names[0] == "participant_id"
    assert names[-5:] == [
        "source_id",
        "source_url",
        "fetched_at",
        "document_sha256",
        "quality_flags",
    ]


def test_foreign_keys_declared(conn: sqlite3.Connection) -> None:
    def fks(table: str) -> set[tuple[str, str, str]]:
        rows = conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()
        return {(row[3], row[2], row[4]) for row in rows}

    assert fks("participants") == {
        ("project_id", "projects", "project_id"),
        ("organisation_id", "organisations", "organisation_id"),
        ("source_id", "sources", "source_id"),
        ("document_sha256", "documents", "document_sha256"),
    }
    assert ("lead_organisation_id", "organisations", "organisation_id") in fks("projects")
    assert ("cluster_id", "clusters", "cluster_id") in fks("organisations")
    assert fks("documents") == {("source_id", "sources", "source_id")}
    assert fks("sources") == set()
    for table in ("clusters", "calls"):
        assert ("document_sha256", "documents", "document_sha256") in fks(table)


def test_values_stored_as_documented(conn: sqlite3.Connection) -> None:
    row = conn.execute(
        "SELECT funds, start_date, eu_contribution_eur, programmes, quality_flags "
        "FROM projects WHERE project_id = 'p:1'"
    ).fetchone()
    assert row == ('["ERDF"]', "2021-03-01", 85000.0, '["Açores 2020"]', None)
    assert json.loads(row[3]) == ["Açores 2020"]
    reconstructed = conn.execute("SELECT reconstructed FROM documents ORDER BY source_id")
    assert reconstructed.fetchall() == [(1,), (0,), (0,)]
    assert conn.execute(
        "SELECT work_packages_led FROM participants WHERE participant_id = 'p:2:uminho'"
    ).fetchone() == ('["WP1","WP5"]',)


def test_report_counts_rows_fts_and_indexes(tmp_path: Path) -> None:
    report = build_database(sample_tables(), tmp_path / "clusterdata.db")
    assert report["rows"] == {
        "sources": 3,
        "documents": 3,
        "clusters": 2,
        "recognitions": 2,
        "organisations": 3,
        "projects": 3,
        "participants": 4,
        "calls": 5,
        "source_health": 3,
        "changes": 4,
        "record_versions": 3,
    }
    assert report["fts_tables"]["projects"] == "projects_fts"
    assert "idx_participants_organisation_id" in report["indexes"]
    assert report["seconds"] >= 0


@pytest.mark.parametrize(
    ("table", "search", "column", "expected"),
    [
        ("projects", "acores", "title", ["Competitividade Açores"]),
        ("projects", "INTERNACIONALIZACAO", "title", ["Internacionalização"]),
        ("clusters", "açores", "name", ["Cluster Competitividade Açores"]),
        ("clusters", "automotive", "name", ["Mobinov"]),  # a JSON-array column is indexed too
        ("participants", "minho", "name_as_published", ["Universidade do Minho"]),
    ],
)
def test_fts_is_diacritics_and_case_insensitive(
    conn: sqlite3.Connection, table: str, search: str, column: str, expected: list[str]
) -> None:
    rows = conn.execute(
        f"SELECT {column} FROM {table} WHERE rowid IN "
        f"(SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?)",
        (search,),
    ).fetchall()
    assert [row[0] for row in rows] == expected


def test_fts_uses_unicode61_remove_diacritics(conn: sqlite3.Connection) -> None:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'projects_fts'").fetchone()[0]
    assert "remove_diacritics 2" in sql and "FTS5" in sql


@pytest.mark.parametrize("table", ["projects", "participants", "organisations", "clusters"])
def test_fts_built_in_large_steps_and_consistent_with_its_table(
    conn: sqlite3.Connection, table: str
) -> None:
    fts = f"{table}_fts"
    setting = conn.execute(f"SELECT v FROM {fts}_config WHERE k = 'hashsize'").fetchone()
    assert setting == (FTS_HASH_BYTES,)
    # FTS5's own check: the index holds exactly the terms of the content table's rows (rank 1
    # compares with the content table too); it raises SQLITE_CORRUPT_VTAB otherwise.
    conn.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)")
    conn.execute(f"UPDATE {table} SET {_first_fts_column(table)} = 'changed' WHERE rowid = 1")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)")
    conn.rollback()


def _first_fts_column(table: str) -> str:
    return next(c.name for c in table_columns(TABLE_MODELS[table]) if c.fts)


@pytest.mark.parametrize("table", list(TABLE_MODELS))
def test_indexes_on_facet_and_foreign_key_columns(conn: sqlite3.Connection, table: str) -> None:
    model = TABLE_MODELS[table]
    pk = table_meta(model)["primary_key"]
    indexed = set()
    for index in conn.execute(f"PRAGMA index_list({table})").fetchall():
        first = conn.execute(f"PRAGMA index_info({index[1]})").fetchone()
        indexed.add(first[2])
    facets = {
        name
        for name, column in model.to_schema().columns.items()
        if (column.metadata or {}).get("facet")
    }
    fk_columns = {row[3] for row in conn.execute(f"PRAGMA foreign_key_list({table})")}
    assert facets | fk_columns | {pk} <= indexed


def index_columns_in(conn: sqlite3.Connection, index: str) -> tuple[str, ...]:
    return tuple(row[2] for row in conn.execute(f"PRAGMA index_info({index})"))


def test_composite_indexes_replace_the_single_ones_they_lead(conn: sqlite3.Connection) -> None:
    declared = table_meta(TABLE_MODELS["projects"])["indexes"]
    for name, columns in declared.items():
        assert index_columns_in(conn, f"idx_projects_{name}") == tuple(columns)
    names = {row[1] for row in conn.execute("PRAGMA index_list(projects)")}
    # country and cluster_support lead a composite index: no second index on either.
    redundant = {"idx_projects_country", "idx_projects_cluster_support"}
    assert not names & redundant
    assert {"idx_projects_source_id", "idx_projects_eu_contribution_eur"} <= names
    assert set(index_definitions(TABLE_MODELS["projects"])) == names - {
        "sqlite_autoindex_projects_1"
    }


def test_an_index_on_an_unknown_column_is_a_build_error(monkeypatch: pytest.MonkeyPatch) -> None:
    model = TABLE_MODELS["projects"]
    metadata = {**model.Config.metadata, "indexes": {"typo": ("country", "eu_amount")}}
    monkeypatch.setattr(model.Config, "metadata", metadata)
    with pytest.raises(BuildError, match="eu_amount"):
        index_definitions(model)


def query_plan(conn: sqlite3.Connection, name: str) -> str:
    sql = load_queries()[name]["sql"]
    params = {p: "x" for p in re.findall(r"(?<!:):([a-z_]+)", sql)}
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_funding_by_start_year_reads_its_covering_index_only(conn: sqlite3.Connection) -> None:
    # A column added to the query but not to its index turns this into a read of every row.
    plan = query_plan(conn, "eu_funding_by_start_year")
    assert "SCAN projects USING COVERING INDEX idx_projects_start_date_amount" in plan


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("eu_funding_by_programme", "funding_summary"),
        ("eu_funding_by_programme_and_country", "funding_by_programme_country"),
    ],
)
def test_funding_queries_by_programme_read_the_summary_not_the_projects(
    conn: sqlite3.Connection, name: str, summary: str
) -> None:
    plan = query_plan(conn, name)
    assert f"SCAN {summary}" in plan, plan
    assert "projects" not in plan, plan


def test_funding_by_programme_country_is_summed_and_numbered_largest_first(
    conn: sqlite3.Connection,
) -> None:
    summary = conn.execute(
        "SELECT programme, country, projects, projects_with_eu_amount, eu_contribution_eur, "
        "total_eligible_eur FROM funding_by_programme_country ORDER BY summary_id"
    ).fetchall()
    by_projects = conn.execute(
        "SELECT programme, country, count(*), count(eu_contribution_eur), "
        "sum(eu_contribution_eur), sum(total_eligible_eur) FROM projects "
        "GROUP BY programme, country"
    ).fetchall()
    assert sorted(summary, key=repr) == sorted(by_projects, key=repr)
    assert len(summary) > 1
    amounts = [row[4] for row in summary]
    stated = [a for a in amounts if a is not None]
    # Largest EU contribution first, the unknown sums last: the canned query's order.
    assert stated == sorted(stated, reverse=True)
    assert amounts == stated + [None] * (len(amounts) - len(stated))


def test_funding_summary_sums_the_projects_per_programme_country_and_funds(
    conn: sqlite3.Connection,
) -> None:
    summary = conn.execute(
        "SELECT programme, country, funds, projects, projects_with_eu_amount, "
        "eu_contribution_eur, total_eligible_eur FROM funding_summary ORDER BY summary_id"
    ).fetchall()
    by_projects = conn.execute(
        "SELECT programme, country, funds, count(*), count(eu_contribution_eur), "
        "sum(eu_contribution_eur), sum(total_eligible_eur) FROM projects "
        "GROUP BY programme, country, funds ORDER BY programme, country, funds"
    ).fetchall()
    assert summary == by_projects
    assert (
        sum(row[3] for row in summary)
        == conn.execute("SELECT count(*) FROM projects").fetchone()[0]
    )


@pytest.mark.parametrize(
    ("name", "params", "direct"),
    [
        (
            "eu_funding_by_programme_and_country",
            {"country": ""},
            "SELECT programme, country, count(*), count(eu_contribution_eur), "
            "round(sum(eu_contribution_eur), 2), round(sum(total_eligible_eur), 2) "
            "FROM projects GROUP BY programme, country",
        ),
        (
            "eu_funding_by_programme_and_country",
            {"country": "es"},
            "SELECT programme, country, count(*), count(eu_contribution_eur), "
            "round(sum(eu_contribution_eur), 2), round(sum(total_eligible_eur), 2) "
            "FROM projects WHERE country = 'ES' GROUP BY programme, country",
        ),
        (
            "eu_funding_by_programme",
            {"fund": "ERDF"},
            "SELECT programme, count(*), count(eu_contribution_eur), "
            "round(sum(eu_contribution_eur), 2), round(sum(total_eligible_eur), 2) FROM projects "
            "WHERE EXISTS (SELECT 1 FROM json_each(projects.funds) WHERE value = 'ERDF') "
            "GROUP BY programme",
        ),
    ],
)
def test_funding_queries_from_the_summary_equal_the_sums_over_the_projects(
    conn: sqlite3.Connection, name: str, params: dict, direct: str
) -> None:
    got = conn.execute(load_queries()[name]["sql"], params).fetchall()
    assert got  # the fixtures have projects in ES and ERDF projects
    assert sorted(got, key=repr) == sorted(conn.execute(direct).fetchall(), key=repr)


def test_search_projects_walks_the_amount_index_not_every_match(conn: sqlite3.Connection) -> None:
    plan = query_plan(conn, "search_projects")
    # Not "SEARCH p USING INTEGER PRIMARY KEY (rowid=?)": one row lookup per match.
    assert plan.startswith("SCAN p USING INDEX idx_projects_eu_contribution_eur"), plan
    assert "rowid=?" not in plan


def test_database_is_sound_and_not_wal(conn: sqlite3.Connection, database: Path) -> None:
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0  # ANALYZE ran
    assert not database.with_name(database.name + "-journal").exists()


def test_build_refuses_existing_path(database: Path) -> None:
    before = database.read_bytes()
    with pytest.raises(FileExistsError):
        build_database(sample_tables(), database)
    assert database.read_bytes() == before


def test_broken_foreign_key_raises_and_leaves_no_file(tmp_path: Path) -> None:
    tables = sample_tables()
    tables["participants"] = tables["participants"].with_columns(
        pl.when(pl.col("participant_id") == "p:2:mobinov")
        .then(pl.lit("org:nowhere"))
        .otherwise(pl.col("organisation_id"))
        .alias("organisation_id")
    )
    path = tmp_path / "clusterdata.db"
    with pytest.raises(BuildError, match=r"participants\.organisation_id -> organisations.*1 row"):
        build_database(tables, path)
    assert not path.exists()


def test_duplicate_primary_key_raises_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    tables = sample_tables()
    tables["projects"] = pl.concat([tables["projects"], tables["projects"].head(1)])
    path = tmp_path / "clusterdata.db"
    with pytest.raises(
        BuildError, match=r"^projects: UNIQUE constraint failed: projects\.project_id$"
    ):
        build_database(tables, path)
    assert not path.exists()


def test_missing_table_is_refused(tmp_path: Path) -> None:
    tables = sample_tables()
    del tables["calls"]
    with pytest.raises(BuildError, match="calls"):
        build_database(tables, tmp_path / "clusterdata.db")


def _copy_source(tmp_path: Path, frame: pl.DataFrame) -> TableCopy:
    """A file holding `frame` as table `t`, and the copy that reads it."""
    source = tmp_path / "source.db"
    with contextlib.closing(sqlite3.connect(source)) as conn:
        conn.execute(f"CREATE TABLE t ({', '.join(frame.columns)})")
        conn.executemany(
            f"INSERT INTO t VALUES ({', '.join('?' for _ in frame.columns)})", frame.rows()
        )
        conn.commit()
    return TableCopy(source, f"SELECT * FROM {TableCopy.SCHEMA}.t")


def test_a_table_copied_from_a_file_is_the_table_its_frame_gives(tmp_path: Path) -> None:
    tables = sample_tables()
    copy = _copy_source(tmp_path, tables.pop("record_versions"))
    source_bytes = copy.path.read_bytes()
    report = build_database(tables, tmp_path / "copied.db", {"record_versions": copy})
    assert report["rows"]["record_versions"] == 3
    framed = build_database(sample_tables(), tmp_path / "framed.db")
    assert framed["rows"] == report["rows"]
    query = "SELECT * FROM record_versions ORDER BY version_id"
    with (
        contextlib.closing(sqlite3.connect(tmp_path / "copied.db")) as a,
        contextlib.closing(sqlite3.connect(tmp_path / "framed.db")) as b,
    ):
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    assert copy.path.read_bytes() == source_bytes  # attached read-only


def test_a_copy_that_breaks_a_constraint_is_one_line_and_leaves_no_file(tmp_path: Path) -> None:
    tables = sample_tables()
    versions = tables.pop("record_versions").with_columns(pl.lit(None).alias("table_name"))
    path = tmp_path / "clusterdata.db"
    with pytest.raises(
        BuildError,
        match=r"^record_versions: copy from source\.db: NOT NULL constraint failed: "
        r"record_versions\.table_name$",
    ):
        build_database(tables, path, {"record_versions": _copy_source(tmp_path, versions)})
    assert not path.exists()


def test_a_table_given_as_frame_and_copy_is_refused(tmp_path: Path) -> None:
    tables = sample_tables()
    copy = _copy_source(tmp_path, tables["record_versions"])
    with pytest.raises(BuildError, match=r"both as frames and as copies: \['record_versions'\]"):
        build_database(tables, tmp_path / "clusterdata.db", {"record_versions": copy})


# --- publish --------------------------------------------------------------------------------


def project_title(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT title FROM projects WHERE project_id='p:1'").fetchone()[0]


def test_publish_replaces_target_atomically(tmp_path: Path) -> None:
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables("Old title"), tmp_path / "old.db")
    publish_database(tmp_path / "old.db", target)
    old_inode = target.stat().st_ino

    built = tmp_path / "next.db"
    build_database(sample_tables("New title"), built)
    new_inode = built.stat().st_ino
    assert publish_database(built, target) == target.resolve()
    assert project_title(target) == "New title"
    # A rename, not a copy into the served file: readers of the old file keep a whole file.
    assert target.stat().st_ino == new_inode != old_inode
    assert not built.exists()


def test_corrupt_build_is_not_published(tmp_path: Path) -> None:
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables("Served title"), target)
    before = target.read_bytes()
    built = tmp_path / "next.db"
    built.write_bytes(b"this is not a database" * 500)
    with pytest.raises(PublishError, match="not a readable SQLite database") as caught:
        publish_database(built, target)
    assert "\n" not in str(caught.value)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusterdata.db", "next.db"]


def test_an_index_that_disagrees_with_its_table_is_not_published(tmp_path: Path) -> None:
    # The build leaves the whole-file integrity_check to the publish gate: a build whose index
    # no longer matches its rows (here the index's definition names another column than the
    # one its entries were built from) must still be refused there.
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables("Served title"), target)
    built = tmp_path / "next.db"
    build_database(sample_tables(), built)
    with sqlite3.connect(built) as connection:
        connection.execute("PRAGMA writable_schema=ON")
        connection.execute(
            "UPDATE sqlite_master SET sql = replace(sql, '(\"country\")', '(\"region\")') "
            "WHERE name = 'idx_organisations_country'"
        )
    connection.close()
    with pytest.raises(PublishError, match="integrity_check failed: .*idx_organisations_country"):
        publish_database(built, target)
    assert project_title(target) == "Served title"


def test_quick_check_finds_a_damaged_page(tmp_path: Path) -> None:
    # The release's snapshot is checked with quick_check (integrity_problems(quick=True)): a
    # page whose bytes were overwritten is reported, not shipped.
    path = tmp_path / "clusterdata.db"
    build_database(sample_tables(), path)
    with sqlite3.connect(path) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'projects'"
        ).fetchone()[0]
        assert integrity_problems(connection, quick=True) == []
    connection.close()
    with path.open("r+b") as handle:
        # The b-tree page header of the projects table: its page type and cell count.
        handle.seek((root - 1) * page_size)
        handle.write(b"\x0d\xff\xff\xff\xff\xff\xff\xff")
    with (
        sqlite3.connect(path) as connection,
        pytest.raises(sqlite3.DatabaseError, match="malformed"),
    ):
        integrity_problems(connection, quick=True)
    connection.close()


def test_incomplete_database_is_not_published(tmp_path: Path) -> None:
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables(), target)
    built = tmp_path / "next.db"
    with sqlite3.connect(built) as connection:
        connection.execute("CREATE TABLE projects (project_id TEXT)")
    with pytest.raises(PublishError, match="tables missing"):
        publish_database(built, target)
    assert project_title(target) == "Competitividade Açores"


def test_publish_refuses_the_served_file(database: Path) -> None:
    with pytest.raises(PublishError, match="published file"):
        publish_database(database, database)


# --- canned queries -------------------------------------------------------------------------

# (params, expected rows as dicts of the columns checked) for every query in queries.yml.
QUERY_CASES: dict[str, list[tuple[dict, list[dict]]]] = {
    "projects_of_a_cluster": [
        (
            {"cluster_id": CLUSTER_ACORES},
            [
                {"project_id": "p:2", "involvement": {"partner"}},
                {"project_id": "p:1", "involvement": {"lead_organisation", "beneficiary"}},
            ],
        ),
        ({"name": "mobi"}, [{"project_id": "p:2", "cluster_id": CLUSTER_MOBINOV}]),
        ({}, []),
    ],
    "calls_closing_soon": [
        ({"days": "30"}, [{"call_id": "c:soon", "days_left": 10}]),
        ({"days": "90"}, [{"call_id": "c:soon"}, {"call_id": "c:later", "days_left": 60}]),
    ],
    "eu_funding_by_programme": [
        (
            {},
            [
                {"programme": "Açores 2020", "projects": 1, "eu_contribution_eur": 85000.0},
                {
                    "programme": "Compete 2020",
                    "projects": 2,
                    "projects_with_eu_amount": 2,
                    "eu_contribution_eur": 60000.0,
                    "total_eligible_eur": 100000.0,
                },
            ],
        ),
        ({"fund": "ESF"}, [{"programme": "Compete 2020", "projects": 1}]),
    ],
    "calls_closing_soon_by_programme": [
        ({"days": "60"}, [{"programme": "SMP COSME", "calls": 2, "next_deadline_days": 10}]),
        ({"days": "30"}, [{"programme": "SMP COSME", "calls": 1, "call_ids": "c:soon"}]),
        ({"days": "5"}, []),
    ],
    "eu_funding_by_programme_and_country": [
        (
            {},
            [
                {"programme": "Açores 2020", "country": "PT", "eu_contribution_eur": 85000.0},
                {"programme": "Compete 2020", "country": "PT", "eu_contribution_eur": 50000.0},
                {"programme": "Compete 2020", "country": "ES", "eu_contribution_eur": 10000.0},
            ],
        ),
        ({"country": "es"}, [{"programme": "Compete 2020", "projects": 1}]),
    ],
    "search_projects": [
        ({"q": "acores"}, [{"project_id": "p:1", "title": "Competitividade Açores"}]),
        # Largest EU contribution first; FTS5 syntax (OR, prefix*) is the query's language.
        ({"q": "verde OR internacionalizacao"}, [{"project_id": "p:2"}, {"project_id": "p:3"}]),
        ({"q": "mobi*"}, [{"project_id": "p:2", "eu_contribution_eur": 50000.0}]),
        ({"q": "hydrogen"}, []),
        ({}, []),
    ],
    "cluster_support_projects": [
        ({"country": "PT"}, [{"project_id": "p:1", "eu_contribution_eur": 85000.0}]),
        ({}, [{"project_id": "p:1"}, {"project_id": "p:3", "country": "ES"}]),
    ],
    "clusters_by_country_and_label": [
        (
            {},
            [
                {"country": "PT", "label": "Gold", "clusters": 1},
                {"country": "PT", "label": "none stated", "clusters": 1},
            ],
        ),
    ],
    "clusters_with_label_in_year": [
        ({"year": "2024", "level": "gold"}, [{"cluster_id": CLUSTER_ACORES, "level": "Gold"}]),
        ({"year": "2026"}, [{"cluster_id": CLUSTER_ACORES}]),
        ({"year": "2023"}, []),
        ({"year": "2024", "level": "Silver"}, []),
    ],
    "portuguese_clusters_and_recognitions": [
        (
            {},
            [
                {"cluster_id": CLUSTER_ACORES, "kind": "label", "level": "Gold"},
                {"cluster_id": CLUSTER_MOBINOV, "recognition": "Competitiveness Cluster"},
            ],
        ),
    ],
    "open_national_calls": [
        ({}, [{"call_id": "c:pt-open", "days_left": 100}]),
        ({"country": "es"}, []),
    ],
    "clusters_by_recognition": [
        (
            {},
            [
                {"recognition": PROGRAMME_RECOGNITION, "clusters": 2},
                {"recognition": "ECCP profile (European Commission, 2021)", "clusters": 1},
            ],
        ),
        ({"country": "es"}, []),
    ],
    "eu_funding_by_start_year": [
        (
            {},
            [
                {"start_year": "(no start date)", "projects": 1, "eu_contribution_eur": 10000.0},
                {"start_year": "2021", "eu_contribution_eur": 85000.0},
                {"start_year": "2022", "projects_with_eu_amount": 1},
            ],
        ),
    ],
    # The feeds' column aliases are what datasette-atom and datasette-ics require.
    "new_calls_feed": [
        (
            {},
            [
                {
                    "atom_id": "c:forthcoming",
                    "atom_updated": FETCHED_AT,
                    "atom_title": "Resilience",
                },
                {"atom_id": "c:pt-open"},
                {"atom_id": "c:later"},
                {"atom_id": "c:soon"},
                {"atom_id": "c:closed", "atom_link": "https://example.org/eu_sedia_calls/page"},
            ],
        ),
    ],
    "call_deadlines_calendar": [
        (
            {},
            [
                {
                    "event_uid": "c:closed#" + str(TODAY - dt.timedelta(days=1)) + "@clusterdata",
                    "event_name": "Deadline: Digital clusters",
                },
                {"call_id": "c:forthcoming"},
                {"call_id": "c:soon"},
                {"call_id": "c:later"},
                {"call_id": "c:pt-open", "event_dtstart": str(TODAY + dt.timedelta(days=100))},
            ],
        ),
    ],
    "changes_since": [
        (
            {"since": "2024-06-01"},
            [
                {
                    "record_id": "c:soon",
                    "field": "deadline_date",
                    "old_value": '"2024-06-30"',
                    "new_value": '"2024-07-15"',
                },
                {"record_id": "p:gone", "change_type": "removed"},
            ],
        ),
        ({"since": "2024-06-01", "table": "projects"}, [{"record_id": "p:gone"}]),
        (
            {"since": "2024-05-01", "table": "calls"},
            [{"change_type": "changed"}, {"change_type": "added", "changed_at": H1}],
        ),
        ({"since": "2024-06-02"}, []),
    ],
    "calls_whose_deadline_moved": [
        (
            {},
            [
                {
                    "call_id": "c:soon",
                    "title": "Cluster internationalisation",
                    "old_deadline": "2024-06-30",
                    "new_deadline": "2024-07-15",
                    "changed_at": H2,
                }
            ],
        ),
    ],
}


def test_every_canned_query_has_cases() -> None:
    queries = load_queries()
    assert set(queries) == set(QUERY_CASES)
    assert len(queries) >= 3
    for query in queries.values():
        assert query["title"].strip() and query["description"].strip()


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [(name, params, rows) for name, cases in QUERY_CASES.items() for params, rows in cases],
)
def test_canned_query_returns_expected_rows(
    conn: sqlite3.Connection, name: str, params: dict, expected: list[dict]
) -> None:
    sql = pin_clock(load_queries()[name]["sql"])
    conn.row_factory = sqlite3.Row
    cursor = conn.execute(sql, _with_empty_params(sql, params))
    rows = [dict(row) for row in cursor.fetchall()]
    assert len(rows) == len(expected), rows
    for row, wanted in zip(rows, expected, strict=True):
        for key, value in wanted.items():
            got = set(row[key].split(",")) if isinstance(value, set) else row[key]
            assert got == value, (key, row)


def pin_clock(sql: str) -> str:
    """The query with SQLite's 'now' replaced by TODAY, so its answer depends on no wall clock."""
    return sql.replace("'now'", f"'{TODAY.isoformat()}'")


def test_pin_clock_replaces_every_now() -> None:
    for query in load_queries().values():
        assert "'now'" not in pin_clock(query["sql"])
    assert pin_clock("select date('now', '+1 days')") == f"select date('{TODAY}', '+1 days')"


def _with_empty_params(sql: str, params: dict) -> dict:
    # Datasette passes '' for every named parameter the user left empty.
    named = set(re.findall(r"(?<!:):([a-z_]+)", sql))
    return {name: params.get(name, "") for name in named}


# --- Datasette metadata, settings, command ---------------------------------------------------


def sources_list() -> list[dict]:
    return [
        {"source_id": s, "title": t, "publisher": p, "homepage": f"https://example.org/{s}/",
         "licence": lic}
        for s, (t, p, lic) in SOURCES.items()
    ]  # fmt: skip


def test_metadata_describes_every_column_and_licence() -> None:
    metadata = datasette_metadata(sources_list())
    assert metadata["license"] == LICENSE == "CC BY 4.0"
    assert metadata["license_url"].startswith("https://creativecommons.org/licenses/by/4.0")
    assert metadata["title"].startswith("clusterdata")
    assert metadata["source"] and metadata["source_url"]
    tables = metadata["databases"]["clusterdata"]["tables"]
    # The releases table is written by `clusterdata release`, the summaries by the build, beside
    # the pipeline's tables.
    models = {**TABLE_MODELS, **SUMMARY_MODELS, RELEASES_TABLE: ReleaseRecord}
    assert set(tables) == set(models)
    for table, model in models.items():
        columns = model.to_schema().columns
        assert set(tables[table]["columns"]) == set(columns), table
        assert all(tables[table]["columns"][c].strip() for c in columns), table
        assert tables[table]["title"] and tables[table]["description"]
        assert tables[table]["label_column"] in columns
    projects = tables["projects"]
    # No facet is computed on every projects page; the array ones are named in the description.
    assert "facets" not in projects
    assert "?_facet_array=funds" in projects["columns"]["funds"]
    assert "?_facet_array=<column>" in projects["description"]
    assert "funds" in projects["description"]
    assert "?_facet=" in projects["description"] and "programme" in projects["description"]
    # A small table keeps its plain facets on the page.
    assert tables["calls"]["facets"] == [
        "programme",
        "publisher",
        "call_type",
        "status",
        "country",
        "source_id",
    ]
    assert projects["fts_table"] == "projects_fts" and projects["fts_pk"] == "rowid"
    assert "fts_table" not in tables["sources"]
    # Every source's own terms are stated next to our licence.
    for source_id, (_, _, licence) in SOURCES.items():
        assert source_id in metadata["description_html"]
        assert licence in tables["sources"]["description_html"]
    assert {s["licence"] for s in metadata["sources"]} == {"All rights reserved", "CC BY 4.0"}
    assert set(metadata["databases"]["clusterdata"]["queries"]) == set(QUERY_CASES)


def test_metadata_facets_exist_in_the_database(conn: sqlite3.Connection) -> None:
    tables = datasette_metadata(sources_list())["databases"]["clusterdata"]["tables"]
    conn.execute(create_table_sql(ReleaseRecord))  # written by `clusterdata release`, not the build
    for table, meta in tables.items():
        names = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        assert names, f"{table} is described but not in the database"
        for facet in meta.get("facets", []):
            assert (facet["array"] if isinstance(facet, dict) else facet) in names
        for key in ("sort", "sort_desc", "label_column"):
            if key in meta:
                assert meta[key] in names


def test_page_facets_are_indexed_plain_columns(conn: sqlite3.Connection) -> None:
    tables = datasette_metadata(sources_list())["databases"]["clusterdata"]["tables"]
    for table, meta in tables.items():
        if table == RELEASES_TABLE:
            continue
        indexes = conn.execute(f"PRAGMA index_list({table})").fetchall()
        leading = {index_columns_in(conn, row[1])[0] for row in indexes}
        for facet in meta.get("facets", []):
            # A JSON-array facet reads every row on every page: offered by URL only.
            assert isinstance(facet, str), (table, facet)
            assert facet in leading, (table, facet)
    # The tables that grow with the data compute no facet on every page.
    for table in ("projects", "participants", "organisations", "record_versions"):
        assert page_facets(TABLE_MODELS[table]) == [], table


def test_page_facets_must_be_facet_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    model = TABLE_MODELS["projects"]
    metadata = {k: v for k, v in model.Config.metadata.items() if k != "page_facets"}
    monkeypatch.setattr(model.Config, "metadata", {**metadata, "page_facets": ["title"]})
    with pytest.raises(ValueError, match="title"):
        page_facets(model)
    # Without the key, every plain facet column is on the page.
    monkeypatch.setattr(model.Config, "metadata", metadata)
    assert page_facets(model) == [
        "programme",
        "country",
        "cluster_support",
        "call_identifier",
        "source_id",
    ]


def test_settings_are_safe_for_a_public_server() -> None:
    settings = datasette_settings()
    assert settings["sql_time_limit_ms"] <= 1000
    assert settings["suggest_facets"] is False
    assert settings["facet_time_limit_ms"] <= settings["sql_time_limit_ms"]
    assert settings["max_returned_rows"] >= settings["default_page_size"]


def test_write_config_and_command(tmp_path: Path) -> None:
    metadata_path, settings_path = write_datasette_config(tmp_path / "config", sources_list())
    assert json.loads(metadata_path.read_text())["license"] == "CC BY 4.0"
    assert json.loads(settings_path.read_text())["sql_time_limit_ms"] <= 1000
    argv = datasette_command(tmp_path / "clusterdata.db", 8123, config_dir=tmp_path / "config")
    assert argv[1:4] == ["-m", "datasette", "serve"]
    assert str(metadata_path) in argv and "--immutable" not in argv
    joined = " ".join(argv)
    assert "--port 8123" in joined and "--host 127.0.0.1" in joined
    assert "--setting sql_time_limit_ms 1000" in joined
    assert "--setting suggest_facets off" in joined
    with pytest.raises(ValueError, match="clusterdata.db"):
        datasette_command(tmp_path / "other.db", 8123, config_dir=tmp_path)
