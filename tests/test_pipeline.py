"""The Dagster graph end to end on the recordings, and the published database."""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.assets import conservation
from pipelines.layout import DataLayout
from pipelines.quarantine import read_quarantine
from tests.conftest import run_refresh

ROOT = Path(__file__).resolve().parents[1]

ASSET_KEYS = sorted(
    [f"raw/{e}" for e in ("calls", "clusters", "documents", "participants", "projects",
                          "recognitions")]
    + [f"clean/{e}" for e in ("calls", "clusters", "documents", "organisations", "participants",
                              "projects", "recognitions")]
    + [f"validated/{e}" for e in ("calls", "clusters", "documents", "organisations",
                                  "participants", "projects", "recognitions")]
    + [f"gated/{e}" for e in ("calls", "clusters", "documents", "organisations",
                              "participants", "projects", "recognitions")]
    + ["warehouse/clusterdata", "published/clusterdata"]
)


def test_definitions_load_with_no_environment():
    code = (
        "import json; from pipelines.definitions import defs;"
        "g = defs.resolve_asset_graph();"
        "print(json.dumps({'assets': sorted(k.to_user_string() for k in g.get_all_asset_keys()),"
        "'jobs': [j.name for j in defs.jobs], 'schedules': sorted(s.name for s in defs.schedules),"
        "'sensors': [s.name for s in defs.sensors],"
        "'checks': len(list(g.asset_check_keys))}))"
    )
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["assets"] == ASSET_KEYS
    assert got["jobs"] == ["refresh", "freshness"]
    assert got["schedules"] == ["check_freshness", "refresh_daily", "refresh_monthly",
                                "refresh_weekly", "refresh_yearly"]
    assert got["sensors"] == ["alert_on_failed_run"]
    # conservation per validated entity, bounds per entity, freshness of the published data
    assert got["checks"] == 7 + 6 + 1


def rows(db: Path, sql: str, *params) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def test_connection_project_as_published(published_db):
    (p,) = rows(published_db, "SELECT * FROM projects WHERE reference = '113241'")
    assert p["title"] == "CONNECTION"
    assert p["lead_organisation"] == "TICE.PT"
    assert p["total_eligible_eur"] == 202494.82
    assert p["eu_contribution_eur"] == 101247.41
    assert p["cofinancing_rate"] == 0.5
    assert (p["start_date"], p["end_date"]) == ("2020-12-28", "2022-07-27")
    assert json.loads(p["regions"]) == ["Centro", "Norte", "Alentejo"]
    assert json.loads(p["funds"]) == ["ERDF"]
    assert json.loads(p["programmes"]) == ["COMPETE 2020", "Portugal 2020"]
    flags = json.loads(p["quality_flags"])
    assert any("101.247.41" in f for f in flags)
    (lead,) = rows(published_db, "SELECT * FROM organisations WHERE organisation_id = ?",
                   p["lead_organisation_id"])
    assert lead["name"] == "TICE.PT"
    # Three sources list TICE.PT (IAPMEI 2020, the 2025 PT list, ECCP): the link goes to the
    # preferred source's row (ECCP, link_priority 10).
    (cluster,) = rows(published_db, "SELECT * FROM clusters WHERE cluster_id = ?",
                      lead["cluster_id"])
    assert (cluster["source_id"], cluster["acronym"]) == ("eu_eccp_clusters", "TICE.PT")


def test_iapmei_clusters_and_sectoral_pacts(published_db):
    clusters = rows(published_db, "SELECT * FROM clusters WHERE source_id = 'pt_iapmei_clusters'")
    assert len(clusters) == 18
    assert {c["country"] for c in clusters} == {"PT"}
    recognitions = [json.loads(c["recognitions"]) for c in clusters]
    assert all("Competitiveness Cluster (IAPMEI, 2020)" in r for r in recognitions)
    pacts = [c["name"] for c, r in zip(clusters, recognitions, strict=True)
             if any("Sectoral Pact" in x for x in r)]
    assert len(pacts) == 16
    assert {c["name"] for c in clusters} - set(pacts) == {"Vine and Wine Cluster",
                                                          "Tourism Cluster"}


def test_call_from_the_announcement(published_db):
    (c,) = rows(published_db, "SELECT * FROM calls WHERE source_id = 'it_trentino_calls'")
    assert c["programme"] == "COSME"
    assert c["publisher"] == "European Commission"
    assert c["call_type"] == "call_for_expression_of_interest"
    assert "strategic cluster partnership" in c["title"].lower()
    assert json.loads(c["eligible_applicants"]) == [
        "cluster organisations", "other business network organisations",
        "technology centres", "science parks",
    ]
    assert c["status"] is None and c["deadline_date"] is None  # the page states no dates


def test_escp4i_partners_and_roles(published_db):
    parts = rows(published_db, """
        SELECT pa.name_as_published, pa.role, pa.work_packages_led
        FROM participants pa JOIN projects p USING (project_id)
        WHERE p.acronym = 'ESCP-4i' ORDER BY pa.name_as_published""")
    got = {r["name_as_published"]: (r["role"], json.loads(r["work_packages_led"])) for r in parts}
    assert got == {
        "Pole SCS": ("coordinator", ["WP5"]),
        "Basquegame": ("partner", ["WP1"]),
        "TICE.PT": ("partner", ["WP2"]),
        "BalticNet-PlasmaTec": ("partner", ["WP3"]),
        "MESAP": ("partner", ["WP4"]),
    }


def test_atclusters_organisations(published_db):
    parts = rows(published_db, """
        SELECT pa.name_as_published, pa.role, pa.country FROM participants pa
        JOIN projects p USING (project_id) WHERE p.acronym = 'ATCLUSTERS'""")
    names = {r["name_as_published"] for r in parts}
    assert {"Portugal Foods", "CLUSAGA", "ADDICT", "CLAG"} <= names
    assert not names & {"ERRIN", "ECA", "ATC4 Excellence"}
    assert {r["role"] for r in parts} == {None}


def test_database_integrity_and_conservation(refreshed, published_db):
    assert rows(published_db, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    assert rows(published_db, "PRAGMA journal_mode")[0]["journal_mode"] == "delete"
    layout = DataLayout(refreshed)
    run_id = read_quarantine(layout.quarantine_db)["run_id"]
    assert run_id.n_unique() <= 1  # clean fixtures: nothing quarantined at all
    statuses = {s["source_id"]: s["last_status"]
                for s in rows(published_db, "SELECT source_id, last_status FROM sources")}
    seeds = ["es_igape_projects", "eu_escp4i_projects", "it_trentino_calls",
             "pt_iapmei_clusters", "pt_ticept_projects"]
    assert {statuses[s] for s in seeds} == {"ok"}, statuses
    assert "failed" not in statuses.values(), statuses


def test_refresh_twice_is_idempotent(tmp_path):
    counts = []
    # The second on another day: on the same day nothing would have changed upstream and the
    # refresh would stop before the build (tests/test_incremental.py).
    for run_date in ("2026-11-23", "2026-11-24"):
        assert run_refresh(tmp_path, "--run-date", run_date) == 0
        db = tmp_path / "clusterdata.db"
        tables = [r["name"] for r in rows(db, "SELECT name FROM sqlite_master WHERE type='table' "
                                              "AND name NOT LIKE '%fts%' ORDER BY name")]
        counts.append({t: rows(db, f'SELECT count(*) AS n FROM "{t}"')[0]["n"] for t in tables})
        assert rows(db, "PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    # source_health is a log of refreshes: one more row per source each time, the data the same.
    health = [c.pop("source_health") for c in counts]
    assert health[1] == 2 * health[0] > 0
    assert counts[0] == counts[1]
    assert counts[0]["projects"] >= 3 and counts[0]["clusters"] >= 18


def test_bad_rows_are_quarantined_with_reasons(tmp_path):
    """Break two rows of a crawl: they leave the published tables, land in quarantine.db with
    column, check and value, and input = valid + quarantined still holds."""
    assert run_refresh(tmp_path) == 0
    layout = DataLayout(tmp_path)
    raw_file = layout.latest_raw("pt_iapmei_clusters")
    records = [json.loads(line) for line in raw_file.read_text().splitlines()]
    clusters = [r for r in records if r["entity"] == "clusters"]
    clusters[0]["country"] = "Portugal"
    clusters[1]["website"] = "not a url"
    broken = raw_file.with_name("29991231T000000000000Z.jsonl")  # sorts as the latest run
    broken.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    from pipelines.refresh import materialize_all

    report = materialize_all(layout, "2026-11-23")
    db = layout.published
    published = {r["name"]: r["country"] for r in rows(
        db, "SELECT name, country FROM clusters WHERE source_id = 'pt_iapmei_clusters'")}
    # The bad versions are not published. "Portugal" is not a country code: an unknown
    # category, so the source fails the gate and its last good rows are served (stale).
    assert len(published) == 18
    assert published[clusters[0]["name"]] == "PT"
    (kept_site,) = rows(db, "SELECT website FROM clusters WHERE name = ?", clusters[1]["name"])
    assert kept_site["website"] != "not a url"
    q = read_quarantine(layout.quarantine_db, report.run_id)
    by_check = {(r["column"], r["failure_case"]) for r in q.iter_rows(named=True)
                if r["entity"] == "clusters"}
    assert ("country", "Portugal") in by_check
    assert ("website", "not a url") in by_check
    counts = conservation(layout, report.run_id, "clusters")
    assert counts["pt_iapmei_clusters"] == {"input": 18, "valid": 16, "quarantined": 2}
    # Their recognitions (each of the two has two) follow them into quarantine as orphans.
    orphans = q.filter((q["entity"] == "recognitions") & (q["check"] == "parent_in_clusters"))
    assert orphans.height == 4
    (src,) = rows(db, "SELECT * FROM sources WHERE source_id = 'pt_iapmei_clusters'")
    assert (src["last_status"], src["rows_quarantined"]) == ("stale", 2 + 4)
    assert "gate failed" in src["last_reason"]


def test_conservation_check_fails_when_a_row_vanishes(refreshed, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(refreshed, data)
    layout = DataLayout(data)
    run_id = read_quarantine(layout.quarantine_db)["run_id"].head(1).to_list() or ["none"]
    path = layout.staged("validated", "clusters")
    pl.read_parquet(path).head(17).write_parquet(path)
    counts = conservation(layout, run_id[0], "clusters")["pt_iapmei_clusters"]
    assert counts["input"] != counts["valid"] + counts["quarantined"]


@pytest.mark.parametrize("table", ["clusters", "projects", "calls", "participants",
                                   "organisations", "documents", "sources",
                                   "source_health"])
def test_every_table_is_published(published_db, table):
    assert rows(published_db, f'SELECT count(*) AS n FROM "{table}"')[0]["n"] > 0


def test_every_canned_query_runs_on_the_fixture_database(published_db):
    """The canned queries, with their parameters, on the database the demo serves."""
    from warehouse.metadata import load_queries

    params = {"cluster_id": "", "name": "TICE", "days": "30", "fund": "", "country": "",
              "year": "2024", "level": "", "since": "2026-01-01", "table": "",
              "q": "cluster"}
    conn = sqlite3.connect(published_db)
    try:
        results = {}
        for name, query in load_queries().items():
            needed = set(re.findall(r":(\w+)", query["sql"]))
            assert needed <= set(params), f"{name} needs {needed - set(params)}"
            results[name] = conn.execute(query["sql"], {k: params[k] for k in needed}).fetchall()
    finally:
        conn.close()
    assert len(results) >= 3
    titles = {row[5] for row in results["projects_of_a_cluster"]}
    assert titles == {"CONNECTION", "European Strategic Cluster Partnership – Going International"}
    assert results["calls_closing_soon"] == []  # the one call states no deadline
    by_programme = {row[0]: row for row in results["eu_funding_by_programme"]}
    assert by_programme["COMPETE 2020"][3] == 101247.41  # the TICE.PT sheet
    found = {row[2] for row in results["search_projects"]}
    assert "European Strategic Cluster Partnership – Going International" in found


def test_euroclusters_call_from_the_portal(published_db):
    """SMP-COSME-2024-CLUSTER-01 as the real topicDetails sample states it; status from the
    dates against the run's clock (2026-11-23), not the portal's stale status."""
    (c,) = rows(published_db, "SELECT * FROM calls WHERE identifier = 'SMP-COSME-2024-CLUSTER-01'")
    assert c["call_id"] == "eu_sedia_calls:SMP-COSME-2024-CLUSTER-01"
    assert (c["opening_date"], c["deadline_date"]) == ("2024-10-15", "2025-02-05")
    assert json.loads(c["deadline_dates"]) == ["2025-02-05"]
    assert c["budget_eur"] == 42_000_000
    assert c["programme"] == "Single Market Programme (SMP)"
    assert c["status"] == "closed"


def test_eu_amounts_reconcile(published_db):
    bad = rows(published_db, """
        SELECT project_id FROM projects
        WHERE eu_contribution_eur > total_eligible_eur
           OR cofinancing_rate <= 0 OR cofinancing_rate > 1""")
    assert bad == []
    by_source = {r["source_id"]: r["n"] for r in rows(
        published_db, "SELECT source_id, count(*) AS n FROM projects GROUP BY source_id")}
    for source in ("eu_kohesio_projects", "eu_cordis_projects", "eu_fts_commitments"):
        assert by_source.get(source, 0) > 0, source
    assert rows(published_db, "SELECT count(*) AS n FROM projects "
                              "WHERE cluster_support = 1 AND country = 'PT'")[0]["n"] >= 1


def test_synthetic_recordings_are_marked_on_their_documents(published_db):
    """Rows read from invented test recordings can be told from facts: their document says so."""
    flags = {(r["source_id"], r["synthetic"]) for r in rows(
        published_db, "SELECT DISTINCT source_id, synthetic FROM documents")}
    assert ("eu_cordis_projects", 1) in flags and ("eu_cordis_projects", 0) not in flags
    assert ("pt_ticept_projects", 0) in flags and ("pt_ticept_projects", 1) not in flags
    real = rows(published_db, """
        SELECT p.project_id FROM projects p JOIN documents d USING (document_sha256)
        WHERE d.synthetic = 0 AND p.source_id = 'eu_kohesio_projects' ORDER BY 1""")
    assert [r["project_id"] for r in real] == [
        "eu_kohesio_projects:Q232171", "eu_kohesio_projects:Q232172",
        "eu_kohesio_projects:Q232183",
    ]
