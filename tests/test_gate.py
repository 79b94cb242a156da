"""The source gate: a broken source keeps its last good rows; absent records leave on the
second consecutive absence; carried rows keep their references intact."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import EXIT_PUBLISHED_WITH_FAILURES
from pipelines.gate import Snapshot, frame_stats, run_gate
from pipelines.quarantine import empty_quarantine
from scrapers.registry import RowBounds, get_source
from tests.conftest import empty_page, refetch_later, run_refresh

SRC = "it_trentino_calls"
SPEC = dataclasses.replace(get_source(SRC), expected_rows={})


def calls(ids: list[int], title: str | None = "t") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "call_id": [f"{SRC}:{i}" for i in ids],
            "source_id": [SRC] * len(ids),
            "title": [title] * len(ids),
        },
        schema={"call_id": pl.Utf8, "source_id": pl.Utf8, "title": pl.Utf8},
    )


def gate(frame: pl.DataFrame, snapshot: Snapshot | None = None, spec=SPEC, quarantined=None,
         run_id: str = "20261202T000000Z"):
    return run_gate(
        {SRC: spec},
        {"calls": frame},
        empty_quarantine() if quarantined is None else quarantined,
        {},
        {SRC: run_id},
        {SRC: snapshot},
    )


def snap(frame: pl.DataFrame, absences: dict | None = None, run_id="20261201T000000Z"):
    return Snapshot(run_id, {"calls": frame}, frame_stats({"calls": frame}),
                    {"calls": absences or {}})


def test_a_good_run_passes_and_becomes_the_snapshot():
    result = gate(calls(list(range(10))), snap(calls(list(range(10)))))
    assert result.verdicts[SRC].passed
    assert result.tables["calls"].height == 10
    assert result.snapshots[SRC].run_id == "20261202T000000Z"


def test_no_rows_fails():
    result = gate(calls([]), snap(calls([1, 2])))
    assert result.verdicts[SRC].reasons == ["no rows at all this run"]


def test_rows_outside_the_yaml_bounds_fail():
    spec = dataclasses.replace(SPEC, expected_rows={"calls": RowBounds(5, 9)})
    assert gate(calls([1, 2]), spec=spec).verdicts[SRC].reasons == [
        "calls: 2 rows, outside the expected 5–9"
    ]


def test_a_drop_below_80_percent_of_the_last_good_run_fails_and_keeps_the_snapshot():
    good = calls(list(range(10)))
    result = gate(calls([1, 2, 3]), snap(good))
    verdict = result.verdicts[SRC]
    assert verdict.reasons == ["calls: 3 rows, below 80% of the last good 10"]
    # Carried rows are the last good ones, byte for byte; nothing of the bad run.
    assert result.tables["calls"].equals(good)
    assert SRC not in result.snapshots


def test_the_ratio_is_configurable():
    spec = dataclasses.replace(SPEC, min_row_ratio=0.25)
    assert gate(calls([1, 2, 3]), snap(calls(list(range(10)))), spec=spec).verdicts[SRC].passed


def test_losing_a_fill_rate_fails():
    bad = calls(list(range(10))).with_columns(
        pl.when(pl.col("call_id").str.ends_with("1") | pl.col("call_id").str.ends_with("2")
                | pl.col("call_id").str.ends_with("3")).then(None)
        .otherwise(pl.col("title")).alias("title")
    )
    reasons = gate(bad, snap(calls(list(range(10))))).verdicts[SRC].reasons
    assert reasons == ["calls.title: filled in 70% of rows, 100% in the last good run"]
    # A loss of 20 points (100% → 80%) is tolerated.
    ok = bad.with_columns(pl.when(pl.col("call_id") == f"{SRC}:1").then(pl.lit("t"))
                          .otherwise(pl.col("title")).alias("title"))
    assert gate(ok, snap(calls(list(range(10))))).verdicts[SRC].passed


def test_an_unknown_category_value_fails():
    q = pl.DataFrame(
        [{"run_id": "", "entity": "calls", "source_id": SRC, "record_key": f"{SRC}:9",
          "column": "call_type", "check": "isin(['call_for_proposals'])",
          "failure_case": "grant", "row_json": "{}"}],
        schema=empty_quarantine().schema,
    )
    reasons = gate(calls([1, 2]), quarantined=q).verdicts[SRC].reasons
    assert len(reasons) == 1 and re.search(r"calls\.call_type: 1 rows .*vocabulary.*'grant'",
                                           reasons[0])
    other = q.with_columns(pl.lit("iso_date").alias("check"))
    assert gate(calls([1, 2]), quarantined=other).verdicts[SRC].passed


def test_absent_once_kept_twice_dropped_back_resets():
    start = calls(list(range(10)))
    first = gate(start.filter(pl.col("call_id") != f"{SRC}:0"), snap(start))
    assert first.verdicts[SRC].passed
    assert first.tables["calls"].filter(pl.col("call_id") == f"{SRC}:0").height == 1
    assert first.snapshots[SRC].absences["calls"] == {f"{SRC}:0": 1}
    # Gating the same raw run again counts no new absence.
    again = gate(start.filter(pl.col("call_id") != f"{SRC}:0"), first.snapshots[SRC])
    assert again.snapshots[SRC].absences["calls"] == {f"{SRC}:0": 1}
    second = gate(start.filter(pl.col("call_id") != f"{SRC}:0"), first.snapshots[SRC],
                  run_id="20261203T000000Z")
    assert second.tables["calls"].filter(pl.col("call_id") == f"{SRC}:0").height == 0
    assert second.verdicts[SRC].dropped == {"calls": 1}
    # A record that comes back starts again at zero.
    back = gate(start, first.snapshots[SRC], run_id="20261203T000000Z")
    assert back.snapshots[SRC].absences.get("calls", {}) == {}
    gone = gate(start.filter(pl.col("call_id") != f"{SRC}:0"), back.snapshots[SRC],
                run_id="20261204T000000Z")
    assert gone.tables["calls"].filter(pl.col("call_id") == f"{SRC}:0").height == 1


def test_carried_rows_keep_their_references_intact():
    """A failing cluster source serves its snapshot, and organisations are linked against the
    clusters published: a link (this run) to a cluster the snapshot lacks is dropped, a name
    that matches a carried cluster is linked to it; a participant whose project is gone is
    dropped and quarantined, never published with a broken key."""
    clusters_src, projects_src = "pt_dgae_clusters", "pt_ticept_projects"
    registry = {s: dataclasses.replace(get_source(s), expected_rows={})
                for s in (clusters_src, projects_src)}
    clusters_old = pl.DataFrame({"cluster_id": [f"{clusters_src}:a", f"{clusters_src}:b"],
                                 "source_id": [clusters_src] * 2,
                                 "name": ["Alpha Cluster", "Beta Cluster"],
                                 "acronym": [None, "BETA"]})
    clusters_new = pl.DataFrame({"cluster_id": [f"{clusters_src}:c"], "source_id": [clusters_src],
                                 "name": ["Gamma Cluster"], "acronym": [None]},
                                schema_overrides={"acronym": pl.Utf8})
    orgs = pl.DataFrame({
        "organisation_id": [f"{projects_src}:o1", f"{projects_src}:o2", f"{projects_src}:o3"],
        "source_id": [projects_src] * 3,
        "name": ["Gamma Cluster", "Alpha Cluster", "BETA"],
        # As clean linked them, against this run's clusters (only Gamma).
        "cluster_id": [f"{clusters_src}:c", None, None],
    })
    projects = pl.DataFrame({"project_id": [f"{projects_src}:p1"], "source_id": [projects_src]})
    participants = pl.DataFrame({
        "participant_id": [f"{projects_src}:p1:o1", f"{projects_src}:p9:o2"],
        "source_id": [projects_src] * 2,
        "project_id": [f"{projects_src}:p1", f"{projects_src}:p9"],
        "organisation_id": [f"{projects_src}:o1", f"{projects_src}:o2"],
    })
    validated = {"clusters": clusters_new, "organisations": orgs, "projects": projects,
                 "participants": participants}
    old = Snapshot("20261201T000000Z", {"clusters": clusters_old},
                   {"clusters": {"rows": 10, "fill": {}}}, {})
    result = run_gate(registry, validated, empty_quarantine(), {},
                      {clusters_src: "20261202T000000Z", projects_src: "20261202T000000Z"},
                      {clusters_src: old, projects_src: None})
    assert not result.verdicts[clusters_src].passed
    assert result.tables["clusters"].equals(clusters_old)
    published = result.tables["organisations"]
    assert published.columns == orgs.columns
    links = dict(published.select("organisation_id", "cluster_id").iter_rows())
    assert links == {f"{projects_src}:o1": None, f"{projects_src}:o2": f"{clusters_src}:a",
                     f"{projects_src}:o3": f"{clusters_src}:b"}
    assert result.unlinked == {"organisations.cluster_id": 1}
    assert result.tables["participants"]["participant_id"].to_list() == [f"{projects_src}:p1:o1"]
    assert result.dropped["participants"]["check"].to_list() == ["parent_in_projects"]


# --- end to end: `clusterdata refresh --offline` -----------------------------------------------

LISTING, EMPTIED, OTHER = "pt_dgae_clusters", "pt_ticept_projects", "it_trentino_calls"
CARRIED = ((LISTING, "clusters"), (LISTING, "recognitions"), (EMPTIED, "projects"),
           (EMPTIED, "organisations"))
SOURCES = ("--source", LISTING, "--source", EMPTIED, "--source", OTHER, "--no-release")


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.slow
def test_broken_sources_keep_their_published_rows(recordings_copy: Path, capsys):
    data_dir = recordings_copy.parent / "data"
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES) == 0
    db = data_dir / "clusterdata.db"
    before = {(s, t): rows(db, f"SELECT * FROM {t} WHERE source_id = '{s}' ORDER BY 1")
              for s, t in CARRIED}
    assert all(before.values())

    # (a) the listing loses 60% of its items (the four new clusters stay, so it still parses);
    page = recordings_copy / LISTING / "reconhecidos-quatro-novos-clusters-de-competitividade.html"
    html = page.read_text(encoding="utf-8")
    items = re.findall(r"<li>.*?</li>\n", html)
    for item in items[:13]:
        html = html.replace(item, "", 1)
    page.write_text(html, encoding="utf-8")
    # (b) another source's page comes back empty; (c) the third is re-fetched later.
    empty_page(recordings_copy, EMPTIED, "connection.html")
    refetch_later(recordings_copy, OTHER)
    capsys.readouterr()

    code = run_refresh(data_dir, "--recordings", str(recordings_copy), *SOURCES)
    assert code == EXIT_PUBLISHED_WITH_FAILURES
    err = capsys.readouterr().err
    assert f"{LISTING}: failed the source gate: " in err
    for (s, t), old in before.items():
        assert rows(db, f"SELECT * FROM {t} WHERE source_id = '{s}' ORDER BY 1") == old, t
    status = dict(rows(db, "SELECT source_id, last_status FROM sources"))
    reason = dict(rows(db, "SELECT source_id, last_reason FROM sources"))
    assert status[LISTING] == "stale" and status[EMPTIED] == "stale"
    assert "clusters: 8 rows, below 80% of the last good 21" in reason[LISTING]
    assert reason[EMPTIED].startswith("failed at ")
    assert status[OTHER] == "ok"
    (new_fetch,) = rows(db, f"SELECT DISTINCT fetched_at FROM calls WHERE source_id = '{OTHER}'")
    assert new_fetch == ("2026-11-30T06:00:00Z",)
    health = dict(rows(db, "SELECT source_id, status FROM source_health WHERE run_id = "
                           "(SELECT max(run_id) FROM source_health)"))
    assert health[LISTING] == "stale" and health[EMPTIED] == "stale"
    assert rows(db, "PRAGMA foreign_key_check") == []
