"""The clean layer: lookups, derived values, strict dates, the run's clock, exact matching."""

import datetime as dt

import polars as pl

from pipelines.clean import (
    clean_calls,
    clean_participants,
    clean_projects,
    cluster_match_key,
    derive_organisations,
    tidy_lists,
    tidy_text,
)
from pipelines.raw import raw_schema
from scrapers.registry import load_registry

REGISTRY = load_registry()
PROV = {
    "source_url": "https://tice.pt/en/projects-and-studies/connection",
    "fetched_at": "2026-11-23T00:00:00Z",
    "document_sha256": "a" * 64,
    "quality_flags": None,
}


def raw(entity: str, rows: list[dict]) -> pl.DataFrame:
    schema = raw_schema(entity)
    full = [{**{k: None for k in schema}, "entity": entity, **PROV, **r} for r in rows]
    return pl.DataFrame(full, schema=schema)


def test_project_lookups_ids_and_derived_rate():
    frame = raw("projects", [{
        "source_id": "pt_ticept_projects", "reference": "113241", "title": " CONNECTION ",
        "lead_organisation": "TICE.PT", "programmes": ["COMPETE 2020", "P2020"],
        "programme": "COMPETE 2020", "funds": ["ERDF"], "total_eligible_eur": 202494.82,
        "eu_contribution_eur": 101247.41, "start_date": "2020-12-28", "end_date": "2022-07-27",
    }])
    out = clean_projects(frame, REGISTRY)
    row = out.frame.row(0, named=True)
    assert out.rejected.height == 0
    assert row["project_id"] == "pt_ticept_projects:113241"
    assert row["title"] == "CONNECTION"
    assert row["programmes"] == ["COMPETE 2020", "Portugal 2020"]  # the YAML lookup
    assert row["cofinancing_rate"] == 0.5
    assert row["lead_organisation_id"] == "pt_ticept_projects:tice-pt"
    assert row["start_date"] == dt.date(2020, 12, 28)


def test_lookup_applies_only_to_its_source():
    frame = raw("projects", [{"source_id": "es_igape_projects", "title": "X",
                              "programmes": ["P2020"]}])
    assert clean_projects(frame, REGISTRY).frame["programmes"].to_list() == [["P2020"]]


def test_stated_rate_is_kept_and_missing_amount_derives_nothing():
    frame = raw("projects", [
        {"source_id": "pt_ticept_projects", "title": "A", "cofinancing_rate": 0.85,
         "total_eligible_eur": 100.0, "eu_contribution_eur": 50.0},
        {"source_id": "pt_ticept_projects", "title": "B", "total_eligible_eur": 100.0},
        {"source_id": "pt_ticept_projects", "title": "C", "total_eligible_eur": 0.0,
         "eu_contribution_eur": 0.0},
    ])
    assert clean_projects(frame, REGISTRY).frame["cofinancing_rate"].to_list() == [0.85, None, None]


def test_non_iso_date_quarantines_the_row_with_its_value():
    frame = raw("projects", [
        {"source_id": "pt_ticept_projects", "title": "A", "start_date": "28.12.2020"},
        {"source_id": "pt_ticept_projects", "title": "B", "start_date": "2020-12-28"},
    ])
    out = clean_projects(frame, REGISTRY)
    assert out.frame["title"].to_list() == ["B"]
    rej = out.rejected.row(0, named=True)
    assert (rej["column"], rej["check"], rej["failure_case"]) == ("start_date", "iso_date",
                                                                  "28.12.2020")
    assert rej["record_key"] == "pt_ticept_projects:a"


def test_call_status_follows_the_run_clock():
    frame = raw("calls", [
        {"source_id": "it_trentino_calls", "title": "past", "deadline_date": "2024-01-10"},
        {"source_id": "it_trentino_calls", "title": "open", "opening_date": "2026-01-01",
         "deadline_date": "2026-12-01"},
        {"source_id": "it_trentino_calls", "title": "soon", "opening_date": "2027-01-01",
         "deadline_date": "2027-03-01"},
        {"source_id": "it_trentino_calls", "title": "unknown"},
    ])
    out = clean_calls(frame, REGISTRY, today=dt.date(2026, 11, 23))
    assert out.frame["status"].to_list() == ["closed", "open", "forthcoming", None]
    later = clean_calls(frame, REGISTRY, today=dt.date(2027, 2, 1))
    assert later.frame["status"].to_list() == ["closed", "closed", "open", None]


def test_participants_share_the_project_key():
    parts = raw("participants", [{"source_id": "eu_escp4i_projects", "project_title":
                                  "European Strategic Cluster Partnership", "name_as_published":
                                  "Pole SCS", "role": "coordinator"}])
    out = clean_participants(parts, REGISTRY).frame.row(0, named=True)
    assert out["project_id"] == "eu_escp4i_projects:european-strategic-cluster-partnership"
    assert out["organisation_id"] == "eu_escp4i_projects:pole-scs"
    assert out["participant_id"].startswith(out["project_id"] + ":")


def test_cluster_match_key_ignores_case_punctuation_and_the_word_cluster():
    keys = pl.DataFrame({"n": ["TICE.PT Cluster", "TICE.PT", "Cluster AEC – Architecture",
                               "Health Cluster Portugal"]})
    out = keys.select(cluster_match_key(pl.col("n")))["n"].to_list()
    assert out[0] == out[1] == "tice.pt"
    assert out[2] == "aec architecture"
    assert out[3] == "health portugal"


def test_cluster_match_key_treats_any_run_of_whitespace_as_one_space():
    keys = pl.DataFrame({"n": ["Health\t Cluster\n\nPortugal", "Health\u00a0\u3000Portugal",
                               "  Health   Portugal . "]})
    assert keys.select(cluster_match_key(pl.col("n")))["n"].to_list() == ["health portugal"] * 3


def test_text_is_trimmed_of_unicode_whitespace_and_blank_is_null():
    frame = pl.DataFrame({
        "a": ["\u00a0Pole SCS\u3000", "Pole SCS", "  ", "", None, "\tx\ny\n", "\u200bz"],
        "b": ["kept", "as is", "", "x", None, "y", "z"],  # nothing to trim: not copied
    })
    out = tidy_text(frame, ["a", "b"])
    assert out["a"].to_list() == ["Pole SCS", "Pole SCS", None, None, None, "x\ny", "\u200bz"]
    assert out["b"].to_list() == ["kept", "as is", None, "x", None, "y", "z"]


def test_lists_are_trimmed_deduplicated_in_order_and_empty_is_null():
    """Each step runs only on the columns that need it: every column here needs a different
    one (or none), and a trim that makes two values equal still deduplicates."""
    frame = pl.DataFrame({
        "a": [[" ERDF", "ESF ", "ERDF", None, "", "  "], ["ESF"], [], None, [" "], ["x", "x"]],
        "b": [["one"], ["two"], None, [], [""], ["three"]],
        "c": [["x", None], ["y"], ["y", "z"], None, ["y"], ["z"]],
        "d": [["a", " a"], ["b"], ["c"], ["d"], ["e"], ["f"]],
        "e": [["a", "b"], ["b", "a"], ["a", "b"], None, ["c"], ["d", "a"]],
    }, schema={c: pl.List(pl.Utf8) for c in "abcde"})
    out = tidy_lists(frame, ["a", "b", "c", "d", "e"])
    assert out["a"].to_list() == [["ERDF", "ESF"], ["ESF"], None, None, None, ["x"]]
    assert out["b"].to_list() == [["one"], ["two"], None, None, None, ["three"]]
    assert out["c"].to_list() == [["x"], ["y"], ["y", "z"], None, ["y"], ["z"]]
    assert out["d"].to_list() == [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]
    assert out["e"].to_list() == frame["e"].to_list()


def test_organisations_and_participants_agree_on_organisation_ids():
    """derive_organisations tidies only the organisation columns of participants: the ids it
    derives are the ones clean_participants gives the same rows."""
    parts = raw("participants", [
        {"source_id": "eu_escp4i_projects", "project_title": " P ", "name_as_published": n,
         "organisation_key": k, "role": "partner", "country": " FR "}
        for n, k in ((" ACME\u00a0SA ", None), ("Pôle SCS", None), ("ACME", " 999999999 "))
    ])
    clusters = pl.DataFrame(schema={"cluster_id": pl.Utf8, "name": pl.Utf8, "acronym": pl.Utf8,
                                    "source_id": pl.Utf8})
    orgs = derive_organisations(raw("projects", []), parts, clusters, REGISTRY).frame
    participant_orgs = clean_participants(parts, REGISTRY).frame["organisation_id"]
    assert set(orgs["organisation_id"]) == set(participant_orgs)
    assert set(orgs["organisation_id"]) == {"eu_escp4i_projects:acme-sa",
                                            "eu_escp4i_projects:pôle-scs",
                                            "eu_escp4i_projects:999999999"}
    assert orgs["country"].to_list() == ["FR"] * 3


def test_organisations_link_to_clusters_only_on_an_unambiguous_exact_key():
    projects = raw("projects", [{"source_id": "pt_ticept_projects", "title": "X",
                                 "lead_organisation": "TICE.PT"}])
    parts = raw("participants", [
        {"source_id": "eu_escp4i_projects", "project_title": "P", "name_as_published": n}
        for n in ("TICE.PT", "Automotive", "Pole SCS")
    ])
    clusters = pl.DataFrame({
        "cluster_id": ["k:tice", "k:auto1", "k:auto2"],
        "name": ["TICE.PT Cluster", "Automotive Cluster", "Automotive"],
        "acronym": [None, None, None],
        "source_id": ["pt_iapmei_clusters"] * 3,
    }, schema_overrides={"acronym": pl.Utf8})
    orgs = derive_organisations(projects, parts, clusters, REGISTRY).frame
    links = dict(zip(orgs["name"], orgs["cluster_id"], strict=True))
    assert links["TICE.PT"] == "k:tice"
    assert links["Automotive"] is None  # two clusters share the key: no guess
    assert links["Pole SCS"] is None
    assert orgs.height == 4  # TICE.PT from two sources: two source-scoped organisations


def test_organisation_ids_prefer_the_source_key_and_keep_pic():
    parts = raw("participants", [
        {"source_id": "eu_escp4i_projects", "project_title": "P", "name_as_published": "ACME SA",
         "organisation_key": "999999999", "pic": "999999999", "role": "coordinator"},
        {"source_id": "eu_escp4i_projects", "project_title": "Q", "name_as_published": "ACME S.A.",
         "organisation_key": "999999999", "pic": "999999999", "role": "partner"},
    ])
    clusters = pl.DataFrame(schema={"cluster_id": pl.Utf8, "name": pl.Utf8, "acronym": pl.Utf8,
                                    "source_id": pl.Utf8})
    orgs = derive_organisations(raw("projects", []), parts, clusters, REGISTRY).frame
    assert orgs["organisation_id"].to_list() == ["eu_escp4i_projects:999999999"]
    assert orgs["pic"].to_list() == ["999999999"]
    ids = clean_participants(parts, REGISTRY).frame["participant_id"].to_list()
    assert ids == ["eu_escp4i_projects:p:999999999:coordinator",
                   "eu_escp4i_projects:q:999999999:partner"]


def test_two_stage_call_exposes_its_next_deadline():
    frame = raw("calls", [{
        "source_id": "it_trentino_calls", "title": "two-stage", "opening_date": "2026-09-01",
        "deadline_date": "2026-10-01", "deadline_dates": ["2026-10-01", "2027-04-15"],
    }])
    before = clean_calls(frame, REGISTRY, today=dt.date(2026, 9, 15)).frame.row(0, named=True)
    assert (before["deadline_date"], before["status"]) == (dt.date(2026, 10, 1), "open")
    between = clean_calls(frame, REGISTRY, today=dt.date(2026, 11, 23)).frame.row(0, named=True)
    assert (between["deadline_date"], between["status"]) == (dt.date(2027, 4, 15), "open")
    after = clean_calls(frame, REGISTRY, today=dt.date(2027, 5, 1)).frame.row(0, named=True)
    assert (after["deadline_date"], after["status"]) == (dt.date(2027, 4, 15), "closed")
    assert between["deadline_dates"] == ["2026-10-01", "2027-04-15"]
