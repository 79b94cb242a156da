"""Readers for long-tail pages, on top of the seed layouts, with the same strict rules.

The seed extractors (project_sheet, call_page, partnership) each know one layout. Pages in the
long tail mix them, so `document.py` runs them and then these readers, whose words are data:

* calls: "Label: value" rows (tables/call_labels.yml), date + label timeline lines, a budget
  stated right after a budget phrase with no cap word before it, a submission window written
  as one range ("from 20th October to 6th December 2021") (tables/calls.yml);
* projects: the sheet and partnership readings merged (labels first), titles only from a label,
  an acronym the page defines or its URL spells, or a sheet's lone heading; funds named in a
  co-financing sentence (tables/funds.yml); participants from partner labels, headings, lead rows,
  "Name (CC)" runs, a partner list after an introducing sentence, or a run of organisation
  names (tables/partner_labels.yml);
* cluster lists: the names after an introduction ("… 10 entidades:"), inline (semicolons or
  one comma sentence) or one per line/bullet, or heading repeated labelled blocks; a country
  from the introduction, else the one country the whole page names;
* running prose, for any kind: a list whose introduction states its count (the count must
  match: partners when the sentence says partnership, else clusters); a lead named around a
  lead label or verb; a title after a titling word, quoted after "project", or after the
  acronym and a dash (tables/titles.yml); a programme next to a programme word.

Precision first: when candidates disagree, or nothing ties a value to its field, it is None.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import lxml.html
from babel import Locale

from scrapers.extract.amounts import find_amount_spans, parse_amount
from scrapers.extract.dates import find_date_spans, iso, month_names, parse_date
from scrapers.extract.partnership import country_of, role_of, section_headings
from scrapers.extract.project_sheet import funds_named_in, match_label
from scrapers.extract.text import and_words, fold, label_value_rows, load_table, normalise_space

_SHEET_FIELDS = (
    "title", "acronym", "reference", "lead_organisation", "operation_type",
    "total_eligible_eur", "eu_contribution_eur", "cofinancing_rate", "start_date", "end_date",
    "description",
)


@cache
def _call_labels() -> list[tuple[str, str]]:
    """(folded label, field) of tables/call_labels.yml, longest first."""
    owner: dict[str, str] = {}
    for field, by_lang in load_table("call_labels").items():
        for labels in by_lang.values():
            for label in labels:
                key = fold(str(label))
                if owner.setdefault(key, field) != field:
                    raise ValueError(f"call label {label!r} maps to {owner[key]} and {field}")
    return sorted(owner.items(), key=lambda kv: len(kv[0]), reverse=True)


def call_field(label: str) -> str | None:
    """The call field a page label stands for (tables/call_labels.yml), or None."""
    key = fold(label).rstrip(" :")
    for table_label, field in _call_labels():
        if key == table_label:
            return field
    return None


def _single(values: list[Any]) -> Any:
    """The one value all candidates agree on, else None."""
    distinct = {repr(v): v for v in values if v is not None}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


_DATE_FIELDS = ("opening_date", "deadline_date")


def _dated_label_lines(lines: list[str]) -> list[tuple[str, str]]:
    """(field, ISO date) of every line that is one date plus a date label, in either order."""
    out = []
    for line in lines:
        folded = fold(line)
        spans = find_date_spans(folded)
        if len(spans) != 1:
            continue
        start, end, found = spans[0]
        rest = (folded[:start] + " " + folded[end:]).strip(" :|-–")
        field = call_field(rest)
        date = iso(found)
        if field in _DATE_FIELDS and date:
            out.append((field, date))
    return out


def _phrases(key: str) -> list[str]:
    table = load_table("calls")[key]
    return sorted({fold(str(w)) for ws in table.values() for w in ws}, key=len, reverse=True)


def budget_in_prose(lines: list[str]) -> float | None:
    """The call's budget when the prose states it right after a budget phrase (tables/calls.yml
    budget_phrases), no cap word precedes it, and every such statement agrees."""
    table = load_table("calls")
    window, cap_window = int(table["budget_window"]), int(table["cap_window"])
    phrases, caps = _phrases("budget_phrases"), _phrases("cap_words")
    values: set[float] = set()
    for line in lines:
        folded = fold(line)
        for phrase in phrases:
            for m in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", folded):
                after = line[m.end() : m.end() + window + 40]
                spans = find_amount_spans(after)
                if not spans:
                    continue
                start = fold(after).find(fold(spans[0]))
                if start < 0 or start > window:
                    continue
                before = fold(line[max(0, m.end() + start - cap_window) : m.end() + start])
                if any(re.search(rf"(?<!\w){re.escape(c)}(?!\w)", before) for c in caps):
                    continue
                value = parse_amount(spans[0]).value
                if value is not None:
                    values.add(value)
    return values.pop() if len(values) == 1 else None


@cache
def _range_pattern() -> re.Pattern[str]:
    months = "|".join(re.escape(m) for m in sorted(month_names(None), key=len, reverse=True))
    pairs = [p for ps in load_table("calls")["range_words"].values() for p in ps]
    starts = "|".join(sorted({re.escape(fold(a)) for a, _ in pairs}, key=len, reverse=True))
    ends = "|".join(sorted({re.escape(fold(b)) for _, b in pairs}, key=len, reverse=True))
    day = r"(?:st|nd|rd|th|er|o|\.)?"
    return re.compile(
        rf"(?<!\w)(?:{starts})\s+(?P<d1>\d{{1,2}}){day}\s*(?:de\s+|d['’]\s*)?(?P<m1>{months})\.?"
        rf"\s+(?:{ends})\s+(?P<d2>\d{{1,2}}){day}\s*(?:de\s+|d['’]\s*)?(?P<m2>{months})\.?,?"
        r"\s*(?:de\s+)?(?P<y>\d{4})(?!\d)"
    )


def window_in_prose(lines: list[str]) -> tuple[str | None, str | None]:
    """(opening, deadline) of the one submission-window range the prose states, else Nones."""
    names = month_names(None)
    words = [fold(str(w)) for w in load_table("calls")["window_words"]]
    found = set()
    for line in lines:
        folded = fold(line)
        if not any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", folded) for w in words):
            continue
        for m in _range_pattern().finditer(folded):
            m1, m2, year = names[m["m1"]], names[m["m2"]], int(m["y"])
            if m1 > m2:
                continue
            try:
                found.add((dt.date(year, m1, int(m["d1"])), dt.date(year, m2, int(m["d2"]))))
            except ValueError:
                continue
    if len(found) != 1:
        return None, None
    ((opening, deadline),) = found
    return (opening.isoformat(), deadline.isoformat()) if opening <= deadline else (None, None)


def enrich_call(record: dict[str, Any], lines: list[str], lang: str | None) -> dict[str, Any]:
    """Fill a call's fields from "Label: value" rows; labels beat prose, disagreement is None.

    The budget: a labelled one, else one stated after a budget phrase (budget_in_prose), else
    the announcement reader's (one amount in the sentences with budget words). The programme:
    a labelled one, the announcement reader's, else the one the prose names
    (programme_in_prose).
    """
    prose_budget = budget_in_prose(lines)
    if prose_budget is not None:
        record["budget_eur"] = prose_budget
    opening, deadline = window_in_prose(lines)
    if opening and record.get("opening_date") in (None, opening):
        record["opening_date"] = opening
    if deadline and record.get("deadline_date") in (None, deadline):
        record["deadline_date"] = deadline
    found: dict[str, list[Any]] = {}
    for label, value in label_value_rows(lines):
        field = call_field(label)
        if field is None or not value:
            continue
        if field in ("opening_date", "deadline_date"):
            parsed: Any = iso(parse_date(value, None))
        elif field == "budget_eur":
            parsed = parse_amount(value).value
        else:
            parsed = normalise_space(value)
        found.setdefault(field, []).append(parsed)
    for field, value in _dated_label_lines(lines):
        found.setdefault(field, []).append(value)
    for field, values in found.items():
        value = _single(values)
        if value is not None:
            record[field] = value
        elif any(v is not None for v in values):
            record[field] = None
    if record.get("programme") is None and "programme" not in found:
        record["programme"] = programme_in_prose(lines)
    return record


def merge_project(
    sheet: dict[str, Any],
    partner: dict[str, Any],
    lines: list[str],
    headings: list[str],
    page_title: str | None = None,
) -> dict[str, Any]:
    """One project from a page read both as a sheet (labels) and as a partnership page (prose,
    partner lists): labelled values first, the partnership reading fills the gaps.

    Titles, in order: a labelled title; the partnership reading's (an acronym h1 and the
    heading after it, or an acronym the prose defines, when the page's URL or a heading names
    that acronym too or the page quotes the full name: a page defines programmes' acronyms as
    readily as its project's); the
    lone h1, only on a sheet-like page (`min_sheet_fields` labelled fields): a news page's
    headline is not its project's name; last, a title the prose names explicitly
    (`title_in_prose`).
    """
    record = dict(sheet)
    labelled = _labelled_fields(lines)
    acronym, title = partner.get("acronym"), partner.get("title")
    where = fold(" ".join([sheet.get("url") or "", *headings]))
    text = " ".join(lines)
    quoted = bool(title) and any(f"{o}{title}{c}" in text for o, c in ("“”", '""', "«»"))
    if acronym and fold(acronym) not in where and not quoted:
        partner = {**partner, "acronym": None, "title": None}
    sheet_like = len(labelled | _partner_rows(lines)) >= int(
        load_table("kinds")["structure"]["min_sheet_fields"]
    )
    if record.get("acronym") is None and partner.get("acronym") is None:
        record["acronym"] = url_acronym(sheet.get("url") or "", text)
    if "title" not in labelled:
        if partner.get("title") is not None:
            record["title"] = partner["title"]
        elif not sheet_like:
            record["title"] = None
        elif page_title and page_title in lines and len(labelled) >= 2:
            # The <title> repeats a line of the page: that line is the project's name.
            record["title"] = page_title
    for field in _SHEET_FIELDS + ("programme", "website"):
        if record.get(field) is None and partner.get(field) is not None:
            record[field] = partner[field]
    if record.get("programme") is None:
        record["programme"] = programme_in_prose(lines)
    if record.get("title") is None and "title" not in labelled:
        # A title the prose names explicitly ("intitulé Aurora", "das Projekt „…“").
        record["title"] = title_in_prose(lines, record.get("acronym"))
    title = record.get("title")
    if title and fold(title) in {fold(v) for v in (record.get("programmes") or []) if v}:
        # The page's heading names its programme, not its project; the heading right under
        # it, directly over the sheet's labelled rows, is the project's name.
        record["title"] = _heading_under(title, headings, lines)
    for field in ("funds", "regions", "programmes"):
        both = [*(sheet.get(field) or []), *(partner.get(field) or [])]
        record[field] = list(dict.fromkeys(both))
    if not record["funds"]:
        record["funds"] = funds_in_prose(lines)
    record["lead_organisation"] = clean_org_name(record.get("lead_organisation"))
    listed = read_participants(lines)
    record["participants"] = listed or partner.get("participants") or []
    record["quality_flags"] = [*sheet.get("quality_flags", []), *partner.get("quality_flags", [])]
    if record.get("title"):
        record["title"] = _QUOTES.sub(r"\g<inner>", record["title"]).strip() or None
        record["quality_flags"] = [f for f in record["quality_flags"] if not f.startswith("title:")]
    record["quality_flags"] = list(dict.fromkeys(record["quality_flags"]))
    leads = [p["name"] for p in record["participants"] if p.pop("lead", False)]
    leads = leads or [p["name"] for p in record["participants"]
                      if p.get("role") in ("lead_partner", "coordinator")]
    if record.get("lead_organisation") is None and len(leads) == 1:
        record["lead_organisation"] = leads[0]
    return record


def _heading_under(programme: str, headings: list[str], lines: list[str]) -> str | None:
    """The heading that follows the programme's heading when the page's next line after it
    is a labelled row ("Interreg Europe" / "Acme Arts" / "Program: Interreg Europe"), else
    None."""
    if programme not in headings or programme not in lines:
        return None
    at = headings.index(programme)
    if at + 1 >= len(headings):
        return None
    under = headings[at + 1]
    here = lines.index(programme)
    if lines[here + 1 : here + 2] != [under] or here + 2 >= len(lines):
        return None
    if not _name_like(under) or fold(under) == fold(programme):
        return None
    return under if label_value_rows([lines[here + 2]]) else None


# Quotes around a whole value: “Transnational Cluster Cooperation …”.
_QUOTES = re.compile(r"^[“\"«„](?P<inner>[^“”\"«»„]+)[”\"»“]$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[a-ząćęłńóśźż)])\.(?=[A-ZĄĆĘŁŃÓŚŹŻ])")


def funds_in_prose(lines: list[str]) -> list[str]:
    """Funds named (by acronym or full name) in a sentence that says the project is
    co-financed: "Projekt współfinansowany ze środków Europejskiego Funduszu Rozwoju
    Regionalnego" -> ["ERDF"]. Funds named elsewhere (a programme's budget) are not the
    project's."""
    table = load_table("funds")
    words = [fold(str(w)) for w in table["cofinancing_words"]]
    names = {fold(str(k)): str(v) for k, v in table["names"].items()}
    found: list[str] = []
    for line in lines:
        for sentence in _SENTENCE.split(line):
            folded = fold(sentence)
            if not any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", folded) for w in words):
                continue
            found += funds_named_in(sentence)
            found += [fund for name, fund in names.items() if name in folded]
    return list(dict.fromkeys(found))


# A word of 4–20 letters/digits with at least two capitals: "CLAMTEX", "ClusterCOOP".
_ACRONYM_TOKEN = re.compile(
    r"(?<![\w-])(?=[\w-]*[A-Z][\w-]*[A-Z])[A-Za-z][A-Za-z0-9-]{3,19}(?![\w-])"
)


def url_acronym(url: str, text: str) -> str | None:
    """The project's acronym when the page's URL path spells it and the text writes it with
    capitals ("…/lancement-du-projet-europeen-clamtex/" + "CLAMTEX"). Written with two different
    casings equally often, or several such words: None."""
    path = fold(urlsplit(url).path)
    words = set(re.split(r"[^a-z0-9]+", path))
    counts: dict[str, dict[str, int]] = {}
    for match in _ACRONYM_TOKEN.finditer(text):
        token = match.group()
        if fold(token) in words and not token.isdigit():
            counts.setdefault(fold(token), {}).setdefault(token, 0)
            counts[fold(token)][token] += 1
    if len(counts) != 1:
        return None
    (spellings,) = counts.values()
    ranked = sorted(spellings.items(), key=lambda kv: kv[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def _partner_rows(lines: list[str]) -> set[str]:
    """Partner and lead labels the page uses as rows or headings (they make it a sheet)."""
    partners, leads = _partner_labels()
    cells = [cell for line in lines for cell in line.split(" | ")]
    keys = {fold(cell.split(": ", 1)[0]).rstrip(" :") for cell in cells}
    return {f"partners:{k}" for k in keys if k in partners or k in leads}


def _labelled_fields(lines: list[str]) -> set[str]:
    """The project fields the page states as "Label: value" rows."""
    return {match_label(label) for label, value in label_value_rows(lines) if value} - {None}


def has_partner_section(root: lxml.html.HtmlElement) -> bool:
    """Whether a heading of the page introduces a partner list (tables/roles.yml)."""
    headings = section_headings()
    return any(
        fold(h.text_content()).rstrip(" :") in headings
        for h in root.iter("h1", "h2", "h3", "h4", "h5", "h6", "dt", "th", "strong", "b")
    )


@cache
def _cluster_words() -> tuple[str, ...]:
    return tuple(sorted({fold(str(w)) for ws in load_table("cluster_words").values() for w in ws}))


def _name_like(text: str) -> bool:
    """Short, not a sentence, and mostly capitalised words: reads as a proper name."""
    words = text.split()
    if not 1 <= len(words) <= 14 or text.endswith((".", ":", "?", "!")):
        return False
    if not (text[0].isupper() or text[0].isdigit()):
        return False
    long_words = [w for w in words if len(w) > 3]
    capitalised = [w for w in long_words if w[0].isupper() or w[0].isdigit()]
    return len(capitalised) * 2 >= len(long_words)


def _names_a_cluster(text: str) -> bool:
    folded = fold(text)
    return any(re.search(rf"(?<!\w){re.escape(w)}", folded) for w in _cluster_words())


def cluster_items(root: lxml.html.HtmlElement, lines: list[str]) -> list[str]:
    """Names of the list items (li, table rows' first cells) that read as a cluster's name.

    An item "Name – description" or "Name: description" contributes its name part.
    """
    items = [normalise_space(li.text_content()) for li in root.iter("li")]
    items += lines
    for row in root.iter("tr"):
        cells = [c for c in row if isinstance(c.tag, str) and c.tag in ("td", "th")]
        if cells:
            items.append(normalise_space(cells[0].text_content()))
    names = []
    for item in items:
        name = re.split(r"\s+[–—-]\s+|:\s", item, maxsplit=1)[0].strip(" ;,")
        if name and _name_like(name) and _names_a_cluster(name):
            names.append(name)
    # A counted list of clusters in prose ("trois pôles de compétitivité : A, …, B … et C").
    names += [i["name"] for intro, items in counted_lists(lines) if _lists_clusters(intro)
              for i in items]
    return list(dict.fromkeys(names))


_BULLET = re.compile(r"^(?:[•·▪■●◦*\uf0a7\uf0b7]|[-–—](?=\s))\s*")
_MIN_LIST = 3
# PDF lines shorter than this are not full-width prose (a wrapped item's tail: "Sp. z o.o.").
_SHORT_LINE = 60


def _item_name(item: str) -> str | None:
    """The name an item states: the part before its first comma ("Name, Region", "Name,
    represented by …"), if that reads as a name (capitalised, or with a capitalised word:
    "it's OWL")."""
    name = item.split(", ", 1)[0].strip(" ;,.")
    if not name or not re.search(r"[^\W\d_]", name):
        return None
    words = name.split()
    if len(words) > 16 or not any(w[0].isupper() or w[0].isdigit() for w in words[:2]):
        return None
    return name


def _inline_items(paragraph: str, lang: str | None) -> list[str]:
    """A "A; B; C, y D." list: items split on semicolons, the last pair on a comma + 'and'.

    A list that runs to the end of the text without closing (no final full stop or bracket)
    may have been cut: its last item is left out.
    """
    parts = [p.strip() for p in paragraph.split(";")]
    if len(parts) < _MIN_LIST:
        return _comma_items(paragraph, lang)
    ands = "|".join(re.escape(w) for w in and_words(lang) or and_words())
    last = re.split(rf",\s+(?:{ands})\s+", parts[-1])
    items = parts[:-1] + last
    if not paragraph.rstrip().endswith((".", ")", "”", '"')):
        items = items[:-1]
    return [i.strip(" .") for i in items if i.strip(" .")]


def _comma_items(paragraph: str, lang: str | None) -> list[str]:
    """A one-sentence "A i Bergen, B, C i Nordland og D." list (it must end the sentence):
    items split on commas and the last 'and', a trailing "<preposition> <Place>" dropped."""
    sentence = paragraph.strip()
    if not sentence.endswith(".") or sentence.count(". ") > 0:
        return []
    ands = "|".join(re.escape(w) for w in and_words(lang) or and_words())
    parts = [p.strip() for p in sentence.rstrip(".").split(", ")]
    last = re.split(rf"\s+(?:{ands})\s+", parts[-1])
    items = parts[:-1] + last
    if len(items) < _MIN_LIST:
        return []
    preps = load_table("places")["locatives"].get(lang or "", [])
    if preps:
        alternation = "|".join(re.escape(str(p)) for p in preps)
        place = rf"\s+(?:{alternation})\s+[A-ZÆØÅÄÖÜ][\w-]*(?:\s+[A-ZÆØÅÄÖÜ][\w-]*)?$"
        items = [re.sub(place, "", item) for item in items]
    return items


def _introduces_list(head: str) -> bool:
    """A list's introduction names clusters or counts them ("10 entidades:", "22 kluster")."""
    return bool(re.search(r"\d", head)) or _names_a_cluster(head)


def parse_cluster_list(
    root: lxml.html.HtmlElement, lines: list[str], lang: str | None, *, reflow: bool = False
) -> list[dict[str, Any]]:
    """The clusters a page lists after an introduction ("… are:", "10 entidades:").

    Two layouts: an inline list (items separated by semicolons) and a list of lines (bullets,
    or one name per line, "Name, Region" giving the name). `reflow` joins a PDF's broken lines.
    The first list of at least three names wins; a page with none yields no clusters (the
    names in running prose are not guessed).
    """
    for i, line in enumerate(lines):
        colon = line.find(": ") if ": " in line else (len(line) - 1 if line.endswith(":") else -1)
        if colon < 0 or not _introduces_list(line[:colon]):
            continue
        rest = line[colon + 1 :].strip()
        names: list[str | None] = []
        paragraph, j = rest, i + 1
        while reflow and j < len(lines) and not paragraph.rstrip().endswith("."):
            paragraph, j = f"{paragraph} {lines[j]}".strip(), j + 1
        if rest or (reflow and paragraph.count(";") >= _MIN_LIST - 1):
            # Inline ("are: A; B; C"), or a PDF paragraph of semicolon-separated names.
            names = [_item_name(item) for item in _inline_items(paragraph, lang)]
        else:
            names = _line_items(lines[i + 1 :], reflow)
        if len(names) >= _MIN_LIST and all(names):
            country = _country_named(line[:colon]) or page_country(lines)
            return _clusters(names, country=country)
    for names in (_bullet_run(lines, reflow), _record_headers(lines)):
        if len(names) >= _MIN_LIST and all(names):
            return _clusters(names, country=page_country(lines))
    for intro, items in counted_lists(lines):
        if _lists_clusters(intro):
            country = page_country(lines)
            return [{"name": i["name"], "country": i["country"] or country, "sector": None}
                    for i in items]
    return []


def _clusters(names: list[str | None], country: str | None = None) -> list[dict[str, Any]]:
    unique = list(dict.fromkeys(n for n in names if n))
    return [{"name": n, "country": country, "sector": None} for n in unique]


def _country_named(text: str) -> str | None:
    """The one country a list's introduction names ("… 20 klastrów w Polsce"), else None."""
    found = _countries_named(text)
    return found.pop() if len(found) == 1 else None


def _countries_named(text: str) -> set[str]:
    """Every country a text names: a country or region name (CLDR, tables/places.yml) or an
    inflected country form ("w Polsce", "i Noreg")."""
    forms = {fold(str(k)): str(v) for k, v in load_table("places")["country_forms"].items()}
    words = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text)
    found = set()
    for size in (1, 2, 3):
        for i in range(len(words) - size + 1):
            phrase = " ".join(words[i : i + size])
            code = forms.get(fold(phrase)) or (country_of(phrase) if phrase[0].isupper() else None)
            if code:
                found.add(code)
    return found


def page_country(lines: list[str]) -> str | None:
    """The one country a whole page names, if it names exactly one (a national programme's
    news, "La France compte 50 grappes"): the clusters it lists are that country's. A page that
    names two countries, or none, gives no country."""
    found = _countries_named("\n".join(lines))
    return found.pop() if len(found) == 1 else None


def _bullet_run(lines: list[str], reflow: bool) -> list[str | None]:
    """A run of bulleted items with no introduction, when at least a third of its names say
    they are clusters (the others are then clusters named without the word)."""
    for i, line in enumerate(lines):
        if not _BULLET.match(line):
            continue
        names = _line_items(lines[i:], reflow)
        if len(names) >= _MIN_LIST and all(names):
            named = sum(_names_a_cluster(n or "") for n in names)
            if named * 3 >= len(names):
                return names
        return []
    return []


def _record_headers(lines: list[str]) -> list[str | None]:
    """Names heading repeated blocks of the same labelled rows ("Addict – Cluster das …" then
    "Objetivos: …", "Quando Abriu: …"): at least three blocks that start with the same label.
    The name is the header's part before a dash."""
    by_label: dict[str, list[str]] = {}
    for i, line in enumerate(lines[:-1]):
        if ": " in line or line.endswith((".", ":")) or len(line.split()) > 16:
            continue
        following = label_value_rows([lines[i + 1]])
        if following and following[0][1]:
            by_label.setdefault(fold(following[0][0]), []).append(line)
    blocks = max(by_label.values(), key=len, default=[])
    if len(blocks) < _MIN_LIST:
        return []
    return [_item_name(re.split(r"\s+[–—]\s+", header, maxsplit=1)[0]) for header in blocks]


def _line_items(following: list[str], reflow: bool) -> list[str | None]:
    """Items of a list written one per line after its introduction, up to the first line
    that is neither an item nor a sub-heading ("V runda (…):")."""
    bulleted = any(_BULLET.match(line) for line in following[:3])
    items: list[str] = []
    for line in following:
        if line.endswith(":") and not items:
            continue  # a sub-heading between the introduction and the items
        if reflow and line.isdigit():
            continue  # a PDF's page number between two pages of the list
        if bulleted:
            if _BULLET.match(line):
                items.append(_BULLET.sub("", line))
            elif reflow and items and (not line.endswith(".") or len(line) < _SHORT_LINE):
                # A PDF line break inside an item; a full-width line ending a sentence is
                # the prose after the list.
                items[-1] = f"{items[-1]} {line}"
            else:
                break
        else:
            name = _item_name(line)
            if name is None or line.endswith(".") or len(line.split()) > 16:
                break
            items.append(line)
    if not bulleted and items and len({", " in item for item in items}) > 1:
        # "Name, Region" lines and bare lines mixed: not one list.
        return []
    if len(items) > _MIN_LIST and all(", " in i for i in items[:-1]) and ", " not in items[-1]:
        # Every item but the last goes on after its name ("…, reprezentowany przez …"): the
        # last one was cut where the text stops.
        items = items[:-1]
    return [_item_name(item) for item in items]


# -- participants ---------------------------------------------------------------------------

_CODE = re.compile(r"\s*\(\s*(?P<code>[A-Z]{2,3})\s*\)\s*$")
# A short lower-case tag in parentheses after a name is an annotation, not part of the name:
# "Mobile Heights AB (svb)", "X (coord.)".
_TAG = re.compile(r"\s*\([a-z][a-z.]{0,5}\)\s*$")


def clean_org_name(name: str | None) -> str | None:
    """An organisation name without a trailing annotation tag."""
    return _TAG.sub("", name).strip() or None if name else name
_ROLE_TAIL = re.compile(r"^(?P<name>.+?)\s+[-–—]\s+(?P<role>[^-–—]{3,40})$")


@cache
def _partner_labels() -> tuple[dict[str, str | None], dict[str, str | None]]:
    table = load_table("partner_labels")
    partners = {fold(str(k)): v for by in table["partners"].values() for k, v in by.items()}
    leads = {fold(str(k)): v for by in table["leads"].values() for k, v in by.items()}
    return partners, leads


def country_code(code: str) -> str | None:
    """ISO alpha-2 of a two- or three-letter country code a page writes, else None."""
    if len(code) == 3:
        return load_table("places")["alpha3"].get(code)
    return code if code in Locale("en").territories and code.isalpha() else None


def _member(text: str, default_role: str | None) -> dict[str, Any] | None:
    """One participant from "Name (CC) - Lead Partner" / "Name (CC)" / "Name"."""
    text = _TAG.sub("", text.strip(" ;,."))
    role = default_role
    tail = _ROLE_TAIL.match(text)
    if tail and role_of(tail["role"]):
        text, role = tail["name"], role_of(tail["role"])
    country = None
    code = _CODE.search(text)
    if code:
        country = country_code(code["code"])
        if country is None:
            return None  # "(ABC)" that is no country: an acronym, kept in the name elsewhere
        text = text[: code.start()]
    name = text.strip(" ;,.")
    if not name or not (name[0].isupper() or name[0].isdigit()) or len(name.split()) > 14:
        return None
    return {"name": name, "role": role, "role_as_published": None, "country": country,
            "work_packages_led": []}


def _without_place(value: str) -> str:
    """"Name, City, Country" -> "Name (CC)" when the last part is a country; else as is."""
    parts = [p.strip() for p in value.split(",")]
    country = country_of(parts[-1]) if len(parts) >= 2 else None
    return f"{parts[0]} ({country})" if country else value


def _split_members(value: str) -> list[str]:
    """Items of a comma-separated partner list; a comma inside parentheses does not split."""
    parts, depth, current = [], 0, ""
    for char in value:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth <= 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def read_participants(lines: list[str]) -> list[dict[str, Any]]:
    """Participants a page lists: a partner label's value or the line after a partner heading,
    a lead label's value, or a run of at least three "Name (CC)" cells. [] when none."""
    partners, leads = _partner_labels()
    found: list[dict[str, Any]] = []
    cells = [cell.strip(" |") for line in lines for cell in line.split(" | ")]
    cells = [cell for cell in cells if cell]
    for i, cell in enumerate(cells):
        label, _, value = cell.partition(": ") if ": " in cell else (cell.rstrip(":"), "", "")
        key = fold(label).rstrip(" :")
        if key not in partners and key not in leads:
            continue
        if not value and i + 1 < len(cells):
            value = cells[i + 1]
        if not value or value.endswith(".") or fold(value).rstrip(" :") in partners:
            continue
        if key in leads:
            member = _member(_without_place(value), leads[key])
            if member:
                member["lead"] = True
                found.append(member)
            continue
        members = [_member(item, partners[key]) for item in _split_members(value)]
        if members and all(members):
            found += [m for m in members if m]
    if not found:
        run: list[dict[str, Any]] = []
        for cell in cells + [""]:
            member = _member(cell, None) if _CODE.search(cell.split(" - ")[0] + "") or (
                _ROLE_TAIL.match(cell) and _CODE.search(_ROLE_TAIL.match(cell)["name"])
            ) else None
            if member and member["country"]:
                run.append(member)
                continue
            if len(run) >= _MIN_LIST:
                break
            run = []
        if len(run) >= _MIN_LIST:
            if any(m["role"] for m in run):
                # The list marks its lead: the others are its partners.
                for m in run:
                    m["role"] = m["role"] or "partner"
            found = run
    if not found:
        found = _introduced_partners(lines)
    if not found:
        found = _counted_partners(lines)
    if not found:
        found = _organisation_run(lines)
    if not any(m.get("lead") for m in found):
        lead = lead_in_prose(lines)
        if lead:
            found = [m for m in found if fold(m["name"]) != fold(lead["name"])]
            found.insert(0, lead)
    unique: dict[str, dict[str, Any]] = {}
    for member in found:
        unique.setdefault(fold(member["name"]), member)
    return list(unique.values())


def _organisation_run(lines: list[str]) -> list[dict[str, Any]]:
    """Partners listed one per line without a heading (tables/partner_labels.yml)."""
    table = load_table("partner_labels")
    words = {fold(str(w)) for w in table["organisation_words"]}

    def org_like(line: str) -> bool:
        tokens = {t.strip(".,") for t in fold(line).split()}
        return bool(tokens & words)

    def name_like(line: str) -> bool:
        return (
            ": " not in line and " | " not in line and not line.endswith(":")
            and 1 <= len(line.split()) <= 14 and line[0].isupper()
            and not re.search(r"[.!?]\s+[A-Z]", line)
        )

    run: list[str] = []
    for line in [*lines, ""]:
        if line and name_like(line):
            run.append(line)
            continue
        # The run starts and ends with an organisation: a label or a footer beside it is not one.
        while run and not org_like(run[0]):
            run.pop(0)
        while run and not org_like(run[-1]):
            run.pop()
        if len(run) >= int(table["min_run"]):
            share = sum(org_like(x) for x in run) / len(run)
            if share >= float(table["min_share"]):
                return [{"name": x.strip(), "role": None, "role_as_published": None,
                         "country": None, "work_packages_led": []} for x in run]
        run = []
    return []


def _introduced_partners(lines: list[str]) -> list[dict[str, Any]]:
    """Partners listed one per line after a sentence that introduces them ("… e i partner
    sono:"), dash or bullet lines between them skipped; the introduction's partner word gives
    their role."""
    partners, _ = _partner_labels()
    for i, line in enumerate(lines):
        if not line.endswith(":"):
            continue
        words = fold(line).rstrip(":").split()
        roles = [partners[w] for w in words if w in partners]
        if not roles:
            continue
        members: list[dict[str, Any]] = []
        for following in lines[i + 1 :]:
            if _BULLET.sub("", following) == "" or following in "-–—•":
                continue
            member = _member(_BULLET.sub("", following), roles[-1])
            if member is None or following.endswith((".", ":")):
                break
            members.append(member)
        if len(members) >= _MIN_LIST:
            return members
    return []


# -- counted lists in running prose ---------------------------------------------------------


@cache
def _number_words() -> dict[str, int]:
    table = load_table("language")["number_words"]
    return {fold(str(w)): int(n) for by in table.values() for w, n in by.items()}


@cache
def _prose_words() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(articles, relative pronouns, list adverbs, locative prepositions), all languages."""
    language, places = load_table("language"), load_table("places")

    def every(table: dict[str, list[str]]) -> tuple[str, ...]:
        return tuple(sorted({str(w) for ws in table.values() for w in ws}, key=len, reverse=True))

    return (
        every(language["articles"]),
        every(language["relative_pronouns"]),
        every(language["list_adverbs"]),
        every(places["locatives"]),
    )


_CONNECTORS = {"of", "de", "del", "della", "di", "du", "des", "da", "do", "dos", "für", "for",
               "the", "la", "le", "y", "e", "et", "&", "-", "–"}
# Zero-width, so that every word is tried as the count: "… formé de quatre clusters, A, …".
_COUNTED = re.compile(
    r"(?<!\w)(?=(?P<count>\d{1,2}|[^\W\d_]+)\s+(?P<head>[^,:;.()]{1,60}?)(?P<sep>\s*[:,]\s+))"
)
_MAX_COUNTED = 12
# A counted list is read within this many characters after its introduction (a long line with
# no full stop must not make every count word scan the rest of it).
_MAX_LIST_CHARS = 800


def _leading_name(part: str) -> tuple[str, str] | None:
    """("Name", rest) for a list item that starts with a capitalised name: words capitalised
    (or digits, or short connectors inside the name), ending on a capitalised word."""
    words = part.split()
    end = 0
    for i, word in enumerate(words):
        if word[0].isupper() or word[0].isdigit():
            end = i + 1
        elif word not in _CONNECTORS or i == 0:
            break
    if end == 0:
        return None
    return " ".join(words[:end]), " ".join(words[end:])


def _counted_item(part: str) -> tuple[str, str | None] | None:
    """(name, place) of one item of a counted list: "le Pôle Mer Nord en France" -> ("Pôle Mer
    Nord", "France"); "Nautilus, qui représente …" -> ("Nautilus", None). None when the item
    goes on in any other way (not a list of names)."""
    articles, pronouns, adverbs, locatives = _prose_words()
    text = part.strip()
    for prefix in (adverbs, articles):
        for word in prefix:
            if fold(text).startswith(fold(word) + " ") or (
                word.endswith("'") and fold(text).startswith(fold(word))
            ):
                text = text[len(word):].strip()
                break
    lead = _leading_name(text)
    if lead is None:
        return None
    name, rest = lead
    if not rest:
        return name, None
    first = rest.split()[0]
    if first in pronouns or first.startswith("("):
        return name, None  # a relative clause or an aside after the name
    if first in locatives:
        place = _leading_name(rest[len(first):].strip())
        if place and not place[1]:
            return name, place[0]
    return None


def _counted_items(sentence: str, count: int) -> list[dict[str, Any]] | None:
    """The `count` items a counted list's sentence names, or None when it names another
    number of names or goes on in a way a list of names does not."""
    _, pronouns, _, _ = _prose_words()
    ands = "|".join(re.escape(w) for w in and_words())
    items: list[dict[str, Any]] = []
    clause = False  # the last item goes on in a relative clause: what follows may be its
    for group_no, group in enumerate(sentence.split(", ")):
        for part in re.split(rf"\s+(?:{ands})\s+", group):
            if len(items) == count:
                return items if clause else None
            if not part.strip():
                return None
            if part.split()[0] in pronouns:
                if not items:
                    return None
                clause = True
                break  # "…, qui représente le territoire francilien, …": the rest of the group
            read = _counted_item(part)
            if read is None:
                return None
            clause = read[0] != part.strip() and read[1] is None and len(read[0]) < len(part)
            items.append({"name": read[0], "place": read[1], "group": group_no})
    return items if len(items) == count else None


def counted_lists(lines: list[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Lists in running prose whose introduction states how many items follow: "un partenariat
    formé de quatre clusters, A en Galice, B à Lyon, C et D au Portugal." / "trois pôles :
    A, qui …, B qui … et enfin C qui …".

    The stated count is the check: the items (split on commas and 'and' words, a relative
    clause after a name skipped) must be exactly that many names, or the list is not read.
    Each item keeps the country its place names ("en Galice"); items joined by 'and' before
    one place ("C et D au Portugal") share it, when every other item names its own place.
    Returns (introduction: its sentence up to the list, items) pairs; items are {"name",
    "country"}.
    """
    numbers = _number_words()
    found = []
    for line in lines:
        for match in _COUNTED.finditer(line):
            word = match["count"]
            count = int(word) if word.isdigit() else numbers.get(fold(word))
            if count is None or not 3 <= count <= _MAX_COUNTED:
                continue
            rest = line[match.end("sep") : match.end("sep") + _MAX_LIST_CHARS]
            sentence = re.split(r"\.(?:\s|$)", rest, maxsplit=1)[0].strip()
            items = _counted_items(sentence, count) if sentence else None
            if not items:
                continue
            for item, after in zip(items, items[1:], strict=False):
                others = [i for i in items if i["group"] != item["group"]]
                if (
                    item["place"] is None and after["place"] and after["group"] == item["group"]
                    and others and all(i["place"] for i in others)
                ):
                    item["shared"] = after["place"]
            start = max((m.end() for m in _SENTENCE.finditer(line[: match.start()])), default=0)
            found.append((line[start : match.end("head")], [
                {"name": i["name"], "country": country_of(i["place"] or i.get("shared"))}
                for i in items
            ]))
    return found


@cache
def _partnership_words() -> re.Pattern[str]:
    words = [fold(str(w)) for ws in load_table("partner_labels")["partnership_words"].values()
             for w in ws]
    return re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, words))})(?!\w)")


def _lists_partners(intro: str) -> bool:
    """The introduction of a counted list says its items form a partnership."""
    return bool(_partnership_words().search(fold(intro)))


def _lists_clusters(intro: str) -> bool:
    """The introduction of a counted list counts clusters ("trois pôles de compétitivité"),
    not a project's partners (a partnership of five clusters)."""
    return _names_a_cluster(intro) and not _lists_partners(intro)


def _counted_partners(lines: list[str]) -> list[dict[str, Any]]:
    """Partners a counted list in prose names, when its sentence says they form the project's
    partnership ("C'est un partenariat formé de quatre clusters, A en Galice, …"): the
    roles are not stated (None); a place that names a country or region gives the country."""
    for intro, items in counted_lists(lines):
        if _lists_partners(intro):
            return [{"name": i["name"], "role": None, "role_as_published": None,
                     "country": i["country"], "work_packages_led": []} for i in items]
    return []


_PROSE_NAME = r"[A-ZÀ-ÖØ-Þ][\w’'.&-]*(?:\s+(?:(?:{connectors})\s+)*[A-ZÀ-ÖØ-Þ][\w’'.&-]*)*"


@cache
def _lead_patterns() -> list[tuple[re.Pattern[str], str | None]]:
    """(pattern with a `name` group, role) for each lead label of tables/partner_labels.yml."""
    table = load_table("partner_labels")
    prose = table["lead_in_prose"]
    articles, pronouns, _, _ = _prose_words()

    def alt(words: Any) -> str:
        flat = {str(w) for ws in words.values() for w in ws} if isinstance(words, dict) else words
        return "|".join(re.escape(w) for w in sorted(flat, key=len, reverse=True))

    connectors = "|".join(re.escape(w) for w in sorted(_CONNECTORS | {
        "degli", "dello", "dei", "delle", "per", "la", "da", "dos", "das", "e"}, key=len,
        reverse=True) if w not in ("-", "–", "&"))
    name = _PROSE_NAME.format(connectors=connectors)
    article = rf"(?:(?:{alt([a for a in articles if not a.endswith(chr(39))])})\s+|l['’])?"
    patterns = []
    for by_lang in table["leads"].values():
        for label, role in by_lang.items():
            if role is None:
                continue
            lab = re.escape(str(label))
            # Only the label and the function words ignore case: the name must be capitalised.
            patterns.append((re.compile(
                rf"(?<!\w)(?i:{lab}(?:\s+(?:{alt(prose['project_words'])}))?)"
                rf"(?:\s+[A-Z0-9][\w-]*)?"
                rf"\s+(?i:{alt(prose['copulas'])})\s+(?i:{article})(?P<name>{name})"
                rf"(?=\s+[a-z]|[,.;:]|$)"
            ), role))
            patterns.append((re.compile(
                rf"(?<![\w])(?P<name>{name}),\s+(?i:{alt(pronouns)})\s+(?:\w+\s+){{0,2}}?"
                rf"(?i:{alt(prose['as_words'])})\s+(?i:{lab})(?!\w)"
            ), role))
    project = "|".join(re.escape(str(w)) for ws in load_table("titles")["project_words"].values()
                       for w in ws)
    verbs = alt(prose["lead_verbs"])
    # "… el proyecto X, que liderará la Universidad Y (Portugal)": no role stated.
    patterns.append((re.compile(
        rf"(?i:(?<!\w)(?:{project})(?!\w))[^.;]{{0,200}}?(?<!\w)(?i:{verbs})\s+(?i:{article})"
        rf"(?P<name>{name})(?:\s*\((?P<place>[^()]+)\))?(?=\s+[a-z]|[,.;:]|$)"
    ), None))
    return patterns


def lead_in_prose(lines: list[str]) -> dict[str, Any] | None:
    """The lead partner a sentence names ("Capofila del progetto X è l'Università … e …",
    "… Regija Y, ki je kot vodilni partner v projektu …", "el proyecto …, que conducirá el
    Instituto Z (Portugal)": a lead verb, role not stated), when the page names exactly one
    that way. A country in parentheses after the name is kept."""
    found: dict[str, tuple[str, str | None, str | None]] = {}
    for line in lines:
        for pattern, role in _lead_patterns():
            for match in pattern.finditer(line):
                name = _trim_name(match["name"])
                place = match.groupdict().get("place")
                if name:
                    found.setdefault(fold(name), (name, role, country_of(place)))
    if len(found) != 1:
        return None
    name, role, country = next(iter(found.values()))
    return {"name": name, "role": role, "role_as_published": None, "country": country,
            "work_packages_led": [], "lead": True}


def _trim_name(name: str) -> str | None:
    """A prose name without the sentence words its start took in (the case-insensitive match
    lets "Srečanje je vodila Občina Koper" in): from its last run of capitalised words."""
    words = name.split()
    start = 0
    for i, word in enumerate(words):
        if not (word[0].isupper() or word[0].isdigit()) and word.lower() not in _CONNECTORS | {
                "degli", "dello", "dei", "delle", "per", "da", "dos", "das", "e"}:
            start = i + 1
    words = words[start:]
    while words and not words[0][0].isupper():
        words.pop(0)
    return " ".join(words) or None


# -- titles named in running prose ----------------------------------------------------------

_OPEN_QUOTES, _CLOSE_QUOTES = "«“„\"", "»”“\""
# Where an unquoted title named after its acronym ends: an aside, a dash, a comma, the line.
_TITLE_END = r"(?=\s*\(|\s+[–—-]\s|,|$)"


@cache
def _title_patterns() -> list[re.Pattern[str]]:
    table = load_table("titles")

    def alt(key: str) -> str:
        words = {str(w) for ws in table[key].values() for w in ws}
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

    connectors = "|".join(re.escape(w) for w in sorted(_CONNECTORS, key=len, reverse=True)
                          if w not in ("-", "–", "&"))
    name = _PROSE_NAME.format(connectors=connectors)
    inner = rf"[^{_OPEN_QUOTES}{_CLOSE_QUOTES}]{{3,160}}?"
    quoted = rf"[{_OPEN_QUOTES}]\s*(?P<quoted>{inner})\s*[{_CLOSE_QUOTES}]"
    project = alt("project_words")
    return [
        # "Le projet Interreg, intitulé Aurora, regroupe …"
        re.compile(
            rf"(?i:(?<!\w)(?:{project})(?!\w))[^.;:]{{0,60}}?(?i:(?<!\w)(?:{alt('titled')}))\s+"
            rf"(?:{quoted}|(?P<name>{name})(?=[,.;:]|\s+[a-z]|$))"
        ),
        # "das Projekt „Green Ports for the Alps“"
        re.compile(rf"(?i:(?<!\w)(?:{project}))\s+{quoted}"),
    ]


def _acronym_title(line: str, acronym: str) -> str | None:
    """The full name a line gives after the project's acronym and a dash: "GRIDX – Smart Grids
    for Island Regions (…)", "NAVIS – acronimo di Navigazione Sostenibile … - è …"."""
    of = "|".join(re.escape(str(w)) for ws in load_table("titles")["acronym_of"].values()
                  for w in ws)
    match = re.search(
        rf"(?<!\w){re.escape(acronym)}\s+[–—-]\s+(?:(?i:{of})\s+)?"
        rf"(?P<name>[A-ZÀ-ÖØ-Þ][^()–—.;:!?]{{5,160}}?){_TITLE_END}", line)
    if match is None:
        return None
    name = match["name"].strip()
    return name if len(name.split()) >= 3 else None


def title_in_prose(lines: list[str], acronym: str | None) -> str | None:
    """A project title the prose names ("intitulé Aurora", "das Projekt „…“", "ACRONYM –
    Full Name"), when every such mention names the same one."""
    found: dict[str, str] = {}
    for line in lines:
        for pattern in _title_patterns():
            for match in pattern.finditer(line):
                title = (match["quoted"] or match.groupdict().get("name") or "").strip()
                if title and len(title) > 2:
                    found.setdefault(fold(title), title)
        if acronym:
            title = _acronym_title(line, acronym)
            if title:
                found.setdefault(fold(title), title)
    if acronym:
        found.pop(fold(acronym), None)
    return next(iter(found.values())) if len(found) == 1 else None


# -- programmes named in running prose ------------------------------------------------------

_PROGRAMME_NAME = r"[A-Z][\w+-]*(?:\s+[A-Z0-9][\w+-]*){0,4}"
_NOT_NAMES = {"the", "this", "that", "a", "an", "our", "its", "their", "le", "la", "il", "el",
              "o", "der", "die", "das", "un", "une", "ein", "eine"}


def _programme_candidates(line: str) -> list[str]:
    words = sorted({str(w) for ws in load_table("calls")["programme_words"].values() for w in ws},
                   key=len, reverse=True)
    lower = "|".join(re.escape(w) for w in words)
    upper = "|".join(re.escape(w.capitalize()) for w in words)
    found = []
    for match in re.finditer(rf"(?<!\w)(?P<name>{_PROGRAMME_NAME})\s+(?P<word>{lower}|{upper})"
                             rf"(?!\w)", line):
        if match["word"][0].isupper() and re.match(r"\s+[A-Z]", line[match.end():]):
            continue  # "Hungarian Pole Programme Office": the word is inside another name
        name = match["name"].split()
        if name[0].casefold() in _NOT_NAMES:
            name = name[1:]
        if not name or (len(name) == 1 and not _ACRONYM.match(name[0])):
            continue  # "Al Programma", "Erasmus programme": too little to tell a name
        joined = " ".join(name)
        found.append(f"{joined} {match['word']}" if match["word"][0].isupper() else joined)
    for match in re.finditer(rf"(?<!\w)(?:{lower})\s+(?P<name>{_PROGRAMME_NAME})", line):
        name = match["name"].split()
        if len(name) > 1 or _ACRONYM.match(name[0]):
            found.append(match["name"])
    return found


_ACRONYM = re.compile(r"^[A-Z][A-Z0-9-]{2,}$")


def _written_longer(name: str, text: str) -> bool:
    """The page also writes a longer name that runs from `name`'s first word to its last
    ("programma Interreg Ligure" beside "Interreg Alpi-Mare Ligure 2021-2027")."""
    words = name.split()
    if len(words) < 2:
        return False
    first, last = re.escape(words[0]), re.escape(words[-1])
    pattern = rf"(?<!\w){first}(?:\s+[A-Z0-9][\w+-]*){{1,5}}?\s+{last}"
    return any(m.group(0) != name for m in re.finditer(pattern, text))


def programme_in_prose(lines: list[str]) -> str | None:
    """The one programme a page names next to a programme word (tables/calls.yml): "funded by
    LIFE programme" / "sous le programme LIFE" -> LIFE; a name that takes the capitalised
    word as its own ("the project (North Sea Region Programme)") keeps it. None when
    the page names several, or also writes the name longer."""
    found = list(dict.fromkeys(c for line in lines for c in _programme_candidates(line)))
    if len(found) != 1 or _written_longer(found[0], "\n".join(lines)):
        return None
    return found[0]
