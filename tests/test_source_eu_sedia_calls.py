"""eu_sedia_calls: the Funding & Tenders Portal search API and topicDetails, quirk by quirk.

Payloads come from tests/fixtures/eu_sedia_calls (real samples, and one reconstructed search page:
see its build_fixtures.py). Synthetic dicts appear only where no real payload exists (a type-8
result, a non-English duplicate, an envelope over 10,000 results) and are marked as such.
"""

import copy
import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import Request, TextResponse

from pipelines.clean import clean_calls
from pipelines.raw import read_raw
from scrapers.registry import get_source, load_registry
from scrapers.spiders.eu_sedia_calls import (
    BOUNDARY,
    SediaCallsSpider,
    SediaFormatError,
    action_dates,
    english_results,
    epoch_ms_to_date,
    keywords,
    metadata_json,
    metadata_value,
    metadata_values,
    multipart_body,
    next_page,
    page_url,
    parse_budget,
    query_config,
    record_from_search,
    record_from_topic_details,
    search_body,
    search_timestamp_to_date,
    split_date_range,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HERE = FIXTURES / "eu_sedia_calls"
CONFIG = query_config()
START_URL = get_source("eu_sedia_calls").start_urls[0]
SMP_ID = "SMP-COSME-2024-CLUSTER-01"
SOIL_ID = "HORIZON-MISS-2027-05-SOIL-01-two-stage"
STALE_ID = "HORIZON-CL2-2024-TRANSFORMATIONS-01-08"
CL5_ID = "HORIZON-CL5-2024-D2-01-03"


def load(name: str) -> dict:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


TOPIC = load("topicDetails_SMP-COSME-2024-CLUSTER-01.json")
PAGE = load("search_page_1.json")
RESULTS = {r["metadata"]["identifier"][0]: r for r in PAGE["results"]}


# --- the crawl, offline -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def crawl_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eu_sedia_calls") / "run.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", "eu_sedia_calls", "--out", str(out),
         "--offline", "--recordings", str(FIXTURES), "--log-file", str(out.with_suffix(".log"))],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def calls(crawl_out) -> dict[str, dict]:
    rows = [json.loads(line) for line in crawl_out.read_text(encoding="utf-8").splitlines()]
    return {r["identifier"]: r for r in rows if r["entity"] == "calls"}


def test_smp_cosme_cluster_call_field_by_field(calls):
    row = calls[SMP_ID]
    assert row["identifier"] == SMP_ID
    assert row["title"] == "Joint Cluster Initiatives (EUROCLUSTERS) for Europe\u2019s recovery"
    assert row["programme"] == "SMP"  # as published; the YAML lookup names it
    assert row["publisher"] == "European Commission"
    assert row["call_type"] == "1"  # the portal's type; the YAML lookup maps it
    # plannedOpeningDate 1728950400000 and deadlineDates ["1738713600000"] in the sample.
    assert row["opening_date"] == "2024-10-15"
    assert row["deadline_date"] == "2025-02-05"
    assert row["deadline_dates"] == ["2025-02-05"]
    # budgetYearMap 2024: 10 M, 2025: 11 M, 2026: 12 M, 2027: 9 M.
    assert row["budget_eur"] == 42_000_000.0
    assert row["url"] == (
        "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/"
        "topic-details/SMP-COSME-2024-CLUSTER-01"
    )
    assert row["eligible_applicants"] is None  # only stated in the `conditions` prose
    assert row["topics"][:2] == ["Cluster", "EUROCLUSTERS"]
    assert "Single Market Programme" in row["topics"]  # "Single  Market Programme" in the tags
    assert row["description"].startswith("Expected Outcome:\nQualitative and quantitative")
    assert "<" not in row["description"]
    assert row["quality_flags"] is None
    assert row["source_url"].endswith("/topicDetails/smp-cosme-2024-cluster-01.json")


def test_topic_without_topic_details_is_read_from_the_index_and_flagged(calls):
    for identifier in (SOIL_ID, STALE_ID, CL5_ID):
        row = calls[identifier]
        assert any("topicDetails answered 404" in f for f in row["quality_flags"])
        assert row["source_url"] == START_URL  # read from the search page
        assert row["programme"] == "43108390"
    # The truncated budgetOverview of the abridged sample is flagged, not guessed.
    assert calls[SOIL_ID]["budget_eur"] is None
    assert any("budgetOverview is not readable" in f for f in calls[SOIL_ID]["quality_flags"])


def test_two_stage_call_keeps_every_deadline(calls):
    row = calls[SOIL_ID]
    assert row["opening_date"] == "2027-02-04"
    assert row["deadline_dates"] == ["2027-04-08", "2027-09-14"]
    assert row["deadline_date"] == "2027-04-08"


def test_one_record_per_topic_and_documents_for_every_response(crawl_out, calls):
    assert sorted(calls) == sorted([SMP_ID, SOIL_ID, STALE_ID, CL5_ID])
    rows = [json.loads(line) for line in crawl_out.read_text(encoding="utf-8").splitlines()]
    docs = [r for r in rows if r["entity"] == "documents"]
    assert sorted(d["http_status"] for d in docs) == [200, 200, 404, 404, 404]


def raw_calls(crawl_out):
    return read_raw(crawl_out)["calls"]


@pytest.mark.parametrize(
    ("today", "status"),
    [
        (dt.date(2024, 10, 14), "forthcoming"),
        (dt.date(2024, 10, 15), "open"),
        (dt.date(2025, 2, 5), "open"),
        (dt.date(2025, 2, 6), "closed"),
    ],
)
def test_status_derived_from_dates_on_the_runs_clock(crawl_out, today, status):
    cleaned = clean_calls(raw_calls(crawl_out), load_registry(), today=today)
    assert cleaned.rejected.height == 0
    row = cleaned.frame.filter(cleaned.frame["identifier"] == SMP_ID).row(0, named=True)
    assert row["status"] == status
    assert row["call_id"] == f"eu_sedia_calls:{SMP_ID}"
    assert row["programme"] == "Single Market Programme (SMP)"
    assert row["call_type"] == "call_for_proposals"


@pytest.mark.parametrize(
    ("today", "status", "deadline"),
    [
        (dt.date(2027, 1, 10), "forthcoming", dt.date(2027, 4, 8)),
        (dt.date(2027, 3, 1), "open", dt.date(2027, 4, 8)),
        (dt.date(2027, 5, 1), "open", dt.date(2027, 9, 14)),  # second stage next
        (dt.date(2027, 10, 1), "closed", dt.date(2027, 9, 14)),
    ],
)
def test_two_stage_status_follows_the_next_deadline(crawl_out, today, status, deadline):
    frame = clean_calls(raw_calls(crawl_out), load_registry(), today=today).frame
    row = frame.filter(frame["identifier"] == SOIL_ID).row(0, named=True)
    assert (row["status"], row["deadline_date"]) == (status, deadline)


def test_stale_index_status_is_not_copied(crawl_out):
    # The index still says 31094501 (Forthcoming) for a topic whose deadline was 2024-02-07.
    assert RESULTS[STALE_ID]["metadata"]["status"] == ["31094501"]
    frame = clean_calls(raw_calls(crawl_out), load_registry(), today=dt.date(2026, 11, 23)).frame
    row = frame.filter(frame["identifier"] == STALE_ID).row(0, named=True)
    assert row["status"] == "closed"
    assert row["programme"] == "Horizon Europe (HORIZON)"


# --- the request ------------------------------------------------------------------------------


def test_request_is_the_recorded_one():
    index = load("index.json")
    (search,) = [e for e in index["responses"] if e["method"] == "POST"]
    request = SediaCallsSpider().search_request(1)
    assert request.method == "POST"
    assert request.url == search["url"] == START_URL
    assert hashlib.sha256(request.body).hexdigest() == search["body_sha256"]
    assert request.headers["Content-Type"].decode() == (
        f"multipart/form-data; boundary={BOUNDARY}"
    )


def test_multipart_body_is_deterministic_json_blobs():
    body = search_body(CONFIG)
    assert body == search_body(CONFIG)
    text = body.decode()
    assert text.count(f"--{BOUNDARY}\r\n") == 3 and text.endswith(f"--{BOUNDARY}--\r\n")
    for name in ("query", "languages", "sort"):
        assert f'name="{name}"' in text
    assert text.count("Content-Type: application/json") == 3
    query_blob = text.split("\r\n\r\n")[1].split("\r\n")[0]
    must = json.loads(query_blob)["bool"]["must"]
    assert {"terms": {"type": ["1", "2", "8"]}} in must
    assert {"terms": {"status": ["31094501", "31094502", "31094503"]}} in must
    assert multipart_body({"a": [1]}, boundary="B") == (
        b'--B\r\nContent-Disposition: form-data; name="a"; filename="blob"\r\n'
        b"Content-Type: application/json\r\n\r\n[1]\r\n--B--\r\n"
    )


def test_page_url_rewrites_only_page_number():
    assert page_url(START_URL, 1) == START_URL
    assert page_url(START_URL, 3) == START_URL.replace("pageNumber=1", "pageNumber=3")


# --- pagination and splitting -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "total", "expected"),
    [(1, 9, None), (1, 100, None), (1, 101, 2), (2, 250, 3), (3, 250, None), (1, 0, None)],
)
def test_next_page_stops_when_pages_cover_total(page, total, expected):
    assert next_page(page, 100, total) == expected


def envelope_response(total: int, page: int, results: list | None = None) -> TextResponse:
    """A synthetic envelope (no real one exists with these totals)."""
    url = page_url(START_URL, page)
    body = json.dumps({"totalResults": total, "pageNumber": page, "pageSize": 100,
                       "results": results or []})
    return TextResponse(url, body=body.encode(), encoding="utf-8",
                        request=Request(url, method="POST"))


def requests_of(items) -> list[Request]:
    return [i for i in items if isinstance(i, Request)]


def search_requests(items) -> list[Request]:
    return [r for r in requests_of(items) if r.url.startswith("https://api.tech.ec.europa.eu/")]


def test_spider_asks_for_the_next_page_until_total_is_covered():
    real = [copy.deepcopy(RESULTS[CL5_ID])]
    (nxt,) = search_requests(SediaCallsSpider().parse(envelope_response(250, 2, real), page=2))
    assert nxt.url == page_url(START_URL, 3) and nxt.cb_kwargs["page"] == 3
    assert nxt.method == "POST" and nxt.body == search_body(CONFIG)
    assert search_requests(SediaCallsSpider().parse(envelope_response(250, 3, real), page=3)) == []


def test_spider_splits_a_query_over_ten_thousand_by_date_range():
    spider = SediaCallsSpider()
    halves = requests_of(spider.parse(envelope_response(12_000, 1), page=1))
    assert len(halves) == 2
    ranges = [h.cb_kwargs["date_range"] for h in halves]
    assert ranges == [(None, dt.date(2024, 12, 31)), (dt.date(2024, 12, 31), None)]
    parts = [h.body.decode() for h in halves]
    assert '"range":{"startDate":{"lt":"2024-12-31"}}' in parts[0]
    assert '"range":{"startDate":{"gte":"2024-12-31"}}' in parts[1]
    assert all(h.url == START_URL for h in halves)
    # A half still over the cap is halved again.
    again = requests_of(spider.parse(envelope_response(10_001, 1), page=1, date_range=ranges[1]))
    assert [r.cb_kwargs["date_range"] for r in again] == [
        (dt.date(2024, 12, 31), dt.date(2030, 7, 2)), (dt.date(2030, 7, 2), None)]


def test_split_date_range():
    floor, ceiling = dt.date(2014, 1, 1), dt.date(2036, 1, 1)
    low, high = split_date_range((dt.date(2020, 1, 1), dt.date(2020, 1, 11)), floor, ceiling)
    assert low == (dt.date(2020, 1, 1), dt.date(2020, 1, 6))
    assert high == (dt.date(2020, 1, 6), dt.date(2020, 1, 11))
    with pytest.raises(SediaFormatError, match="cannot split"):
        split_date_range((dt.date(2020, 1, 1), dt.date(2020, 1, 2)), floor, ceiling)


# --- quirks, one by one -----------------------------------------------------------------------


def test_every_metadata_value_is_an_array_of_strings():
    meta = RESULTS[STALE_ID]["metadata"]
    assert metadata_value(meta, "identifier") == STALE_ID
    assert metadata_value(meta, "focusArea") is None  # []
    assert metadata_value(meta, "budgetOverview") is None  # absent
    assert metadata_values(meta, "programmeDivision") == ["43118846", "43118966", "43108541"]
    with pytest.raises(SediaFormatError, match="one is expected"):
        metadata_value(meta, "programmeDivision")
    with pytest.raises(SediaFormatError, match="missing"):
        metadata_value(meta, "budgetOverview", required=True)
    with pytest.raises(SediaFormatError, match="array of strings"):
        metadata_values({"type": "1"}, "type")


def test_actions_and_budget_overview_are_json_inside_strings():
    meta = RESULTS[SOIL_ID]["metadata"]
    (action,) = metadata_json(meta, "actions")
    assert action["submissionProcedure"]["abbreviation"] == "two-stage"
    assert action_dates([action]) == ("2027-02-04", ["2027-04-08", "2027-09-14"])
    # The sample's budgetOverview is cut short: unreadable, and the record says so.
    with pytest.raises(json.JSONDecodeError):
        metadata_json(meta, "budgetOverview")


def test_keywords_serialised_as_one_json_string():
    meta = RESULTS[CL5_ID]["metadata"]
    assert len(meta["keywords"]) == 1
    assert keywords(meta)[:2] == ["Energy storage", "Social Innovation"]
    assert len(keywords(meta)) == 8
    # Plain arrays are kept as they are.
    assert keywords(RESULTS[SOIL_ID]["metadata"])[2] == "Agriculture"
    with pytest.raises(SediaFormatError):
        keywords({"keywords": ['["unclosed"']})


def test_identifiers_among_keywords_are_not_topics():
    record = record_from_search(RESULTS[SOIL_ID], CONFIG)
    assert SOIL_ID not in record["topics"]
    assert "HORIZON-MISS-2027-05-two-stage" not in record["topics"]
    assert record["topics"][0] == "Agriculture"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-04-18T19:00:00.000+0200", dt.date(2024, 4, 18)),
        ("2023-12-07T01:00:00.000+0100", dt.date(2023, 12, 7)),
        ("2024-02-07T17:00:00.000+0000", dt.date(2024, 2, 7)),
        # Midnight in Brussels written in UTC is still that Brussels day.
        ("2023-12-06T23:00:00.000+0000", dt.date(2023, 12, 7)),
    ],
)
def test_search_timestamps_read_in_brussels(value, expected):
    assert search_timestamp_to_date(value) == expected


def test_epoch_ms_read_in_brussels():
    assert epoch_ms_to_date("1728950400000") == dt.date(2024, 10, 15)
    assert epoch_ms_to_date("1738713600000") == dt.date(2025, 2, 5)
    # 23:30 UTC on 4 Feb is 00:30 on 5 Feb in Brussels.
    assert epoch_ms_to_date(1738711800000) == dt.date(2025, 2, 5)
    with pytest.raises(SediaFormatError):
        epoch_ms_to_date("2025-02-05")


def test_budget_sums_only_the_topics_own_actions():
    overview = TOPIC["TopicDetails"]["budgetOverviewJSONItem"]
    assert parse_budget(overview, SMP_ID) == (42_000_000.0, [])
    other = copy.deepcopy(overview)
    other["budgetTopicActionMap"]["1"] = [{"action": "SMP-COSME-2024-CLUSTER-02 - X",
                                           "budgetYearMap": {"2024": "5"}}]
    assert parse_budget(other, SMP_ID) == (42_000_000.0, [])
    value, flags = parse_budget(overview, "SMP-COSME-2024-CLUSTER-02")
    assert value is None and "no action" in flags[0]
    broken = copy.deepcopy(overview)
    (rows,) = broken["budgetTopicActionMap"].values()
    rows[0]["budgetYearMap"]["2024"] = "10.000.000"
    value, flags = parse_budget(broken, SMP_ID)
    assert value is None and "'10.000.000' is not a plain EUR amount" in flags[0]


def test_topic_details_record_ignores_portal_status():
    record = record_from_topic_details(TOPIC, CONFIG)
    assert TOPIC["TopicDetails"]["actions"][0]["status"]["abbreviation"] == "Closed"
    assert "status" not in record
    with pytest.raises(SediaFormatError):
        record_from_topic_details({"error": "x"}, CONFIG)


def test_language_duplicates_collapse_to_the_english_record():
    real = RESULTS[STALE_ID]
    french = copy.deepcopy(real) | {"language": "fr"}  # synthetic: a copy in another language
    again = copy.deepcopy(real)  # the same topic from a second datasource or page
    seen: set[str] = set()
    kept = english_results([french, real, again, RESULTS[SOIL_ID]], seen)
    assert [r["metadata"]["identifier"][0] for r in kept] == [STALE_ID, SOIL_ID]
    assert english_results([copy.deepcopy(real)], seen) == []  # across pages too


def test_cascade_funding_call_from_search_metadata_alone():
    # Synthetic: no real type-8 payload is bundled; keys as SEEN-CODE lists them.
    result = {
        "url": "https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/"
        "opportunities/competitive-calls-cs/1234",
        "language": "en",
        "metadata": {
            "identifier": ["EUROCLUSTER-OPEN-CALL-1"],
            "title": ["Open call for SMEs"],
            "type": ["8"],
            "frameworkProgramme": ["43252476"],
            "startDate": ["2025-03-01T00:00:00.000+0100"],
            "deadlineDate": ["2025-05-30T17:00:00.000+0200"],
            "description": ["<p>Vouchers for <b>SMEs</b></p>"],
        },
    }
    spider = SediaCallsSpider()
    response = envelope_response(1, 1, [result])
    items = list(spider.parse(response, page=1))
    (call,) = [i for i in items if i.get("entity") == "calls"]
    assert not requests_of(items)  # no topicDetails for type 8
    assert call["call_type"] == "8"
    assert call["opening_date"] == "2025-03-01" and call["deadline_dates"] == ["2025-05-30"]
    assert call["url"] == result["url"]
    assert call["publisher"] is None
    assert call["description"] == "Vouchers for SMEs"
    assert load_registry()["eu_sedia_calls"].lookup("call_types")["8"] == "cascade_funding"


SAMPLES = ROOT.parent / "shared" / "sources" / "samples" / "sedia"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared samples are not in this checkout")
def test_recordings_marked_real_are_byte_copies_of_the_samples():
    index = load("index.json")
    real = [e for e in index["responses"] if not e["reconstructed"]]
    assert real
    for entry in real:
        assert (HERE / entry["file"]).read_bytes() == (SAMPLES / entry["file"]).read_bytes()
    page = load("search_page_1.json")
    envelope = json.loads((SAMPLES / "search_page_envelope_first2of9.json").read_text("utf-8"))
    assert page["results"][:2] == envelope["results"]  # the real results, unchanged
    assert {k: v for k, v in page.items() if k != "results"} == {
        k: v for k, v in envelope.items() if k != "results"}
