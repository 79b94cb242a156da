"""eu_eucles_labels: EUCLES's news listing and its July-September 2024 labelling post, offline.

Both recordings are reconstructed (tests/fixtures/eu_eucles_labels/index.json): the post from its
page text (an excerpt that stops inside the fifth Gold cluster's description), the listing as the
smallest page linking to it. Variants below are modified copies of these recordings.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.clean import clean_clusters, clean_recognitions
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.registry import get_source, load_registry
from scrapers.spiders.eu_eucles_labels import (
    LayoutChanged,
    dash_acronym,
    flag_country,
    parse_announcement,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SOURCE_ID = "eu_eucles_labels"
POST_URL = "https://eucles.be/july-august-and-september-2024-labellised-clusters"
POST = FIXTURES / SOURCE_ID / "july-august-and-september-2024-labellised-clusters.html"
LISTING = FIXTURES / SOURCE_ID / "news.html"
CLUSTERS = {
    "Allianz Faserbasierte Werkstoffe – AFBW e.V.": ("DE", "AFBW"),
    "TREC – Transylvania Energy Cluster": ("RO", "TREC"),
    "Food & Bio Cluster Denmark": ("DK", None),
    "Energy Cluster Denmark": ("DK", None),
    "Techtera": ("FR", None),
}


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


def by_entity(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out.setdefault(record["entity"], []).append(record)
    return out


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(SOURCE_ID) / "run.jsonl"
    proc = crawl(out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def records(run: Path) -> dict[str, list[dict]]:
    return by_entity(run)


def edit(recordings: Path, name: str, old: str, new: str) -> None:
    page = recordings / SOURCE_ID / name
    html = page.read_text(encoding="utf-8")
    assert old in html
    page.write_text(html.replace(old, new), encoding="utf-8")


# --- flags and acronyms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "code"), [("🇩🇪", "DE"), ("🇷🇴", "RO"), ("🇩🇰", "DK"), ("🇫🇷", "FR"), ("🇪🇺", "EU")]
)
def test_flag_emoji_to_its_two_letters(flag, code):
    assert flag_country(flag) == code


@pytest.mark.parametrize("text", ["DE", "🇩", "🇩🇪🇩", "🏴"])
def test_anything_but_a_flag_pair_is_refused(text):
    with pytest.raises(ValueError, match="not a flag emoji"):
        flag_country(text)


def test_dash_acronym():
    assert dash_acronym("Allianz Faserbasierte Werkstoffe – AFBW e.V.") == "AFBW"
    assert dash_acronym("TREC – Transylvania Energy Cluster") == "TREC"
    assert dash_acronym("Food & Bio Cluster Denmark") is None


# --- the recorded crawl --------------------------------------------------------------------------


def test_the_listing_is_crawled_first_and_the_post_found_from_it(records):
    assert [d["url"] for d in records["documents"]] == [
        get_source(SOURCE_ID).start_urls[0],
        POST_URL,
    ]
    assert all(d["reconstructed"] for d in records["documents"])


def test_five_gold_clusters_listed_with_country_acronym_description(records):
    clusters = records["clusters"]
    assert [c["name"] for c in clusters] == list(CLUSTERS)
    for c in clusters:
        country, acronym = CLUSTERS[c["name"]]
        assert c["country"] == country and c.get("acronym") == acronym
        assert c["labels"] == ["Gold"] and c["source_url"] == POST_URL
    assert clusters[3]["description"] == (
        "Energy Cluster Denmark is Denmark’s cluster organisation for the entire energy sector. "
        "His vision is for Denmark to be a leading green nation in the development and "
        "demonstration of innovative and global energy solutions."
    )
    # The excerpt stops inside Techtera's description: kept as recorded, flagged.
    assert clusters[4]["description"].endswith("the influence of the French textile in")
    assert clusters[4]["quality_flags"] == [
        "description_ends_mid_sentence: cut on the page or its copy"
    ]
    assert not any(c.get("quality_flags") for c in clusters[:4])


def test_one_gold_label_per_cluster_dated_2024_with_the_counts_flagged(records):
    labels = records["recognitions"]
    assert [r["cluster_name"] for r in labels] == list(CLUSTERS)
    for r in labels:
        assert (r["kind"], r["name"], r["level"], r["awarded_by"], r["year"]) == (
            "label",
            "Cluster Management Excellence Label",
            "Gold",
            "EUCLES",
            2024,
        )
        # Months are stated per group and no validity is stated: no day, no period.
        assert not {"valid_from", "valid_to", "as_of"} & set(r)
        assert r["evidence"] == (
            "EUCLES announcement: 8 clusters have been awarded the Gold "
            "label in July, August and September 2024"
        )
        assert r["evidence_url"] == POST_URL
        assert r["quality_flags"] == [
            "announced_8_listed_5: the post says 8 clusters got the Gold label and lists 5",
            "announced_20_listed_5: the post announces 20 labelled clusters overall (4 in July, "
            "7 in August, 9 in September) and lists 5",
        ]


def test_rows_are_valid_after_cleaning(run):
    frames = read_run(SOURCE_ID, run)
    registry = load_registry()
    clusters = clean_clusters(frames["clusters"], registry)
    labels = clean_recognitions(frames["recognitions"], registry)
    assert clusters.rejected.height == 0 and labels.rejected.height == 0
    valid_clusters = validate_entity("clusters", clusters.frame)
    valid_labels = validate_entity("recognitions", labels.frame)
    assert valid_clusters.quarantined.height == 0 and valid_labels.quarantined.height == 0
    assert valid_clusters.valid.height == 5 and valid_labels.valid.height == 5
    assert set(valid_labels.valid["cluster_id"]) == set(valid_clusters.valid["cluster_id"])
    assert valid_labels.valid["level"].to_list() == ["Gold"] * 5


# --- sections and posts the recording does not have (modified copies) ----------------------------


def test_a_silver_section_maps_through_the_yaml_levels(recordings_copy, tmp_path):
    edit(recordings_copy, POST.name, "<h2>1. The GOLD Label</h2>", "<h2>1. The SILVER Label</h2>")
    edit(recordings_copy, POST.name, "awarded the Gold label", "awarded the Silver label")
    out = tmp_path / "run.jsonl"
    assert crawl(out, recordings_copy).returncode == 0
    records = by_entity(out)
    assert {r["level"] for r in records["recognitions"]} == {"Silver"}
    assert {tuple(c["labels"]) for c in records["clusters"]} == {("Silver",)}


def test_an_unknown_level_fails_the_crawl(recordings_copy, tmp_path):
    edit(recordings_copy, POST.name, "1. The GOLD Label", "1. The PLATINUM Label")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert "unknown label levels ['PLATINUM']" in out.with_suffix(".log").read_text("utf-8")


def test_a_cluster_in_two_posts_is_one_cluster_with_two_labels(recordings_copy, tmp_path):
    second = "https://eucles.be/october-2024-labellised-clusters"
    folder = recordings_copy / SOURCE_ID
    shutil.copy(POST, folder / "october.html")
    edit(recordings_copy, "october.html", "September 2024:", "October 2025:")
    index = json.loads((folder / "index.json").read_text())
    index["responses"].append({**index["responses"][1], "url": second, "file": "october.html"})
    (folder / "index.json").write_text(json.dumps(index))
    edit(recordings_copy, LISTING.name, "</article>", f'<a href="{second}">October</a></article>')
    out = tmp_path / "run.jsonl"
    assert crawl(out, recordings_copy).returncode == 0
    records = by_entity(out)
    assert len(records["clusters"]) == 5
    assert sorted({r["year"] for r in records["recognitions"]}) == [2024, 2025]
    assert len(records["recognitions"]) == 10


# --- layout changes fail loudly -----------------------------------------------------------------


def test_a_post_with_no_labelled_cluster_fails_the_crawl(recordings_copy, tmp_path):
    folder = recordings_copy / SOURCE_ID
    html = (folder / POST.name).read_text(encoding="utf-8")
    kept = [line for line in html.splitlines() if not line.startswith("<h3>")]
    (folder / POST.name).write_text("\n".join(kept), encoding="utf-8")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {SOURCE_ID}: 1 errors logged"
    assert f"layout changed at {POST_URL}: 0 labelled clusters" in out.with_suffix(
        ".log"
    ).read_text("utf-8")
    assert not out.exists()


def test_a_listing_with_no_announcement_link_fails_the_crawl(recordings_copy, tmp_path):
    edit(recordings_copy, LISTING.name, POST_URL, "https://eucles.be/about/")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    log = out.with_suffix(".log").read_text("utf-8")
    assert "layout changed at https://eucles.be/news/: no link matches" in log


def test_parse_refuses_a_section_with_no_dated_award_sentence():
    html = POST.read_text(encoding="utf-8").replace("8 clusters have been awarded", "8 got")
    with pytest.raises(LayoutChanged, match="GOLD section states no"):
        parse_announcement(html)
