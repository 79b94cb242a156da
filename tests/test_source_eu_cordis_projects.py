"""eu_cordis_projects: the CORDIS bulk zips, parsed field by field from the synthetic fixture,
every quirk (EL/UK codes, roles, a ';' in a name, amounts, non-ISO dates) and every refusal."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import (
    clean_participants,
    clean_projects,
    derive_organisations,
    empty_quarantine,
)
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.bulk import BulkFileError, raw_schema
from scrapers.registry import load_registry
from scrapers.spiders.eu_cordis_projects import (
    CordisProjectsSpider,
    downloads,
    parse_file,
    read_amount,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "eu_cordis_projects"
REGISTRY = load_registry()
SOURCE = "eu_cordis_projects"
HORIZON_URL = "https://cordis.europa.eu/data/cordis-HORIZONprojects-csv.zip"
H2020_URL = "https://cordis.europa.eu/data/cordis-h2020projects-csv.zip"


def _builder():
    spec = importlib.util.spec_from_file_location("cordis_build_zips", FIXTURE / "build_zips.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _builder()


def crawl(out: Path, recordings: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", SOURCE, "--out", str(out), "--offline",
         "--recordings", str(recordings), "--log-file", str(out.with_suffix(".log"))],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict[str, pl.DataFrame]:
    out = tmp_path_factory.mktemp("cordis") / "run.jsonl"
    proc = crawl(out, ROOT / "tests" / "fixtures")
    assert proc.returncode == 0, proc.stderr
    return read_run(SOURCE, out)


def row(frame: pl.DataFrame, **where: str) -> dict:
    hits = frame.filter(*[pl.col(k) == v for k, v in where.items()])
    assert hits.height == 1, (where, hits)
    return hits.row(0, named=True)


FILE_ITEM = {
    "source_id": SOURCE,
    "url": HORIZON_URL,
    "fetched_at": "2026-11-23T00:00:00Z",
    "document_sha256": "c" * 64,
    "meta": {"programme": "Horizon Europe"},
}


def write_zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "cordis.zip"
    path.write_bytes(BUILD.zip_bytes(members))
    return path


# --- the fixture, field by field ---------------------------------------------------------------


def test_project_fields(raw):
    p = row(raw["projects"], reference="999000001")
    assert p["title"] == "Synthetic cluster collaboration (synthetic)"
    assert p["acronym"] == "SYNCLUS"
    assert p["programme"] == "Horizon Europe" and p["programmes"] == ["Horizon Europe"]
    assert p["funds"] is None
    assert p["operation_type"] == "HORIZON-CSA"
    assert p["call_identifier"] == "HORIZON-SYNTH-2022-TEST-01"
    assert (p["total_eligible_eur"], p["eu_contribution_eur"]) == (1_000_000.0, 800_000.5)
    assert (p["start_date"], p["end_date"]) == ("2023-01-01", "2025-12-31")
    # The coordinator leads; its country (EL in CORDIS) is the project's, as ISO.
    assert p["lead_organisation"] == "Alpha Research Institute (synthetic)"
    assert p["lead_organisation_key"] == "999999001"
    assert p["lead_organisation_country"] == "GR" and p["country"] == "GR"
    # A quoted objective keeps its ';', line break and doubled quotes.
    assert p["description"] == (
        'Synthetic objective; it has a semicolon,\na line break and "quotes".'
    )
    assert p["quality_flags"] is None
    assert p["source_url"] == HORIZON_URL and p["fetched_at"] == "2026-11-23T00:00:00Z"
    assert p["cluster_support"] is None and p["website"] is None


def test_h2020_project_comma_decimals_and_cluster_lead(raw):
    p = row(raw["projects"], reference="999000004")
    assert p["programme"] == "H2020" and p["source_url"] == H2020_URL
    assert (p["total_eligible_eur"], p["eu_contribution_eur"]) == (2_000_000.0, 1_500_000.5)
    assert p["lead_organisation"] == "Beta Mobility Cluster (synthetic)"
    assert (p["lead_organisation_key"], p["country"]) == ("999999002", "PT")


def test_participant_fields(raw):
    parts = raw["participants"]
    assert parts.height == 12
    lead = row(parts, project_reference="999000001", organisation_key="999999001")
    assert lead["name_as_published"] == "Alpha Research Institute (synthetic)"
    assert (lead["role"], lead["role_as_published"]) == ("coordinator", "coordinator")
    assert (lead["country"], lead["pic"], lead["vat"]) == ("GR", "999999001", "EL999999001")
    assert lead["eu_contribution_eur"] == 400_000.5
    assert lead["project_title"] == "Synthetic cluster collaboration (synthetic)"
    # A quoted name holding the separator stays one field.
    gamma = row(parts, organisation_key="999999003")
    assert gamma["name_as_published"] == "Gamma; Delta Engineering GmbH (synthetic)"
    assert gamma["country"] == "DE"
    epsilon = row(parts, organisation_key="999999004")
    assert (epsilon["role"], epsilon["country"]) == ("associatedPartner", "GB")
    assert epsilon["eu_contribution_eur"] is None and epsilon["quality_flags"] is None
    theta = row(parts, organisation_key="999999007")
    assert (theta["country"], theta["eu_contribution_eur"]) == ("GR", 0.0)


def test_amount_quirks_in_the_fixture(raw):
    projects, parts = raw["projects"], raw["participants"]
    amb = row(projects, reference="999000003")
    assert amb["eu_contribution_eur"] is None and amb["total_eligible_eur"] == 750_000.0
    assert amb["quality_flags"] == [
        "eu_contribution_eur: ecMaxContribution '600.000' is ambiguous (decimal or thousands "
        "separator), left NULL"
    ]
    grouped = row(projects, reference="999000005")
    assert grouped["total_eligible_eur"] is None and grouped["eu_contribution_eur"] == 900_000.0
    assert grouped["quality_flags"] == [
        "total_eligible_eur: totalCost '1.234.567,00' is not a plain amount, left NULL"
    ]
    gamma = row(parts, organisation_key="999999003")
    assert gamma["eu_contribution_eur"] is None
    assert gamma["quality_flags"] == [
        "eu_contribution_eur: ecContribution '1.250' is ambiguous (decimal or thousands "
        "separator), left NULL"
    ]
    eta = row(parts, project_reference="999000004", organisation_key="999999006")
    assert eta["eu_contribution_eur"] is None
    assert eta["quality_flags"] == [
        "eu_contribution_eur: ecContribution '250.000,00' is not a plain amount, left NULL"
    ]


def test_clean_and_validate(raw):
    projects = clean_projects(raw["projects"], REGISTRY)
    # The day-first start date is quarantined with its value, not coerced.
    rejected = projects.rejected.select("record_key", "column", "check", "failure_case")
    assert rejected.rows() == [("eu_cordis_projects:999000002", "start_date", "iso_date",
                                "01/03/2024")]
    valid = validate_entity("projects", projects.frame)
    assert valid.quarantined.height == 0
    assert sorted(valid.valid["project_id"]) == [
        f"eu_cordis_projects:99900000{n}" for n in (1, 3, 4, 5)
    ]
    p = row(valid.valid, project_id="eu_cordis_projects:999000001")
    assert p["lead_organisation_id"] == "eu_cordis_projects:999999001"
    assert p["cofinancing_rate"] == 0.8  # 800000.5 / 1000000, rounded to 6 places

    parts = clean_participants(raw["participants"], REGISTRY)
    checked = validate_entity("participants", parts.frame)
    assert checked.quarantined.height == 0 and checked.valid.height == 12
    roles = dict(zip(checked.valid["role_as_published"], checked.valid["role"], strict=False))
    assert roles == {
        "coordinator": "coordinator",
        "participant": "partner",
        "associatedPartner": "associated_partner",
        "thirdParty": "associated_partner",
        "partnerOrganisation": "associated_partner",
    }
    p = row(checked.valid, organisation_id="eu_cordis_projects:999999004")
    assert p["participant_id"] == "eu_cordis_projects:999000001:999999004:associated_partner"
    assert p["project_id"] == "eu_cordis_projects:999000001"


def test_organisations_one_per_pic(raw):
    clusters = pl.DataFrame(schema={"cluster_id": pl.Utf8, "name": pl.Utf8, "acronym": pl.Utf8,
                                    "source_id": pl.Utf8})
    orgs = derive_organisations(raw["projects"], raw["participants"], clusters)
    assert orgs.rejected.height == empty_quarantine().height
    checked = validate_entity("organisations", orgs.frame)
    assert checked.quarantined.height == 0
    assert checked.valid.height == 9
    # The cluster organisation takes part in three projects (two programmes): one organisation.
    beta = row(checked.valid, organisation_id="eu_cordis_projects:999999002")
    assert (beta["name"], beta["pic"], beta["country"], beta["vat"]) == (
        "Beta Mobility Cluster (synthetic)", "999999002", "PT", "PT999999002")
    epsilon = row(checked.valid, organisation_id="eu_cordis_projects:999999004")
    assert (epsilon["country"], epsilon["vat"]) == ("GB", None)  # a quoted "" is no value


# --- the amount rule ---------------------------------------------------------------------------

AMBIGUOUS = "is ambiguous (decimal or thousands separator), left NULL"
NOT_PLAIN = "is not a plain amount, left NULL"


@pytest.mark.parametrize(
    ("raw_value", "value", "flag"),
    [
        ("1000000", 1_000_000.0, None),
        ("0", 0.0, None),
        ("1500000.5", 1_500_000.5, None),  # dot decimal
        ("1500000,5", 1_500_000.5, None),  # comma decimal
        ("2000000,00", 2_000_000.0, None),
        ("12.50", 12.5, None),
        ("1234.567", 1234.567, None),  # four leading digits: no thousands group
        ("0.500", 0.5, None),  # a thousands group never starts with 0
        (" 250000 ", 250_000.0, None),  # padding is not part of the value
        ("1.250", None, AMBIGUOUS),  # 1.25 or 1250
        ("1,250", None, AMBIGUOUS),
        ("900,000", None, AMBIGUOUS),
        ("600.000", None, AMBIGUOUS),
        ("1.234.567,00", None, NOT_PLAIN),  # grouped thousands
        ("1,234,567.00", None, NOT_PLAIN),
        ("1 000", None, NOT_PLAIN),
        ("-5", None, NOT_PLAIN),
        ("12e3", None, NOT_PLAIN),
        ("EUR 100", None, NOT_PLAIN),
        ("1.", None, NOT_PLAIN),
        (",5", None, NOT_PLAIN),
        ("", None, None),  # blank: no amount, nothing to flag
        (None, None, None),
    ],
)
def test_amount_rule(raw_value, value, flag):
    got, why = read_amount("totalCost", "total_eligible_eur")
    out = pl.DataFrame({"totalCost": [raw_value]}, schema={"totalCost": pl.Utf8}).select(
        got, why.alias("flag")
    )
    assert out["total_eligible_eur"][0] == value
    if flag is None:
        assert out["flag"][0] is None
    else:
        assert out["flag"][0] == f"total_eligible_eur: totalCost '{raw_value.strip()}' {flag}"


# --- parse_file refusals and edge cases --------------------------------------------------------


def test_zip_without_organization_csv_is_refused(tmp_path):
    members = BUILD.members(BUILD.HORIZON_PROJECTS, BUILD.HORIZON_ORGANISATIONS)
    del members["organization.csv"]
    with pytest.raises(BulkFileError, match="no organization.csv in the zip"):
        parse_file(write_zip(tmp_path, members), FILE_ITEM)


def test_missing_column_is_refused(tmp_path):
    members = BUILD.members(BUILD.HORIZON_PROJECTS, BUILD.HORIZON_ORGANISATIONS)
    columns = [c for c in BUILD.PROJECT_COLUMNS if c != "ecMaxContribution"]
    rows = [{k: v for k, v in r.items() if k in columns} for r in BUILD.HORIZON_PROJECTS]
    members["project.csv"] = BUILD.csv_bytes(columns, rows)
    with pytest.raises(BulkFileError, match=r"project.csv lacks columns \['ecMaxContribution'\]"):
        parse_file(write_zip(tmp_path, members), FILE_ITEM)


def test_two_members_of_one_name_are_refused(tmp_path):
    members = BUILD.members(BUILD.HORIZON_PROJECTS, BUILD.HORIZON_ORGANISATIONS)
    members["old/project.csv"] = members["project.csv"]
    with pytest.raises(BulkFileError, match="2 members named project.csv"):
        parse_file(write_zip(tmp_path, members), FILE_ITEM)


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "cordis.zip"
    path.write_bytes(b"<!DOCTYPE html><html>Maintenance</html>")
    with pytest.raises(BulkFileError, match="not a zip"):
        parse_file(path, FILE_ITEM)


def test_row_with_more_fields_than_the_header_is_refused(tmp_path):
    # (A row with fewer fields is NULL-filled by polars and cannot be told apart from empty
    # trailing fields; the schema then quarantines what it lacks.)
    members = BUILD.members(BUILD.HORIZON_PROJECTS, BUILD.HORIZON_ORGANISATIONS)
    extra = ";".join(['"x"'] * (len(BUILD.ORGANIZATION_COLUMNS) + 1))
    members["organization.csv"] += extra.encode() + b"\n"
    with pytest.raises(BulkFileError, match="organization.csv is not a readable CSV"):
        parse_file(write_zip(tmp_path, members), FILE_ITEM)


def test_members_in_a_folder_extra_columns_and_bom_are_read(tmp_path):
    columns = [*BUILD.PROJECT_COLUMNS, "keywords"]
    members = {
        "csv/project.csv": b"\xef\xbb\xbf" + BUILD.csv_bytes(columns, BUILD.HORIZON_PROJECTS),
        "csv/organization.csv": BUILD.csv_bytes(BUILD.ORGANIZATION_COLUMNS,
                                                BUILD.HORIZON_ORGANISATIONS),
        "csv/euroSciVoc.csv": b"projectID;euroSciVocCode\n",
    }
    frames = parse_file(write_zip(tmp_path, members), FILE_ITEM)
    assert frames["projects"]["reference"].to_list() == ["999000001", "999000002", "999000003"]
    assert dict(frames["projects"].schema) == raw_schema("projects")
    assert dict(frames["participants"].schema) == raw_schema("participants")


def test_lead_needs_exactly_one_coordinator(tmp_path):
    orgs = [
        {**BUILD.HORIZON_ORGANISATIONS[1], "role": "coordinator"},  # 999000001: two coordinators
        *BUILD.HORIZON_ORGANISATIONS,
    ]
    orgs = [o for o in orgs if o["projectID"] != "999000002"]  # 999000002: none
    frames = parse_file(write_zip(tmp_path, BUILD.members(BUILD.HORIZON_PROJECTS, orgs)),
                        FILE_ITEM)
    two = row(frames["projects"], reference="999000001")
    assert two["lead_organisation"] is None and two["country"] is None
    assert two["quality_flags"] == ["lead_organisation: 2 coordinators in organization.csv"]
    none = row(frames["projects"], reference="999000002")
    assert none["lead_organisation"] is None
    assert none["quality_flags"] == ["lead_organisation: no coordinator in organization.csv"]


def test_pic_only_when_nine_digits(tmp_path):
    orgs = [{**BUILD.HORIZON_ORGANISATIONS[0], "organisationID": "12345"}]
    frames = parse_file(write_zip(tmp_path, BUILD.members(BUILD.HORIZON_PROJECTS[:1], orgs)),
                        FILE_ITEM)
    p = frames["participants"].row(0, named=True)
    assert (p["organisation_key"], p["pic"]) == ("12345", None)


def test_file_item_must_name_the_programme(tmp_path):
    path = write_zip(tmp_path, BUILD.members(BUILD.HORIZON_PROJECTS, BUILD.HORIZON_ORGANISATIONS))
    with pytest.raises(BulkFileError, match="names no programme"):
        parse_file(path, {**FILE_ITEM, "meta": {}})


# --- the spider --------------------------------------------------------------------------------


def test_html_page_served_as_200_fails_the_crawl(recordings_copy, tmp_path):
    body = recordings_copy / SOURCE / "cordis-h2020projects-csv.zip"
    body.write_bytes(b"<!DOCTYPE html><html><body>Service unavailable</body></html>")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert "errors logged" in proc.stderr
    assert "h2020.zip: an HTML/XML page, not a zip file" in out.with_suffix(".log").read_text()
    assert not out.exists()


def test_truncated_zip_fails_the_crawl(recordings_copy, tmp_path):
    body = recordings_copy / SOURCE / "cordis-HORIZONprojects-csv.zip"
    body.write_bytes(body.read_bytes()[:200])
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert "not a complete zip" in out.with_suffix(".log").read_text()


def test_every_start_url_is_a_download():
    files = downloads()
    assert set(REGISTRY[SOURCE].start_urls) == set(files) == {HORIZON_URL, H2020_URL}
    assert {f["programme"] for f in files.values()} == {"Horizon Europe", "H2020"}
    assert CordisProjectsSpider.custom_settings["DOWNLOAD_MAXSIZE"] == 512 * 1024 * 1024


def test_fixture_zips_are_what_the_builder_writes():
    for name, members in BUILD.ZIPS.items():
        with zipfile.ZipFile(io.BytesIO((FIXTURE / name).read_bytes())) as archive:
            assert archive.namelist() == list(members)
            for member, data in members.items():
                assert archive.read(member) == data, (name, member)
