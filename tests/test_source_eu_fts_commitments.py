"""eu_fts_commitments: the FTS yearly workbooks, parsed field by field from the synthetic fixtures.

The generic test (test_sources.py) compares the crawl's documents and files lines; this one reads
the parsed rows through the raw layer, as the pipeline does, and checks each quirk's rule.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from pipelines.clean import clean_participants, clean_projects, derive_organisations
from pipelines.raw import empty_raw, read_run
from pipelines.validate import validate_entity
from scrapers.bulk import BulkFileError
from scrapers.registry import load_registry
from scrapers.spiders.eu_fts_commitments import (
    amount,
    cofinancing_rate,
    country_codes,
    fts_config,
    parse_file,
    year_of,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HERE = FIXTURES / "eu_fts_commitments"
SOURCE = "eu_fts_commitments"
REGISTRY = load_registry()
FILE_ITEM = {
    "source_id": SOURCE,
    "url": "https://ec.europa.eu/budget/financial-transparency-system/download/2023_FTS_dataset_en.xlsx",
    "fetched_at": "2026-11-23T00:00:00Z",
    "document_sha256": "a" * 64,
    "meta": {"year": 2023},
}


def load_builder():
    spec = importlib.util.spec_from_file_location("fts_build", HERE / "build_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def crawl(out: Path, recordings: Path = FIXTURES) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapers.crawl",
            SOURCE,
            "--out",
            str(out),
            "--offline",
            "--recordings",
            str(recordings),
            "--log-file",
            str(out.with_suffix(".log")),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(SOURCE) / "run.jsonl"
    proc = crawl(out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def frames(run: Path) -> dict[str, pl.DataFrame]:
    return read_run(SOURCE, run)


@pytest.fixture(scope="module")
def projects(frames) -> dict[str, dict]:
    cleaned = clean_projects(frames["projects"], REGISTRY)
    assert cleaned.rejected.height == 0
    result = validate_entity("projects", cleaned.frame)
    assert result.quarantined.height == 0, result.quarantined
    return {r["reference"]: r for r in result.valid.iter_rows(named=True)}


@pytest.fixture(scope="module")
def participants(frames) -> dict[tuple[str, str], dict]:
    cleaned = clean_participants(frames["participants"], REGISTRY)
    result = validate_entity("participants", cleaned.frame)
    assert result.quarantined.height == 0, result.quarantined
    return {
        (r["project_id"].split(":")[1], r["name_as_published"]): r
        for r in result.valid.iter_rows(named=True)
    }


# --- the crawl and the fixture -----------------------------------------------------------------


def test_fixture_workbooks_are_what_the_script_builds(tmp_path):
    builder = load_builder()
    for year in builder.YEARS:
        built = tmp_path / f"{year}.xlsx"
        builder.write_workbook(built, year, builder.ROWS.get(year, []))
        assert built.read_bytes() == (HERE / f"{year}_FTS_dataset_en.xlsx").read_bytes(), year


def test_every_year_is_requested_and_2024_falls_back(run):
    lines = [json.loads(x) for x in run.read_text().splitlines()]
    files = {json.loads(x["meta"])["year"]: x for x in lines if x["entity"] == "files"}
    assert sorted(files) == list(range(2014, 2025))
    assert files[2024]["url"] == "https://commission.europa.eu/document/2024_FTS_dataset_en.xlsx"
    assert files[2023]["url"].startswith("https://ec.europa.eu/budget/")
    # The HTML page that 2024's main URL answered is no document of the run.
    assert all("html" not in (x.get("content_type") or "") for x in lines)
    log = run.with_suffix(".log").read_text()
    assert "FTS 2024" in log and "an HTML/XML page" in log and "trying" in log


def test_year_is_read_from_the_url_template():
    template = fts_config()["url_template"]
    assert [year_of(u, template) for u in REGISTRY[SOURCE].start_urls] == list(range(2014, 2025))
    with pytest.raises(ValueError, match="does not follow"):
        year_of("https://ec.europa.eu/budget/other/2023.xlsx", template)


def test_html_from_both_urls_fails_the_crawl(recordings_copy, tmp_path):
    index_path = recordings_copy / SOURCE / "index.json"
    index = json.loads(index_path.read_text())
    for entry in index["responses"]:
        if "2024" in entry["url"]:
            entry["file"], entry["headers"] = (
                "html_instead_of_workbook.html",
                {"Content-Type": "text/html"},
            )
    index_path.write_text(json.dumps(index))
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert "errors logged" in proc.stderr
    assert not out.exists()
    assert "FTS 2024: no workbook from either URL" in out.with_suffix(".log").read_text()


# --- parsed rows, field by field --------------------------------------------------------------


def test_row_counts_fit_the_yaml(projects, participants, frames):
    bounds = REGISTRY[SOURCE].expected_rows
    assert len(projects) == bounds["projects"].min == 4
    assert len(participants) == bounds["participants"].min == 5
    orgs = derive_organisations(
        frames["projects"],
        frames["participants"],
        empty_raw("clusters").with_columns(pl.lit(None, pl.Utf8).alias("cluster_id")),
    )
    assert orgs.frame.height == bounds["organisations"].min == 4


def test_multi_beneficiary_commitment(projects, participants):
    p = projects["SI2.999001"]
    assert p["project_id"] == "eu_fts_commitments:SI2.999001"
    assert p["title"] == "Eurocluster for synthetic textiles (synthetic)"
    assert p["lead_organisation"] == "Alpha Cluster Association (synthetic)"
    assert p["lead_organisation_id"] == "eu_fts_commitments:alpha-cluster-association-synthetic"
    assert p["programme"] == "Single Market Programme"
    assert p["operation_type"] == "Grant for action"
    assert p["eu_contribution_eur"] == 1_550_000.0  # "1,550,000.00" in the Amount cell
    assert p["total_eligible_eur"] == 1_550_000.0
    assert p["cofinancing_rate"] == 0.9  # "90%"
    assert p["country"] == "BE"
    assert p["cluster_support"] is True
    assert p["start_date"] is None and p["end_date"] is None
    assert p["call_identifier"] is None and p["funds"] is None
    assert p["quality_flags"] == ["participants: 1 natural person masked by the source"]
    assert p["source_url"].endswith("/download/2023_FTS_dataset_en.xlsx")
    # The head row and its sub-rows: one project, one participant per named beneficiary.
    members = {name: r for (ref, name), r in participants.items() if ref == "SI2.999001"}
    assert set(members) == {
        "Alpha Cluster Association (synthetic)",
        "Beta Innovation Hub (synthetic)",
    }
    alpha = members["Alpha Cluster Association (synthetic)"]
    assert (alpha["role"], alpha["role_as_published"]) == ("coordinator", "Coordinator: Yes")
    assert alpha["country"] == "BE"
    assert alpha["eu_contribution_eur"] == 1_200_000.0  # "1,200,000.00"
    assert alpha["participant_id"] == (
        "eu_fts_commitments:SI2.999001:alpha-cluster-association-synthetic:coordinator"
    )
    beta = members["Beta Innovation Hub (synthetic)"]
    assert (beta["role"], beta["country"], beta["eu_contribution_eur"]) == (
        "beneficiary",
        "PT",
        300_000.0,
    )
    assert beta["project_id"] == p["project_id"]


def test_non_cluster_grant_with_unknown_country_and_unreadable_amount(projects, participants):
    p = projects["SI2.999002"]
    assert p["programme"] == "Digital Europe Programme"
    assert p["cluster_support"] is None  # this source does not classify: never False
    assert (p["eu_contribution_eur"], p["total_eligible_eur"]) == (200_000.0, 250_000.0)
    assert p["cofinancing_rate"] == 0.8
    # The sole beneficiary leads; its country is no country.
    assert p["lead_organisation"] == "Gamma Data Institute (synthetic)"
    assert p["country"] is None
    assert p["quality_flags"] == [
        "Country / Territory: 'Atlantis (synthetic)' is not a known country"
    ]
    gamma = participants[("SI2.999002", "Gamma Data Institute (synthetic)")]
    assert gamma["country"] is None and gamma["eu_contribution_eur"] is None
    assert gamma["role"] == "beneficiary"
    assert gamma["quality_flags"] == [
        "Beneficiary’s contracted amount: '200.000,00' is not an amount; left empty",
        "Country / Territory: 'Atlantis (synthetic)' is not a known country",
    ]


def test_cluster_partnership_across_years(projects, participants):
    p = projects["SI2.999003"]
    assert p["cluster_support"] is True
    assert p["source_url"] == "https://commission.europa.eu/document/2024_FTS_dataset_en.xlsx"
    assert (p["lead_organisation"], p["country"], p["cofinancing_rate"]) == (
        "Delta Mobility Cluster (synthetic)",
        "DE",
        1.0,
    )
    assert p["quality_flags"] is None
    # 2024's header writes a straight apostrophe; the contracted amounts are still read.
    alpha = participants[("SI2.999003", "Alpha Cluster Association (synthetic)")]
    assert (alpha["role"], alpha["country"], alpha["eu_contribution_eur"]) == (
        "beneficiary",
        "BE",
        100_000.0,
    )
    # The same name in two years is one organisation.
    assert (
        alpha["organisation_id"]
        == participants[("SI2.999001", "Alpha Cluster Association (synthetic)")]["organisation_id"]
    )


def test_masked_natural_persons_are_counted_not_kept(projects, participants, frames):
    p = projects["SI2.999004"]
    assert p["lead_organisation"] is None and p["lead_organisation_id"] is None
    assert p["eu_contribution_eur"] is None and p["total_eligible_eur"] == 15_000.0
    assert p["cofinancing_rate"] is None  # not derived from a missing amount
    assert p["quality_flags"] == [
        "Amount: '12.5k' is not an amount; left empty",
        "participants: 1 natural person masked by the source",
    ]
    assert not [k for k in participants if k[0] == "SI2.999004"]
    names = frames["participants"]["name_as_published"].to_list()
    assert "*****" not in names and None not in names
    orgs = derive_organisations(
        frames["projects"],
        frames["participants"],
        empty_raw("clusters").with_columns(pl.lit(None, pl.Utf8).alias("cluster_id")),
    )
    assert "*****" not in orgs.frame["name"].to_list()


def test_raw_vat_is_kept(frames):
    vats = dict(frames["participants"].select("name_as_published", "vat").unique().iter_rows())
    assert vats["Delta Mobility Cluster (synthetic)"] == "DE999999903"


# --- value rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("1,234,567.89", 1_234_567.89),
        ("1234567.89", 1_234_567.89),
        ("1500000", 1_500_000.0),
        ("999.5", 999.5),
        ("1,000", 1000.0),
        ("200.000,00", None),  # European format: not guessed
        ("1.234.567", None),
        ("12,34,567.00", None),  # irregular grouping
        ("1,2345", None),
        ("12.5k", None),
        ("EUR 100", None),
        ("", None),
    ],
)
def test_amount_rule(cell, value):
    got = pl.DataFrame({"a": [cell or None]}, schema={"a": pl.Utf8}).select(amount("a")).item()
    assert got == value


@pytest.mark.parametrize(
    ("cell", "rate"),
    [
        ("90%", 0.9),
        ("75.5 %", 0.755),
        ("0.8", 0.8),
        ("1", 1.0),
        ("100%", 1.0),
        ("120%", None),
        ("75", None),
        ("n/a", None),
    ],
)
def test_cofinancing_rate_rule(cell, rate):
    got = pl.DataFrame({"cofinancing_rate": [cell]}).select(cofinancing_rate()).item()
    assert got == (pytest.approx(rate) if rate is not None else None)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Belgium", "BE"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("North Macedonia", "MK"),
        ("Kosovo", "XK"),
        ("Atlantis (synthetic)", None),
        ("European Union", None),
        ("belgium", None),
    ],
)
def test_country_names_map_to_iso(name, code):
    assert country_codes().get(name) == code


# --- refused files ----------------------------------------------------------------------------


def write_sheet(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        sheet.write_row(r, 0, row)
    workbook.close()
    return path


def test_missing_required_column_is_refused(tmp_path):
    header = [h for h in load_builder().HEADER if h != "Coordinator"]
    path = write_sheet(tmp_path / "2023.xlsx", header, [])
    with pytest.raises(BulkFileError, match=r"header lacks Coordinator$"):
        parse_file(path, FILE_ITEM)


def test_html_page_served_as_200_is_refused():
    with pytest.raises(BulkFileError, match="an HTML/XML page, not a xlsx file"):
        parse_file(HERE / "html_instead_of_workbook.html", FILE_ITEM)


def test_rows_of_another_year_are_refused(tmp_path):
    builder = load_builder()
    path = tmp_path / "2023.xlsx"
    builder.write_workbook(path, 2023, builder.ROWS[2023])
    with pytest.raises(BulkFileError, match=r"rows of year\(s\) 2023, not 2022"):
        parse_file(path, {**FILE_ITEM, "meta": {"year": 2022}})


def test_a_sub_row_without_a_commitment_above_is_refused(tmp_path):
    builder = load_builder()
    rows = builder.ROWS[2023][1:]  # starts with a continuation row
    path = tmp_path / "2023.xlsx"
    builder.write_workbook(path, 2023, rows)
    with pytest.raises(BulkFileError, match="continues a commitment it does not name"):
        parse_file(path, FILE_ITEM)


def test_header_only_year_parses_to_no_rows():
    out = parse_file(HERE / "2014_FTS_dataset_en.xlsx", {**FILE_ITEM, "meta": {"year": 2014}})
    assert out["projects"].height == 0 and out["participants"].height == 0


def test_sub_rows_may_leave_the_year_empty(tmp_path):
    builder = load_builder()
    rows = [
        {k: v for k, v in r.items() if k != "Year" or "Commitment position key" in r}
        for r in builder.ROWS[2023]
    ]
    path = tmp_path / "2023.xlsx"
    builder.write_workbook(path, 2023, rows)
    out = parse_file(path, FILE_ITEM)
    assert out["projects"].height == 2 and out["participants"].height == 3
