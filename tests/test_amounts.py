"""parse_amount: golden cases from the seeds, rejections, and properties over formatted numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scrapers.extract.amounts import find_amount_spans, parse_amount, parse_rate

NBSP, NNBSP = "\u00a0", "\u202f"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("202.494,82€", 202494.82),
        ("1 234 567,89 €", 1234567.89),
        (f"1{NBSP}234{NBSP}567,89{NBSP}€", 1234567.89),
        (f"1{NNBSP}234{NNBSP}567,89 €", 1234567.89),
        ("EUR 1.234.567", 1234567),
        ("12,5 Mio. EUR", 12500000),
        ("EUR 12,5 Mio.", 12500000),
        ("3,4 milhões de euros", 3400000),
        ("1,234,567.89 EUR", 1234567.89),
        ("€ 2,5 mln", 2500000),
        ("1,2 Mrd. EUR", 1200000000),
        ("3,4 mil milhões de euros", 3400000000),
        ("2 millions d'euros", 2000000),
        ("50 tys. EUR", 50000),
        ("1.234,- EUR", 1234),
        ("0,50 €", 0.5),
        ("12 500 EUR", 12500),
    ],
)
def test_golden_amounts(text: str, value: float) -> None:
    assert parse_amount(text) == (value, None)


def test_dot_used_for_thousands_and_decimals_is_read_as_cents_with_a_flag() -> None:
    value, flag = parse_amount("101.247.41€")
    assert value == 101247.41
    assert value != 10124741
    assert flag is not None and flag.startswith("amount_separator_reused")
    assert "101.247.41" in flag


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "amount_empty"),
        ("   ", "amount_empty"),
        ("n/a", "amount_no_number"),
        ("1.234", "amount_ambiguous_separator"),
        ("1,234", "amount_ambiguous_separator"),
        ("1.234 €", "amount_ambiguous_separator"),
        ("-5.000,00 €", "amount_signed"),
        ("−5.000,00 €", "amount_signed"),
        ("(5.000,00)", "amount_signed"),
        ("USD 1,000.00", "amount_not_eur"),
        ("1.000,00 zł", "amount_not_eur"),
        ("1.000,00 € per year", "amount_unexpected_text"),
        ("up to 1.000,00 €", "amount_unexpected_text"),
        ("1.000,00 € - 2.000,00 €", "amount_several_numbers"),
        ("1.234.5", "amount_malformed_grouping"),
        ("12.34.567,00", "amount_malformed_grouping"),
        ("1.234,567.89", "amount_malformed_grouping"),
        ("Mio. 12", "amount_unexpected_text"),
    ],
)
def test_rejections(text: str, reason: str) -> None:
    value, flag = parse_amount(text)
    assert value is None
    assert flag is not None and flag.startswith(reason)


def test_rates() -> None:
    assert parse_rate("50%") == (0.5, None)
    assert parse_rate("85,00 %") == (0.85, None)
    assert parse_rate("150%").value is None
    assert parse_rate("about half").value is None


def test_find_amount_spans_needs_a_currency_or_multiplier() -> None:
    text = "A budget of EUR 12,5 Mio. for 2020, and 3,4 milhões de euros; 2021 had 40 projects."
    assert find_amount_spans(text) == ["EUR 12,5 Mio.", "3,4 milhões de euros"]


def _group(integer: int, sep: str) -> str:
    return f"{integer:,}".replace(",", sep)


cents = st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2)


@given(cents, st.sampled_from([".", " ", NBSP, NNBSP]), st.sampled_from(["", " €", "€", " EUR"]))
def test_european_style_round_trip(amount: Decimal, thousands: str, currency: str) -> None:
    integer, fraction = f"{amount:.2f}".split(".")
    text = f"{_group(int(integer), thousands)},{fraction}{currency}"
    assert parse_amount(text) == (float(amount), None)


@given(cents, st.sampled_from(["", "EUR ", "€"]))
def test_english_style_round_trip(amount: Decimal, currency: str) -> None:
    integer, fraction = f"{amount:.2f}".split(".")
    text = f"{currency}{_group(int(integer), ',')}.{fraction}"
    assert parse_amount(text) == (float(amount), None)


@given(st.text(max_size=30))
def test_never_negative_and_always_explains_a_missing_value(text: str) -> None:
    value, flag = parse_amount(text)
    if value is None:
        assert flag
    else:
        assert value >= 0


@given(
    st.integers(min_value=1, max_value=999),
    st.lists(st.integers(min_value=0, max_value=999), min_size=0, max_size=3),
    st.integers(min_value=0, max_value=999),
    st.sampled_from([".", ","]),
)
def test_a_number_with_two_readings_is_refused_or_flagged(
    head: int, middle: list[int], last: int, sep: str
) -> None:
    # "1.234" (thousands or decimals?) and "1.234.56" (decimals written with the thousands
    # separator) each have two readings: never a silent guess. "1.234.567" and "1.23" have one.
    groups = [str(head), *(f"{g:03d}" for g in middle)]
    for tail in (f"{last:03d}", f"{last % 100:02d}"):
        text = sep.join([*groups, tail]) + " €"
        value, flag = parse_amount(text)
        two_readings = (len(groups) == 1) == (len(tail) == 3)
        if two_readings:
            assert value is None or flag is not None, text
        else:
            assert flag is None and value is not None, text
