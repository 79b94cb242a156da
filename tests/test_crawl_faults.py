"""The crawler against a loopback server that fails the ways real sources fail.

Each case asserts the documented behaviour: how many attempts, how far apart, what reached the
spider, what was kept out and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scrapers.crawl import crawl_settings, failure_reason
from scrapers.middlewares import (
    DEFERRED_STAT,
    QUARANTINED_STAT,
    BackoffRetryMiddleware,
    retry_after_seconds,
)
from tests.faultserver import FaultServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BASE_DELAY = 0.4
PATHS = [
    "/ok",
    "/always500",
    "/r429",
    "/r429date",
    "/charset-lie",
    "/charset-broken",
    "/big",
    "/gzipbomb",
    "/loop",
    "/tofile",
    "/truncated",
    "/reset",
    "/slow",
    "/private",
]
FAST = {
    "DOWNLOAD_TIMEOUT": 1,
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "CLUSTERDATA_RETRY_BASE_DELAY": BASE_DELAY,
    "CLUSTERDATA_RETRY_SEED": 7,
}


def crawl(tmp: Path, urls: list[str], settings: dict | None = None) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "outcome.json"
    cmd = [sys.executable, "-m", "tests.fault_crawl", str(out), *urls]
    for name, value in {**FAST, **(settings or {})}.items():
        cmd += ["--set", f"{name}={json.dumps(value)}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    with FaultServer() as server:
        result = crawl(tmp_path_factory.mktemp("faults"), [server.url(p) for p in PATHS])
        yield server, result


def outcome(faults, path: str) -> dict:
    server, result = faults
    return result["outcomes"][server.url(path)]


def test_healthy_page_passes(faults):
    assert outcome(faults, "/ok")["status"] == 200


def test_server_errors_are_retried_with_exponential_backoff(faults):
    server, _ = faults
    assert len(server.hits["/always500"]) == 4  # 1 + RETRY_TIMES
    for n, gap in enumerate(server.gaps("/always500"), start=1):
        ceiling = BASE_DELAY * 2 ** (n - 1)
        # Never sooner than half the ceiling; later only by the (loaded) machine's lag.
        assert ceiling / 2 <= gap <= ceiling + 2.5, (n, gap)
    assert outcome(faults, "/always500")["status"] == 500  # given up, not hidden


def test_retry_after_seconds_is_honoured(faults):
    server, _ = faults
    assert len(server.hits["/r429"]) == 2
    assert server.gaps("/r429")[0] >= 1.0
    assert outcome(faults, "/r429")["status"] == 200


def test_retry_after_http_date_is_honoured(faults):
    server, _ = faults
    assert len(server.hits["/r429date"]) == 2
    assert server.gaps("/r429date")[0] >= 0.9  # the date has 1 s granularity: 1 < wait <= 2
    assert outcome(faults, "/r429date")["status"] == 200


def test_mislabelled_charset_is_redecoded_from_the_markup(faults):
    page = outcome(faults, "/charset-lie")
    assert "Stadt Mühlheim" in page["text"] and "\ufffd" not in page["text"]
    assert faults[1]["stats"]["clusterdata/redecoded_pages"] == 1


def test_text_damaged_under_every_charset_is_kept_out(faults):
    assert outcome(faults, "/charset-broken")["error"] == "IgnoreRequest"
    stats = faults[1]["stats"]
    assert stats[QUARANTINED_STAT] == 1
    assert "charset-broken" in stats["clusterdata/quarantined"][0]
    stored = [o.get("text") or "" for o in faults[1]["outcomes"].values()]
    assert not any("\ufffd" in text for text in stored)


@pytest.mark.parametrize("path", ["/big", "/gzipbomb"])
def test_oversized_and_inflating_bodies_are_cut_off(faults, path):
    page = outcome(faults, path)
    assert "error" in page and "bytes" not in page


def test_redirect_loop_stops(faults):
    server, _ = faults
    assert "error" in outcome(faults, "/loop")
    assert len(server.hits["/loop"]) <= 6  # REDIRECT_MAX_TIMES = 5


def test_redirect_to_file_scheme_is_not_followed(faults):
    page = outcome(faults, "/tofile")
    assert page["status"] == 302 and "root:" not in (page["text"] or "")


@pytest.mark.parametrize("path", ["/truncated", "/reset", "/slow"])
def test_broken_transfers_are_retried_then_fail(faults, path):
    server, _ = faults
    assert len(server.hits[path]) == 4
    assert "error" in outcome(faults, path)


def test_robots_txt_disallow_is_obeyed(faults):
    server, _ = faults
    assert server.hits["/private"] == []
    assert outcome(faults, "/private")["error"] == "IgnoreRequest"


def test_crawler_memory_stays_bounded(faults):
    # 50 MiB body and a 100 MiB gzip bomb included.
    assert faults[1]["maxrss_mib"] <= 512


def test_retry_after_above_the_cap_defers_the_source(tmp_path):
    with FaultServer() as server:
        result = crawl(tmp_path, [server.url("/r429long")])
        assert len(server.hits["/r429long"]) == 1  # no hammering
    stats = result["stats"]
    assert stats["finish_reason"] == "deferred"
    assert "Retry-After 86400 s" in stats[DEFERRED_STAT]
    assert failure_reason(stats).startswith("deferred: ")


def test_retry_after_parsing():
    import datetime as dt

    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds(b"120", now) == 120
    assert retry_after_seconds("Tue, 01 Dec 2026 12:01:30 GMT", now) == 90
    assert retry_after_seconds("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0  # past: no wait
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_backoff_grows_and_is_capped():
    from scrapy.settings import Settings

    mw = BackoffRetryMiddleware(
        Settings({"CLUSTERDATA_RETRY_BASE_DELAY": 2, "CLUSTERDATA_RETRY_MAX_DELAY": 10})
    )
    waits = [mw.backoff(n) for n in (1, 2, 3, 4, 5)]
    assert 1 <= waits[0] <= 2 and 2 <= waits[1] <= 4 and 4 <= waits[2] <= 8
    assert all(5 <= w <= 10 for w in waits[3:])  # capped at MAX_DELAY


def test_no_crawl_opens_a_control_port(tmp_path):
    # Scrapy's telnet console and (since 2.19) its remote control listen on a port per crawler.
    for offline in (False, True):
        settings = crawl_settings(tmp_path / "out.jsonl", offline, tmp_path, None)
        assert settings.getbool("TELNETCONSOLE_ENABLED") is False
        assert settings.getbool("REMOTE_CONTROL_ENABLED") is False


def test_conditional_requests_answer_an_unchanged_page_from_the_cache(tmp_path):
    """Live crawls keep Scrapy's HTTP cache (scrapers/httpcache.py): the second crawl asks with
    the stored validators, the server answers 304 with no body, and the spider still gets the
    page; a server error is not papered over with the stored copy."""
    cache = {"HTTPCACHE_ENABLED": True, "HTTPCACHE_DIR": str(tmp_path / "httpcache")}
    with FaultServer() as server:
        urls = [server.url("/etag"), server.url("/etag-then-500")]
        first = crawl(tmp_path / "first", urls, cache)
        second = crawl(tmp_path / "second", urls, cache)
        asked = server.request_headers["/etag"]
        assert len(asked) == 2
        assert "If-None-Match" not in asked[0]
        assert asked[1]["If-None-Match"] == '"v1"'
        assert asked[1]["If-Modified-Since"] == "Mon, 02 Nov 2026 10:00:00 GMT"
        # The server sent nothing the second time; the spider read the same page.
        assert second["outcomes"][urls[0]] == first["outcomes"][urls[0]]
        assert second["outcomes"][urls[0]]["status"] == 200
        assert second["stats"]["httpcache/revalidate"] == 1
        # Down the next day: retried and reported as down, not served from the cache.
        assert first["outcomes"][urls[1]]["status"] == 200
        assert second["outcomes"][urls[1]]["status"] == 500
        assert len(server.hits["/etag-then-500"]) == 1 + 4  # first crawl, then 1 + RETRY_TIMES
