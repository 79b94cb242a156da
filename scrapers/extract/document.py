"""One entry point for any page: bytes in, public records out (the issue-5 contract).

`extract_document` sniffs the format from the bytes (a PDF is a PDF whatever the server says),
reads the text, detects the language from the words (`<html lang>` is only a hint for pages
too short to tell), decides the kind of page from the keyword scores in tables/kinds.yml, runs the
extractor for that kind and returns records in the public shapes below. Anything it cannot read
raises UnreadableDocument with a one-line reason; nothing else escapes.

    project       {"record_type": "project", "title", "acronym", "reference", ...,
                   "participants": [{"name", "role", "country"}], "url", "lang"}
    call          {"record_type": "call", "title", "identifier", ..., "url", "lang"}
    cluster-list  {"record_type": "cluster-list", "clusters": [{"name", "country", "sector"}],
                   "url", "lang"}

A "partnership" page yields a project record: the partnership is the project, its partners are
the participants. The extractors' internal extras (quality flags, `programmes`, `website`,
`mentioned`, work packages) stay with the spiders; the public shape carries only the contract's
fields, unknown ones as null.
"""

from __future__ import annotations

import html as html_lib
import re
from functools import cache
from typing import Any

import lxml.html

from scrapers.extract.call_page import parse_call_announcement
from scrapers.extract.cluster_list import UnmatchedName, parse_cluster_list_deck
from scrapers.extract.errors import UnreadableDocument
from scrapers.extract.generic import (
    call_field,
    cluster_items,
    enrich_call,
    has_partner_section,
    merge_project,
    parse_cluster_list,
)
from scrapers.extract.partnership import parse_partnership_page
from scrapers.extract.pdf import PAGE_BREAK, pdf_text
from scrapers.extract.project_sheet import html_lang, match_label, parse_project_sheet
from scrapers.extract.text import (
    detect_language,
    fold,
    headings,
    label_value_rows,
    load_table,
    normalise_space,
    parse_html,
    visible_lines,
)

KINDS = ("project", "call", "partnership", "cluster-list")
# A body larger than this is refused before parsing: no page or deck we read comes near it.
MAX_BODY_BYTES = 30_000_000

PROJECT_FIELDS = (
    "title", "acronym", "reference", "lead_organisation", "programme", "funds",
    "operation_type", "total_eligible_eur", "eu_contribution_eur", "cofinancing_rate",
    "start_date", "end_date", "regions", "description",
)
CALL_FIELDS = (
    "title", "identifier", "programme", "publisher", "call_type", "opening_date",
    "deadline_date", "budget_eur", "eligible_applicants",
)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title|"
    rb"div|p|table|h[1-6]|ul|ol|section|article|main|span|a|br|dl|header|nav|link|script|style)"
    rb"[\s>/]",
    re.I | re.S,
)


def sniff_format(body: bytes, content_type: str | None = None) -> str:
    """"pdf" or "html" from the bytes themselves; UnreadableDocument for anything else.

    The Content-Type is not trusted (servers send PDFs as text/html and error pages as PDF);
    it only breaks the tie for markup that starts with plain text before its first tag.
    """
    if not body or not body.strip():
        raise UnreadableDocument("empty body")
    if b"%PDF-" in body[:1024]:
        return "pdf"
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    if _HTML_START.match(head):
        return "html"
    declared_html = bool(content_type) and "html" in (content_type or "").lower()
    if declared_html and b"\x00" not in head and re.search(rb"<[a-zA-Z!/]", head):
        return "html"
    return_kind = "binary" if b"\x00" in head else "text"
    raise UnreadableDocument(
        f"neither HTML nor PDF ({return_kind} body starting {body[:16]!r})"
    )


def _pdf_as_html(text: str) -> str:
    """A PDF's text as minimal HTML (one <section> per page, one <p> per line) so the same
    line-based extractors read both."""
    pages = []
    for page in text.split(PAGE_BREAK):
        paragraphs = "".join(
            f"<p>{html_lib.escape(line.strip())}</p>" for line in page.splitlines() if line.strip()
        )
        pages.append(f"<section>{paragraphs}</section>")
    return f"<html><body>{''.join(pages)}</body></html>"


@cache
def _kind_phrases() -> list[tuple[str, str, float]]:
    table = load_table("kinds")
    weights = table.get("kind_weight") or {}
    out = []
    for kind, by_lang in table["weights"].items():
        for phrases in by_lang.values():
            for phrase in phrases:
                out.append((kind, fold(str(phrase)), float(weights.get(kind, 1.0))))
    return out


def kind_scores(text: str) -> dict[str, float]:
    """Keyword score of each kind over the page's folded text (tables/kinds.yml)."""
    folded = fold(text)
    scores = dict.fromkeys(KINDS, 0.0)
    seen: set[tuple[str, str]] = set()
    for kind, phrase, weight in _kind_phrases():
        if (kind, phrase) in seen:
            continue
        seen.add((kind, phrase))
        hits = len(re.findall(rf"(?<!\w){re.escape(phrase)}(?!\w)", folded))
        # Diminishing returns: a word repeated on every line does not outvote the others.
        scores[kind] += weight * min(hits, 3)
    return scores


def structural_scores(root: lxml.html.HtmlElement, lines: list[str]) -> dict[str, float]:
    """Layout cues per kind: labelled project or call rows, a partner section, a list of names
    that read as clusters. Words alone ("cluster" is on every page we read) do not make a list.
    """
    weights = load_table("kinds")["structure"]
    rows = label_value_rows(lines)
    project_rows = {match_label(label) for label, _ in rows} - {None}
    call_rows = {call_field(label) for label, _ in rows} - {None}
    scores = dict.fromkeys(KINDS, 0.0)
    scores["project"] += weights["project_label"] * len(project_rows)
    scores["call"] += weights["call_label"] * len(call_rows)
    if has_partner_section(root):
        scores["partnership"] += weights["partner_section"]
    scores["cluster-list"] += weights["cluster_item"] * len(cluster_items(root, lines))
    return scores


def decide_kind(text: str, root: lxml.html.HtmlElement, lines: list[str]) -> str:
    """The kind whose words and layout dominate the page; `fallback` when none leads clearly.

    A cluster list needs its list: without at least `min_cluster_items` cluster-like items the
    kind is cluster-list only when no other kind's words occur at all.
    """
    table = load_table("kinds")
    words = kind_scores(text)
    layout = structural_scores(root, lines)
    scores = {k: words[k] + layout[k] for k in KINDS}
    if len(cluster_items(root, lines)) < int(table["structure"]["min_cluster_items"]):
        # No list of names: the words alone decide only when no other kind has any.
        if any(scores[k] > 0 for k in KINDS if k != "cluster-list"):
            scores["cluster-list"] = 0.0
    by_record = {
        "project": scores["project"] + scores["partnership"],
        "call": scores["call"],
        "cluster-list": scores["cluster-list"],
    }
    ranked = sorted(by_record.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score <= 0 or best_score - second_score < float(table["margin"]):
        best = str(table["fallback"])
    if best == "project" and scores["partnership"] > scores["project"]:
        return "partnership"
    return best


def _public_participants(participants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": p.get("name"), "role": p.get("role"), "country": p.get("country")}
        for p in participants
        if p.get("name")
    ]


def public_project(record: dict[str, Any], url: str | None, lang: str | None) -> dict[str, Any]:
    """An extractor's project dict in the public shape."""
    out: dict[str, Any] = {"record_type": "project"}
    for field in PROJECT_FIELDS:
        out[field] = record.get(field)
    out["funds"] = list(record.get("funds") or [])
    out["regions"] = list(record.get("regions") or [])
    out["participants"] = _public_participants(record.get("participants") or [])
    out["url"] = url
    out["lang"] = lang
    return out


def public_call(record: dict[str, Any], url: str | None, lang: str | None) -> dict[str, Any]:
    """An extractor's call dict in the public shape."""
    out: dict[str, Any] = {"record_type": "call"}
    for field in CALL_FIELDS:
        out[field] = record.get(field)
    out["eligible_applicants"] = list(record.get("eligible_applicants") or [])
    out["url"] = url
    out["lang"] = lang
    return out


def public_cluster_list(
    clusters: list[dict[str, Any]], url: str | None, lang: str | None
) -> dict[str, Any]:
    """A list of clusters in the public shape."""
    return {
        "record_type": "cluster-list",
        "clusters": [
            {"name": c["name"], "country": c.get("country"), "sector": c.get("sector")}
            for c in clusters
        ],
        "url": url,
        "lang": lang,
    }


def _deck_clusters(text: str) -> list[dict[str, Any]] | None:
    """The clusters of a known slide deck (tables/decks.yml), or None when no deck matches."""
    for deck, spec in load_table("decks").items():
        if fold(spec["recognised_heading"]) not in fold(text):
            continue
        try:
            parsed = parse_cluster_list_deck(text, deck)
        except (ValueError, UnmatchedName):
            continue
        return [{"name": name, "country": spec.get("country")} for name in parsed["recognised"]]
    return None


def read_document(
    body: bytes,
    *,
    url: str | None = None,
    content_type: str | None = None,
    kind: str = "auto",
    lang: str = "auto",
) -> tuple[str, str | None, list[dict[str, Any]]]:
    """(kind, lang, records) with the extractors' internal records: quality flags, programmes,
    website and work packages kept, for the spiders. `extract_document` is the public view."""
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"kind must be auto or one of {', '.join(KINDS)}, not {kind!r}")
    if lang != "auto" and not re.fullmatch(r"[a-z]{2}", lang or ""):
        raise ValueError(f"lang must be auto or an ISO 639-1 code, not {lang!r}")
    if not isinstance(body, bytes | bytearray):
        raise TypeError("body must be bytes")
    body = bytes(body)
    if len(body) > MAX_BODY_BYTES:
        raise UnreadableDocument(f"document is {len(body)} bytes, more than {MAX_BODY_BYTES}")
    fmt = sniff_format(body, content_type)
    pdf_plain: str | None = None
    if fmt == "pdf":
        pdf_plain = pdf_text(body)
        markup: str | bytes = _pdf_as_html(pdf_plain)
    else:
        markup = body
    root = parse_html(markup)
    lines = visible_lines(root)
    text = "\n".join(lines)
    if not text.strip():
        raise UnreadableDocument("the document has no visible text")
    url = url or canonical_url(root)
    page_url = url or ""
    # Normalised HTML text for the extractors (bytes were decoded by parse_html already).
    page = lxml.html.tostring(root, encoding="unicode")

    if lang == "auto":
        detected = detect_language(text)
        hint = html_lang(root)
        # The declared language only fills in for text too short to tell.
        page_lang = detected or (hint if hint and re.fullmatch(r"[a-z]{2}", hint) else None)
    else:
        page_lang = lang
    page_kind = decide_kind(text, root, lines) if kind == "auto" else kind

    if page_kind == "cluster-list":
        clusters = _deck_clusters(pdf_plain) if pdf_plain is not None else None
        if clusters is None:
            clusters = parse_cluster_list(root, lines, page_lang, reflow=pdf_plain is not None)
        record: dict[str, Any] = {"record_type": "cluster-list", "clusters": clusters}
    elif page_kind == "call":
        record = enrich_call(parse_call_announcement(page, page_url), lines, page_lang)
    else:
        # Project and partnership pages share one shape; each reading fills the other's gaps.
        sheet = parse_project_sheet(page, page_url, require_currency=True)
        partner = parse_partnership_page(page, page_url, prose_acronyms=False)
        heads = [text for _, text in headings(root)]
        page_title = normalise_space(root.findtext(".//title") or "") or None
        record = merge_project(sheet, partner, lines, heads, page_title)
    record["url"], record["lang"] = url, page_lang
    return page_kind, page_lang, [record]


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """An internal record in its public shape (the contract's fields only)."""
    url, lang = record.get("url"), record.get("lang")
    if record["record_type"] == "cluster-list":
        return public_cluster_list(record["clusters"], url, lang)
    if record["record_type"] == "call":
        return public_call(record, url, lang)
    return public_project(record, url, lang)


def canonical_url(root: lxml.html.HtmlElement) -> str | None:
    """The page's own absolute URL as it declares it (<link rel=canonical>, og:url), if any."""
    for xpath in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content'):
        for value in root.xpath(xpath):
            value = str(value).strip()
            if re.match(r"^https?://\S+$", value):
                return value
    return None


def extract_document(
    body: bytes,
    *,
    url: str | None = None,
    content_type: str | None = None,
    kind: str = "auto",
    lang: str = "auto",
) -> list[dict[str, Any]]:
    """Records (public shapes) read from one HTML or PDF document; UnreadableDocument otherwise.

    `url` is the document's address (else the canonical URL it declares); `kind` and `lang`
    override the detection.
    """
    _, _, records = read_document(body, url=url, content_type=content_type, kind=kind, lang=lang)
    return [public_record(r) for r in records]
