"""The HTTP cache policy of live crawls (scrapers/httpcache.py), rule by rule."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.settings import Settings

from scrapers.httpcache import LASTMOD_META, ConditionalPolicy, fetched_day

URL = "https://example.eu/cluster/1"


def stored(date: dt.datetime | None, **headers: str) -> HtmlResponse:
    if date is not None:
        headers["Date"] = format_datetime(date, usegmt=True)
    return HtmlResponse(URL, body=b"<html></html>", headers=headers)


@pytest.fixture
def policy() -> ConditionalPolicy:
    return ConditionalPolicy(Settings())


def test_a_page_fetched_after_its_sitemap_lastmod_is_used_without_asking(policy):
    copy = stored(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC), ETag='"a"')
    request = Request(URL, meta={LASTMOD_META: "2026-11-19T23:00:00+01:00"})
    assert policy.is_cached_response_fresh(copy, request)
    assert b"If-None-Match" not in request.headers


@pytest.mark.parametrize("lastmod", ["2026-11-20", "2026-11-21", "not a date", None])
def test_a_page_changed_since_it_was_fetched_is_revalidated(policy, lastmod):
    # Changed the day it was fetched or later, or no usable lastmod: ask with the validators.
    copy = stored(dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC), ETag='"a"')
    request = Request(URL, meta={LASTMOD_META: lastmod} if lastmod else {})
    assert not policy.is_cached_response_fresh(copy, request)
    assert request.headers[b"If-None-Match"] == b'"a"'


def test_no_heuristic_freshness_from_last_modified(policy):
    # Scrapy's RFC2616Policy would call this fresh for weeks (10 % of its age).
    now = dt.datetime.now(dt.UTC)
    copy = stored(
        now, **{"Last-Modified": format_datetime(now - dt.timedelta(days=365), usegmt=True)}
    )
    request = Request(URL)
    assert not policy.is_cached_response_fresh(copy, request)
    assert b"If-Modified-Since" in request.headers


def test_an_explicit_max_age_is_honoured(policy):
    copy = stored(dt.datetime.now(dt.UTC), **{"Cache-Control": "max-age=3600"})
    assert policy.is_cached_response_fresh(copy, Request(URL))


def test_only_a_304_answers_from_the_cache(policy):
    copy = stored(dt.datetime.now(dt.UTC), ETag='"a"')
    request = Request(URL)
    assert policy.is_cached_response_valid(copy, HtmlResponse(URL, status=304), request)
    for status in (200, 500, 503):
        assert not policy.is_cached_response_valid(copy, HtmlResponse(URL, status=status), request)


def test_fetched_day_reads_the_date_header_in_utc():
    late = HtmlResponse(URL, headers={"Date": "Fri, 20 Nov 2026 23:30:00 -0200"})
    assert fetched_day(late) == dt.date(2026, 11, 21)
    assert fetched_day(stored(None)) is None
    assert fetched_day(HtmlResponse(URL, headers={"Date": "yesterday"})) is None
