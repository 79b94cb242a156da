"""The validated layer at scale: the provenance checks that run their regex once per distinct
value still judge every row, and orphans are quarantined once, for their first missing parent."""

import polars as pl
import pytest
from pandera.api.polars.types import PolarsData

from pipelines.validate import drop_orphans, validate_entity
from schemas.common import (
    SHA256_PATTERN,
    SLUG_PATTERN,
    URL_PATTERN,
    UTC_TIMESTAMP_PATTERN,
    matches_per_value,
)
from tests.test_schemas import frame, participant

URL = "https://tice.pt/en/projects-and-studies/connection"


def participants(values: list[dict]) -> pl.DataFrame:
    return frame(
        "participants",
        [participant(participant_id=f"p:{i}", **v) for i, v in enumerate(values)],
    )


@pytest.mark.parametrize(
    ("pattern", "values"),
    [
        (URL_PATTERN, [URL, URL, "tice.pt", None, "https://a b", "http://x", "tice.pt", ""]),
        (SHA256_PATTERN, ["a" * 64, "A" * 64, "a" * 63, None, "a" * 64, "g" * 64]),
        (SLUG_PATTERN, ["pt_ticept_projects", "TICE", "eu_kohesio_projects", None, "TICE"]),
        (UTC_TIMESTAMP_PATTERN, ["2026-11-23T00:00:00Z", "23/11/2026", "2026-11-23T00:00:00.5Z"]),
        (URL_PATTERN, [URL] * 5),
        (URL_PATTERN, [None, None]),
    ],
)
def test_per_value_check_gives_every_row_the_verdict_of_str_matches(pattern, values):
    data = pl.DataFrame({"v": values}, schema={"v": pl.Utf8})
    per_value = matches_per_value(PolarsData(data.lazy(), "v"), pattern).collect().to_series()
    per_row = data.select(pl.col("v").str.contains(pattern)).to_series()
    assert per_value.to_list() == per_row.to_list()


@pytest.mark.parametrize(
    ("column", "bad", "check"),
    [
        ("source_url", "tice.pt/en/projects", f"str_matches('{URL_PATTERN}')"),
        ("document_sha256", "xyz", f"str_matches('{SHA256_PATTERN}')"),
        ("source_id", "TICE", f"str_matches('{SLUG_PATTERN}')"),
        ("fetched_at", "23/11/2026", f"str_matches('{UTC_TIMESTAMP_PATTERN}')"),
    ],
)
def test_every_row_with_a_bad_provenance_value_is_quarantined(column, bad, check):
    """A bad value shared by several rows among good ones: each of its rows is refused (not
    only the first), reported with the check's usual name and the value."""
    result = validate_entity("participants", participants([{}, {column: bad}, {}, {column: bad}]))
    assert result.valid["participant_id"].to_list() == ["p:0", "p:2"]
    q = result.quarantined
    assert sorted(q["record_key"]) == ["p:1", "p:3"]
    assert set(q["column"]) == {column}
    assert set(q["check"]) == {check}
    assert set(q["failure_case"]) == {bad}


def test_a_missing_provenance_value_is_quarantined():
    result = validate_entity("participants", participants([{}, {"source_url": None}]))
    assert result.valid["participant_id"].to_list() == ["p:0"]
    assert result.quarantined["check"].to_list() == ["not_nullable"]


def test_orphans_are_quarantined_once_for_their_first_missing_parent():
    rows = participants(
        [
            {"project_id": "known", "organisation_id": "o"},
            {"project_id": "gone", "organisation_id": "gone"},  # both parents missing
            {"project_id": "known", "organisation_id": "gone"},
            {"project_id": "known", "organisation_id": "o"},
        ]
    )
    parents = {
        "projects": pl.DataFrame({"project_id": ["known"]}),
        "organisations": pl.DataFrame({"organisation_id": ["o"]}),
        "documents": pl.DataFrame({"document_sha256": ["a" * 64]}),
    }
    result = drop_orphans("participants", rows, parents)
    assert result.valid["participant_id"].to_list() == ["p:0", "p:3"]
    q = result.quarantined
    assert q.select("record_key", "check").rows() == [
        ("p:1", "parent_in_projects"),
        ("p:2", "parent_in_organisations"),
    ]
    assert q["failure_case"].to_list() == ["gone", "gone"]
    assert rows.height == result.valid.height + q.height  # nothing lost, nothing twice


def test_a_document_missing_from_the_documents_table_orphans_its_rows():
    rows = participants([{}, {"document_sha256": "b" * 64}])
    parents = {
        "projects": pl.DataFrame({"project_id": ["p"]}),
        "organisations": pl.DataFrame({"organisation_id": ["o"]}),
        "documents": pl.DataFrame({"document_sha256": ["a" * 64]}),
    }
    result = drop_orphans("participants", rows, parents)
    assert result.valid["participant_id"].to_list() == ["p:0"]
    assert result.quarantined["check"].to_list() == ["parent_in_documents"]
