"""Every extractor on the fixture rebuilt from its seed page, field by field."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfWriter

from scrapers.extract import (
    UnmatchedName,
    UnreadableDocument,
    match_names,
    parse_call_announcement,
    parse_cluster_list_deck,
    parse_partnership_page,
    parse_project_sheet,
    pdf_text,
)

FIXTURES = Path(__file__).parent / "fixtures"
SOURCES = [
    "pt_ticept_projects",
    "pt_iapmei_clusters",
    "it_trentino_calls",
    "es_igape_projects",
    "eu_escp4i_projects",
]
PROJECT_KEYS = {
    "record_type", "title", "acronym", "reference", "lead_organisation", "programme",
    "programmes", "funds", "operation_type", "total_eligible_eur", "eu_contribution_eur",
    "cofinancing_rate", "start_date", "end_date", "regions", "description", "website",
    "participants", "url", "lang", "quality_flags",
}
PARTICIPANT_KEYS = {"name", "role", "role_as_published", "country", "work_packages_led"}


def recorded(source_id: str) -> tuple[bytes, str]:
    """Body and URL of a source's only recorded response."""
    index = json.loads((FIXTURES / source_id / "index.json").read_text("utf-8"))
    (response,) = index["responses"]
    return (FIXTURES / source_id / response["file"]).read_bytes(), response["url"]


@pytest.mark.parametrize("source_id", SOURCES)
def test_index_describes_its_recordings(source_id: str) -> None:
    index = json.loads((FIXTURES / source_id / "index.json").read_text("utf-8"))
    assert index["source_id"] == source_id
    for response in index["responses"]:
        assert (FIXTURES / source_id / response["file"]).is_file()
        assert response["url"].startswith("https://")
        assert response["status"] == 200 and response["method"] == "GET"
        assert response["reconstructed"] is True
        assert isinstance(response["url_verified"], bool)
        assert "Content-Type" in response["headers"]
        assert response["note"]


# -- seed 000: the TICE.PT project sheet -------------------------------------------------------


@pytest.fixture(scope="module")
def connection() -> dict[str, Any]:
    return parse_project_sheet(*recorded("pt_ticept_projects"))


def test_project_sheet_fields(connection: dict[str, Any]) -> None:
    r = connection
    assert set(r) == PROJECT_KEYS
    assert r["record_type"] == "project"
    assert r["title"] == "CONNECTION"
    assert r["acronym"] is None
    assert r["reference"] == "113241"
    assert r["lead_organisation"] == "TICE.PT"
    assert r["operation_type"] == (
        "Sistema de Apoio a Ações Coletivas - Redes e outras formas de parceria e cooperação "
        "CLUSTERS DE COMPETITIVIDADE"
    )
    assert r["total_eligible_eur"] == 202494.82
    assert r["eu_contribution_eur"] == 101247.41
    assert r["cofinancing_rate"] is None  # not stated; derived downstream
    assert r["start_date"] == "2020-12-28"
    assert r["end_date"] == "2022-07-27"
    assert r["regions"] == ["Centro", "Norte", "Alentejo"]
    assert r["programmes"] == ["COMPETE 2020", "P2020"]
    assert r["programme"] == "COMPETE 2020"
    assert r["funds"] == ["ERDF"]
    assert r["description"].startswith("Both cluster TICE.PT and the ICTe Sector, reinforcement")
    assert r["description"].endswith("PRR, circular economy and the Green Deal.")
    assert r["website"] is None
    assert r["participants"] == []
    assert r["url"] == "https://tice.pt/en/projects-and-studies/connection"
    assert r["lang"] == "en"


def test_malformed_amount_is_kept_and_flagged(connection: dict[str, Any]) -> None:
    (flag,) = connection["quality_flags"]
    assert flag.startswith("eu_contribution_eur")
    assert "101.247.41€" in flag


def test_project_sheet_reads_table_and_dl_markup_alike() -> None:
    html = """<html lang="pt"><body>
    <table><tr><th>Designação do projeto</th><td>Exemplo</td></tr>
    <tr><th>Investimento total elegível</th><td>1.234,56 €</td></tr>
    <tr><th>Taxa de cofinanciamento</th><td>85%</td></tr></table>
    <dl><dt>Data de início</dt><dd>01.02.2021</dd>
    <dt>Cofinanciado por</dt><dd>NORTE 2020, FEDER e FSE</dd>
    <dt>Região de intervenção</dt><dd>Trás-os-Montes e Alto Douro</dd>
    <dt>Investimento elegível adicional</dt><dd>1.000 €</dd></dl></body></html>"""
    r = parse_project_sheet(html, "https://example.org/p")
    assert r["title"] == "Exemplo"
    assert r["total_eligible_eur"] == 1234.56
    assert r["cofinancing_rate"] == 0.85
    assert r["start_date"] == "2021-02-01"
    assert r["programmes"] == ["NORTE 2020"] and r["funds"] == ["ERDF", "ESF"]
    assert r["regions"] == ["Trás-os-Montes e Alto Douro"]
    # An unknown label is not guessed into a known field by its prefix.
    assert r["quality_flags"] == []


def test_project_sheet_refuses_a_lying_charset() -> None:
    body = '<html><head><meta charset="utf-8"></head><body>Promotor | Ação</body></html>'
    with pytest.raises(UnreadableDocument):
        parse_project_sheet(body.encode("latin-1"), "https://example.org/p")


# -- seed 001: the IAPMEI deck ----------------------------------------------------------------


@pytest.fixture(scope="module")
def deck() -> dict[str, Any]:
    body, _ = recorded("pt_iapmei_clusters")
    return parse_cluster_list_deck(pdf_text(body))


def test_deck_fixture_is_a_small_pdf() -> None:
    body, _ = recorded("pt_iapmei_clusters")
    assert body.startswith(b"%PDF-") and len(body) < 100_000


def test_deck_lists(deck: dict[str, Any]) -> None:
    assert set(deck) == {"recognised", "sectoral_pacts", "recognised_by", "pacts_year"}
    assert len(deck["recognised"]) == 18
    assert len(deck["sectoral_pacts"]) == 16
    assert deck["recognised"][0] == "AED Cluster Portugal - Aeronautics, Space and Defense Cluster"
    assert deck["recognised"][1] == "Cluster AEC – Architecture, Engineering and Construction"
    assert deck["recognised"][-2:] == ["Vine and Wine Cluster", "Tourism Cluster"]
    assert deck["sectoral_pacts"][3] == "Portuguese Maritime Clusters"
    assert deck["sectoral_pacts"][12] == "Produtech Cluster – Production Technologies"
    assert deck["sectoral_pacts"][-1] == "Health Cluster Portugal"
    assert deck["recognised_by"] == "IAPMEI"
    assert deck["pacts_year"] == 2019


def test_every_pact_matches_one_recognised_cluster(deck: dict[str, Any]) -> None:
    matched = match_names(deck["sectoral_pacts"], deck["recognised"], threshold=90)
    assert list(matched) == deck["sectoral_pacts"]
    assert matched["Portuguese Maritime Clusters"] == "Portuguese Maritime Cluster"
    unmatched = set(deck["recognised"]) - set(matched.values())
    assert unmatched == {"Vine and Wine Cluster", "Tourism Cluster"}


def test_an_unmatched_name_raises(deck: dict[str, Any]) -> None:
    with pytest.raises(UnmatchedName, match="Space Cluster Iberia"):
        match_names([*deck["sectoral_pacts"], "Space Cluster Iberia"], deck["recognised"])


def test_deck_count_mismatch_raises(deck: dict[str, Any]) -> None:
    body, _ = recorded("pt_iapmei_clusters")
    text = pdf_text(body).replace("Health Cluster Portugal\nSetoral", "Setoral")
    with pytest.raises(ValueError, match="sixteen"):
        parse_cluster_list_deck(text)


def test_pdf_text_refuses_encrypted_pdfs() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocument, match="encrypted"):
        pdf_text(buffer.getvalue())


def test_pdf_text_refuses_non_pdf_and_empty_pdfs() -> None:
    with pytest.raises(UnreadableDocument, match="not a PDF"):
        pdf_text(b"<html><body>Not found</body></html>")
    with pytest.raises(UnreadableDocument):
        pdf_text(b"")
    with pytest.raises(UnreadableDocument):
        pdf_text(b"%PDF-1.7\n garbage")
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(UnreadableDocument, match="no text"):
        pdf_text(buffer.getvalue())


# -- seed 002: the Trentino news page about a COSME call --------------------------------------


def test_call_announcement_fields() -> None:
    r = parse_call_announcement(*recorded("it_trentino_calls"))
    assert set(r) == {
        "record_type", "title", "identifier", "programme", "publisher", "call_type",
        "opening_date", "deadline_date", "budget_eur", "eligible_applicants", "topics",
        "description", "url", "lang", "quality_flags",
    }
    assert r["record_type"] == "call"
    assert r["title"] == (
        "Call for expression of interest for the creation of strategic cluster partnership for "
        "smart specialisation investments"
    )
    assert r["identifier"] is None
    assert r["programme"] == "COSME"
    assert r["publisher"] == "European Commission"
    assert r["call_type"] == "call_for_expression_of_interest"
    assert r["opening_date"] is None  # "today" is not a date
    assert r["deadline_date"] is None
    assert r["budget_eur"] is None
    assert r["eligible_applicants"] == [
        "cluster organisations",
        "other business network organisations",
        "technology centres",
        "science parks",
    ]
    assert r["topics"] == [
        "Key Enabling Technologies", "ICT", "service innovation", "resource efficiency",
    ]
    assert r["description"].startswith("The European Commission has launched today a call")
    assert r["url"].startswith("https://www.europa.provincia.tn.it/")
    assert r["lang"] == "en"
    assert r["quality_flags"] == []


def test_call_title_prefers_the_headline() -> None:
    html = (
        "<html><body><h1>Cluster partnerships: call open</h1><p>The European Commission has "
        "launched a call for proposals on clusters. The deadline is 15 de julho de 2021 and "
        "the budget is EUR 1,5 Mio.</p></body></html>"
    )
    r = parse_call_announcement(html, "https://example.org/c")
    assert r["title"] == "Cluster partnerships: call open"
    assert r["call_type"] == "call_for_proposals"
    assert r["deadline_date"] == "2021-07-15"
    assert r["budget_eur"] == 1500000


# -- seed 003: the IGAPE newsletter page about ATCLUSTERS -------------------------------------


@pytest.fixture(scope="module")
def atclusters() -> dict[str, Any]:
    return parse_partnership_page(*recorded("es_igape_projects"))


def test_atclusters_project(atclusters: dict[str, Any]) -> None:
    r = atclusters
    assert PROJECT_KEYS <= set(r)
    assert r["acronym"] == "ATCLUSTERS"
    assert r["title"] == "CLUSTERS IN ATLANTIC AREA"  # as published, not re-cased
    assert r["website"] == "http://www.atcluster.org"
    assert r["lead_organisation"] is None  # the page does not say who leads
    assert r["reference"] is None and r["programme"] is None and r["programmes"] == []
    assert r["funds"] == [] and r["regions"] == []
    assert r["total_eligible_eur"] is None and r["eu_contribution_eur"] is None
    assert r["start_date"] is None and r["end_date"] is None
    assert r["description"].startswith("1- From an external point of view")
    assert r["lang"] == "en"
    assert r["quality_flags"] == []


def test_atclusters_actors(atclusters: dict[str, Any]) -> None:
    participants = atclusters["participants"]
    assert all(set(p) == PARTICIPANT_KEYS for p in participants)
    assert [(p["name"], p["country"]) for p in participants] == [
        ("Portugal Foods", None),
        ("CLUSAGA", "ES"),
        ("ADDICT", "PT"),
        ("CLAG", "ES"),
        ("IGAPE", None),
    ]
    assert all(p["role"] is None and p["role_as_published"] is None for p in participants)
    assert all(p["work_packages_led"] == [] for p in participants)
    mentioned = {m["name"]: m["kind"] for m in atclusters["mentioned"]}
    assert mentioned == {
        "ATC4 Excellence": "project",
        "European Creative Districts": "call",
        "ERRIN": "network",
        "ECA": "network",
    }


# -- seed 004: the ESCP-4i page ----------------------------------------------------------------


def test_escp4i_project_and_partners() -> None:
    r = parse_partnership_page(*recorded("eu_escp4i_projects"))
    assert PROJECT_KEYS <= set(r)
    assert r["acronym"] == "ESCP-4i"
    assert r["title"] == "European Strategic Cluster Partnership – Going International"
    assert r["lead_organisation"] == "Pole SCS"
    assert r["website"] is None
    assert r["description"].startswith("The main objective of the project is to build-up")
    assert r["lang"] == "en"
    assert r["mentioned"] == []
    assert r["participants"] == [
        {"name": "Pole SCS", "role": "coordinator",
         "role_as_published": "Coordinator and WP 5 leader", "country": None,
         "work_packages_led": ["WP5"]},
        {"name": "Basquegame", "role": "partner", "role_as_published": "WP 1 leader",
         "country": None, "work_packages_led": ["WP1"]},
        {"name": "TICE.PT", "role": "partner", "role_as_published": "WP 2 leader",
         "country": None, "work_packages_led": ["WP2"]},
        {"name": "BalticNet-PlasmaTec", "role": "partner", "role_as_published": "WP 3 leader",
         "country": None, "work_packages_led": ["WP3"]},
        {"name": "MESAP", "role": "partner", "role_as_published": "WP 4 leader",
         "country": None, "work_packages_led": ["WP4"]},
    ]
    # The page says 6 clusters and names 5: recorded, not papered over.
    assert r["quality_flags"] == ["participants: the page states 6 participants but names 5"]
