"""Consistency: one slug names a YAML, a spider and a fixture folder; registry errors are clear."""

import importlib
import json
from pathlib import Path

import pytest

from scrapers.registry import SOURCES_DIR, RegistryError, load_registry, load_source

ROOT = Path(__file__).resolve().parents[1]
SPIDERS = ROOT / "scrapers" / "spiders"
FIXTURES = ROOT / "tests" / "fixtures"
REGISTRY = load_registry()


def test_registry_is_not_empty():
    assert len(REGISTRY) >= 5


def test_every_spider_module_has_a_yaml():
    modules = {p.stem for p in SPIDERS.glob("*.py") if p.stem != "__init__"}
    assert modules == set(REGISTRY)


@pytest.mark.parametrize("source_id", sorted(REGISTRY))
def test_source_has_spider_and_fixtures(source_id):
    module = importlib.import_module(f"scrapers.spiders.{source_id}")
    spiders = [v for v in vars(module).values()
               if isinstance(v, type) and getattr(v, "name", None) == source_id]
    assert len(spiders) == 1, "one spider class whose name is the slug"
    assert spiders[0].__doc__, "every spider class names the page it reads"
    assert spiders[0].parse.__doc__, "every parse callback names the page it reads"
    index = json.loads((FIXTURES / source_id / "index.json").read_text())
    assert index["source_id"] == source_id
    for entry in index["responses"]:
        assert (FIXTURES / source_id / entry["file"]).is_file(), entry["file"]
        assert entry["fetched_at"].endswith("Z")
        if entry.get("reconstructed"):
            assert "reconstructed" in entry["note"], "reconstructed recordings say so"
    assert (FIXTURES / source_id / "expected.jsonl").is_file()
    urls = {e["url"] for e in index["responses"]}
    assert set(REGISTRY[source_id].start_urls) <= urls, "every start URL is recorded"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


GOOD = """
title: T
publisher: P
homepage: https://example.org/
licence: CC BY 4.0
entity_kinds: [calls]
start_urls: [https://example.org/calls]
cadence: weekly
expected_rows: {calls: {min: 1, max: 10}}
"""


def test_good_yaml_loads(tmp_path):
    spec = load_source(write(tmp_path, "eu_example_calls", GOOD))
    assert spec.source_id == "eu_example_calls"
    assert spec.expected_rows["calls"].max == 10


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("Example", GOOD, "slug"),
        ("eu_example_calls", GOOD.replace("cadence: weekly", "cadence: hourly"), "cadence"),
        ("eu_example_calls", GOOD.replace("[calls]", "[grants]"), "entity kinds"),
        ("eu_example_calls", GOOD.replace("title: T\n", ""), "missing title"),
        ("eu_example_calls", GOOD.replace("max: 10", "max: 0"), "min <= max"),
        ("eu_example_calls", "title: [unclosed", "not valid YAML"),
    ],
)
def test_bad_yaml_is_refused_with_reason(tmp_path, name, text, message):
    with pytest.raises(RegistryError, match=message):
        load_source(write(tmp_path, name, text))


def test_sources_dir_is_the_packaged_one():
    assert SOURCES_DIR == ROOT / "scrapers" / "sources"


def test_an_edited_yaml_is_read_as_it_is_now(tmp_path):
    """Parsed YAML is cached by content: the same file rewritten (same size, same second) is
    read anew, and a caller changing its spec does not change the next caller's."""
    path = write(tmp_path, "eu_example_calls", GOOD + "lookups: {roles: {Lead: partner}}\n")
    first = load_source(path)
    first.lookups["roles"]["Lead"] = "changed by a caller"
    assert load_source(path).lookup("roles") == {"Lead": "partner"}
    path.write_text(GOOD.replace("title: T", "title: U") + "lookups: {roles: {Lead: advisor}}\n")
    again = load_source(path)
    assert (again.title, again.lookup("roles")) == ("U", {"Lead": "advisor"})
