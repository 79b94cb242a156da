"""Pages that announce a call (news items, call pages), read from their prose.

Each field comes from one phrase pattern whose words are data (tables/calls.yml, per language):
the publisher is the subject of a launch verb ("The European Commission has launched"), the
title is the page's h1 or else the call noun phrase after that verb up to the first comma, the
applicants follow "is addressed to", the topics follow "in relation to". A field whose phrase is
absent stays None (or []): "today" is not a date and is never turned into one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from scrapers.extract.amounts import find_amount_spans, parse_amount
from scrapers.extract.dates import find_dates, iso
from scrapers.extract.project_sheet import page_language
from scrapers.extract.text import (
    block_texts,
    dedupe,
    fold,
    headings,
    load_table,
    parse_html,
    split_list,
    visible_lines,
)

# A call's own identifier, as the Commission writes them: "COS-CLUSTPARTNER-2016-3-01",
# "SMP-COSME-2021-CLUSTER". Upper-case segments joined by hyphens, one of them a year.
_IDENTIFIER = re.compile(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-20\d\d(?:-[A-Z0-9]+)*\b")
# A sentence ends at . ! ? before a capital, but not after a day written "10." ("bis
# Donnerstag, 10. April 2025"): one or two digits before the dot are an ordinal.
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!(?<!\d)\d\.)(?<!(?<!\d)\d\d\.)\s+(?=[A-Z“\"])")


def _words(key: str) -> list[str]:
    """Every phrase of one calls.yml list, all languages, longest first."""
    table: dict[str, list[str]] = load_table("calls")[key]
    return sorted({str(w) for ws in table.values() for w in ws}, key=len, reverse=True)


def _alternation(key: str) -> str:
    return "|".join(re.escape(w) for w in _words(key))


@cache
def _call_types() -> list[tuple[str, str]]:
    pairs = {
        fold(str(phrase)): call_type
        for by_lang in load_table("calls")["call_types"].values()
        for phrase, call_type in by_lang.items()
    }
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


def call_type_of(text: str) -> str | None:
    """The call type whose longest phrase the text contains."""
    folded = fold(text)
    for phrase, call_type in _call_types():
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", folded):
            return call_type
    return None


def _articles() -> list[str]:
    table = load_table("language")["articles"]
    return sorted({str(a) for ws in table.values() for a in ws}, key=len, reverse=True)


def _launch(text: str) -> re.Match[str] | None:
    """'<Publisher> has launched [today] a <call …>' in the first sentence that says it."""
    name = r"[A-Z][\w.&-]*(?:\s+(?:of\s+|for\s+|de\s+|di\s+|du\s+)?[A-Z][\w.&-]*)*"
    articles = "|".join(re.escape(a) for a in _articles())
    pattern = (
        rf"(?:^|(?<=[.!?]\s))(?:(?i:{articles})\s+)?(?P<publisher>{name})\s+"
        rf"(?:{_alternation('launch_verbs')})\s+(?:\w+\s+)?(?:an?|un|una|uno|um|uma|ein|eine)\s+"
        rf"(?P<title>(?:{_alternation('call_nouns')})\b[^,.;:]*)"
    )
    return re.search(pattern, text)


def _after_phrase(text: str, intro_key: str, boundary_key: str | None) -> list[str]:
    """The list after an intro phrase, up to a boundary word or the sentence end."""
    intro = re.search(rf"\b(?:{_alternation(intro_key)})\s+(?P<rest>[^.;]+)", text)
    if not intro:
        return []
    rest = intro["rest"]
    if boundary_key:
        boundary = re.search(rf"\s(?:{_alternation(boundary_key)})\s", rest)
        if boundary:
            rest = rest[: boundary.start()]
    return split_list(rest.rstrip(", "))


def _programme(text: str) -> str | None:
    """The programme named next to a programme word: "the COSME programme", "programa X"."""
    words = _alternation("programme_words")
    name = r"[A-Z][\w+-]*(?:\s+[A-Z0-9][\w+-]*){0,3}"
    found = [
        m["name"]
        for m in re.finditer(rf"\b(?P<name>{name})\s+(?:{words})\b", text)
        if m["name"].split()[0].casefold() not in {"the", "this", "a", "an"}
    ]
    found += [m["name"] for m in re.finditer(rf"\b(?:{words})\s+(?P<name>{name})", text)]
    found = dedupe(found)
    return found[0] if len(found) == 1 else None


def _dated_sentence(sentences: list[str], key: str) -> str | None:
    """ISO date of the one sentence that pairs a date with a `key` word, if exactly one does."""
    words = _alternation(key)
    dates = dedupe(
        iso(d) or ""
        for s in sentences
        if re.search(rf"(?i)\b(?:{words})\b", s)
        for d in find_dates(s)
    )
    return dates[0] if len(dates) == 1 else None


def parse_call_announcement(html: str | bytes, url: str) -> dict[str, Any]:
    """Read a news page announcing a call (e.g. europa.provincia.tn.it Flash news)."""
    root = parse_html(html)
    lines = visible_lines(root)
    paragraphs = block_texts(root, "//body//p | //body//li")
    text = " ".join(paragraphs)
    sentences = [s for p in paragraphs for s in _SENTENCE_END.split(p)]
    flags: list[str] = []

    launch = _launch(text)
    h1 = [t for tag, t in headings(root) if tag == "h1"]
    if len(h1) == 1:
        title = h1[0]
    elif launch:
        phrase = launch["title"].strip()
        title = phrase[0].upper() + phrase[1:]
    else:
        title = None
        flags.append("title: the page has no headline and no launch sentence")

    identifiers = dedupe(_IDENTIFIER.findall(text))
    budget = None
    budget_words = _alternation("budget_words")
    budget_spans = dedupe(
        span
        for s in sentences
        if re.search(rf"(?i)\b(?:{budget_words})\b", s)
        for span in find_amount_spans(s)
    )
    if len(budget_spans) == 1:
        budget, flag = parse_amount(budget_spans[0])
        if flag:
            flags.append(f"budget_eur: {budget_spans[0]!r}: {flag}")
    elif len(budget_spans) > 1:
        flags.append(f"budget_eur: several amounts near budget words {budget_spans!r}")

    return {
        "record_type": "call",
        "title": title,
        "identifier": identifiers[0] if len(identifiers) == 1 else None,
        "programme": _programme(text),
        "publisher": launch["publisher"] if launch else None,
        "call_type": call_type_of(title or "") or call_type_of(text),
        "opening_date": _dated_sentence(sentences, "opening_words"),
        "deadline_date": _dated_sentence(sentences, "deadline_words"),
        "budget_eur": budget,
        "eligible_applicants": _after_phrase(text, "applicants_intro", "applicants_boundary"),
        "topics": _after_phrase(text, "topics_intro", None),
        "description": paragraphs[0] if paragraphs else None,
        "url": url,
        "lang": page_language(root, lines),
        "quality_flags": flags,
    }
