"""bench/end_to_end.py at the smoke size: the recordings it builds answer every URL the Kohesio
spider requests, and one run of the section (a full refresh, then a no-change one) gives figures
of the right shape. One run, not three, to stay near half a minute; `bench.run --sections
end_to_end` takes the median of three."""

import json
from pathlib import Path

import pytest

from bench.end_to_end import SOURCE_ID, build_recordings, section_end_to_end
from bench.generate import ensure_kohesio
from bench.run import ALL_SECTIONS, SECTIONS, SIZES, verdicts
from scrapers.spiders.eu_kohesio_projects import load_config, planned_downloads


@pytest.fixture(scope="module")
def kohesio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    size = SIZES["smoke"]
    folder, _ = ensure_kohesio(
        tmp_path_factory.mktemp("bench-e2e"), size["operations"], countries=size["countries"]
    )
    return folder


def test_registered_as_opt_in() -> None:
    assert "end_to_end" in ALL_SECTIONS
    assert "end_to_end" not in SECTIONS


def test_recordings_answer_every_planned_url(kohesio: Path, tmp_path: Path) -> None:
    built = build_recordings(kohesio, tmp_path)
    index = json.loads((tmp_path / SOURCE_ID / "index.json").read_text())
    planned = {url for _, _, url in planned_downloads(load_config())}
    assert {e["url"] for e in index["responses"]} == planned
    assert built["requests"] == len(planned) == built["files"] + built["not_found"]
    # The smoke size generates two countries × two periods; the rest are 404s.
    ok = [e for e in index["responses"] if e["status"] == 200]
    assert len(ok) == built["files"] == 4
    for entry in index["responses"]:
        assert entry["synthetic"] is True
        assert (tmp_path / SOURCE_ID / entry["file"]).is_file()
    for entry in ok:
        body = (tmp_path / SOURCE_ID / entry["file"]).read_bytes()
        assert body == (kohesio / entry["file"]).read_bytes()


@pytest.mark.slow
def test_one_run_has_full_and_no_change_figures(kohesio: Path, tmp_path: Path) -> None:
    out = section_end_to_end(tmp_path, SIZES["smoke"], 1, {"kohesio": str(kohesio)})
    figures = out["figures"]
    for name in ("wall_s", "peak_rss_mib", "cli_peak_rss_mib", "crawl_peak_rss_mib"):
        for run in ("full", "no_change"):
            value = figures[f"{run}_{name}"]
            assert value["runs"] == 1
            assert 0 < value["min"] <= value["median"] <= value["max"], f"{run}_{name}"
    # The biggest process's exact peak (wait4) and the sampled one agree within a few MiB.
    for run in ("full", "no_change"):
        exact, sampled = figures[f"{run}_peak_rss_mib"], figures[f"{run}_sampled_peak_rss_mib"]
        assert abs(exact["median"] - sampled["median"]) < 32
        assert exact["median"] >= figures[f"{run}_crawl_peak_rss_mib"]["median"]
    # A full refresh of the generated exports does the whole graph; the second does none of it.
    assert figures["full_wall_s"]["median"] > figures["no_change_wall_s"]["median"]
    ratio = figures["no_change_vs_full"]["median"]
    assert ratio == pytest.approx(
        figures["no_change_wall_s"]["median"] / figures["full_wall_s"]["median"], rel=1e-3
    )
    last = out["last_full_run"]
    [source] = last["report"]["sources"]
    assert source["source_id"] == SOURCE_ID and source["rows_valid"] > 0
    layers = last["phases"]["step_seconds_by_layer"]
    assert {"raw_records", "clean", "validated", "warehouse", "published"} <= set(layers)
    phases = last["phases"]
    assert phases["crawl_s"] > 0
    parts = ("start_and_crawl", "dagster", "run_report", "release", "exit")
    assert all(phases[p]["seconds"] > 0 for p in parts[:4]), phases
    # The phases follow one another: together they are the refresh's wall time.
    total = sum(phases[p]["seconds"] for p in parts)
    assert total == pytest.approx(figures["full_wall_s"]["median"], abs=0.5)
    [verdict] = verdicts("end_to_end", figures)
    assert verdict["met"] is (ratio <= 0.2)
