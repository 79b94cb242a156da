"""Portugal 2030 avisos: the site's `wp-json/avisos/query` JSON, page by page, and each aviso's
documents from `wp-json/avisos/download` (shared/sources/SOURCES.md §6a).

The query is data (the `query` block of scrapers/sources/pt_portugal2030_calls.yml). The pure
functions here (query_body, read_page, api_date, storage_error_code, record_from_aviso, …) carry
the source's quirks and are tested one by one in tests/test_source_pt_portugal2030_calls.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import scrapy
import yaml
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from scrapers.base import SourceSpider
from scrapers.extract.text import normalise_space
from scrapers.registry import SOURCES_DIR

SOURCE_ID = "pt_portugal2030_calls"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=UTF-8"
# The JSON names no managing authority in the part of its shape we know (see the YAML notes).
DEFAULT_PUBLISHER = "Portugal 2030"
# "2026-09-01T00:00:00" (SEEN-CODE): local time with no offset; the date part is the day.
_API_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d+)?$")
# An Azure Blob Storage error document, which the download endpoint relays with HTTP 200.
_STORAGE_ERROR = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>)?\s*<Error>\s*<Code>([^<]+)</Code>"
)
# The keys of the response shape we know (SEEN-CODE); any other is logged as unread, and so is
# any calendario key but the two date fields the YAML names.
KNOWN_KEYS = {
    "": {"aviso", "estrutura", "calendario", "documentos"},
    "aviso": {"codigoAviso", "designacaoPT"},
    "documentos[]": {"documentoDesignacao", "tipoDocumentoDesignacao", "path", "container"},
}


class Portugal2030FormatError(ValueError):
    """A query page or aviso that does not have the shape we read."""


@cache
def source_config(source_id: str = SOURCE_ID) -> dict[str, Any]:
    """The blocks of the source YAML that are not SourceSpec keys (query, documents, …)."""
    raw = yaml.safe_load((SOURCES_DIR / f"{source_id}.yml").read_text(encoding="utf-8"))
    return {k: raw[k] for k in ("query", "documents", "aviso_page_url")}


# --- the request -----------------------------------------------------------------------------


def form_pairs(query: dict[str, Any], page: int) -> list[tuple[str, str]]:
    """The form fields in YAML order, a list value as one repeated field, then the page."""
    pairs: list[tuple[str, str]] = []
    for name, value in query["form"].items():
        values = value if isinstance(value, list) else [value]
        pairs += [(name, str(v)) for v in values]
    return [*pairs, (query["page_field"], str(page))]


def query_body(query: dict[str, Any], page: int) -> bytes:
    """The exact bytes POSTed for `page` (the replay key hashes them)."""
    return urlencode(form_pairs(query, page)).encode("ascii")


# --- reading values --------------------------------------------------------------------------


def read_page(payload: Any) -> list[dict[str, Any]] | None:
    """A page's avisos, or None for the {"code":404} answer past the last page."""
    if not isinstance(payload, dict):
        raise Portugal2030FormatError(f"query answer is not a JSON object: {payload!r:.80}")
    if payload.get("code") == 404 and "avisos" not in payload:
        return None
    avisos = payload.get("avisos")
    if payload.get("status") != 201 or not isinstance(avisos, list):
        raise Portugal2030FormatError(
            f"query answer has neither avisos with status 201 nor code 404: keys {sorted(payload)}"
        )
    if not avisos:
        # The documented end of the list is {"code":404}; an empty page is something else.
        raise Portugal2030FormatError("query answer has status 201 and no avisos")
    return avisos


def api_date(value: Any) -> str | None:
    """The date part of an API timestamp; any other text is kept as published (the clean layer
    quarantines a row whose date is not ISO), never guessed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Portugal2030FormatError(f"date is not text: {value!r}")
    text = value.strip()
    match = _API_DATETIME.match(text)
    return match.group(1) if match else (text or None)


def storage_error_code(body: bytes) -> str | None:
    """The code of a storage error document (BlobNotFound, …), or None for a real document."""
    match = _STORAGE_ERROR.match(body[:4096])
    return match.group(1).decode("ascii", "replace").strip() if match else None


def document_url(template: str, documento: dict[str, Any]) -> str:
    """The download URL of one document: SOURCES' pattern, path and container URL-encoded."""
    path, container = documento.get("path"), documento.get("container")
    if not isinstance(path, str) or not path.strip() or not isinstance(container, str):
        raise Portugal2030FormatError(f"document without path or container: {documento!r}")
    return template.format(path=quote(path, safe="/"), container=quote(container, safe=""))


def document_label(documento: dict[str, Any]) -> str:
    """How a flag names a document: its designation and type, as published."""
    name = normalise_space(str(documento.get("documentoDesignacao") or "")) or "(unnamed)"
    kind = normalise_space(str(documento.get("tipoDocumentoDesignacao") or ""))
    return f"{name} ({kind})" if kind else name


def unread_keys(entry: dict[str, Any], query: dict[str, Any]) -> list[str]:
    """Keys of an aviso entry outside the shape we read, as paths (for the audit log)."""
    dates = {query["opening_field"], query["deadline_field"]}
    out = [k for k in entry if k not in KNOWN_KEYS[""]]
    out += [f"aviso.{k}" for k in entry.get("aviso") or {} if k not in KNOWN_KEYS["aviso"]]
    out += [f"calendario.{k}" for k in entry.get("calendario") or {} if k not in dates]
    for documento in entry.get("documentos") or []:
        out += [f"documentos[].{k}" for k in documento if k not in KNOWN_KEYS["documentos[]"]]
    return sorted(set(out))


def record_from_aviso(entry: dict[str, Any], config: dict[str, Any], query_url: str) -> dict:
    """A call record from one `avisos[]` entry; document_urls lists every document, unchecked."""
    aviso, calendario = entry.get("aviso"), entry.get("calendario")
    if not isinstance(aviso, dict) or not isinstance(calendario, dict):
        raise Portugal2030FormatError(f"aviso entry without aviso/calendario: {entry!r:.120}")
    identifier, title = aviso.get("codigoAviso"), aviso.get("designacaoPT")
    if not isinstance(identifier, str) or not identifier.strip():
        raise Portugal2030FormatError(f"aviso without codigoAviso: {aviso!r:.120}")
    if not isinstance(title, str) or not title.strip():
        raise Portugal2030FormatError(f"aviso {identifier} without designacaoPT")
    if not isinstance(entry.get("estrutura", []), list):
        raise Portugal2030FormatError(f"aviso {identifier}: estrutura is not a list")
    documentos = entry.get("documentos") or []
    if not isinstance(documentos, list):
        raise Portugal2030FormatError(f"aviso {identifier}: documentos is not a list")
    query = config["query"]
    deadline = api_date(calendario.get(query["deadline_field"]))
    page_url = config["aviso_page_url"]
    urls = [document_url(config["documents"]["url"], d) for d in documentos]
    return {
        "identifier": identifier.strip(),
        "title": normalise_space(title),
        # In `estrutura`, whose element shape was not seen: NULL rather than a guess.
        "programme": None,
        "publisher": DEFAULT_PUBLISHER,
        # Every aviso is an "aviso de abertura de candidaturas"; the JSON states no other type.
        "call_type": "call_for_proposals",
        "opening_date": api_date(calendario.get(query["opening_field"])),
        "deadline_date": deadline,
        "deadline_dates": [deadline] if deadline else None,
        "budget_eur": None,
        "eligible_applicants": None,
        "topics": None,
        "description": None,
        "url": page_url.format(codigoAviso=identifier.strip()) if page_url else query_url,
        "country": "PT",
        "document_urls": list(dict.fromkeys(urls)) or None,
        "quality_flags": [],
    }


class Portugal2030CallsSpider(SourceSpider):
    """Reads the Portugal 2030 avisos query API and checks each aviso's documents."""

    name = SOURCE_ID

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = source_config(self.name)
        self.seen: set[str] = set()
        self.unread: set[str] = set()

    def query_request(self, page: int) -> scrapy.Request:
        """POST one page of the YAML query."""
        return scrapy.Request(
            self.source.start_urls[0],
            method="POST",
            body=query_body(self.config["query"], page),
            headers={"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json"},
            callback=self.parse,
            cb_kwargs={"page": page},
            # The status of the {"code":404} answer is unknown: the body decides.
            meta={"handle_httpstatus_list": [404]},
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.query_request(0)

    def parse(self, response: Response, page: int = 0) -> Iterator:
        """One page of the avisos query JSON: its avisos, then the next page until code 404."""
        yield self.document(response)
        avisos = read_page(json.loads(response.text))
        if avisos is None:
            if page == 0:
                # Positive control: the last page is only believed after a page with avisos.
                self.logger.error('page 0 answered {"code":404}: the query matched no aviso')
            else:
                self.logger.info('page %s answered {"code":404}: %s pages read', page, page)
            return
        if response.status not in (200, 201):
            raise Portugal2030FormatError(f"page {page}: avisos with HTTP {response.status}")
        for entry in avisos:
            yield from self.follow_aviso(response, entry)
        yield self.query_request(page + 1)

    def follow_aviso(self, response: Response, entry: dict[str, Any]) -> Iterator:
        record = record_from_aviso(entry, self.config, self.source.start_urls[0])
        if record["identifier"] in self.seen:
            # Pages shift when avisos are published mid-crawl (SEEN-CODE): one record each.
            self.logger.info("aviso %s seen on an earlier page", record["identifier"])
            return
        self.seen.add(record["identifier"])
        for key in unread_keys(entry, self.config["query"]):
            if key not in self.unread:
                self.unread.add(key)
                self.logger.warning("unread field %s (first in %s)", key, record["identifier"])
        if not self.config["documents"]["fetch"] or not record["document_urls"]:
            yield self.call_item(response, record)
            return
        template = self.config["documents"]["url"]
        pending = {document_url(template, d): document_label(d) for d in entry["documentos"]}
        record["document_urls"] = []
        yield from self.check_documents(response, record, list(pending.items()))

    def check_documents(
        self, query_response: Response, record: dict[str, Any], pending: list[tuple[str, str]]
    ) -> Iterator:
        """Fetch the aviso's documents one after the other, then yield its call."""
        if not pending:
            record["document_urls"] = record["document_urls"] or None
            yield self.call_item(query_response, record)
            return
        (url, label), rest = pending[0], pending[1:]
        kwargs = {
            "query_response": query_response,
            "record": record,
            "label": label,
            "pending": rest,
        }
        yield scrapy.Request(
            url,
            callback=self.parse_document,
            errback=self.document_failed,
            cb_kwargs=kwargs,
            # Two avisos may share a document: each must see it, or its call is never yielded.
            dont_filter=True,
        )

    def parse_document(
        self,
        response: Response,
        query_response: Response,
        record: dict[str, Any],
        label: str,
        pending: list[tuple[str, str]],
    ) -> Iterator:
        """One aviso document from the download endpoint: kept, or flagged if storage lacks it."""
        code = storage_error_code(response.body)
        if code is None:
            yield self.document(response)
            record["document_urls"].append(response.url)
        else:
            # HTTP 200 with an XML error body: not a document, and not a URL to list.
            record["quality_flags"].append(
                f"document missing: {label} answered a storage error {code} ({response.url})"
            )
        yield from self.check_documents(query_response, record, pending)

    def document_failed(self, failure: Failure) -> Iterator:
        kwargs = failure.request.cb_kwargs
        record, url = kwargs["record"], failure.request.url
        if failure.check(HttpError):
            status = failure.value.response.status
            record["quality_flags"].append(
                f"document missing: {kwargs['label']} answered HTTP {status} ({url})"
            )
        else:
            # A network failure after retries is not evidence that the document is missing.
            self.logger.error("document %s failed: %s", url, failure.getErrorMessage())
            record["quality_flags"].append(f"document unchecked: {kwargs['label']} ({url})")
        yield from self.check_documents(kwargs["query_response"], record, kwargs["pending"])
