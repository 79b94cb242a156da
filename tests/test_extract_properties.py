"""Properties of the page reader: it never fails but loudly, and every supported locale's
way of writing an amount or a date reads back as the value written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scrapers.extract.amounts import parse_amount
from scrapers.extract.dates import parse_date
from scrapers.extract.document import extract_document
from scrapers.extract.errors import UnreadableDocument

# Babel locale -> our language code (tables/months.yml). Norwegian Bokmål writes months as ours.
DATE_LOCALES = {
    "en": "en", "pt": "pt", "es": "es", "fr": "fr", "it": "it", "de": "de", "pl": "pl",
    "ca": "ca", "ro": "ro", "sl": "sl", "cs": "cs", "hu": "hu", "sv": "sv", "nb": "no",
    "nl": "nl", "bg": "bg",
}
# Locales whose grouping and decimal marks we read (all the EU ones babel knows we cover).
NUMBER_LOCALES = [
    "en_IE", "pt_PT", "es_ES", "fr_FR", "it_IT", "de_DE", "de_AT", "pl_PL", "ca_ES", "ro_RO",
    "sl_SI", "cs_CZ", "hu_HU", "sv_SE", "nl_NL", "bg_BG", "fi_FI", "el_GR", "sk_SK", "hr_HR",
]
# Scale words as each language writes them after a number: (locale, words, factor).
SCALES = [
    ("pt_PT", "milhões de euros", 10**6), ("es_ES", "millones de euros", 10**6),
    ("fr_FR", "millions d'euros", 10**6), ("it_IT", "milioni di euro", 10**6),
    ("de_DE", "Mio. €", 10**6), ("de_DE", "Millionen Euro", 10**6), ("pl_PL", "mln euro", 10**6),
    ("en_IE", "million euros", 10**6), ("de_DE", "Mrd. Euro", 10**9),
    ("pt_PT", "mil euros", 10**3),
]

TAGS = st.sampled_from(["p", "div", "h1", "h2", "li", "td", "th", "dt", "dd", "span", "table",
                        "tr", "ul", "dl", "br", "script", "style", "a", "b"])


@st.composite
def html_documents(draw: st.DrawFn) -> bytes:
    """Arbitrary tag soup around arbitrary text, sometimes with label rows and amounts."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        tag = draw(TAGS)
        text = draw(st.one_of(
            st.text(max_size=40),
            st.sampled_from(["Budget: 1.234 €", "Deadline | 31.02.2020", "Partners",
                             "Lead partner: X (HU)", "EUR 12,5 Mio.", "Clusters", "Cluster A",
                             "2020. április 3.", "Total eligible cost | 1,5 mln zł"]),
        ))
        closing = draw(st.booleans())
        parts.append(f"<{tag}>{text}" + (f"</{tag}>" if closing else ""))
    prefix = draw(st.sampled_from(["", "<!doctype html>", "<html>", "<html lang='xx'><body>"]))
    body = prefix + "".join(parts)
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return body.encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(html_documents(), st.sampled_from(["auto", "project", "call", "partnership",
                                          "cluster-list"]))
def test_extract_document_raises_only_unreadable_document(body: bytes, kind: str) -> None:
    try:
        records = extract_document(body, url="https://example.org/p", kind=kind)
    except UnreadableDocument as error:
        assert error.reason and "\n" not in error.reason
        return
    assert len(records) == 1
    assert records[0]["record_type"] in ("project", "call", "cluster-list")
    assert records[0]["url"] == "https://example.org/p"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_unreadable_document(body: bytes) -> None:
    try:
        extract_document(body)
    except UnreadableDocument:
        pass


cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2)


@given(cents, st.sampled_from(NUMBER_LOCALES), st.sampled_from(["{n} €", "€ {n}", "{n} EUR",
                                                                "EUR {n}", "{n}"]))
def test_amounts_round_trip_across_locales(amount: Decimal, locale: str, template: str) -> None:
    written = template.format(n=format_decimal(amount, format="#,##0.00", locale=locale))
    value, flag = parse_amount(written)
    assert value is not None, (written, flag)
    assert Decimal(str(value)) == amount, written


@given(st.decimals(min_value=Decimal("0.1"), max_value=Decimal("999.9"), places=1),
       st.sampled_from(SCALES))
def test_scaled_amounts_round_trip(amount: Decimal, scale: tuple[str, str, int]) -> None:
    locale, words, factor = scale
    written = f"{format_decimal(amount, format='0.0', locale=locale)} {words}"
    value, flag = parse_amount(written)
    assert value is not None, (written, flag)
    assert abs(value - float(amount * factor)) < 1e-6 * factor, written


@given(st.integers(1001, 999999), st.sampled_from(["{n} PLN", "{n} zł", "CHF {n}", "{n} SEK",
                                                   "{n} lei", "{n} лв.", "NOK {n}"]))
def test_other_currencies_are_never_eur(number: int, template: str) -> None:
    written = template.format(n=format_decimal(number, format="#,##0.00", locale="de_DE"))
    assert parse_amount(written).value is None, written


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 12, 31)),
       st.sampled_from(sorted(DATE_LOCALES)), st.sampled_from(["long", "medium", "short"]))
def test_dates_round_trip_across_locales(date: dt.date, locale: str, style: str) -> None:
    written = format_date(date, format=style, locale=locale)
    parsed = parse_date(written, DATE_LOCALES[locale])
    if style == "short" and not any(len(p) == 4 for p in _digit_runs(written)):
        # A two-digit year (12/05/21) is refused, never guessed.
        assert parsed is None, written
    else:
        assert parsed == date, written


def _digit_runs(text: str) -> list[str]:
    import re

    return re.findall(r"\d+", text)


@given(st.integers(1, 12), st.integers(1990, 2030), st.sampled_from(sorted(DATE_LOCALES)))
def test_a_month_and_year_is_not_a_date(month: int, year: int, locale: str) -> None:
    written = format_date(dt.date(year, month, 1), format="LLLL y", locale=locale)
    assert parse_date(written, DATE_LOCALES[locale]) is None, written
