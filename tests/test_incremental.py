"""Incremental refresh: one crawl process for many sources (each source's run file, summary line
and failure its own, exactly as when crawled alone), and the no-change fast path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines import incremental
from pipelines.crawling import crawl_sources
from pipelines.layout import DataLayout
from tests.conftest import refetch_later, run_refresh

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
GOOD, BROKEN = "it_trentino_calls", "pt_ticept_projects"


def crawl(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", *args], capture_output=True, text=True,
        check=False, cwd=ROOT, timeout=120,
    )


def test_one_process_writes_what_separate_processes_write(tmp_path):
    alone = tmp_path / "alone.jsonl"
    single = crawl([GOOD, "--out", str(alone), "--offline", "--recordings", str(FIXTURES)])
    assert single.returncode == 0
    proc = crawl([GOOD, BROKEN, "--out", str(tmp_path / "{source_id}.jsonl"), "--offline",
                  "--recordings", str(FIXTURES)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert sorted(ln["source_id"] for ln in lines) == sorted([GOOD, BROKEN])
    assert sorted((tmp_path / f"{GOOD}.jsonl").read_text().splitlines()) == sorted(
        alone.read_text().splitlines()
    )


def test_a_broken_source_fails_alone_in_the_shared_process(recordings_copy, tmp_path):
    (recordings_copy / BROKEN / "connection.html").write_text("<html></html>", encoding="utf-8")
    layout = DataLayout(tmp_path / "data")
    done: list[str] = []
    results, failures = crawl_sources(
        [GOOD, BROKEN], layout, offline=True, recordings=recordings_copy, on_done=done.append
    )
    assert [r.source_id for r in results] == [GOOD] and results[0].out.is_file()
    assert list(failures) == [BROKEN] and not failures[BROKEN].deferred
    assert "items" in str(failures[BROKEN]) and "log: " in str(failures[BROKEN])
    assert sorted(done) == sorted([GOOD, BROKEN])
    assert layout.latest_raw(BROKEN) is None


# --- the no-change fast path (pipelines/incremental.py) ----------------------------------------


def _run_file(layout: DataLayout, source_id: str, run_id: str, rows: list[dict]) -> Path:
    path = layout.raw / source_id / f"{run_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROW_A = {"entity": "calls", "source_id": "s", "title": "A", "fetched_at": "2026-01-01T00:00:00Z"}
ROW_B = {"entity": "documents", "document_sha256": "ab", "fetched_at": "2026-01-01T00:00:00Z"}


def test_fingerprint_ignores_what_varies_between_crawls_of_the_same_pages(tmp_path):
    layout = DataLayout(tmp_path)
    _run_file(layout, "s", "20260101T000000000000Z", [ROW_A, ROW_B])
    first = incremental.fingerprint(layout, ["s"], "2026-12-02")
    # A later crawl: new fetched_at, the pages answered in another order.
    later = [{**ROW_B, "fetched_at": "2026-02-02T00:00:00Z"}, {**ROW_A, "fetched_at": "x"}]
    _run_file(layout, "s", "20260202T000000000000Z", later)
    assert incremental.fingerprint(layout, ["s"], "2026-12-02") == first


def test_fingerprint_changes_with_a_value_the_run_date_or_a_new_source(tmp_path):
    layout = DataLayout(tmp_path)
    _run_file(layout, "s", "20260101T000000000000Z", [ROW_A])
    first = incremental.fingerprint(layout, ["s"], "2026-12-02")
    assert incremental.fingerprint(layout, ["s"], "2026-12-03") != first
    assert incremental.fingerprint(layout, ["s", "t"], "2026-12-02") != first
    _run_file(layout, "s", "20260202T000000000000Z", [{**ROW_A, "title": "A moved"}])
    assert incremental.fingerprint(layout, ["s"], "2026-12-02") != first


def test_the_fast_path_needs_the_same_fingerprint_and_the_same_served_file(tmp_path):
    layout = DataLayout(tmp_path)
    layout.published.write_bytes(b"release 1")
    assert incremental.unchanged_since_publish(layout, "f1") is None  # nothing remembered
    incremental.remember_publish(layout, "f1", "run1", released=False)
    assert incremental.unchanged_since_publish(layout, "f1") == "run1"
    # Published with --no-release: a refresh that wants a release must still make it.
    assert incremental.unchanged_since_publish(layout, "f1", need_release=True) is None
    incremental.remember_publish(layout, "f1", "run1", released=True)
    assert incremental.unchanged_since_publish(layout, "f1", need_release=True) == "run1"
    assert incremental.unchanged_since_publish(layout, "f2") is None
    # A rollback or a copy by hand replaces the served file: the build must run again.
    replacement = tmp_path / "other.db"
    replacement.write_bytes(b"release 0")
    replacement.replace(layout.published)
    assert incremental.unchanged_since_publish(layout, "f1") is None
    incremental.remember_publish(layout, "f1", "run2", released=True)
    incremental.forget_publish(layout)
    assert incremental.unchanged_since_publish(layout, "f1") is None
    layout.published.unlink()
    assert incremental.unchanged_since_publish(layout, "f1") is None


def test_an_unchanged_refresh_skips_the_build_and_a_changed_page_does_not(
    recordings_copy: Path, capsys
):
    sources = ("--source", "pt_ticept_projects", "--source", "it_trentino_calls", "--no-release")
    data_dir = recordings_copy.parent / "data"
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *sources) == 0
    served = data_dir / "clusterdata.db"
    first = served.stat().st_ino
    capsys.readouterr()

    # Re-fetched later, same bytes: the fetch time is not a change.
    refetch_later(recordings_copy, "it_trentino_calls")
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *sources) == 0
    assert "nothing changed upstream" in capsys.readouterr().out
    assert served.stat().st_ino == first  # not republished
    reports = sorted((data_dir / "reports").glob("*.json"))
    assert json.loads(reports[-1].read_text())["unchanged_since"] == reports[0].stem

    # One page's bytes changed: the normal path, a new file.
    page = recordings_copy / "pt_ticept_projects" / "connection.html"
    page.write_text(page.read_text(encoding="utf-8") + "<!-- edited -->", encoding="utf-8")
    assert run_refresh(data_dir, "--recordings", str(recordings_copy), *sources) == 0
    assert "nothing changed upstream" not in capsys.readouterr().out
    assert served.stat().st_ino != first


def test_the_report_of_an_unchanged_refresh_keeps_the_served_status(tmp_path: Path, capsys):
    # CORDIS's recordings hold rows that fail validation: the source is `partial`, and stays so
    # when the same rows come back (not `ok` because its crawl went well).
    sources = ("--source", "eu_cordis_projects", "--no-release")
    data_dir = tmp_path / "data"
    assert run_refresh(data_dir, *sources) == 0
    assert run_refresh(data_dir, *sources) == 0
    assert "nothing changed upstream" in capsys.readouterr().out
    built, unchanged = (
        {s["source_id"]: s for s in json.loads(path.read_text())["sources"]}
        for path in sorted((data_dir / "reports").glob("*.json"))
    )
    assert built["eu_cordis_projects"]["status"] == "partial"
    for key in ("status", "reason", "rows_valid", "rows_quarantined"):
        assert unchanged["eu_cordis_projects"][key] == built["eu_cordis_projects"][key], key
