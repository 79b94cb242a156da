"""`clusterdata extract`: the seed fixtures give the records their sources define; unreadable
input gives one error line and a non-zero exit."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter

from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
# Fields of a source's expected items that the public record carries under the same name.
PROJECT_FIELDS = (
    "title", "acronym", "reference", "lead_organisation", "programme", "funds", "operation_type",
    "total_eligible_eur", "eu_contribution_eur", "cofinancing_rate", "start_date", "end_date",
    "regions", "description",
)
CALL_FIELDS = (
    "title", "identifier", "programme", "publisher", "call_type", "opening_date",
    "deadline_date", "budget_eur", "eligible_applicants",
)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict], str]:
    code = main(["extract", *args])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, records, captured.err


def seed(source_id: str) -> tuple[Path, str, list[dict]]:
    index = json.loads((FIXTURES / source_id / "index.json").read_text("utf-8"))
    (response,) = index["responses"]
    expected = [
        json.loads(line)
        for line in (FIXTURES / source_id / "expected.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    return FIXTURES / source_id / response["file"], response["url"], expected


def entities(expected: list[dict], entity: str) -> list[dict]:
    return [r for r in expected if r["entity"] == entity]


@pytest.mark.parametrize(
    "source_id", ["pt_ticept_projects", "es_igape_projects", "eu_escp4i_projects"]
)
def test_project_seeds_print_their_project(source_id: str, capsys) -> None:
    path, url, expected = seed(source_id)
    code, records, err = run_cli([str(path)], capsys)
    assert code == 0, err
    (record,) = records
    (project,) = entities(expected, "projects")
    assert record["record_type"] == "project"
    assert record["lang"] == "en"
    for field in PROJECT_FIELDS:
        empty = [] if field in ("funds", "regions") else None
        assert record[field] == (project[field] or empty), field
    # Participants: every one printed is one the source names (never invented), with its
    # role and country as the source reads them.
    named = {p["name_as_published"]: p for p in entities(expected, "participants")}
    assert {p["name"] for p in record["participants"]} <= set(named)
    for p in record["participants"]:
        assert (p["role"], p["country"]) == (named[p["name"]]["role"], named[p["name"]]["country"])


def test_escp4i_prints_every_partner_with_its_role(capsys) -> None:
    path, _, _ = seed("eu_escp4i_projects")
    _, (record,), _ = run_cli([str(path)], capsys)
    assert [(p["name"], p["role"]) for p in record["participants"]] == [
        ("Pole SCS", "coordinator"), ("Basquegame", "partner"), ("TICE.PT", "partner"),
        ("BalticNet-PlasmaTec", "partner"), ("MESAP", "partner"),
    ]


def test_call_seed_prints_its_call(capsys) -> None:
    path, _, expected = seed("it_trentino_calls")
    code, records, err = run_cli([str(path), "--kind", "auto"], capsys)
    assert code == 0, err
    (record,) = records
    (call,) = entities(expected, "calls")
    assert record["record_type"] == "call"
    for field in CALL_FIELDS:
        assert record[field] == (call[field] or ([] if field == "eligible_applicants" else None))
    assert record["call_type"] == "call_for_expression_of_interest"


def test_iapmei_pdf_prints_the_clusters(capsys) -> None:
    path, _, expected = seed("pt_iapmei_clusters")
    code, records, err = run_cli([str(path)], capsys)
    assert code == 0, err
    (record,) = records
    assert record["record_type"] == "cluster-list"
    names = [c["name"] for c in record["clusters"]]
    assert names == [c["name"] for c in entities(expected, "clusters")]
    assert len(names) == 18
    assert {c["country"] for c in record["clusters"]} == {"PT"}


def test_kind_and_lang_can_be_forced(capsys) -> None:
    path, _, _ = seed("pt_ticept_projects")
    code, (record,), _ = run_cli([str(path), "--kind", "call", "--lang", "pt"], capsys)
    assert code == 0
    assert record["record_type"] == "call" and record["lang"] == "pt"


def test_url_is_fetched_through_the_replay_layer() -> None:
    _, url, expected = seed("pt_ticept_projects")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "extract", url, "--offline",
         "--recordings", str(FIXTURES)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    (record,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert record["url"] == url
    assert record["reference"] == "113241" and record["eu_contribution_eur"] == 101247.41


def test_an_unrecorded_url_fails_offline() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "extract", "https://example.org/none",
         "--offline", "--recordings", str(FIXTURES)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"error: offline: no recording for https://example.org/none in {FIXTURES}"
    ]


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (bytes(range(256)) * 4, "neither HTML nor PDF"),
        (b"just some words, no markup", "neither HTML nor PDF"),
        (_encrypted_pdf(), "encrypted PDF"),
        (b"<html><body>  <div> </div></body></html>", "no visible text"),
        (b"", "empty body"),
        (b"%PDF-1.7\n garbage", "PDF"),
    ],
    ids=["garbage", "plain-text", "encrypted-pdf", "empty-page", "empty-file", "broken-pdf"],
)
def test_unreadable_input_fails_with_one_line(tmp_path, capsys, body, message) -> None:
    path = tmp_path / "doc"
    path.write_bytes(body)
    code, records, err = run_cli([str(path)], capsys)
    assert code == 1 and records == []
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: unreadable document {path}: ")
    assert message in line


def test_missing_file_and_bad_options(tmp_path, capsys) -> None:
    code, _, err = run_cli([str(tmp_path / "missing.html")], capsys)
    assert code == 1 and err.strip() == f"error: no such file: {tmp_path / 'missing.html'}"
    code, _, err = run_cli([str(tmp_path / "x"), "--kind", "brochure"], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    code, _, err = run_cli([str(tmp_path / "x"), "--lang", "english"], capsys)
    assert code == 1 and "--lang" in err


def test_oversized_documents_are_refused() -> None:
    """Decompression-bomb guards: a PDF with more pages than the cap, a body over the size cap."""
    from scrapers.extract.document import MAX_BODY_BYTES, extract_document
    from scrapers.extract.errors import UnreadableDocument
    from scrapers.extract.pdf import MAX_PAGES

    writer = PdfWriter()
    for _ in range(MAX_PAGES + 1):
        writer.add_blank_page(width=10, height=10)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocument, match=f"more than {MAX_PAGES}"):
        extract_document(buffer.getvalue())
    with pytest.raises(UnreadableDocument, match="bytes, more than"):
        extract_document(b"<html><body><p>x</p>" + b" " * MAX_BODY_BYTES)
