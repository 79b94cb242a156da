"""The public site in a real browser: headless Debian Chromium, driven by Playwright, on the real
`clusterdata serve` over the database and release built from the recordings.

It opens the landing page (on a desktop and a phone screen), a table page with a facet, a search,
a row page, the clusters map, the charts page and the feeds, and downloads a release file.
Screenshots go to a tmp dir, and also to data/screenshots when CLUSTERDATA_SCREENSHOTS=1, for a
person to look at. Every request the browser makes to another host (map tiles) is refused and
recorded: the test touches no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from pipelines.geocode import add_city_coordinates
from tests.servers import stop

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STARTUP_SECONDS = 60
# Test input, not facts: the recordings state no cluster's city, so the map would be empty. The
# copy of the database served here gives two clusters a city, placed by the clean step's own
# geocoder, to see markers drawn.
MAP_TEST_CITIES = {"Aveiro", "Porto"}

pytestmark = pytest.mark.slow

if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)",
                allow_module_level=True)

playwright_sync = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rows(db: Path, sql: str, *params: object) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def place_two_clusters(db: Path) -> list[str]:
    """Give two PT clusters of the served copy a city, with coordinates from the geocoder."""
    picked = rows(db, "SELECT cluster_id, country FROM clusters WHERE country = 'PT' "
                      "ORDER BY cluster_id LIMIT 2")
    frame = add_city_coordinates(pl.DataFrame({
        "cluster_id": [r["cluster_id"] for r in picked],
        "country": [r["country"] for r in picked],
        "city": sorted(MAP_TEST_CITIES),
    }))
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.executemany(
                "UPDATE clusters SET city = ?, latitude = ?, longitude = ?, coordinates_from = ? "
                "WHERE cluster_id = ?",
                frame.select("city", "latitude", "longitude", "coordinates_from",
                             "cluster_id").rows(),
            )
    finally:
        conn.close()
    assert frame["latitude"].null_count() == 0, frame
    return frame["cluster_id"].to_list()


@pytest.fixture(scope="module")
def site(refreshed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`clusterdata serve` on a copy of the refreshed data dir (database and releases)."""
    data = tmp_path_factory.mktemp("browser") / "data"
    data.mkdir()
    shutil.copy2(refreshed / "clusterdata.db", data / "clusterdata.db")
    if (refreshed / "releases").is_dir():
        shutil.copytree(refreshed / "releases", data / "releases")
    placed = place_two_clusters(data / "clusterdata.db")
    port = free_port()
    log = data.parent / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "serve", "--data-dir", str(data),
             "--port", str(port)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/-/versions.json", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail(f"no answer within {STARTUP_SECONDS}s:\n{log.read_text()}")
            time.sleep(0.3)
    try:
        yield {"base": base, "db": data / "clusterdata.db", "data": data, "placed": placed}
    finally:
        stop(process)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Where screenshots go: a tmp dir, plus data/screenshots when asked."""
    dirs = [tmp_path_factory.mktemp("screenshots")]
    if os.environ.get("CLUSTERDATA_SCREENSHOTS") == "1":
        dirs.append(REPO / "data" / "screenshots")
        dirs[-1].mkdir(parents=True, exist_ok=True)
    return dirs


@pytest.fixture(scope="module")
def browser_context(site: dict) -> Iterator[tuple]:
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
        refused: list[str] = []
        local = urllib.parse.urlsplit(site["base"]).netloc

        def only_local(route, request) -> None:
            if urllib.parse.urlsplit(request.url).netloc == local:
                route.continue_()
            else:
                refused.append(request.url)
                route.abort()

        context.route("**/*", only_local)
        try:
            yield browser, context, refused
        finally:
            context.close()
            browser.close()


@pytest.fixture
def page(browser_context):
    browser, context, refused = browser_context
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    yield page
    page.close()


def screenshot(page, shots: list[Path], name: str, *, full_page: bool = True) -> None:
    data = page.screenshot(full_page=full_page)
    for directory in shots:
        (directory / f"{name}.png").write_bytes(data)


def own_errors(page) -> list[str]:
    """Console errors other than the refused map tiles (net::ERR_FAILED on another host)."""
    return [e for e in page.errors if "ERR_FAILED" not in e]


def test_landing_page_counts_release_sources_and_links(site, page, shots):
    db = site["db"]
    page.goto(site["base"] + "/")
    for table in ("clusters", "calls", "projects", "participants"):
        (expected,) = rows(db, f"SELECT count(*) AS n FROM {table}")
        shown = page.locator(f'[data-count="{table}"]').inner_text()
        assert int(shown.replace(",", "")) == expected["n"] > 0
    (funding,) = rows(db, "SELECT sum(eu_contribution_eur) AS eur FROM projects")
    shown = page.locator('[data-count="eu_funding"]').inner_text()
    assert shown == f"€{funding['eur']:,.0f}"
    sources = rows(db, "SELECT source_id, last_status FROM sources ORDER BY source_id")
    table = page.locator("table.sources tbody tr")
    assert table.count() == len(sources)
    assert "pt_ticept_projects" in page.locator("table.sources").inner_text()
    for link in ("Map of clusters", "Charts of EU funding", "Atom feed of new calls",
                 "Calendar of call deadlines (iCalendar)"):
        assert page.get_by_role("link", name=link).count() == 1
    body = page.locator("body").inner_text()
    assert "CC BY 4.0" in body and "_shape=array" in body and "_stream=on" in body
    assert "_search=" in body
    screenshot(page, shots, "landing")
    assert own_errors(page) == []


def test_landing_page_fits_a_phone_screen(site, browser_context, shots):
    browser, _, _ = browser_context
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = phone.new_page()
        page.goto(site["base"] + "/")
        assert page.locator('[data-count="clusters"]').is_visible()
        # No sideways scrolling: the page is as wide as the screen (the sources table scrolls
        # inside its own wrapper).
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        screenshot(page, shots, "landing-phone")
    finally:
        phone.close()


def test_download_link_serves_the_release_file(site, page):
    releases = rows(site["db"], "SELECT name FROM sqlite_master WHERE name = 'releases'")
    page.goto(site["base"] + "/")
    if not releases:
        assert page.locator(".no-release").is_visible()
        return
    (current,) = rows(site["db"], "SELECT release_id, files FROM releases WHERE is_current = 1")
    files = {f["name"]: f for f in json.loads(current["files"])}
    assert page.locator(".release-id").inner_text() == current["release_id"]
    links = page.locator("#downloads ul.files a")
    assert links.count() == len(files)
    assert page.locator("#downloads .featured a", has_text="clusterdata.db").is_visible()
    page.locator("#downloads details.all-files summary").click()
    link = page.locator("#downloads ul.files a", has_text="projects.csv")
    with page.expect_download() as info:
        link.click()
    path = Path(info.value.path())
    content = path.read_bytes()
    assert len(content) == files["projects.csv"]["bytes"]
    assert hashlib.sha256(content).hexdigest() == files["projects.csv"]["sha256"]
    assert b"CONNECTION" in content


def test_table_page_with_a_facet_and_a_search(site, page, shots):
    page.goto(site["base"] + "/clusterdata/projects?_facet=programme")
    # By column name: a has_text filter would also match the `programmes` array facet.
    facet = page.locator('.facet-info[data-column="programme"]')
    assert facet.count() >= 1
    facet.get_by_role("link", name="COMPETE 2020").first.click()
    page.wait_for_url("**programme=COMPETE*")
    assert "CONNECTION" in page.locator("table.rows-and-columns").inner_text()
    screenshot(page, shots, "projects-facet")

    page.goto(site["base"] + "/clusterdata/projects")
    page.fill('input[name="_search"]', "CONNECTION")
    page.locator('input[name="_search"]').press("Enter")
    page.wait_for_url("**_search=CONNECTION*")
    table = page.locator("table.rows-and-columns").inner_text()
    assert "TICE.PT" in table and "113241" in table
    screenshot(page, shots, "projects-search")


def test_row_page_of_the_connection_project(site, page, shots):
    (project,) = rows(site["db"], "SELECT project_id FROM projects WHERE reference = '113241'")
    page.goto(site["base"] + "/clusterdata/projects/"
              + urllib.parse.quote(project["project_id"], safe=""))
    text = page.locator("body").inner_text()
    assert "CONNECTION" in text and "TICE.PT" in text and "101247.41" in text
    screenshot(page, shots, "row-connection")


def test_map_shows_the_placed_clusters(site, page, browser_context, shots):
    _, _, refused = browser_context
    page.goto(site["base"] + "/clusterdata/clusters?latitude__notblank=1")
    page.wait_for_selector(".leaflet-container", timeout=15000)
    page.wait_for_selector(".leaflet-marker-icon", timeout=15000)
    # Single markers, or a cluster bubble that says how many it holds.
    singles = page.locator(".leaflet-marker-icon:not(.marker-cluster)").count()
    bubbles = page.locator(".marker-cluster").all_inner_texts()
    assert singles + sum(int(t) for t in bubbles) == len(site["placed"]) == 2
    page.locator(".leaflet-container").scroll_into_view_if_needed()
    screenshot(page, shots, "map", full_page=False)
    # The tiles are the one thing fetched from elsewhere (refused here).
    assert {urllib.parse.urlsplit(u).netloc for u in refused} <= {"tile.openstreetmap.org"}
    assert own_errors(page) == []


def test_charts_page_draws_eu_funding(site, page, shots):
    page.goto(site["base"] + "/-/charts")
    by_programme = page.locator("#eu-funding-by-programme svg")
    assert by_programme.count() == 1
    # One bar per programme (country) with a stated amount: one whose amounts are all unknown
    # gets no bar rather than a bar of €0.
    programmes = rows(site["db"], "SELECT DISTINCT programme FROM projects "
                                  "WHERE eu_contribution_eur IS NOT NULL")
    assert by_programme.locator("rect.bar").count() == len(programmes) > 1
    assert "COMPETE 2020" in by_programme.text_content()
    assert "€101,247" in by_programme.text_content()  # the TICE.PT sheet's 101 247,41
    countries = rows(site["db"], "SELECT DISTINCT country FROM projects "
                                 "WHERE eu_contribution_eur IS NOT NULL")
    assert page.locator("#eu-funding-by-country rect.bar").count() == len(countries) > 1
    assert "€0" not in page.locator("#eu-funding-by-country").text_content()
    assert page.locator("#eu-funding-by-year rect.bar").count() >= 2
    # The longest bar is the largest amount.
    widths = by_programme.locator("rect.bar").evaluate_all(
        "els => els.map(e => parseFloat(e.getAttribute('width')))"
    )
    assert widths[0] == max(widths) > 0
    screenshot(page, shots, "charts")
    assert own_errors(page) == []


def test_atom_and_ical_feeds(site, page):
    atom = page.request.get(site["base"] + "/clusterdata/new_calls_feed.atom")
    assert atom.status == 200 and "xml" in atom.headers["content-type"]
    assert '<feed xmlns="http://www.w3.org/2005/Atom">' in atom.text()
    assert "SMP-COSME-2024-CLUSTER-01" in atom.text()
    (calls,) = rows(site["db"], "SELECT count(*) AS n FROM calls")
    assert atom.text().count("<entry>") == calls["n"]
    ics = page.request.get(site["base"] + "/clusterdata/call_deadlines_calendar.ics")
    assert ics.status == 200 and ics.headers["content-type"].startswith("text/calendar")
    text = ics.text()
    assert text.startswith("BEGIN:VCALENDAR")
    # The two-stage Horizon call has two deadlines, each its own event.
    assert "DTSTART:20270408" in text and "DTSTART:20270914" in text
