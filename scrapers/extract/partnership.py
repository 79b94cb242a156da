"""Pages about a cluster partnership project: the project, and who takes part in it.

Title and acronym, in this order:
  1. an h1 that is an acronym ("ATCLUSTERS") is the acronym, and the next heading is the title,
     kept as published ("CLUSTERS IN ATLANTIC AREA", not re-cased);
  2. otherwise an acronym defined in the prose, "Long Name (ACR)", whose initials spell the
     acronym's leading capitals (E-S-C-P for ESCP-4i); when the page also quotes a longer name
     that starts with the long name ("European Strategic Cluster Partnership – Going
     International"), that quoted name is the title.

Participants, in this order:
  1. A section under a partner heading (tables/roles.yml section_headings, e.g. "Project Partner"):
     one participant per row "Name – role words". role_as_published is the text after the dash;
     role is the longest role phrase in it (tables/roles.yml), else the role the heading gives
     (partner); "WP 5 leader" puts "WP5" in work_packages_led.
  2. Without such a section, the actors the prose names (tables/mentions.yml):
     - "between A (Place) and B (Place)" names two participants working together; a place in
       parentheses that is a country or a known region gives their country (Galicia -> ES);
     - an acronym spelled out with a network word ("ERRIN (European Research & Innovation
       Network)") is a network the project joined: `mentioned`, kind "network";
     - a name in parentheses a few words after "project" is another project ("(ATC4
       Excellence)"): `mentioned`, kind "project"; a quoted name right after "call" is a call;
     - any other organisation acronym in the prose (3+ capitals, not a generic term from the
       stop list, not the project's own acronym) is an actor: e.g. IGAPE, the agency writing
       the page. Its country stays None: the text never places it.
     Roles stay None: prose that names actors does not state their role.
Countries are never inferred from a name ("Portugal Foods") or from the site's domain.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import lxml.html
from babel import Locale

from scrapers.extract.project_sheet import empty_project, page_language
from scrapers.extract.text import (
    and_words,
    block_texts,
    dedupe,
    fold,
    headings,
    load_table,
    normalise_space,
    parse_html,
    visible_lines,
)

_NAME = r"[A-Z][\w.&-]*(?:\s+[A-Z][\w.&-]*)*"
_ACRONYM_H1 = re.compile(r"^[A-Z0-9][A-Z0-9&.+-]+$")
_DOMAIN = re.compile(r"^(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)+/?$", re.I)
_ROW = re.compile(r"^(?P<name>.+?)\s+[–—-]\s+(?P<role>.+)$")
_PAREN = re.compile(r"\(\s*(?P<inner>[^()]+?)\s*\)")
_QUOTED = re.compile(r"[“\"]\s*(?P<inner>[^”\"]+?)\s*[”\"]")
_DEFINED = re.compile(r"(?P<name>(?:[A-Z][\w-]*\s+)+)\((?P<acr>[A-Z][A-Za-z0-9-]{1,15})\)")
_LANGS = ("en", "pt", "es", "fr", "it", "de", "pl")


@cache
def _places() -> dict[str, str]:
    """Folded country or region name -> ISO country code (CLDR names in 7 languages + regions)."""
    names: dict[str, str] = {}
    for lang in _LANGS:
        for code, name in Locale(lang).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(fold(name), code)
    for region, code in load_table("places")["regions"].items():
        names[fold(region)] = code
    return names


def country_of(place: str | None) -> str | None:
    """Country code of a country or known region name, or None."""
    return _places().get(fold(place)) if place else None


def _participant(
    name: str,
    role: str | None = None,
    role_as_published: str | None = None,
    country: str | None = None,
    work_packages_led: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "role_as_published": role_as_published,
        "country": country,
        "work_packages_led": work_packages_led or [],
    }


@cache
def _role_phrases() -> list[tuple[str, str]]:
    pairs = {
        fold(str(phrase)): role
        for by_lang in load_table("roles")["roles"].values()
        for phrase, role in by_lang.items()
    }
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


def role_of(text: str) -> str | None:
    """The role whose longest phrase the text contains ("Coordinator and WP 5 leader")."""
    folded = fold(text)
    for phrase, role in _role_phrases():
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", folded):
            return role
    return None


def work_packages_led(text: str) -> list[str]:
    """Work packages a role text says are led: "WP 5 leader" -> ["WP5"]."""
    spec = load_table("roles")["work_package"]
    prefixes = "|".join(re.escape(p) for p in spec["prefixes"])
    leaders = "|".join(re.escape(w) for w in spec["leader_words"])
    found = re.findall(rf"\b({prefixes})\s*(\d+)\s+(?i:{leaders})\b", text)
    found += re.findall(rf"(?i:{leaders})\s+(?:of\s+)?\b({prefixes})\s*(\d+)\b", text)
    return dedupe(f"{prefix}{number}" for prefix, number in found)


def section_headings() -> dict[str, str]:
    """Folded heading of a partner list -> the role it gives a row that states none."""
    return _section_headings()


@cache
def _section_headings() -> dict[str, str]:
    table = load_table("roles")["section_headings"]
    return {fold(str(h)): role for by_lang in table.values() for h, role in by_lang.items()}


def _partner_section(root: lxml.html.HtmlElement) -> list[dict[str, Any]] | None:
    """Participants listed under a partner heading, or None when the page has no such section."""
    sections = [
        h
        for h in root.iter("h1", "h2", "h3", "h4", "h5", "h6")
        if fold(h.text_content()) in _section_headings()
    ]
    if not sections:
        return None
    if len(sections) > 1:
        # Two partner lists (e.g. partners and associated partners, or a page in two
        # languages): which row belongs where is not ours to guess, so the prose rules apply.
        return None
    heading = sections[0]
    default_role = _section_headings()[fold(heading.text_content())]
    participants = []
    for sibling in heading.itersiblings():
        if not isinstance(sibling.tag, str) or sibling.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            break
        for line in visible_lines(lxml.html.tostring(sibling, encoding="unicode")):
            row = _ROW.match(line)
            name, role_text = (row["name"], row["role"]) if row else (line, None)
            place = _PAREN.search(name)
            country = country_of(place["inner"]) if place else None
            if place and country:
                name = name[: place.start()].strip()
            participants.append(
                _participant(
                    name=name,
                    role=(role_of(role_text) if role_text else None) or default_role,
                    role_as_published=role_text,
                    country=country,
                    work_packages_led=work_packages_led(role_text or ""),
                )
            )
    return participants


def _acronym_and_title(root: lxml.html.HtmlElement, text: str) -> tuple[str | None, str | None]:
    heads = headings(root)
    for i, (tag, value) in enumerate(heads):
        if tag == "h1" and _ACRONYM_H1.match(value) and sum(c.isupper() for c in value) >= 2:
            following = [v for _, v in heads[i + 1 :] if fold(v) != fold(value)]
            return value, (following[0] if following else None)
    quoted = [m["inner"] for m in _QUOTED.finditer(text)]
    for match in _DEFINED.finditer(text):
        acronym = match["acr"]
        letters = re.match(r"[A-Z]+", acronym)
        words = match["name"].split()
        if not letters or len(words) < len(letters.group()):
            continue
        long_words = words[-len(letters.group()) :]
        if "".join(w[0] for w in long_words).upper() != letters.group():
            continue
        long_name = " ".join(long_words)
        titles = [q for q in quoted if fold(q).startswith(fold(long_name))]
        return acronym, max(titles, key=len) if titles else long_name
    return None, None


def _website(root: lxml.html.HtmlElement, url: str) -> str | None:
    """The first link written as a bare domain that is not the page's own site."""
    own = urlsplit(url).hostname or ""
    for link in root.iter("a"):
        text = normalise_space(link.text_content())
        if not _DOMAIN.match(text):
            continue
        href = (link.get("href") or "").strip()
        website = href if href.startswith(("http://", "https://")) else f"http://{text}"
        host = (urlsplit(website).hostname or "").removeprefix("www.")
        if host and host != own.removeprefix("www."):
            return website
    return None


def _prose_actors(
    text: str, acronym: str | None, acronyms: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Participants and mere mentions named in prose (rules in the module docstring)."""
    spec = load_table("mentions")
    taken: list[tuple[int, int]] = []  # spans already given a meaning
    found: list[tuple[int, dict[str, Any]]] = []
    mentioned: list[tuple[int, dict[str, Any]]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def words_before(pos: int, count: int) -> set[str]:
        return {fold(w) for w in re.findall(r"[\w-]+", text[:pos])[-count:]}

    project_words = {fold(w) for w in spec["project_words"]}
    call_words = {fold(w) for w in spec["call_words"]}
    network_words = {fold(w) for w in spec["network_words"]}
    for m in _PAREN.finditer(text):
        inner = m["inner"]
        if (
            inner[0].isupper()
            and country_of(inner) is None
            and words_before(m.start(), spec["project_window"]) & project_words
        ):
            mentioned.append((m.start(), {"name": inner, "kind": "project"}))
            taken.append(m.span())
    for m in _QUOTED.finditer(text):
        if words_before(m.start(), spec["call_window"]) & call_words:
            mentioned.append((m.start(), {"name": m["inner"], "kind": "call"}))
            taken.append(m.span())
    for m in re.finditer(r"\b(?P<acr>[A-Z][A-Z0-9&-]{2,})\s*\(\s*(?P<long>[^()]+?)\s*\)", text):
        if {fold(w) for w in re.findall(r"\w+", m["long"])} & network_words:
            entry = {"name": m["acr"], "kind": "network", "expansion": m["long"]}
            mentioned.append((m.start(), entry))
            taken.append(m.span())

    between = "|".join(re.escape(w) for lang in spec["between_words"].values() for w in lang)
    ands = "|".join(re.escape(w) for w in and_words())
    side = rf"(?P<{{n}}>{_NAME})(?:\s*\(\s*(?P<{{p}}>[^()]+?)\s*\))?"
    pair = re.compile(
        rf"\b(?:{between})\s+{side.format(n='a', p='pa')}\s+(?:{ands})\s+"
        rf"{side.format(n='b', p='pb')}"
    )
    for m in pair.finditer(text):
        for name_group, place_group in (("a", "pa"), ("b", "pb")):
            if not free(*m.span(name_group)):
                continue
            country = country_of(m[place_group])
            found.append((m.start(name_group), _participant(m[name_group], country=country)))
            taken.append(m.span(place_group) if m[place_group] else m.span(name_group))
            taken.append(m.span(name_group))

    stop = {fold(w) for w in spec["not_organisations"]}
    own = fold(acronym) if acronym else None
    for m in re.finditer(r"(?<![\w-])[A-Z][A-Z0-9&]{2,}(?![\w-])", text) if acronyms else ():
        token = m.group()
        if fold(token) in stop or fold(token) == own or not free(*m.span()):
            continue
        if sum(c.isupper() for c in token) < 2:
            continue
        found.append((m.start(), _participant(token)))
        taken.append(m.span())

    participants = []
    seen: set[str] = set()
    for _, participant in sorted(found, key=lambda pair: pair[0]):
        if participant["name"] not in seen:
            seen.add(participant["name"])
            participants.append(participant)
    return participants, [entry for _, entry in sorted(mentioned, key=lambda pair: pair[0])]


def _stated_count(text: str) -> int | None:
    numbers = {
        str(word): int(n)
        for by_lang in load_table("language")["number_words"].values()
        for word, n in by_lang.items()
    }
    for pattern in load_table("mentions")["participant_count"].values():
        m = re.search(pattern, text)
        if m:
            count = m["count"]
            return int(count) if count.isdigit() else numbers.get(count.casefold())
    return None


def parse_partnership_page(
    html: str | bytes, url: str, prose_acronyms: bool = True
) -> dict[str, Any]:
    """Read a cluster-partnership project page (escp-4i.eu; igape.es newsletter project pages).

    `prose_acronyms=False` drops the last prose rule (any organisation acronym is an actor):
    on pages of unknown layout it names funds, programmes and systems as often as partners.
    """
    root = parse_html(html)
    lines = visible_lines(root)
    record = empty_project(url)
    record["lang"] = page_language(root, lines)
    paragraphs = block_texts(root, "//body//p")
    text = " ".join(paragraphs)

    record["acronym"], record["title"] = _acronym_and_title(root, text)
    if record["title"] is None:
        record["quality_flags"].append("title: the page states no project name")
    record["website"] = _website(root, url)
    long_paragraphs = [p for p in paragraphs if len(p.split()) >= 20]
    record["description"] = long_paragraphs[0] if long_paragraphs else None

    listed = _partner_section(root)
    if listed is not None:
        record["participants"], record["mentioned"] = listed, []
    else:
        record["participants"], record["mentioned"] = _prose_actors(
            text, record["acronym"], prose_acronyms
        )

    leads = [
        p["name"] for p in record["participants"] if p["role"] in ("coordinator", "lead_partner")
    ]
    record["lead_organisation"] = leads[0] if len(leads) == 1 else None

    stated = _stated_count(text)
    if listed is not None and stated is not None and stated != len(listed):
        record["quality_flags"].append(
            f"participants: the page states {stated} participants but names {len(listed)}"
        )
    return record
