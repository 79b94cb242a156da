"""Kohesio bulk exports: the offline crawl, parse_file field by field, cleaning and validation,
the quirks (multi-line fields, malformed dates, refused amounts and rates), refused downloads,
and a large generated file."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.clean import clean_participants, clean_projects
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.bulk import BulkFileError, raw_schema, sniff
from scrapers.registry import load_registry
from scrapers.spiders.eu_kohesio_projects import load_config, parse_file, planned_downloads

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HERE = FIXTURES / "eu_kohesio_projects"
SOURCE_ID = "eu_kohesio_projects"
REGISTRY = load_registry()
CONFIG = load_config()
ENTITY = "https://linkedopendata.eu/entity/"


def crawl(out: Path, recordings: Path = FIXTURES) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapers.crawl",
            SOURCE_ID,
            "--out",
            str(out),
            "--offline",
            "--recordings",
            str(recordings),
            "--log-file",
            str(out.with_suffix(".log")),
            "--stats",
            str(out.with_suffix(".stats.json")),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kohesio") / "run.jsonl"
    proc = crawl(out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def raw(run: Path) -> dict[str, pl.DataFrame]:
    return read_run(SOURCE_ID, run)


def by_reference(frame: pl.DataFrame, column: str = "reference") -> dict[str, dict]:
    rows = frame.to_dicts()
    assert len({r[column] for r in rows}) == len(rows)
    return {r[column]: r for r in rows}


# --- the crawl -----------------------------------------------------------------------------


def test_crawl_keeps_each_export_and_warns_on_missing_ones(run: Path):
    records = [json.loads(line) for line in run.read_text("utf-8").splitlines()]
    files = {r["path"]: json.loads(r["meta"]) for r in records if r["entity"] == "files"}
    assert files == {
        "run.files/IE-2014-2020.csv": {"country": "IE", "period": "2014-2020"},
        "run.files/PT-2014-2020.csv": {"country": "PT", "period": "2014-2020"},
        "run.files/IE-2021-2027.csv": {"country": "IE", "period": "2021-2027"},
        "run.files/PT-2021-2027.csv": {"country": "PT", "period": "2021-2027"},
    }
    assert sum(r["entity"] == "documents" for r in records) == 4
    stats = json.loads(run.with_suffix(".stats.json").read_text())
    # 27 countries × 2 periods, 4 recorded files: the other 50 are 404s, warned and counted.
    assert stats["eu_kohesio_projects/missing_files"] == 50
    assert "missing export AT 2014-2020: HTTP 404" in run.with_suffix(".log").read_text()


def test_file_lines_carry_the_provenance_of_their_response(run: Path):
    index = json.loads((HERE / "index.json").read_text())
    recorded = {e["url"]: e for e in index["responses"]}
    for record in map(json.loads, run.read_text("utf-8").splitlines()):
        if record["entity"] != "files":
            continue
        entry = recorded[record["url"]]
        assert record["fetched_at"] == entry["fetched_at"]
        body = (HERE / entry["file"]).read_bytes()
        assert record["document_sha256"] == hashlib.sha256(body).hexdigest()


def test_every_export_of_the_yaml_is_requested_and_start_urls_are_among_them():
    planned = planned_downloads(CONFIG)
    assert len(planned) == 27 * 2
    assert set(REGISTRY[SOURCE_ID].start_urls) <= {url for _, _, url in planned}
    assert (
        "IE",
        "2021-2027",
        "https://kohesio.ec.europa.eu/api/data/object?id=data/projects-2021-2027/latest/"
        "IE-pp21-27-latest.csv",
    ) in planned


def test_html_error_page_served_as_200_fails_the_crawl(recordings_copy: Path, tmp_path: Path):
    page = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
    (recordings_copy / SOURCE_ID / "PT-2014-2020.csv").write_bytes(page)
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert "errors logged" in proc.stderr
    assert not out.exists()
    log = out.with_suffix(".log").read_text()
    assert "refused export PT 2014-2020" in log and "an HTML/XML page, not a csv file" in log


def test_server_error_fails_the_crawl(recordings_copy: Path, tmp_path: Path):
    index_path = recordings_copy / SOURCE_ID / "index.json"
    index = json.loads(index_path.read_text())
    for entry in index["responses"]:
        if entry["file"] == "IE-2014-2020.csv":
            entry["status"] = 500
    index_path.write_text(json.dumps(index))
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1, "a 500 is not a missing file: the month must not pass as complete"
    assert "export download failed" in out.with_suffix(".log").read_text()


def test_sniff_refuses_an_error_page_saved_as_csv(tmp_path: Path):
    path = tmp_path / "PT-2014-2020.csv"
    path.write_bytes(b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>")
    with pytest.raises(BulkFileError, match="HTML/XML page"):
        sniff(path, "csv")


# --- parse_file on the crawled files ------------------------------------------------------


def csv_records(name: str) -> int:
    with (HERE / name).open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def test_every_csv_record_becomes_one_project(raw: dict[str, pl.DataFrame]):
    names = ["IE-2014-2020.csv", "IE-2021-2027.csv", "PT-2014-2020.csv", "PT-2021-2027.csv"]
    assert raw["projects"].height == sum(csv_records(n) for n in names) == 9
    assert dict(raw["projects"].schema) == raw_schema("projects")
    # One participant per row that names a beneficiary (Q7383069's page names none).
    assert raw["participants"].height == 8


def test_real_derived_ie_operation(raw: dict[str, pl.DataFrame]):
    row = by_reference(raw["projects"])["Q232183"]
    assert row["title"].startswith("Expenditure to promote MicroEnterprise as per the Measure 2")
    assert row["total_eligible_eur"] == 305698.7
    assert row["eu_contribution_eur"] == 152849.35
    assert row["cofinancing_rate"] is None  # not in the sample: derived in the clean layer
    assert (row["start_date"], row["end_date"]) == ("2016-01-01", "2016-12-31")
    assert row["country"] == "IE"  # Country "Ireland" through the YAML lookup
    assert row["nuts_codes"] == ["IE052"]
    assert row["regions"] == ["South-East Region, Ireland"]  # a quoted field with a comma
    assert row["funds"] == ["ERDF"]
    assert row["categories"] == [
        "Generic productive investment in small and medium–sized enterprises (‘SMEs’)"
    ]
    assert row["cluster_support"] is False  # a category is known and it is not cluster support
    assert (row["lead_organisation"], row["lead_organisation_key"]) == ("Carlow LEO", "Q2531397")
    assert row["lead_organisation_country"] == "IE"
    assert row["source_url"].endswith("IE-pp14-20-latest.csv")
    assert row["quality_flags"] is None


def test_cluster_support_operation_with_multiline_summary(raw: dict[str, pl.DataFrame]):
    row = by_reference(raw["projects"])["Q999000001"]
    assert row["description"] == (
        "First line of a synthetic summary, with a comma.\n"
        'Second line with "quoted words", and another comma.\nThird line.'
    )
    assert row["cluster_support"] is True
    assert row["categories"] == [
        "063 Cluster support and business networks primarily benefiting SMEs"
    ]
    assert row["cofinancing_rate"] == 0.85  # "85.00" is a percentage
    assert (row["total_eligible_eur"], row["eu_contribution_eur"]) == (200000.0, 170000.0)
    assert (row["start_date"], row["end_date"]) == ("2016-03-01", "2018-12-31")
    assert row["nuts_codes"] == ["PT1", "PT11", "PT111"]
    assert row["regions"] == ["Continente", "Norte", "Alto Minho"]
    assert row["programme"] == "Example programme (synthetic)"
    assert row["programmes"] == ["Example programme (synthetic)"]
    assert row["country"] == "PT"


def test_2021_2027_rows(raw: dict[str, pl.DataFrame]):
    rows = by_reference(raw["projects"])
    page = rows["Q7383069"]  # real-derived from the PT project page
    assert page["title"] == "Reforço das capacidades do Comité de Acompanhamento da FE PT 2021-2027"
    assert page["cofinancing_rate"] == pytest.approx(0.7971)
    assert (page["total_eligible_eur"], page["eu_contribution_eur"]) == (134946.0, 107565.46)
    assert (page["start_date"], page["end_date"]) == ("2025-01-01", "2027-12-31")
    assert page["cluster_support"] is None  # no category: the source does not say
    assert page["lead_organisation"] is None
    keyword = rows["Q999000005"]
    assert keyword["cluster_support"] is True  # by the label keyword, no 2021-2027 code listed
    assert keyword["country"] == "PT"  # from CountryCode


def test_refused_amount_and_rate_are_null_and_flagged(raw: dict[str, pl.DataFrame]):
    row = by_reference(raw["projects"])["Q999000003"]
    assert row["total_eligible_eur"] is None  # "1.234.567,89" is never guessed
    assert row["eu_contribution_eur"] == 500000.0
    assert row["cofinancing_rate"] is None  # 150.0 > 100
    assert row["quality_flags"] == [
        "Total_Eligible_Expenditure_amount is not a plain decimal number; left empty: 1.234.567,89",
        "Cofinancing_Rate is over 100; left empty: 150.0",
    ]
    assert row["funds"] == ["European Regional Development Fund"]  # mapped in the clean layer
    assert row["cluster_support"] is None


def test_several_beneficiaries_in_one_row(raw: dict[str, pl.DataFrame]):
    row = by_reference(raw["projects"])["Q999000004"]
    assert row["title"] == "Formação avançada (sintético)"  # programme-language fallback
    assert row["lead_organisation"] is None and row["lead_organisation_key"] is None
    assert row["cofinancing_rate"] is None  # 0.5 = EU/total: a fraction, not 0.5 %
    assert row["quality_flags"] == [
        "Cofinancing_Rate reads as a fraction in a percentage column; left empty: 0.5",
        "several beneficiary identifiers in one row; no lead organisation chosen",
    ]
    participant = by_reference(raw["participants"], "project_reference")["Q999000004"]
    assert participant["name_as_published"] == (
        "Example University (synthetic); Example Institute (synthetic)"
    )
    assert participant["organisation_key"] is None
    assert participant["quality_flags"][0].startswith("Beneficiary_Unique_Identifier is not one")


def test_participants(raw: dict[str, pl.DataFrame]):
    rows = by_reference(raw["participants"], "project_reference")
    first = rows["Q232171"]
    assert (first["name_as_published"], first["organisation_key"]) == (
        "AMN Productions Ltd",
        "Q2531369",
    )
    assert (first["role"], first["role_as_published"], first["country"]) == (
        "beneficiary",
        "Beneficiary",
        "IE",
    )
    assert first["project_title"] == "AMN Productions Ltd - Feasibility"
    assert rows["Q999000002"]["name_as_published"] == "Example Company, Lda (synthetic)"


# --- clean and validate -------------------------------------------------------------------


def test_clean_quarantines_the_malformed_date_and_validates_the_rest(raw):
    cleaned = clean_projects(raw["projects"], REGISTRY)
    rejected = cleaned.rejected.to_dicts()
    assert [(r["record_key"], r["column"], r["check"], r["failure_case"]) for r in rejected] == [
        ("eu_kohesio_projects:Q999000002", "start_date", "iso_date", "31/02/2017")
    ]
    # Quarantined whole, not dropped and not coerced: the raw value is in the kept row.
    assert '"start_date":"31/02/2017"' in rejected[0]["row_json"]
    assert cleaned.frame.height == raw["projects"].height - 1
    result = validate_entity("projects", cleaned.frame)
    assert result.quarantined.height == 0, result.quarantined
    rows = by_reference(result.valid)
    assert rows["Q999000004"]["funds"] == ["ESF"]  # Fund_Name through the YAML lookup
    assert rows["Q999000003"]["funds"] == ["ERDF"]
    # Where the source gives no usable rate, the clean layer derives EU / total.
    assert rows["Q232171"]["cofinancing_rate"] == 0.5
    assert rows["Q999000004"]["cofinancing_rate"] == 0.5
    assert rows["Q999000001"]["project_id"] == "eu_kohesio_projects:Q999000001"
    assert rows["Q999000001"]["lead_organisation_id"] == "eu_kohesio_projects:Q999100001"
    assert str(rows["Q232171"]["start_date"]) == "2014-12-12"
    bounds = REGISTRY[SOURCE_ID].expected_rows["projects"]
    assert bounds.min <= result.valid.height <= bounds.max


def test_participants_clean_and_validate(raw):
    cleaned = clean_participants(raw["participants"], REGISTRY)
    result = validate_entity("participants", cleaned.frame)
    assert result.quarantined.height == 0, result.quarantined
    ids = set(result.valid["organisation_id"].to_list())
    # The same beneficiary in both periods is one organisation (by its Q-id).
    assert "eu_kohesio_projects:Q999100001" in ids
    assert (
        result.valid.filter(pl.col("organisation_id") == "eu_kohesio_projects:Q999100001").height
        == 2
    )
    bounds = REGISTRY[SOURCE_ID].expected_rows["participants"]
    assert bounds.min <= result.valid.height <= bounds.max


# --- parse_file on hand-made files --------------------------------------------------------


def file_item(period: str, country: str = "PT") -> dict:
    return {
        "source_id": SOURCE_ID,
        "url": "https://example.org/export.csv",
        "fetched_at": "2026-11-23T00:00:00Z",
        "document_sha256": "a" * 64,
        "meta": {"country": country, "period": period},
    }


def write_export(path: Path, period: str, rows: list[dict[str, str]]) -> Path:
    columns = CONFIG["exports"][period]["columns"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


BASE = {
    "Operation_Unique_Identifier": ENTITY + "Q999000101",
    "Operation_Name_English": "Hand-made row (synthetic)",
    "Operation_Start_Date": "01/01/2022",
    "Operation_End_Date": "31/12/2023",
    "Total_Eligible_Expenditure_amount": "1000.00",
    "Total_Eligible_Expenditure_Currency": "EUR",
    "Project_EU_Budget": "600.00",
}


def test_changed_header_is_refused(tmp_path: Path):
    path = tmp_path / "PT-2021-2027.csv"
    write_export(path, "2014-2020", [BASE])  # a 2014-2020 header under a 2021-2027 name
    with pytest.raises(BulkFileError, match=r"missing \['Specific_Objective_ID'"):
        parse_file(path, file_item("2021-2027"))


def test_html_body_is_refused_by_the_header_check_too(tmp_path: Path):
    path = tmp_path / "PT-2021-2027.csv"
    path.write_text("<html><body>Not found</body></html>\n")
    with pytest.raises(BulkFileError, match="header differs"):
        parse_file(path, file_item("2021-2027"))


def test_hand_made_quirks(tmp_path: Path):
    rows = [
        BASE | {"CountryCode": "EL", "Country": "Greece", "Cofinancing_Rate": "60"},
        BASE
        | {
            "Operation_Unique_Identifier": ENTITY + "Q999000102",
            "Total_Eligible_Expenditure_Currency": "PLN",
            "Operation_Start_Date": "1/2/2022",
            "NUTS2_Code": "PT11; PT16",
        },
        BASE
        | {
            "Operation_Unique_Identifier": "999000103",
            "Total_Eligible_Expenditure_amount": "12,345.67",
            "Category_Label": "Clustering of data (synthetic label)",
        },
    ]
    path = write_export(tmp_path / "PT-2021-2027.csv", "2021-2027", rows)
    frames = parse_file(path, file_item("2021-2027"))
    greek, zloty, odd = frames["projects"].to_dicts()
    assert greek["country"] == "GR"  # EU protocol code EL -> ISO
    assert greek["cofinancing_rate"] == 0.6
    assert zloty["country"] == "PT"  # no country columns: the file's country
    assert zloty["total_eligible_eur"] is None and zloty["eu_contribution_eur"] is None
    assert zloty["start_date"] == "1/2/2022"  # kept as published, for the quarantine
    assert zloty["quality_flags"] == [
        "amounts are in PLN, not EUR; left empty",
        "NUTS2_Code is not one NUTS code; kept as published: PT11; PT16",
    ]
    assert odd["reference"] == "999000103"
    assert odd["total_eligible_eur"] is None
    assert odd["quality_flags"][0].startswith("Operation_Unique_Identifier is not a linked")
    assert odd["cluster_support"] is False  # "Clustering" is not the word "cluster"


def test_a_large_file_streams_through_with_every_row(tmp_path: Path):
    """~200,000 generated rows (never committed): rows in = rows out, multi-line cells kept."""
    n = 200_000
    columns = CONFIG["exports"]["2014-2020"]["columns"]
    index = pl.int_range(0, n, eager=True)
    frame = pl.DataFrame({c: pl.repeat(None, n, dtype=pl.Utf8, eager=True) for c in columns})
    frame = frame.with_columns(
        (pl.lit(ENTITY + "Q99") + index.cast(pl.Utf8)).alias("Operation_Unique_Identifier"),
        (pl.lit("Operation ") + index.cast(pl.Utf8) + pl.lit(" (synthetic)")).alias(
            "Operation_Name_English"
        ),
        pl.lit("Portugal").alias("Country"),
        pl.lit("01/03/2016").alias("Operation_Start_Date"),
        pl.lit("31/12/2018").alias("Operation_End_Date"),
        pl.lit("85.00").alias("Cofinancing_Rate"),
        pl.lit("1000.00").alias("Total_Eligible_Expenditure_amount"),
        pl.lit("EUR").alias("Total_Eligible_Expenditure_Currency"),
        pl.lit("850.00").alias("Project_EU_Budget"),
        (pl.lit(ENTITY + "Q98") + (index % 5000).cast(pl.Utf8)).alias(
            "Beneficiary_Unique_Identifier"
        ),
        pl.lit("Beneficiary, Lda (synthetic)").alias("Beneficiary_Name"),
        pl.lit("063").alias("Category_Of_Intervention"),
        pl.lit("ERDF").alias("Fund_Code"),
        pl.lit("PT111").alias("NUTS3_Code"),
        pl.lit('A summary, with "quotes"\nand a second line.').alias("Operation_Summary_English"),
    )
    path = tmp_path / "PT-2014-2020.csv"
    frame.write_csv(path)
    frames = parse_file(path, file_item("2014-2020"))
    projects = frames["projects"]
    assert projects.height == n
    assert frames["participants"].height == n
    assert projects["reference"].n_unique() == n
    assert projects["description"].eq('A summary, with "quotes"\nand a second line.').all()
    assert projects["start_date"].eq("2016-03-01").all()
    assert projects["cofinancing_rate"].eq(0.85).all()
    assert projects["cluster_support"].all()
