"""Every validation rule rejects the bad data it exists for (and accepts the good row)."""

import datetime as dt

import polars as pl
import pytest

from pipelines.validate import validate_entity

SHA = "a" * 64
PROV = {
    "source_id": "pt_ticept_projects",
    "source_url": "https://tice.pt/en/projects-and-studies/connection",
    "fetched_at": "2026-11-23T00:00:00Z",
    "document_sha256": SHA,
    "quality_flags": None,
}


def project(**over):
    row = {
        "project_id": "pt_ticept_projects:113241", "reference": "113241", "title": "CONNECTION",
        "acronym": None, "lead_organisation": "TICE.PT",
        "lead_organisation_id": "pt_ticept_projects:tice-pt", "programme": "COMPETE 2020",
        "programmes": ["COMPETE 2020"], "funds": ["ERDF"], "operation_type": None,
        "total_eligible_eur": 202494.82, "eu_contribution_eur": 101247.41,
        "cofinancing_rate": 0.5, "start_date": dt.date(2020, 12, 28),
        "end_date": dt.date(2022, 7, 27), "regions": ["Centro"], "description": None,
        "website": None, **PROV,
    }
    row.update(over)
    return row


def participant(**over):
    row = {
        "participant_id": "p:1", "project_id": "p", "organisation_id": "o",
        "name_as_published": "Pole SCS", "role": "coordinator",
        "role_as_published": "Coordinator", "country": "FR", "work_packages_led": ["WP5"], **PROV,
    }
    row.update(over)
    return row


def call(**over):
    row = {
        "call_id": "c:1", "identifier": None, "title": "Call", "programme": "COSME",
        "publisher": "European Commission", "call_type": "call_for_expression_of_interest",
        "opening_date": None, "deadline_date": None, "deadline_dates": None, "status": None,
        "budget_eur": None, "eligible_applicants": None, "topics": None, "description": None,
        "url": None, **PROV,
    }
    row.update(over)
    return row


def cluster(**over):
    row = {
        "cluster_id": "k:1", "name": "TICE.PT Cluster", "acronym": None, "aliases": None,
        "country": "PT", "region": None, "city": None, "website": None, "sectors": None,
        "labels": None, "recognitions": ["Competitiveness Cluster (IAPMEI, 2020)"],
        "eccp_url": None, **PROV,
    }
    row.update(over)
    return row


def frame(entity: str, rows: list[dict]) -> pl.DataFrame:
    from pipelines.clean import model_columns
    from schemas import TABLE_MODELS

    schema = {c: col.dtype.type for c, col in TABLE_MODELS[entity].to_schema().columns.items()}
    return pl.DataFrame(rows, schema=schema).select(model_columns(entity))


MAKERS = {"projects": project, "participants": participant, "calls": call, "clusters": cluster}

BAD = [
    ("projects", {"cofinancing_rate": 1.2}, "cofinancing_rate"),
    ("projects", {"cofinancing_rate": -0.1}, "cofinancing_rate"),
    ("projects", {"total_eligible_eur": -5.0}, "total_eligible_eur"),
    ("projects", {"eu_contribution_eur": 300000.0}, "eu_contribution_within_total"),
    ("projects", {"start_date": dt.date(2023, 1, 1)}, "start_not_after_end"),
    ("projects", {"funds": ["FEDER"]}, "funds_known"),
    ("projects", {"title": "   "}, "title"),
    ("projects", {"website": "tice.pt"}, "website"),
    ("projects", {"source_id": "TICE"}, "source_id"),
    ("projects", {"source_url": "tice.pt/en/projects"}, "source_url"),
    ("projects", {"document_sha256": "xyz"}, "document_sha256"),
    ("projects", {"fetched_at": "23/11/2026"}, "fetched_at"),
    ("participants", {"role": "leader"}, "role"),
    ("participants", {"country": "UK"}, "country"),
    ("participants", {"country": "pt"}, "country"),
    ("calls", {"status": "ongoing"}, "status"),
    ("calls", {"call_type": "grant"}, "call_type"),
    ("calls", {"budget_eur": -1.0}, "budget_eur"),
    ("calls", {"deadline_dates": ["2024-04-01", "15/05/2024"]}, "iso_dates"),
    ("calls", {"opening_date": dt.date(2024, 5, 1), "deadline_date": dt.date(2024, 4, 1)},
     "opening_not_after_deadline"),
    ("clusters", {"country": "XX"}, "country"),
    ("clusters", {"name": ""}, "name"),
]


@pytest.mark.parametrize("entity", list(MAKERS))
def test_good_row_passes(entity):
    result = validate_entity(entity, frame(entity, [MAKERS[entity]()]))
    assert result.valid.height == 1
    assert result.quarantined.height == 0


@pytest.mark.parametrize(("entity", "change", "rule"), BAD)
def test_rule_rejects_bad_row(entity, change, rule):
    good = MAKERS[entity]()
    bad = MAKERS[entity](**change)
    bad[next(iter(good))] = good[next(iter(good))] + "-bad"  # a distinct primary key
    result = validate_entity(entity, frame(entity, [good, bad]))
    assert result.valid.height == 1, "the good row stays"
    q = result.quarantined
    assert set(q["record_key"]) == {bad[next(iter(good))]}
    assert rule in set(q["column"].fill_null("")) | set(q["check"]), q
    assert q["row_json"].str.contains('"title"|"name"|"name_as_published"').all()


def test_duplicate_ids_are_both_quarantined():
    rows = [project(), project(title="Other")]
    result = validate_entity("projects", frame("projects", rows))
    assert result.valid.height == 0
    assert result.quarantined["check"].unique().to_list() == ["field_uniqueness"]
    assert result.quarantined["row_json"].n_unique() == 2
