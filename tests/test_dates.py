"""parse_date: day-first European dates, month words in seven languages, strict refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scrapers.extract.dates import find_dates, parse_date
from scrapers.extract.text import load_table


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("28.12.2020", None, dt.date(2020, 12, 28)),
        ("27.07.2022", None, dt.date(2022, 7, 27)),
        ("03.04.2020", None, dt.date(2020, 4, 3)),
        ("28/12/2020", None, dt.date(2020, 12, 28)),
        ("28-12-2020", None, dt.date(2020, 12, 28)),
        ("2020-12-28", None, dt.date(2020, 12, 28)),
        ("15 de julho de 2021", "pt", dt.date(2021, 7, 15)),
        ("15 de julho de 2021", None, dt.date(2021, 7, 15)),
        ("12. Mai 2023", "de", dt.date(2023, 5, 12)),
        ("3 lutego 2022", "pl", dt.date(2022, 2, 3)),
        ("3 lutego 2022 r.", None, dt.date(2022, 2, 3)),
        ("6th December 2021", "en", dt.date(2021, 12, 6)),
        ("December 6, 2021", "en", dt.date(2021, 12, 6)),
        ("1er janvier 2021", "fr", dt.date(2021, 1, 1)),
        ("15 de julio de 2021", "es", dt.date(2021, 7, 15)),
        ("3 febbraio 2022", "it", dt.date(2022, 2, 3)),
        ("1 de Março de 2020", "pt", dt.date(2020, 3, 1)),
        ("1 de marco de 2020", "pt", dt.date(2020, 3, 1)),
    ],
)
def test_golden_dates(text: str, lang: str | None, expected: dt.date) -> None:
    assert parse_date(text, lang) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31.02.2020",  # no such day
        "12/05/21",  # two-digit year: 1921 or 2021
        "12.05.21",
        "2020-13-01",
        "28.12-2020",  # mixed separators
        "today",
        "",
        "Start date 28.12.2020",  # a cell with more than a date
        "30 February 2021",
        "12 Mai 2023 and 13 Mai 2023",
    ],
)
def test_rejections(text: str) -> None:
    assert parse_date(text) is None


def test_language_restricts_month_words() -> None:
    assert parse_date("3 lutego 2022", "en") is None


def test_find_dates_in_running_text() -> None:
    text = "Runs from 28.12.2020 to 27.07.2022 (v1.2.3), signed 12/05/21, closed 6th December 2021."
    assert find_dates(text) == [dt.date(2020, 12, 28), dt.date(2022, 7, 27), dt.date(2021, 12, 6)]


dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))


@given(dates, st.sampled_from([".", "/", "-"]))
def test_day_first_round_trip(date: dt.date, sep: str) -> None:
    assert parse_date(f"{date.day:02d}{sep}{date.month:02d}{sep}{date.year}") == date
    assert parse_date(date.isoformat()) == date


# How each language writes a day, a month word (the first name in months.yml) and a year.
TEMPLATES = {
    "en": "{d} {m} {y}",
    "pt": "{d} de {m} de {y}",
    "es": "{d} de {m} de {y}",
    "fr": "{d} {m} {y}",
    "it": "{d} {m} {y}",
    "de": "{d}. {m} {y}",
    "pl": "{d} {m} {y}",
}


@given(dates, st.sampled_from(sorted(TEMPLATES)), st.booleans())
def test_month_words_round_trip(date: dt.date, lang: str, upper: bool) -> None:
    month = str(load_table("months")[lang][date.month][0])
    month = month.upper() if upper else month
    text = TEMPLATES[lang].format(d=date.day, m=month, y=date.year)
    assert parse_date(text, lang) == date
    assert parse_date(text) == date
