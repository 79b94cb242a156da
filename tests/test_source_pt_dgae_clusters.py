"""pt_dgae_clusters: reward.pt's post on the 2025 list of 21 Competitiveness Clusters, offline.

The recording is reconstructed from the post's text (tests/fixtures/pt_dgae_clusters/index.json);
its visible text is the page text, line for line.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.clean import clean_clusters, clean_recognitions
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.extract import UnmatchedName
from scrapers.registry import get_source, load_registry
from scrapers.spiders.pt_dgae_clusters import LayoutChanged, dash_acronym, parse_recognised_list

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SOURCE_ID = "pt_dgae_clusters"
PAGE = FIXTURES / SOURCE_ID / "reconhecidos-quatro-novos-clusters-de-competitividade.html"
URL = "https://reward.pt/reconhecidos-quatro-novos-clusters-de-competitividade/"
NAMES = [
    "Cluster AEC",
    "Cluster AED",
    "Cluster Automóvel",
    "Cluster do Calçado e Moda",
    "Cluster Habitat Sustentável",
    "Cluster do Mar Português",
    "Cluster da Petroquímica, Química Industrial e Refinação",
    "Cluster da Plataforma Ferroviária Portuguesa",
    "Portuguese Agrofood Cluster",
    "Cluster PRODUTECH",
    "Cluster Portugal Mineral Resources",
    "Cluster Têxtil: Tecnologia e Moda",
    "Cluster TICE.PT",
    "Cluster do Turismo",
    "Cluster da Vinha e do Vinho",
    "Engineering & Tooling Cluster",
    "Health Cluster Portugal",
    "Cluster das Baterias",
    "ITD Cluster Portugal – Indústrias e Tecnologias do Desporto",
    "CIC – Cluster Indústrias Culturais e Criativas",
    "Cluster Portuguese Curcularity",
]
NEW = NAMES[-4:]


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
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(SOURCE_ID) / "run.jsonl"
    proc = crawl(out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def records(run: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for line in run.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out.setdefault(record["entity"], []).append(record)
    return out


def test_the_start_url_is_the_post_whose_text_we_have():
    assert get_source(SOURCE_ID).start_urls == (URL,)
    (entry,) = json.loads((FIXTURES / SOURCE_ID / "index.json").read_text())["responses"]
    assert entry["url"] == URL and entry["reconstructed"] and entry["url_verified"]


def test_21_clusters_named_as_published(records):
    clusters = records["clusters"]
    assert [c["name"] for c in clusters] == NAMES
    assert {c["country"] for c in clusters} == {"PT"}
    assert all(c["source_url"] == URL for c in clusters)


def test_acronyms_only_where_the_name_states_one_beside_a_dash(records):
    acronyms = {c["name"]: c.get("acronym") for c in records["clusters"]}
    assert {n: a for n, a in acronyms.items() if a} == {NEW[1]: "ITD", NEW[2]: "CIC"}
    assert dash_acronym("Cluster AEC") is None
    assert dash_acronym("Cluster Têxtil: Tecnologia e Moda") is None


def test_the_list_typo_is_kept_with_the_other_spelling_as_alias(records):
    by_name = {c["name"]: c for c in records["clusters"]}
    circ = by_name["Cluster Portuguese Curcularity"]
    assert circ["aliases"] == ["Cluster Portuguese Circularity"]
    assert circ["quality_flags"][0].startswith("name_spelling_differs:")
    assert [n for n, c in by_name.items() if c.get("quality_flags") or c.get("aliases")] == [
        "Cluster Portuguese Curcularity"
    ]


def test_four_new_clusters_recognised_by_the_committee_on_28_february_2025(records):
    recognitions = {r["cluster_name"]: r for r in records["recognitions"]}
    assert len(records["recognitions"]) == 21 and set(recognitions) == set(NAMES)
    for name in NEW:
        r = recognitions[name]
        assert r["kind"] == "recognition" and r["name"] == "Competitiveness Cluster"
        assert r["awarded_by"] == "Comissão de Avaliação"
        assert r["as_of"] == "2025-02-28"
        assert "year" not in r and "valid_from" not in r and "valid_to" not in r
        # The act as the post states it (not SOURCES.md's Despacho 2784/2025), with the cycle.
        assert r["evidence"] == "Despacho n.º 1172/2024, de 31 de janeiro (cycle 2024-2030)"
        assert r["evidence_url"] == URL and "quality_flags" not in r
    by_name = {c["name"]: c for c in records["clusters"]}
    assert by_name[NEW[0]]["recognitions"] == [
        "Competitiveness Cluster 2024-2030 (Comissão de Avaliação, 2025)"
    ]


def test_the_other_17_are_dated_by_year_with_no_act_or_body(records):
    recognitions = {r["cluster_name"]: r for r in records["recognitions"]}
    for name in NAMES[:17]:
        r = recognitions[name]
        assert r["year"] == 2025 and "as_of" not in r and "awarded_by" not in r
        assert r["evidence"] == (
            "A atual lista de Clusters de Competitividade reconhecidos (no act named)"
        )
        assert r["quality_flags"][0].startswith("year_from_announcement:")
    assert {c["recognitions"][0] for c in records["clusters"][:17]} == {
        "Competitiveness Cluster (2025)"
    }


def test_rows_are_valid_after_cleaning(run):
    frames = read_run(SOURCE_ID, run)
    registry = load_registry()
    clusters = clean_clusters(frames["clusters"], registry)
    recognitions = clean_recognitions(frames["recognitions"], registry)
    assert clusters.rejected.height == 0 and recognitions.rejected.height == 0
    valid_clusters = validate_entity("clusters", clusters.frame)
    valid_recognitions = validate_entity("recognitions", recognitions.frame)
    assert valid_clusters.quarantined.height == 0 and valid_recognitions.quarantined.height == 0
    assert valid_clusters.valid.height == 21 and valid_recognitions.valid.height == 21
    # Every recognition links to a cluster row of the same source.
    assert set(valid_recognitions.valid["cluster_id"]) == set(valid_clusters.valid["cluster_id"])
    assert "pt_dgae_clusters:cluster-automóvel" in set(valid_clusters.valid["cluster_id"])


def test_parse_refuses_a_stated_count_that_differs_from_the_names():
    html = PAGE.read_text(encoding="utf-8").replace("reconheceu quatro", "reconheceu cinco")
    with pytest.raises(LayoutChanged, match="states cinco new clusters"):
        parse_recognised_list(html)


def test_parse_refuses_a_new_cluster_missing_from_the_list():
    html = PAGE.read_text(encoding="utf-8").replace("<li>Cluster das Baterias</li>\n", "")
    with pytest.raises(UnmatchedName, match="Cluster das Baterias"):
        parse_recognised_list(html)


def test_a_post_without_the_list_fails_the_crawl_with_the_reason(recordings_copy, tmp_path):
    page = recordings_copy / SOURCE_ID / PAGE.name
    html = page.read_text(encoding="utf-8")
    page.write_text(html[: html.index("<ul>")] + html[html.index("</ul>") + 5 :], "utf-8")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {SOURCE_ID}: 1 errors logged"
    log = out.with_suffix(".log").read_text(encoding="utf-8")
    assert f"layout changed at {URL}: no list of clusters after the list paragraph" in log
    assert not out.exists()
