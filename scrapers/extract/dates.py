"""Strict reading of dates as European pages write them.

Numeric dates are day-first (`03.04.2020` is 3 April), with the same separator twice; ISO
`2020-04-03` is year-first, and so is any date that starts with a four-digit year
(`2018. 01. 24.`, `2016/03/01`, Hungarian `2020. április 3.`). Two-digit years (`12/05/21`)
are refused: 1921 or 2021, nothing on the page decides. Impossible dates (`31.02.2020`) and
years outside 1900–2100 are refused. Month words come from tables/months.yml (en, pt, es, fr,
it, de, pl, ca, ro, sl, cs, hu, sv, no, nl, bg; genitives where dates use them), matched case-
and accent-insensitively. A month and year without a day is not a date.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

from scrapers.extract.text import fold, load_table

_MIN_YEAR, _MAX_YEAR = 1900, 2100
# Ordinal endings after the day, already folded: 6th, 1er, 1º (folds to "o"), 1ª, 12.
# "roku" / "година" after a year: Polish "2022 r.", Bulgarian "2000 г.".
_YEAR_SUFFIX = r"(?:\s*(?:r\.|г\.?))?"
_ORDINAL = r"(?:st|nd|rd|th|er|o|a|°|\.)?"


@cache
def _month_names(lang: str | None) -> dict[str, int]:
    """Folded month name -> month number, for one language or for all of them."""
    table: dict[str, dict[int, list[str]]] = load_table("months")
    langs = [lang] if lang is not None else list(table)
    names: dict[str, int] = {}
    clashes: set[str] = set()
    for code in langs:
        if code not in table:
            raise ValueError(f"no month names for language {code!r}")
        for month, words in table[code].items():
            for word in words:
                key = fold(str(word))
                if names.get(key, int(month)) != int(month):
                    # Same word, different month in another language: only lang= can decide.
                    clashes.add(key)
                names[key] = int(month)
    return {k: v for k, v in names.items() if k not in clashes}


@cache
def _pattern(lang: str | None) -> re.Pattern[str]:
    months = "|".join(re.escape(m) for m in sorted(_month_names(lang), key=len, reverse=True))
    iso = r"(?P<iso_y>\d{4})-(?P<iso_m>\d{2})-(?P<iso_d>\d{2})"
    # The year group takes any digit run so that a two-digit year is seen and refused, not
    # half-matched.
    numeric = (
        r"(?P<num_d>\d{1,2})(?P<sep>[./-])\s?(?P<num_m>\d{1,2})(?P=sep)\s?(?P<num_y>\d+)"
        + _YEAR_SUFFIX
    )
    # Year first with dots or slashes: Hungarian "2018. 01. 24.", "2016/03/01". A four-digit
    # first group can only be a year, and nobody writes year/day/month.
    year_first = (
        r"(?P<y_y>\d{4})(?P<ysep>[./])\s?(?P<y_m>\d{1,2})(?P=ysep)\s?(?P<y_d>\d{1,2})\.?"
    )
    day_first = (
        rf"(?P<a_d>\d{{1,2}}){_ORDINAL}\s*(?:de\s+|of\s+|du\s+|d['’]\s*)?(?P<a_m>{months})\.?,?"
        r"\s*(?:del?\s+)?(?P<a_y>\d{4})" + _YEAR_SUFFIX
    )
    month_first = rf"(?P<b_m>{months})\.?\s+(?P<b_d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<b_y>\d{{4}})"
    # Hungarian words: "2020. április 3."
    year_words = rf"(?P<c_y>\d{{4}})\.\s*(?P<c_m>{months})\.?\s+(?P<c_d>\d{{1,2}})\.?"
    return re.compile(
        rf"(?<![\w.,-])(?:{iso}|{year_first}|{numeric}|{year_words}|{day_first}|{month_first})"
        r"(?![\w-]|\.\d)"
    )


def _to_date(match: re.Match[str], lang: str | None) -> dt.date | None:
    groups = match.groupdict()
    if groups["iso_y"]:
        y, m, d = groups["iso_y"], groups["iso_m"], groups["iso_d"]
        year, month, day = int(y), int(m), int(d)
    elif groups["num_y"]:
        if len(groups["num_y"]) != 4:
            return None
        year, month, day = int(groups["num_y"]), int(groups["num_m"]), int(groups["num_d"])
    elif groups["y_y"]:
        year, month, day = int(groups["y_y"]), int(groups["y_m"]), int(groups["y_d"])
    else:
        prefix = "a" if groups["a_y"] else "b" if groups["b_y"] else "c"
        names = _month_names(lang)
        year = int(groups[f"{prefix}_y"])
        month = names[groups[f"{prefix}_m"]]
        day = int(groups[f"{prefix}_d"])
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, lang: str | None = None) -> dt.date | None:
    """Read a cell that holds exactly one date ("28.12.2020", "15 de julho de 2021"), else None."""
    cleaned = fold(text or "").strip(" ,;")
    if not cleaned:
        return None
    match = _pattern(lang).fullmatch(cleaned)
    return _to_date(match, lang) if match else None


def find_dates(text: str, lang: str | None = None) -> list[dt.date]:
    """Every valid date stated in running text, in order; impossible or ambiguous ones skipped."""
    found = (_to_date(m, lang) for m in _pattern(lang).finditer(fold(text or "")))
    return [d for d in found if d is not None]


def month_names(lang: str | None = None) -> dict[str, int]:
    """Folded month word -> month number (one language, or every language's unambiguous ones)."""
    return _month_names(lang)


def find_date_spans(text: str, lang: str | None = None) -> list[tuple[int, int, dt.date | None]]:
    """(start, end, date) of every date-shaped span in the folded text (same length as the
    text's fold); date is None for a refused one (two-digit year, impossible day)."""
    return [(m.start(), m.end(), _to_date(m, lang)) for m in _pattern(lang).finditer(text)]


def iso(date: dt.date | None) -> str | None:
    """A date as the ISO text the items carry."""
    return date.isoformat() if date is not None else None
