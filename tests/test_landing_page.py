"""The landing page and the charts page, rendered in-process by Datasette with our templates and
plugins on a small built database: figures read from the database, the current release's
downloads (or "no release yet"), scraped text escaped, and the bars of the charts."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from datasette.app import Datasette

from warehouse.build import build_database
from warehouse.metadata import datasette_metadata, datasette_settings
from warehouse.serve import PLUGINS_DIR, TEMPLATES_DIR, read_sources

MARKUP = "<script>alert('landing')</script>"


def _samples():
    spec = importlib.util.spec_from_file_location(
        "_warehouse_samples", Path(__file__).with_name("test_warehouse.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


samples = _samples()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The sample database, one source's title carrying markup (scraped text is untrusted)."""
    tables = samples.sample_tables()
    tables["sources"] = tables["sources"].with_columns(
        pl.when(pl.col("source_id") == "eu_sedia_calls")
        .then(pl.lit(f"EU calls {MARKUP}"))
        .otherwise(pl.col("title"))
        .alias("title")
    )
    path = tmp_path / "clusterdata.db"
    build_database(tables, path)
    return path


def get(db: Path, path: str) -> tuple[int, str]:
    async def fetch() -> tuple[int, str]:
        ds = Datasette(
            [str(db)],
            metadata=datasette_metadata(read_sources(db)),
            template_dir=str(TEMPLATES_DIR),
            plugins_dir=str(PLUGINS_DIR),
            settings=datasette_settings(),
        )
        response = await ds.client.get(path)
        return response.status_code, response.text

    return asyncio.run(fetch())


def add_release(db: Path, release_id: str, files: list[dict], *, current: int = 1) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS releases (release_id TEXT PRIMARY KEY, built_at TEXT,"
                " is_current INTEGER, files TEXT, sources TEXT)"
            )
            conn.execute(
                "INSERT INTO releases VALUES (?, ?, ?, ?, '[]')",
                (release_id, f"{release_id[:10]}T12:00:00Z", current, json.dumps(files)),
            )
    finally:
        conn.close()


def test_landing_page_shows_counts_funding_and_no_release_yet(db: Path) -> None:
    status, page = get(db, "/")
    assert status == 200
    assert '<strong data-count="projects">3</strong>' in page
    assert '<strong data-count="calls">5</strong>' in page
    assert '<strong data-count="clusters">2</strong>' in page
    # 85 000 + 50 000 + 10 000, every amount of the sample stated.
    assert "€145,000" in page and "stated for 3 of 3 projects" in page
    assert "No release yet" in page
    assert "/releases/" not in page


def test_landing_page_links_the_source_health_table(db: Path) -> None:
    _, page = get(db, "/")
    assert 'href="/clusterdata/source_health"' in page
    status, table = get(db, "/clusterdata/source_health")
    assert status == 200 and "Source health" in table


def test_scraped_text_is_escaped_on_the_landing_page(db: Path) -> None:
    _, page = get(db, "/")
    assert MARKUP not in page
    assert "EU calls &lt;script&gt;alert(&#39;landing&#39;)&lt;/script&gt;" in page


def test_current_release_files_are_linked_with_their_sizes(db: Path) -> None:
    add_release(db, "2026-11-01-aaaaaaa", [{"name": "old.csv", "table": "calls",
                                            "format": "csv", "bytes": 1, "sha256": "0" * 64}],
                current=0)
    files = [
        {"name": "clusterdata.db", "table": None, "format": "sqlite", "bytes": 536576,
         "sha256": "c" * 64},
        {"name": "projects.csv", "table": "projects", "format": "csv", "bytes": 12300,
         "sha256": "d" * 64},
    ]
    add_release(db, "2026-12-01-08aa954", files)
    _, page = get(db, "/")
    assert "No release yet" not in page
    assert '<strong class="release-id">2026-12-01-08aa954</strong>' in page
    assert 'href="/releases/2026-12-01-08aa954/projects.csv" download' in page
    assert 'href="/releases/2026-12-01-08aa954/clusterdata.db" download' in page
    assert "12,300 bytes" in page and "536,576 bytes" in page
    assert "d" * 64 in page
    assert "old.csv" not in page  # not the current release
    assert "clusterdata, release 2026-12-01-08aa954." in page


def test_charts_page_draws_one_bar_per_programme(db: Path) -> None:
    status, page = get(db, "/-/charts")
    assert status == 200
    section = page.split('id="eu-funding-by-programme"')[1].split("</figure>")[0]
    # Açores 2020 (85 000) before Compete 2020 (50 000 + 10 000), the longer bar first.
    assert section.index("Açores 2020") < section.index("Compete 2020")
    assert section.count('class="bar"') == 2
    assert "€85,000" in section and "€60,000" in section


def test_chart_bars_leave_unknown_amounts_out() -> None:
    spec = importlib.util.spec_from_file_location("landing_page", PLUGINS_DIR / "landing_page.py")
    landing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(landing)
    chart = {"label": "country", "value": "eur", "sort": "value"}
    rows = [{"country": "PT", "eur": 30.0}, {"country": "PT", "eur": 10.0},
            {"country": "ES", "eur": 20.0}, {"country": "FR", "eur": None},
            {"country": None, "eur": 5.0}]
    got = landing.chart_bars(rows, chart)
    assert [(b["label"], b["value"]) for b in got["bars"]] == [
        ("PT", 40.0), ("ES", 20.0), ("(not stated)", 5.0)
    ]
    assert got["unknown_rows"] == 1  # FR: no bar, not a bar of 0
    lengths = [b["length"] for b in got["bars"]]
    # Proportional to the amounts (to the 0.1 px the SVG is written with).
    assert lengths[0] == pytest.approx(2 * lengths[1], abs=0.5)
    assert lengths[0] == pytest.approx(8 * lengths[2], abs=0.5)
    assert lengths[0] > 0


def test_atom_feed_lists_the_calls_and_is_empty_not_an_error_without_any(db: Path) -> None:
    status, feed = get(db, "/clusterdata/new_calls_feed.atom")
    assert status == 200
    assert feed.count("<entry>") == 5 and "<title>Resilience</title>" in feed
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM calls")
    conn.close()
    status, feed = get(db, "/clusterdata/new_calls_feed.atom")
    assert status == 200, feed[:300]
    assert '<feed xmlns="http://www.w3.org/2005/Atom">' in feed and "<entry>" not in feed
    assert "<title>Newly published calls</title>" in feed
    # A query without the atom_ columns is still datasette-atom's own 400.
    status, _ = get(db, "/clusterdata/eu_funding_by_programme.atom")
    assert status in (400, 404)


def test_ical_feed_has_one_event_per_deadline(db: Path) -> None:
    status, calendar = get(db, "/clusterdata/call_deadlines_calendar.ics")
    assert status == 200 and calendar.startswith("BEGIN:VCALENDAR")
    assert calendar.count("BEGIN:VEVENT") == 5
    assert "SUMMARY:Deadline: Digital clusters" in calendar
