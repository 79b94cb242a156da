"""pt_portugal2030_calls: the Portugal 2030 avisos query API and its documents, quirk by quirk.

The recordings in tests/fixtures/pt_portugal2030_calls are reconstructed and SYNTHETIC (no real
response was found: see its build_fixtures.py). The shape is SOURCES.md §6a's; every value is
invented. Extra dicts built here are synthetic too, and say so.
"""

import copy
import datetime as dt
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from pipelines.clean import clean_calls
from pipelines.raw import read_raw
from scrapers.registry import get_source, load_registry
from scrapers.spiders.pt_portugal2030_calls import (
    FORM_CONTENT_TYPE,
    Portugal2030CallsSpider,
    Portugal2030FormatError,
    api_date,
    document_label,
    document_url,
    form_pairs,
    query_body,
    read_page,
    record_from_aviso,
    source_config,
    storage_error_code,
    unread_keys,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SOURCE = "pt_portugal2030_calls"
HERE = FIXTURES / SOURCE
CONFIG = source_config()
QUERY_URL = get_source(SOURCE).start_urls[0]
OPEN, CLOSED, FORTHCOMING, NON_ISO = (f"XXX2030-2099-0{n}" for n in range(1, 5))
DOWNLOAD = "https://portugal2030.pt/wp-json/avisos/download?path=synthetic/"
PDF_URL = DOWNLOAD + "XXX2030-2099-01/aviso.pdf&container=siag-prod-container"
BLOB_URL = DOWNLOAD + "XXX2030-2099-02/anexo-1.pdf&container=siag-prod-container"


def load(name: str) -> dict:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


INDEX = load("index.json")
PAGE_0 = load("query_page_0.json")


def crawl(recordings: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scrapers.crawl", SOURCE, "--out", str(out), "--offline",
         "--recordings", str(recordings), "--log-file", str(out.with_suffix(".log"))],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def crawl_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(SOURCE) / "run.jsonl"
    proc = crawl(FIXTURES, out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def rows(crawl_out) -> list[dict]:
    return [json.loads(line) for line in crawl_out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def calls(rows) -> dict[str, dict]:
    return {r["identifier"]: r for r in rows if r["entity"] == "calls"}


# --- the crawl, offline -----------------------------------------------------------------------


def test_open_clusters_aviso_field_by_field(calls):
    row = calls[OPEN]
    assert row["identifier"] == OPEN
    assert row["title"] == "Clusters de Competitividade – Ações coletivas (synthetic)"
    assert row["programme"] is None  # in `estrutura`, whose shape was never seen
    assert row["publisher"] == "Portugal 2030"
    assert row["call_type"] == "call_for_proposals"
    # dataInicio "2026-10-01T00:00:00", dataFim "2027-01-29T23:59:59": the date parts.
    assert row["opening_date"] == "2026-10-01"
    assert row["deadline_date"] == "2027-01-29"
    assert row["deadline_dates"] == ["2027-01-29"]
    assert row["budget_eur"] is None
    assert row["eligible_applicants"] is None and row["topics"] is None
    assert row["description"] is None
    assert row["url"] == QUERY_URL  # the aviso page pattern was not seen
    assert row["country"] == "PT"
    assert row["document_urls"] == [PDF_URL]
    assert row["quality_flags"] is None
    assert row["source_url"] == QUERY_URL
    page_0 = (HERE / "query_page_0.json").read_bytes()
    assert row["document_sha256"] == hashlib.sha256(page_0).hexdigest()


def test_other_avisos_as_published(calls):
    assert sorted(calls) == [OPEN, CLOSED, FORTHCOMING, NON_ISO]
    assert (calls[CLOSED]["opening_date"], calls[CLOSED]["deadline_date"]) == (
        "2026-03-02", "2026-05-29")
    assert (calls[FORTHCOMING]["opening_date"], calls[FORTHCOMING]["deadline_date"]) == (
        "2027-02-01", "2027-04-30")
    assert calls[FORTHCOMING]["document_urls"] is None  # documentos: []
    # Not an API timestamp: kept as published for the clean layer to refuse, never guessed.
    assert calls[NON_ISO]["opening_date"] == "15-12-2026"
    assert calls[NON_ISO]["deadline_date"] == "2027-03-31"


def test_aviso_repeated_on_a_later_page_is_one_record(rows):
    page_1 = load("query_page_1.json")
    assert CLOSED in [a["aviso"]["codigoAviso"] for a in page_1["avisos"]]  # the page shift
    assert [r["identifier"] for r in rows if r["entity"] == "calls"].count(CLOSED) == 1


def test_missing_document_is_flagged_not_stored(rows, calls):
    blob = (HERE / "document_blob_not_found.xml").read_bytes()
    assert b"<Error><Code>BlobNotFound</Code>" in blob
    row = calls[CLOSED]
    assert row["document_urls"] is None  # its only document is missing
    (flag,) = row["quality_flags"]
    assert flag.startswith("document missing: Anexo I – Referencial de mérito (synthetic)")
    assert "BlobNotFound" in flag and BLOB_URL in flag
    docs = [r for r in rows if r["entity"] == "documents"]
    assert BLOB_URL not in {d["url"] for d in docs}
    assert hashlib.sha256(blob).hexdigest() not in {d["document_sha256"] for d in docs}
    assert all(BLOB_URL not in (r.get("document_urls") or []) for r in calls.values())


def test_documents_rows_are_the_query_pages_and_the_real_document(rows):
    docs = [r for r in rows if r["entity"] == "documents"]
    assert sorted((d["url"], d["content_type"]) for d in docs) == sorted(
        [(QUERY_URL, "application/json; charset=UTF-8")] * 3 + [(PDF_URL, "application/pdf")])
    (pdf,) = [d for d in docs if d["url"] == PDF_URL]
    body = (HERE / "document_synthetic_placeholder.pdf").read_bytes()
    assert body.startswith(b"%PDF-") and pdf["document_sha256"] == hashlib.sha256(body).hexdigest()
    assert all(d["reconstructed"] for d in docs)


def test_crawl_fails_when_page_0_answers_code_404(tmp_path):
    recordings = tmp_path / "fixtures"
    shutil.copytree(HERE, recordings / SOURCE)
    index = json.loads((recordings / SOURCE / "index.json").read_text())
    page_0 = next(e for e in index["responses"] if e["file"] == "query_page_0.json")
    page_0["file"] = "query_page_2_code404.json"
    (recordings / SOURCE / "index.json").write_text(json.dumps(index))
    out = tmp_path / "run.jsonl"
    proc = crawl(recordings, out)
    assert proc.returncode == 1
    assert "errors logged" in proc.stderr
    assert not out.exists()
    assert "the query matched no aviso" in out.with_suffix(".log").read_text()


# --- status and quarantine in the clean layer, on a frozen clock ------------------------------


def cleaned(crawl_out, today: dt.date):
    return clean_calls(read_raw(crawl_out)["calls"], load_registry(), today=today)


@pytest.mark.parametrize(
    ("identifier", "today", "status"),
    [
        (OPEN, dt.date(2026, 9, 30), "forthcoming"),
        (OPEN, dt.date(2026, 10, 1), "open"),
        (OPEN, dt.date(2026, 11, 23), "open"),
        (OPEN, dt.date(2027, 1, 29), "open"),
        (OPEN, dt.date(2027, 1, 30), "closed"),
        (CLOSED, dt.date(2026, 11, 23), "closed"),
        (FORTHCOMING, dt.date(2026, 11, 23), "forthcoming"),
    ],
)
def test_status_derived_on_the_runs_clock(crawl_out, identifier, today, status):
    frame = cleaned(crawl_out, today).frame
    row = frame.filter(frame["identifier"] == identifier).row(0, named=True)
    assert row["status"] == status
    assert row["call_id"] == f"{SOURCE}:{identifier}"
    assert row["call_type"] == "call_for_proposals"


def test_non_iso_date_is_quarantined(crawl_out):
    result = cleaned(crawl_out, dt.date(2026, 11, 23))
    (bad,) = result.rejected.iter_rows(named=True)
    assert bad["record_key"] == f"{SOURCE}:{NON_ISO}"
    assert (bad["column"], bad["check"], bad["failure_case"]) == (
        "opening_date", "iso_date", "15-12-2026")
    assert NON_ISO not in result.frame["identifier"].to_list()
    assert load("expected_quarantine.json") == {"calls": [f"{SOURCE}:{NON_ISO}"]}


# --- the request ------------------------------------------------------------------------------


def test_recorded_bodies_are_the_spiders():
    posts = [e for e in INDEX["responses"] if e["method"] == "POST"]
    assert [e["file"] for e in posts] == [
        "query_page_0.json", "query_page_1.json", "query_page_2_code404.json"]
    spider = Portugal2030CallsSpider()
    for page, entry in enumerate(posts):
        request = spider.query_request(page)
        assert request.method == "POST" and request.url == entry["url"] == QUERY_URL
        assert hashlib.sha256(request.body).hexdigest() == entry["body_sha256"]
        assert request.headers["Content-Type"].decode() == FORM_CONTENT_TYPE
        assert request.cb_kwargs == {"page": page}


def test_form_body_order_repeated_fields_and_page():
    # Synthetic values: the real state and programme ids were never seen.
    query = {"form": {"estadoAvisoId": "7", "programaId[]": ["1", "22"], "order_by": "x",
                      "order_by_direction": "asc"}, "page_field": "page"}
    assert form_pairs(query, 3) == [("estadoAvisoId", "7"), ("programaId[]", "1"),
                                    ("programaId[]", "22"), ("order_by", "x"),
                                    ("order_by_direction", "asc"), ("page", "3")]
    assert query_body(query, 3) == (
        b"estadoAvisoId=7&programaId%5B%5D=1&programaId%5B%5D=22&order_by=x"
        b"&order_by_direction=asc&page=3")
    assert query_body(CONFIG["query"], 0) == query_body(copy.deepcopy(CONFIG["query"]), 0)
    assert query_body(CONFIG["query"], 0).endswith(b"&page=0")


# --- pagination -------------------------------------------------------------------------------


def page_response(payload: dict, page: int, status: int = 200) -> TextResponse:
    request = Request(QUERY_URL, method="POST", body=query_body(CONFIG["query"], page))
    return TextResponse(QUERY_URL, status=status, body=json.dumps(payload).encode(),
                        encoding="utf-8", request=request)


def no_documents(spider: Portugal2030CallsSpider) -> Portugal2030CallsSpider:
    spider.config = {**spider.config, "documents": {**spider.config["documents"], "fetch": False}}
    return spider


def calls_of(items) -> dict[str, dict]:
    return {i["identifier"]: i for i in items
            if not isinstance(i, Request) and i["entity"] == "calls"}


def query_requests(items) -> list[Request]:
    return [i for i in items if isinstance(i, Request) and i.url == QUERY_URL]


def test_a_page_with_avisos_asks_for_the_next():
    spider = no_documents(Portugal2030CallsSpider())
    items = list(spider.parse(page_response(PAGE_0, 4), page=4))
    (nxt,) = query_requests(items)
    assert nxt.cb_kwargs == {"page": 5} and nxt.body == query_body(CONFIG["query"], 5)
    assert sorted(calls_of(items)) == [OPEN, CLOSED]


@pytest.mark.parametrize("http_status", [200, 404])
def test_code_404_past_the_last_page_stops_quietly(caplog, http_status):
    end = load("query_page_2_code404.json")
    assert end == {"code": 404, "info": "No data found"}
    with caplog.at_level(logging.INFO):
        items = list(Portugal2030CallsSpider().parse(page_response(end, 2, http_status), page=2))
    assert query_requests(items) == []
    assert [i["entity"] for i in items] == ["documents"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_code_404_on_page_0_is_an_error(caplog):
    end = load("query_page_2_code404.json")
    items = list(Portugal2030CallsSpider().parse(page_response(end, 0), page=0))
    assert query_requests(items) == []
    assert any(r.levelno == logging.ERROR and "matched no aviso" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"status": 201, "avisos": []}, "no avisos"),
        ({"status": 200, "avisos": [{}]}, "neither"),
        ({"code": 500, "info": "x"}, "neither"),
        ([], "not a JSON object"),
    ],
)
def test_unexpected_pages_are_refused(payload, message):
    with pytest.raises(Portugal2030FormatError, match=message):
        read_page(payload)


# --- values, one by one -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-09-01T00:00:00", "2026-09-01"),
        ("2027-01-29T23:59:59", "2027-01-29"),
        ("2027-01-29T23:59:59.123", "2027-01-29"),
        ("15-12-2026", "15-12-2026"),  # kept as published; quarantined downstream
        (" ", None),
        (None, None),
    ],
)
def test_api_date(value, expected):
    assert api_date(value) == expected


def test_api_date_refuses_non_text():
    with pytest.raises(Portugal2030FormatError):
        api_date(20260901)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ((HERE / "document_blob_not_found.xml").read_bytes(), "BlobNotFound"),
        (b"<Error><Code>BlobNotFound</Code><Message>x</Message></Error>", "BlobNotFound"),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n<Error>\n <Code>'
         b"AuthenticationFailed</Code></Error>", "AuthenticationFailed"),
        ((HERE / "document_synthetic_placeholder.pdf").read_bytes(), None),
        (b'<?xml version="1.0"?><root><Error><Code>X</Code></Error></root>', None),
        (b"", None),
    ],
)
def test_storage_error_is_detected_by_content(body, code):
    assert storage_error_code(body) == code


def test_document_url_from_sources_pattern():
    doc = {"path": "a b/c.pdf", "container": "siag-prod-container"}
    assert document_url(CONFIG["documents"]["url"], doc) == (
        "https://portugal2030.pt/wp-json/avisos/download?path=a%20b/c.pdf"
        "&container=siag-prod-container")
    with pytest.raises(Portugal2030FormatError, match="without path"):
        document_url(CONFIG["documents"]["url"], {"container": "siag-prod-container"})
    assert document_label({"documentoDesignacao": " Aviso  ", "tipoDocumentoDesignacao": ""}) == (
        "Aviso")


def test_record_refuses_an_aviso_without_its_code_or_title():
    entry = copy.deepcopy(PAGE_0["avisos"][0])
    del entry["aviso"]["codigoAviso"]
    with pytest.raises(Portugal2030FormatError, match="codigoAviso"):
        record_from_aviso(entry, CONFIG, QUERY_URL)
    entry = copy.deepcopy(PAGE_0["avisos"][0])
    entry["aviso"]["designacaoPT"] = " "
    with pytest.raises(Portugal2030FormatError, match="designacaoPT"):
        record_from_aviso(entry, CONFIG, QUERY_URL)


def test_unread_fields_are_logged_once(caplog):
    # Synthetic extra keys: what a live answer with more fields would look like.
    page = copy.deepcopy(PAGE_0)
    for entry in page["avisos"]:
        entry["aviso"]["dotacao"] = "1"
        entry["calendario"]["dataFecho"] = "x"
    assert unread_keys(page["avisos"][0], CONFIG["query"]) == [
        "aviso.dotacao", "calendario.dataFecho"]
    spider = no_documents(Portugal2030CallsSpider())
    list(spider.parse(page_response(page, 0), page=0))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["unread field aviso.dotacao (first in XXX2030-2099-01)",
                        "unread field calendario.dataFecho (first in XXX2030-2099-01)"]


# --- documents --------------------------------------------------------------------------------


def test_fetch_documents_off_lists_every_document_unchecked():
    spider = no_documents(Portugal2030CallsSpider())
    items = list(spider.parse(page_response(PAGE_0, 0), page=0))
    assert [i.url for i in items if isinstance(i, Request)] == [QUERY_URL]
    calls = calls_of(items)
    assert calls[OPEN]["document_urls"] == [PDF_URL]
    assert calls[CLOSED]["document_urls"] == [BLOB_URL]
    assert calls[CLOSED]["quality_flags"] is None


def test_document_answering_http_404_is_flagged():
    spider = Portugal2030CallsSpider()
    query_response = page_response(PAGE_0, 0)
    record = record_from_aviso(PAGE_0["avisos"][1], CONFIG, QUERY_URL) | {"document_urls": []}
    (request,) = spider.check_documents(query_response, record, [(BLOB_URL, "Anexo I")])
    assert request.url == BLOB_URL and request.dont_filter
    failure = Failure(HttpError(Response(BLOB_URL, status=404, request=request)))
    failure.request = request
    (call,) = spider.document_failed(failure)
    assert call["entity"] == "calls" and call["document_urls"] is None
    assert call["quality_flags"] == [f"document missing: Anexo I answered HTTP 404 ({BLOB_URL})"]


# --- the recordings say what they are ---------------------------------------------------------


def test_recordings_are_marked_synthetic_and_unverified():
    assert (INDEX["reconstructed"], INDEX["synthetic"], INDEX["url_verified"]) == (
        True, True, False)
    assert "SEEN-CODE" in INDEX["notes"] and "synthetic" in INDEX["notes"]
    for entry in INDEX["responses"]:
        assert entry["reconstructed"] and entry["synthetic"] and not entry["url_verified"]
    for name in ("query_page_0.json", "query_page_1.json"):
        for entry in load(name)["avisos"]:
            assert entry["aviso"]["codigoAviso"].startswith("XXX2030-2099-")
            assert entry["aviso"]["designacaoPT"].endswith("(synthetic)")
    pdf = (HERE / "document_synthetic_placeholder.pdf").read_bytes()
    assert b"Synthetic placeholder" in pdf or b"/Title (Synthetic placeholder)" in pdf
