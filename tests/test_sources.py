"""One generic test per source: recorded responses in, expected records out, records valid,
counts inside the YAML bounds, provenance on every row."""

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.clean import (
    clean_calls,
    clean_clusters,
    clean_participants,
    clean_projects,
    clean_recognitions,
)
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
REGISTRY = load_registry()
CLEANERS = {
    "clusters": lambda f: clean_clusters(f, REGISTRY),
    "recognitions": lambda f: clean_recognitions(f, REGISTRY),
    "projects": lambda f: clean_projects(f, REGISTRY),
    "participants": lambda f: clean_participants(f, REGISTRY),
    "calls": lambda f: clean_calls(f, REGISTRY, today=dt.date(2026, 11, 23)),
}


def crawl(source_id: str, out: Path, recordings: Path = FIXTURES) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", source_id, "--out", str(out), "--offline",
         "--recordings", str(recordings), "--log-file", str(out.with_suffix(".log"))],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def canonical(records: list[dict]) -> list[str]:
    """Records as sorted JSON; a bulk file's path is relative to its run, so the run's own
    name is left out of the comparison."""
    out = []
    for r in records:
        if r.get("entity") == "files":
            r = {**r, "path": r["path"].split("/", 1)[-1]}
        out.append(json.dumps(r, sort_keys=True, ensure_ascii=False))
    return sorted(out)


@pytest.fixture(scope="module", params=sorted(REGISTRY))
def crawled(request, tmp_path_factory):
    source_id = request.param
    out = tmp_path_factory.mktemp(source_id) / "run.jsonl"
    proc = crawl(source_id, out)
    assert proc.returncode == 0, proc.stderr
    return source_id, out


def test_records_match_expected(crawled):
    source_id, out = crawled
    expected = lines(FIXTURES / source_id / "expected.jsonl")
    assert canonical(lines(out)) == canonical(expected)


def test_provenance_on_every_row(crawled):
    source_id, out = crawled
    index = json.loads((FIXTURES / source_id / "index.json").read_text())
    bodies = {hashlib.sha256((FIXTURES / source_id / e["file"]).read_bytes()).hexdigest(): e
              for e in index["responses"]}
    for record in lines(out):
        assert record["source_id"] == source_id
        assert record["document_sha256"] in bodies
        url_field = "source_url" if record["entity"] not in ("documents", "files") else "url"
        assert record[url_field] == bodies[record["document_sha256"]]["url"]
        assert record["fetched_at"] == bodies[record["document_sha256"]]["fetched_at"]
    # Rows parsed out of bulk files carry the file's provenance too.
    for entity, frame in read_run(source_id, out).items():
        if entity == "documents" or frame.height == 0:
            continue
        assert frame["source_id"].unique().to_list() == [source_id], entity
        assert set(frame["document_sha256"]) <= set(bodies), entity
        assert frame["source_url"].null_count() == 0 and frame["fetched_at"].null_count() == 0


def expected_quarantine(source_id: str) -> dict[str, set[str]]:
    """Rows a fixture breaks on purpose (to show a quirk is caught), by entity and record key:
    tests/fixtures/<slug>/expected_quarantine.json; none when the file is absent."""
    path = FIXTURES / source_id / "expected_quarantine.json"
    if not path.exists():
        return {}
    return {entity: set(keys) for entity, keys in json.loads(path.read_text()).items()}


def test_records_are_valid_and_within_bounds(crawled):
    source_id, out = crawled
    frames = read_run(source_id, out)
    spec = REGISTRY[source_id]
    on_purpose = expected_quarantine(source_id)
    for entity, clean in CLEANERS.items():
        cleaned = clean(frames[entity])
        result = validate_entity(entity, cleaned.frame)
        refused = set(cleaned.rejected["record_key"]) | set(result.quarantined["record_key"])
        assert refused == on_purpose.get(entity, set()), (cleaned.rejected, result.quarantined)
        bounds = spec.expected_rows.get(entity)
        if bounds:
            assert bounds.min <= result.valid.height <= (bounds.max or 10**9), entity
        elif entity not in spec.entity_kinds:
            assert result.valid.height == 0, f"{source_id} yields undeclared {entity}"
