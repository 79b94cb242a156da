"""`make bench` at tiny sizes: every section runs the project's real code and results.json has
every figure with a sane value, so the bench cannot rot between full runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import SECTIONS, SIZES, main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--size",
            "smoke",
            "--data",
            str(tmp / "data"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def fig(results: dict, section: str, name: str) -> dict:
    return results["sections"][section]["figures"][name]


@pytest.mark.slow
def test_every_section_ran_with_median_min_max(results: dict) -> None:
    assert list(results["sections"]) == list(SECTIONS)
    assert results["runs"] >= 3
    for section in results["sections"].values():
        for name, value in section["figures"].items():
            assert value["runs"] >= 3, name
            assert value["min"] <= value["median"] <= value["max"], name


@pytest.mark.slow
def test_clean_validate_conserves_rows(results: dict) -> None:
    size = SIZES["smoke"]
    assert fig(results, "clean_validate", "projects_in")["median"] == size["operations"]
    # The generated co-beneficiaries drop a duplicate pick, so a few short of the target.
    assert (
        0.99 * size["participants"]
        <= fig(results, "clean_validate", "participants_in")["median"]
        <= size["participants"]
    )
    rows_in = fig(results, "clean_validate", "rows_in")["median"]
    valid = sum(
        fig(results, "clean_validate", k)["median"]
        for k in ("projects_valid", "participants_valid")
    )
    quarantined = fig(results, "clean_validate", "rows_quarantined")["median"]
    # Input rows = valid + quarantined, and the generated faults (bad dates) are quarantined.
    assert rows_in == valid + quarantined
    assert quarantined > 0
    for key in ("clean_validate_rows_per_s", "baseline_plain_rows_per_s"):
        assert fig(results, "clean_validate", key)["median"] > 0
    assert 50 < fig(results, "clean_validate", "peak_rss_mib")["max"] < 4096


@pytest.mark.slow
def test_load_parse_crawl_serve_figures(results: dict) -> None:
    load = results["sections"]["load"]["figures"]
    assert load["rows"]["median"] == load["baseline_rows"]["median"] > 0
    assert load["insert_vs_raw"]["median"] > 0
    for phase in ("insert_s", "fts_s", "indexes_s", "checks_s"):
        assert load[phase]["median"] >= 0
    assert load["build_s"]["median"] >= load["insert_s"]["median"]

    pages = SIZES["smoke"]["pages"]
    parse = results["sections"]["parse"]["figures"]
    assert parse["pages"]["median"] == pages == parse["pages_with_amount"]["median"]
    assert parse["parse_vs_lxml"]["median"] > 0

    crawl = results["sections"]["crawl"]
    for mode in ("offline", "http"):
        assert crawl["figures"][f"{mode}_pages"]["median"] == pages
        # One document item and one project item per page, no errors.
        assert crawl["figures"][f"{mode}_items_written"]["median"] == 2 * pages
        assert crawl["figures"][f"{mode}_errors"]["max"] == 0
    assert crawl["profile_offline_run"]["top_functions_own_seconds"]

    serve = results["sections"]["serve"]["figures"]
    for name in (
        "row_json",
        "table_json_50",
        "filtered_country_amount",
        "two_facets",
        "fts_search",
        "fts_search_canned",
        "canned_query",
        "csv_export_10000",
    ):
        for prefix in ("", "noindex_"):
            assert serve[f"{prefix}{name}.errors"]["max"] == 0, name
            assert (
                0
                < serve[f"{prefix}{name}.p50_ms"]["median"]
                <= serve[f"{prefix}{name}.p95_ms"]["median"]
            )
            assert serve[f"{prefix}{name}.mean_bytes"]["median"] > 100, name
    assert results["sections"]["serve"]["indexes_dropped_in_copy"] > 0
    assert set(results["machine"]) >= {"cpus", "python", "sqlite"}


def test_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["--runs", "2"]) == 2
    assert main(["--sections", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: ") == 2 and "Traceback" not in err
