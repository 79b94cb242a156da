"""The EU Funding & Tenders Portal: the SEDIA search API, then each topic's topicDetails JSON.

The query is data (the `query` block of scrapers/sources/eu_sedia_calls.yml). The pure functions
here (metadata_value, epoch_ms_to_date, parse_budget, split_date_range, …) carry the source's
quirks and are tested one by one in tests/test_source_eu_sedia_calls.py.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapers.base import SourceSpider
from scrapers.extract.errors import UnreadableDocument
from scrapers.extract.text import normalise_space, visible_lines
from scrapers.registry import source_config

SOURCE_ID = "eu_sedia_calls"
BRUSSELS = ZoneInfo("Europe/Brussels")
# Fixed, so the body (and with it the replay key, which hashes the body) is the same every run.
BOUNDARY = "clusterdata-sedia-form-boundary"
# The server caps pageSize at 100 whatever is asked (SEEN-CODE comment, "confirmed live").
MAX_PAGE_SIZE = 100
_SEARCH_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{4}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPOCH_MS = re.compile(r"^-?\d{10,14}$")
_AMOUNT = re.compile(r"^\d+(\.\d+)?$")


class SediaFormatError(ValueError):
    """A search result or topicDetails payload that does not have the shape we read."""


@cache
def query_config(source_id: str = SOURCE_ID) -> dict[str, Any]:
    """The `query` block of the source YAML (not a SourceSpec key, so read here)."""
    return source_config(source_id)["query"]


# --- the request -----------------------------------------------------------------------------


def multipart_body(parts: dict[str, Any], boundary: str = BOUNDARY) -> bytes:
    """multipart/form-data with one JSON blob per part, as the portal's own app sends it."""
    chunks = []
    for name, value in parts.items():
        blob = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        chunks.append(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="blob"\r\n'
            "Content-Type: application/json\r\n\r\n"
            f"{blob}\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return "".join(chunks).encode("utf-8")


DateRange = tuple[dt.date | None, dt.date | None]


def range_clause(field: str, date_range: DateRange) -> dict[str, Any]:
    """An Elasticsearch `range` on `field`: [start, end), either end open."""
    start, end = date_range
    bounds = {}
    if start is not None:
        bounds["gte"] = start.isoformat()
    if end is not None:
        bounds["lt"] = end.isoformat()
    return {"range": {field: bounds}}


def search_parts(config: dict[str, Any], date_range: DateRange | None = None) -> dict[str, Any]:
    """The multipart parts for the YAML query, narrowed to `date_range` when one is given."""
    parts = copy.deepcopy(config["parts"])
    if date_range is not None:
        parts["query"]["bool"]["must"].append(range_clause(config["split"]["field"], date_range))
    return parts


def search_body(config: dict[str, Any], date_range: DateRange | None = None) -> bytes:
    return multipart_body(search_parts(config, date_range))


def page_url(start_url: str, page: int) -> str:
    """The search URL with pageNumber set (the other parameters kept in their order)."""
    parts = urlsplit(start_url)
    params = [(k, str(page) if k == "pageNumber" else v) for k, v in parse_qsl(parts.query)]
    if "pageNumber" not in dict(params):
        raise SediaFormatError(f"search URL has no pageNumber parameter: {start_url}")
    # `***` (the API's match-all text) is kept as is: the replay key is the exact URL.
    return urlunsplit(parts._replace(query=urlencode(params, safe="*")))


def page_size_of(url: str) -> int:
    size = int(dict(parse_qsl(urlsplit(url).query))["pageSize"])
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise SediaFormatError(f"pageSize {size} outside 1..{MAX_PAGE_SIZE}: the server caps it")
    return size


def next_page(page: int, page_size: int, total_results: int) -> int | None:
    """The page to ask for after `page`, or None once page * pageSize covers totalResults."""
    return None if page * page_size >= total_results else page + 1


def split_date_range(date_range: DateRange, floor: dt.date, ceiling: dt.date) -> list[DateRange]:
    """Halve a range of a query that matched more than the API serves (10,000).

    An open end stands for floor/ceiling when placing the midpoint but stays open in the halves,
    so a result dated outside [floor, ceiling) is still in one of them.
    """
    start, end = date_range
    lo, hi = start or floor, end or ceiling
    if (hi - lo).days < 2:
        raise SediaFormatError(
            f"cannot split {lo}..{hi} further: one day matches more than the API serves"
        )
    middle = lo + dt.timedelta(days=(hi - lo).days // 2)
    return [(start, middle), (middle, end)]


# --- reading values --------------------------------------------------------------------------


def metadata_values(metadata: dict[str, Any], key: str) -> list[str]:
    """Every metadata value is an array of strings; [] when the key is absent."""
    values = metadata.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SediaFormatError(f"metadata.{key} is not an array of strings: {values!r}")
    return values


def metadata_value(metadata: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """The single value of a metadata array; None when absent or empty (unless required)."""
    values = metadata_values(metadata, key)
    if len(values) > 1:
        raise SediaFormatError(f"metadata.{key} has {len(values)} values where one is expected")
    if not values or not values[0].strip():
        if required:
            raise SediaFormatError(f"metadata.{key} is missing")
        return None
    return values[0]


def metadata_json(metadata: dict[str, Any], key: str) -> Any:
    """A metadata value that is JSON serialised inside its one string (actions, budgetOverview)."""
    raw = metadata_value(metadata, key)
    return None if raw is None else json.loads(raw)


def keywords(metadata: dict[str, Any]) -> list[str]:
    """metadata.keywords, which is sometimes one string holding a JSON array of keywords."""
    values = metadata_values(metadata, "keywords")
    if len(values) == 1 and values[0].lstrip().startswith("["):
        try:
            parsed = json.loads(values[0])
        except json.JSONDecodeError as error:
            raise SediaFormatError(f"metadata.keywords: unreadable JSON {values[0]!r}") from error
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise SediaFormatError(f"metadata.keywords: not a JSON array of strings {parsed!r}")
        return parsed
    return values


def search_timestamp_to_date(value: str) -> dt.date:
    """'2024-04-18T19:00:00.000+0200' -> that instant's calendar date in Brussels."""
    if not _SEARCH_TIMESTAMP.match(value):
        raise SediaFormatError(f"not a search timestamp: {value!r}")
    pattern = "%Y-%m-%dT%H:%M:%S.%f%z" if "." in value else "%Y-%m-%dT%H:%M:%S%z"
    instant = dt.datetime.strptime(value, pattern)
    return instant.astimezone(BRUSSELS).date()


def epoch_ms_to_date(value: str | int) -> dt.date:
    """topicDetails epoch milliseconds -> that instant's calendar date in Brussels."""
    if isinstance(value, bool) or not _EPOCH_MS.match(str(value)):
        raise SediaFormatError(f"not epoch milliseconds: {value!r}")
    instant = dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    return instant.astimezone(BRUSSELS).date()


def portal_date(value: str | int) -> dt.date:
    """Any of the portal's three date shapes: plain ISO date, search timestamp, epoch ms."""
    text = str(value)
    if _ISO_DATE.match(text):
        return dt.date.fromisoformat(text)
    if _SEARCH_TIMESTAMP.match(text):
        return search_timestamp_to_date(text)
    return epoch_ms_to_date(text)


def action_dates(actions: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """(earliest planned opening, every deadline sorted) over a topic's actions, ISO dates."""
    if not isinstance(actions, list):
        raise SediaFormatError(f"actions is not a list: {actions!r}")
    openings = sorted(
        portal_date(a["plannedOpeningDate"]) for a in actions if a.get("plannedOpeningDate")
    )
    deadlines = sorted({portal_date(d) for a in actions for d in a.get("deadlineDates") or []})
    return (openings[0].isoformat() if openings else None), [d.isoformat() for d in deadlines]


def parse_budget(overview: dict[str, Any], identifier: str) -> tuple[float | None, list[str]]:
    """Total EUR of budgetYearMap over the topic's own actions, and any flags.

    The overview covers the whole call: an action belongs to the topic when its label starts
    with "<identifier> - ". No such action gives None and a flag, never another topic's money.
    """
    table = overview.get("budgetTopicActionMap")
    if not isinstance(table, dict):
        return None, ["budget_eur: the budget overview has no budgetTopicActionMap"]
    prefix = f"{identifier} - ".casefold()
    own = [
        action
        for actions in table.values()
        for action in actions
        if str(action.get("action", "")).casefold().startswith(prefix)
    ]
    if not own:
        return None, [f"budget_eur: no action of {identifier} in the budget overview"]
    total = Decimal(0)
    for action in own:
        for year, amount in (action.get("budgetYearMap") or {}).items():
            text = str(amount).strip()
            if not _AMOUNT.match(text):
                return None, [f"budget_eur: {year}: {amount!r} is not a plain EUR amount"]
            total += Decimal(text)
    return float(total), []


def html_text(html: str | None) -> str | None:
    """Plain text of an HTML fragment, one line per block; None when it has no text."""
    if html is None or not html.strip():
        return None
    try:
        lines = visible_lines(f"<html><body>{html}</body></html>")
    except UnreadableDocument:
        return None
    return "\n".join(lines) or None


def topics_of(keyword_list: list[str], tags: list[str], *exclude: str | None) -> list[str] | None:
    """Keywords then tags, spaces normalised, deduplicated; identifiers the index lists among
    the keywords (the topic's and the call's) are not topics."""
    skip = {e.casefold() for e in exclude if e}
    out: list[str] = []
    for value in [*keyword_list, *tags]:
        text = normalise_space(value)
        if text and text.casefold() not in skip and text not in out:
            out.append(text)
    return out or None


def is_english(result: dict[str, Any]) -> bool:
    return result.get("language") == "en"


def english_results(results: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """English results not seen before, one per identifier (the index holds one per language,
    and a topic can come back from two datasources or on two pages)."""
    out = []
    for result in results:
        if not is_english(result):
            continue
        identifier = metadata_value(result["metadata"], "identifier", required=True)
        if identifier in seen:
            continue
        seen.add(identifier)
        out.append(result)
    return out


# --- records ---------------------------------------------------------------------------------


def record_from_search(result: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A call record from one search result's metadata alone (type 8, or no topicDetails)."""
    meta = result["metadata"]
    identifier = metadata_value(meta, "identifier", required=True)
    kind = metadata_value(meta, "type", required=True)
    flags: list[str] = []
    actions = metadata_json(meta, "actions")
    if actions:
        opening, deadlines = action_dates(actions)
    else:
        start = metadata_value(meta, "startDate")
        opening = portal_date(start).isoformat() if start else None
        stamps = metadata_values(meta, "deadlineDate")
        deadlines = sorted({portal_date(d).isoformat() for d in stamps})
    budget = None
    raw_overview = metadata_value(meta, "budgetOverview")
    if raw_overview is not None:
        try:
            overview = json.loads(raw_overview)
        except json.JSONDecodeError:
            flags.append("budget_eur: the search result's budgetOverview is not readable JSON")
        else:
            budget, budget_flags = parse_budget(overview, identifier)
            flags += budget_flags
    if kind in config["topic_details_types"]:
        url = config["topic_page_url"].format(identifier=identifier)
    else:
        # Cascade-funding calls live on the portal's competitive-calls pages, whose id the
        # result's own url carries.
        url = result["url"]
    description = metadata_value(meta, "descriptionByte") or metadata_value(meta, "description")
    return {
        "identifier": identifier,
        "title": normalise_space(metadata_value(meta, "title", required=True)),
        "programme": metadata_value(meta, "frameworkProgramme"),
        # Cascade-funding calls are launched by the funded projects, not by the Commission.
        "publisher": None if kind == "8" else "European Commission",
        "call_type": kind,
        "opening_date": opening,
        "deadline_date": deadlines[0] if deadlines else None,
        "deadline_dates": deadlines or None,
        "budget_eur": budget,
        "eligible_applicants": None,
        "topics": topics_of(
            keywords(meta),
            metadata_values(meta, "tags"),
            identifier,
            metadata_value(meta, "callIdentifier"),
        ),
        "description": html_text(description),
        "url": url,
        "quality_flags": flags,
    }


def record_from_topic_details(payload: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A call record from a topicDetails JSON ({"TopicDetails": {...}})."""
    topic = payload.get("TopicDetails")
    if not isinstance(topic, dict):
        raise SediaFormatError("topicDetails JSON has no TopicDetails object")
    identifier = topic["identifier"]
    opening, deadlines = action_dates(topic["actions"])
    budget, flags = parse_budget(topic.get("budgetOverviewJSONItem") or {}, identifier)
    return {
        "identifier": identifier,
        "title": normalise_space(topic["title"]),
        "programme": topic["frameworkProgramme"]["abbreviation"],
        "publisher": "European Commission",
        "call_type": str(topic["type"]),
        "opening_date": opening,
        "deadline_date": deadlines[0] if deadlines else None,
        "deadline_dates": deadlines or None,
        "budget_eur": budget,
        # topicDetails states who may apply only in the `conditions` prose: no structured field.
        "eligible_applicants": None,
        "topics": topics_of(
            topic.get("keywords") or [],
            topic.get("tags") or [],
            identifier,
            topic.get("callIdentifier"),
        ),
        "description": html_text(topic.get("description")),
        "url": config["topic_page_url"].format(identifier=identifier),
        "quality_flags": flags,
    }


class SediaCallsSpider(SourceSpider):
    """Reads the Funding & Tenders Portal's search API and each topic's topicDetails JSON."""

    name = SOURCE_ID

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = query_config(self.name)
        self.seen: set[str] = set()

    def search_request(self, page: int, date_range: DateRange | None = None) -> scrapy.Request:
        """POST one page of the YAML query (narrowed to a date range once split)."""
        return scrapy.Request(
            page_url(self.source.start_urls[0], page),
            method="POST",
            body=search_body(self.config, date_range),
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Accept": "application/json",
            },
            callback=self.parse,
            cb_kwargs={"page": page, "date_range": date_range},
            # Every page has the same body; the URL differs, the dupefilter must not care.
            dont_filter=True,
        )

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.search_request(1)

    def parse(
        self, response: Response, page: int = 1, date_range: DateRange | None = None
    ) -> Iterator:
        """One page of the search API's JSON envelope: results, then the next page or a split."""
        yield self.document(response)
        envelope = json.loads(response.text)
        total = envelope["totalResults"]
        if page == 1 and total > self.config["max_results"]:
            split = self.config["split"]
            halves = split_date_range(
                date_range or (None, None),
                dt.date.fromisoformat(split["floor"]),
                dt.date.fromisoformat(split["ceiling"]),
            )
            self.logger.info("%s results over the cap: splitting into %s", total, halves)
            for half in halves:
                yield self.search_request(1, half)
            return
        results = envelope["results"]
        for result in english_results(results, self.seen):
            yield from self.follow_result(response, result)
        following = next_page(page, page_size_of(response.url), total)
        if following is not None:
            if not results:
                self.logger.error("page %s is empty but totalResults is %s", page, total)
                return
            yield self.search_request(following, date_range)

    def follow_result(self, response: Response, result: dict[str, Any]) -> Iterator:
        meta = result["metadata"]
        identifier = metadata_value(meta, "identifier", required=True)
        kind = metadata_value(meta, "type", required=True)
        if kind not in self.config["topic_details_types"]:
            yield self.call_item(response, record_from_search(result, self.config))
            return
        url = self.config["topic_details_url"].format(identifier_lower=identifier.lower())
        yield scrapy.Request(
            url,
            callback=self.parse_topic_details,
            errback=self.topic_details_failed,
            cb_kwargs={"search_response": response, "result": result},
            meta={"handle_httpstatus_list": [404]},
        )

    def parse_topic_details(
        self, response: Response, search_response: Response, result: dict[str, Any]
    ) -> Iterator:
        """One topicDetails JSON: budget, actions (opening, deadlines), description, tags."""
        yield self.document(response)
        if response.status == 404:
            # Not every indexed topic has a topicDetails file: the record comes from the search
            # result alone, and says so.
            record = record_from_search(result, self.config)
            record["quality_flags"].append(
                f"topicDetails answered 404 ({response.url}): read from the search index only"
            )
            yield self.call_item(search_response, record)
            return
        record = record_from_topic_details(json.loads(response.text), self.config)
        expected = metadata_value(result["metadata"], "identifier", required=True)
        if record["identifier"].casefold() != expected.casefold():
            raise SediaFormatError(
                f"topicDetails {response.url} is {record['identifier']}, not {expected}"
            )
        yield self.call_item(response, record)

    def topic_details_failed(self, failure: Failure) -> None:
        # Anything but 200/404 would lose a call silently: log an error, which fails the crawl.
        self.logger.error("topicDetails failed: %s", failure.getErrorMessage())
