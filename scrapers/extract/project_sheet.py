"""EU-publicity project sheets: "Label | value" rows naming a funded operation.

Beneficiaries of EU cohesion funds must publish a sheet per operation (title, promoter,
amounts, dates, funds). The labels differ by country and language; tables/project_labels.yml maps
them to fields. Every value is read strictly: an amount or date that cannot be read is None with
a quality flag naming the field and the raw text, and the rest of the record is kept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import lxml.html

from scrapers.extract.amounts import parse_amount, parse_rate, states_eur
from scrapers.extract.dates import iso, parse_date
from scrapers.extract.text import (
    and_words,
    dedupe,
    detect_language,
    fold,
    headings,
    label_value_rows,
    load_table,
    normalise_space,
    parse_html,
    split_list,
    visible_lines,
)

log = logging.getLogger(__name__)

_URL = re.compile(r"^https?://\S+$")
_ACRONYM_TOKEN = re.compile(r"[A-Z][A-Z0-9]*\+?")


def empty_project(url: str) -> dict[str, Any]:
    """A project record with every field of the contract present and unknown."""
    return {
        "record_type": "project",
        "title": None,
        "acronym": None,
        "reference": None,
        "lead_organisation": None,
        "programme": None,
        "programmes": [],
        "funds": [],
        "operation_type": None,
        "total_eligible_eur": None,
        "eu_contribution_eur": None,
        "cofinancing_rate": None,
        "start_date": None,
        "end_date": None,
        "regions": [],
        "description": None,
        "website": None,
        "participants": [],
        "url": url,
        "lang": None,
        "quality_flags": [],
    }


@cache
def _labels() -> list[tuple[str, str]]:
    """(folded label, field), longest label first; a label claimed by two fields is a data bug."""
    owner: dict[str, str] = {}
    for field, by_lang in load_table("project_labels").items():
        for labels in by_lang.values():
            for label in labels:
                key = fold(str(label))
                if owner.setdefault(key, field) != field:
                    raise ValueError(f"label {label!r} maps to {owner[key]} and {field}")
    return sorted(owner.items(), key=lambda kv: len(kv[0]), reverse=True)


def fund_acronym(token: str) -> str | None:
    """English acronym of an EU fund ("FEDER" -> "ERDF"), or None if the token names no fund."""
    table = load_table("funds")
    token = token.strip()
    if token in table["acronyms"]:
        return str(table["acronyms"][token])
    return table["names"].get(fold(token))


def funds_named_in(text: str) -> list[str]:
    """Funds a text names by acronym ("European Union funding support through FEDER")."""
    found = (fund_acronym(t) for t in _ACRONYM_TOKEN.findall(text))
    return dedupe(f for f in found if f is not None)


def match_label(label: str) -> str | None:
    """The field a page label stands for, or None.

    A page label may extend a table label only with words that name a fund ("... through
    FEDER"): a bare prefix match would map "Projeto cofinanciado por" to the title.
    """
    key = fold(label).rstrip(" :")
    # The first of the longest-first labels that fits: an equal label (the longest that can),
    # else the longest table label the key extends with a space and a fund's name.
    by_length = _labels_by_length()
    field = by_length.get(len(key), {}).get(key)
    if field is not None:
        return field
    for length, labels in by_length.items():
        if length >= len(key) or key[length] != " ":
            continue
        field = labels.get(key[:length])
        if field is not None and funds_named_in(label[length:]):
            return field
    return None


@cache
def _labels_by_length() -> dict[int, dict[str, str]]:
    """{length: {folded label: field}}, longest first: `_labels()` indexed by length, so a
    line is matched with one dict lookup per length instead of a scan of every label."""
    out: dict[int, dict[str, str]] = {}
    for label, field in _labels():
        out.setdefault(len(label), {})[label] = field
    return out


def _cofunding_items(value: str) -> list[str]:
    """Items of a programmes-and-funds cell: split on commas; an 'and' splits only a list of
    funds ("FEDER e FSE"), never a programme's name ("Plano de Recuperação e Resiliência")."""
    ands = tuple(f"{w} " for w in and_words())
    items = []
    for part in re.split(r",\s*", normalise_space(value).rstrip(".;:")):
        part = part.strip()
        if part.startswith(ands):
            part = part.split(" ", 1)[1]  # "A, B, and C": the serial comma's 'and'
        if not part:
            continue
        pieces = split_list(part)
        items += pieces if len(pieces) > 1 and all(fund_acronym(p) for p in pieces) else [part]
    return items


@cache
def _labels_by_first(first: str) -> list[tuple[int, dict[str, str]]]:
    """`_labels_by_length()` narrowed to the labels that start with `first` (or are empty):
    most lines start with a letter no label starts with, or with one a few labels share."""
    return [
        (length, kept)
        for length, labels in _labels_by_length().items()
        if (kept := {k: v for k, v in labels.items() if k[:1] in ("", first)})
    ]


def _folded_head(line: str) -> str:
    """The start of `fold(line)`, at least as long as the longest label where the line is.

    Folding works character by character (spaces collapse, marks go), so the fold of a head
    of the line is a head of the line's fold; folding a long prose line only to compare its
    first few dozen characters was the cost of `unglue_labels`.
    """
    longest = next(iter(_labels_by_length()), 0)
    if len(line) <= 2 * longest + 16:
        return fold(line)
    head = fold(line[: 2 * longest + 16])
    return head if len(head) > longest else fold(line)


# Characters of a line folded to decide whether it can start with a label at all.
_QUICK_HEAD = 8


@cache
def _label_starts() -> tuple[int, frozenset[str]]:
    """(n, the first n characters of every folded label), n the length of the shortest label:
    a line whose fold starts with none of them starts with no label."""
    n = min((len(label) for label, _ in _labels()), default=0)
    return n, frozenset(label[:n] for label, _ in _labels())


def _cannot_start_with_label(line: str) -> bool:
    """True when no label can start `fold(line)`, decided from the fold of the first few
    characters only (most lines are prose: folding a long head of each was the cost of
    `unglue_labels`).

    Exact: the fold of a head of the line is a head of the line's fold (see `_folded_head`),
    and every label is at least n characters long, so a label that starts the line's fold
    starts with the first n characters of the head's fold, when that fold has n of them.
    """
    head = fold(line[:_QUICK_HEAD])
    n, starts = _label_starts()
    return len(head) >= n > 0 and head[:n] not in starts


_UNIT = re.compile(r"^\s*\((?:€|%|eur)\)", re.I)


def unglue_labels(lines: list[str]) -> list[str]:
    """Lines whose label runs into its value ("Data de início2022/10/01", "Orçamento total
    (€)518.314,72") as "Label: value" rows. Only a known label followed by a capital, a digit
    or a unit in brackets counts: an ordinary word that starts like a label stays as it is."""
    out = []
    for line in lines:
        if ": " in line or " | " in line or _cannot_start_with_label(line):
            out.append(line)
            continue
        folded = _folded_head(line)
        # The longest label the folded line starts with and the line outlasts (one lookup per
        # label length, longest first, as a scan of `_labels()` would find it).
        label = next(
            (
                folded[:length]
                for length, labels in _labels_by_first(folded[:1])
                if length < len(line) and folded[:length] in labels
            ),
            None,
        )
        if label is not None:
            rest = line[len(label) :]
            unit = _UNIT.match(rest)
            value = rest[unit.end() :] if unit else rest
            if value and (value[0].isupper() or value[0].isdigit()) and not rest[0].isspace():
                line = f"{line[: len(label)]}{unit.group() if unit else ''}: {value.strip()}"
            elif unit and value.strip():
                line = f"{line[: len(label)]}{unit.group()}: {value.strip()}"
        out.append(line)
    return out


def html_lang(root: lxml.html.HtmlElement) -> str | None:
    """The page's declared language (<html lang="pt-PT"> -> "pt"), if any."""
    lang = (root.get("lang") or "").strip().lower()
    return lang.split("-")[0] or None


def page_language(root: lxml.html.HtmlElement, lines: Iterable[str]) -> str | None:
    """Language of the words on the page; the declared language only when the words don't tell.

    Declared languages lie on bilingual sites (an /en/ page with Portuguese content), so the
    text counts first.
    """
    return detect_language(" ".join(lines)) or html_lang(root)


# A remark in parentheses after an amount: "€ 1,635,670.00, (85% EU co-financed)".
_REMARK = re.compile(r"[,;]?\s*\([^()]*\)\s*$")


def _amount(record: dict[str, Any], field: str, raw: str) -> None:
    value, flag = parse_amount(raw)
    if value is None and _REMARK.search(raw) and not raw.lstrip().startswith("("):
        # The amount is read without the remark; the remark itself is not read as a value.
        value, flag = parse_amount(_REMARK.sub("", raw))
    record[field] = value
    if flag:
        record["quality_flags"].append(f"{field}: {raw!r}: {flag}")


def parse_project_sheet(
    html: str | bytes, url: str, require_currency: bool = False
) -> dict[str, Any]:
    """Read a beneficiary's EU-funding project sheet (e.g. tice.pt/en/projects-and-studies/…).

    `require_currency=True` (pages of unknown origin) reads an amount only when its value or
    its label states EUR: a bare "463,300.64" on a Bulgarian page is in leva.
    """
    root = parse_html(html)
    lines = unglue_labels(visible_lines(root))
    record = empty_project(url)
    flags: list[str] = record["quality_flags"]
    record["lang"] = page_language(root, lines)

    by_field: dict[str, list[tuple[str, str]]] = {}
    for label, value in label_value_rows(lines):
        field = match_label(label)
        if field is None:
            # Audited, not guessed: a new label shows up in the crawl log for the YAML table.
            log.info("unmapped label %r on %s", label, url)
            continue
        if value:
            by_field.setdefault(field, []).append((label, value))

    def single(field: str) -> tuple[str, str] | None:
        rows = by_field.get(field, [])
        if len({value for _, value in rows}) > 1:
            flags.append(f"{field}: the page states several values {[v for _, v in rows]!r}")
            return None
        return rows[0] if rows else None

    for field in (
        "title",
        "acronym",
        "reference",
        "lead_organisation",
        "operation_type",
        "description",
    ):
        row = single(field)
        record[field] = row[1] if row else None

    for field in ("total_eligible_eur", "eu_contribution_eur"):
        row = single(field)
        if row:
            if require_currency and not states_eur(f"{row[0]} {row[1]}"):
                record[field] = None
                flags.append(f"{field}: {row[1]!r} states no currency")
            else:
                _amount(record, field, row[1])
            # The label itself may name the fund ("... through FEDER").
            record["funds"].extend(funds_named_in(row[0]))

    row = single("cofinancing_rate")
    if row:
        record["cofinancing_rate"], flag = parse_rate(row[1])
        if flag:
            flags.append(f"cofinancing_rate: {row[1]!r}: {flag}")

    for field in ("start_date", "end_date"):
        row = single(field)
        if row:
            record[field] = iso(parse_date(row[1]))
            if record[field] is None:
                flags.append(f"{field}: {row[1]!r} is not a readable date")

    row = single("regions")
    if row:
        record["regions"] = split_list(row[1], keep=load_table("places")["unsplittable"])

    # Programmes and funds share one cell ("COMPETE 2020, P2020, FEDER"): fund acronyms go to
    # funds, the rest to programmes, as published (the source's YAML lookups expand "P2020").
    for _, value in by_field.get("cofunding", []):
        for token in _cofunding_items(value):
            fund = fund_acronym(token)
            if fund:
                record["funds"].append(fund)
            else:
                record["programmes"].append(token)
    record["funds"] = dedupe(record["funds"])
    record["programmes"] = dedupe(record["programmes"])
    record["programme"] = record["programmes"][0] if record["programmes"] else None

    row = single("website")
    if row:
        if _URL.match(row[1]):
            record["website"] = row[1]
        else:
            flags.append(f"website: {row[1]!r} is not a URL")

    if record["title"] is None:
        h1 = [text for tag, text in headings(root) if tag == "h1"]
        if len(h1) == 1:
            record["title"] = h1[0]
        else:
            flags.append("title: the page states no project name")
    check_consistency(record)
    return record


def check_consistency(record: dict[str, Any]) -> None:
    """Null out pairs of values that contradict each other; one of them is wrong, not both right."""
    eu, total = record["eu_contribution_eur"], record["total_eligible_eur"]
    if eu is not None and total is not None and eu > total:
        record["quality_flags"].append(
            f"eu_contribution_eur {eu} exceeds total_eligible_eur {total}; both withheld"
        )
        record["eu_contribution_eur"] = record["total_eligible_eur"] = None
    start, end = record["start_date"], record["end_date"]
    if start is not None and end is not None and start > end:
        record["quality_flags"].append(f"start_date {start} is after end_date {end}; both withheld")
        record["start_date"] = record["end_date"] = None
