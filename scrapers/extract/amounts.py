"""Strict reading of euro amounts and rates as European pages write them.

Rules for separators (`.` `,` space, NBSP, narrow NBSP, apostrophe), in the order they apply:

* Spaces and apostrophes are only ever thousands separators, and must group by three.
* Both `.` and `,` present: the one written last (once) is the decimal separator, the other one
  groups thousands by three (`1.234.567,89`, `1,234,567.89`). Anything else is malformed.
* One kind of separator, written twice or more: thousands when every group after the first has
  three digits (`EUR 1.234.567`). When all do but the LAST, which has two digits, the page used
  the same character for thousands and decimals (`101.247.41`): the last group is read as cents
  and the result carries a flag, since it is an interpretation. Never 10124741.
* One kind of separator, written once: a decimal separator unless exactly three digits follow it
  and one to three precede it. Then (`1.234`, `1,234`, `12,500`) the two readings (1234 or
  1.234) differ by a factor of 1000 and nothing in the text decides: value None and a flag, even
  next to a currency, because `1.234 €` and `1,234 €` are both written both ways across Europe.
  A space-grouped integer part (`1 234,567`) decides it: the other character is then the
  decimal separator.
* `,-` or `,--` after an integer (German `1.234,-`) means "no cents".

Words around the number must all be known (tables/amounts.yml): the euro sign or word, a multiplier
(`Mio.`, `milhões`, `mln`…) after the number, connectors (`de`, `d'`). Any other word, a second
number, a minus sign or another currency gives value None and a flag. A number with no currency
stated is read as is (the field's label carries the unit) and not flagged.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import NamedTuple

from scrapers.extract.text import fold, load_table, normalise_space


class ParsedAmount(NamedTuple):
    """A value in EUR (or a 0..1 rate) and why it is missing or needs a second look."""

    value: float | None
    flag: str | None


# A number: digits grouped by `.` `,` `'` or a space followed by exactly three digits, with an
# optional "no cents" dash. The look-behind keeps "A1.000" from reading as a number.
_NUMBER = re.compile(
    r"(?<![\w.,'])\d+(?:(?:[.,']|\s(?=\d{3}(?!\d)))\d+)*(?:[.,](?:-{1,2}|—))?(?![\d])"
)
_TOKEN = re.compile(r"[^\W\d_]+['’]?\.?|\S")
_SIGNS = "-−–("


@cache
def _vocabulary() -> tuple[
    dict[tuple[str, ...], Decimal], frozenset[str], frozenset[str], frozenset[str]
]:
    table = load_table("amounts")
    multipliers: dict[tuple[str, ...], Decimal] = {}
    for words in table["multipliers"].values():
        for word, factor in words.items():
            multipliers[tuple(fold(str(word)).split())] = Decimal(factor)
    eur = frozenset(
        fold(w) for w in [*table["currency_eur"]["symbols"], *table["currency_eur"]["words"]]
    )
    other = frozenset(
        fold(w) for w in [*table["currency_other"]["symbols"], *table["currency_other"]["words"]]
    )
    # "d'euros" tokenises as "d'" + "euros": keep connectors with and without the apostrophe.
    connectors = frozenset(
        form for w in table["connectors"] for form in (fold(str(w)), fold(str(w)).rstrip("'’"))
    )
    return multipliers, eur, other, connectors


def _valid_grouping(groups: list[str]) -> bool:
    """Thousands groups: the first has 1–3 digits, every later one exactly 3."""
    return 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _read_number(raw: str) -> tuple[Decimal | None, str | None]:
    """The number a separator pattern means, or None and why (see the module docstring)."""
    no_cents = re.search(r"[.,](?:-{1,2}|—)$", raw)
    body = raw[: no_cents.start()] if no_cents else raw
    parts = re.split(r"([.,' ])", body)
    digits, seps = parts[0::2], parts[1::2]
    marks = [s for s in seps if s in ".,"]
    spaced = any(s in " '" for s in seps)

    def integer(groups: list[str]) -> tuple[Decimal | None, str | None]:
        if len(groups) > 1 and not _valid_grouping(groups):
            return None, f"amount_malformed_grouping: {raw!r} does not group thousands by three"
        return Decimal("".join(groups)), None

    if no_cents:
        # "1.234,-": the dash sits where the cents would; the other mark groups thousands.
        if any(m == raw[no_cents.start()] for m in marks) or len(set(marks)) > 1:
            return None, f"amount_malformed_grouping: {raw!r}"
        return integer(digits)
    if not marks:
        return integer(digits)
    if len(set(marks)) == 2:
        decimal_mark = marks[-1]
        if marks.count(decimal_mark) != 1 or spaced:
            return None, f"amount_malformed_grouping: {raw!r} mixes its separators"
        whole = integer(digits[:-1])
        if whole[0] is None:
            return whole
        return Decimal(f"{whole[0]}.{digits[-1]}"), None
    # One kind of mark only.
    if len(marks) == 1:
        if spaced:
            # "1 234,5": spaces group thousands, so the single mark can only be the decimal one.
            whole = integer(digits[:-1])
            return (Decimal(f"{whole[0]}.{digits[-1]}"), None) if whole[0] is not None else whole
        if len(digits[-1]) == 3 and 1 <= len(digits[0]) <= 3:
            return None, (
                f"amount_ambiguous_separator: in {raw!r} the {marks[0]!r} may group thousands "
                f"or mark decimals (readings differ by a factor of 1000)"
            )
        return Decimal(f"{digits[0]}.{digits[1]}"), None
    if spaced:
        return None, f"amount_malformed_grouping: {raw!r} mixes its separators"
    if _valid_grouping(digits):
        return Decimal("".join(digits)), None
    if _valid_grouping(digits[:-1]) and len(digits[-1]) == 2:
        value = Decimal(f"{''.join(digits[:-1])}.{digits[-1]}")
        return value, (
            f"amount_separator_reused: {raw!r} uses {marks[0]!r} for both thousands and "
            f"decimals; the last two-digit group was read as cents, giving {value}"
        )
    return None, f"amount_malformed_grouping: {raw!r} does not group thousands by three"


def parse_amount(text: str) -> ParsedAmount:
    """Read one amount in EUR from a value cell ("202.494,82€", "EUR 12,5 Mio.")."""
    cleaned = normalise_space(text or "")
    if not cleaned:
        return ParsedAmount(None, "amount_empty: no text")
    numbers = list(_NUMBER.finditer(cleaned))
    if not numbers:
        return ParsedAmount(None, f"amount_no_number: {cleaned!r}")
    if len(numbers) > 1:
        return ParsedAmount(None, f"amount_several_numbers: {cleaned!r}")
    number = numbers[0]
    prefix, suffix = cleaned[: number.start()], cleaned[number.end() :]
    if any(sign in prefix for sign in _SIGNS) or suffix.lstrip().startswith(")"):
        return ParsedAmount(None, f"amount_signed: {cleaned!r} is negative or signed")

    multipliers, eur, other, connectors = _vocabulary()
    factor: Decimal | None = None
    for side, words in (("before", prefix), ("after", suffix)):
        tokens = [fold(t).rstrip(".") or "." for t in _TOKEN.findall(words)]
        i = 0
        while i < len(tokens):
            # Longest multiplier first: "mil milhões" before "mil".
            for size in (3, 2, 1):
                key = tuple(tokens[i : i + size])
                if len(key) == size and key in multipliers:
                    if side == "before" or factor is not None:
                        return ParsedAmount(None, f"amount_unexpected_text: {cleaned!r}")
                    factor = multipliers[key]
                    i += size
                    break
            else:
                token = tokens[i]
                if token in other:
                    return ParsedAmount(None, f"amount_not_eur: {cleaned!r}")
                if token not in eur and token not in connectors:
                    return ParsedAmount(None, f"amount_unexpected_text: {token!r} in {cleaned!r}")
                i += 1

    value, flag = _read_number(number.group())
    if value is None:
        return ParsedAmount(None, flag)
    if factor is not None:
        value *= factor
    return ParsedAmount(float(value), flag)


_RATE = re.compile(r"^(?P<number>\d{1,3}(?:[.,]\d+)?)\s*%$")


def states_eur(text: str) -> bool:
    """Whether a text names the euro (symbol or word), as a currency next to an amount does."""
    _, eur, _, _ = _vocabulary()
    return any(fold(t).rstrip(".") in eur for t in _TOKEN.findall(normalise_space(text)))


def parse_rate(text: str) -> ParsedAmount:
    """Read a percentage ("50%", "85,00 %") as a 0..1 rate."""
    cleaned = normalise_space(text or "")
    match = _RATE.match(cleaned)
    if not match:
        return ParsedAmount(None, f"rate_unreadable: {cleaned!r}")
    try:
        percent = Decimal(match["number"].replace(",", "."))
    except InvalidOperation:
        return ParsedAmount(None, f"rate_unreadable: {cleaned!r}")
    if percent > 100:
        return ParsedAmount(None, f"rate_out_of_range: {cleaned!r}")
    return ParsedAmount(float(percent / 100), None)


@cache
def _amount_span_pattern() -> re.Pattern[str]:
    table = load_table("amounts")
    currency = sorted(
        [*table["currency_eur"]["symbols"], *table["currency_eur"]["words"]], key=len, reverse=True
    )
    words = sorted(
        {str(w) for ws in table["multipliers"].values() for w in ws}, key=len, reverse=True
    )
    cur = "|".join(re.escape(c) for c in currency)
    mult = "|".join(re.escape(w) for w in words)
    conn = "|".join(re.escape(str(c)) for c in table["connectors"])
    number = r"\d+(?:(?:[.,']|\s(?=\d{3}(?!\d)))\d+)*(?:[.,]-{1,2})?"
    return re.compile(
        rf"(?:(?:{cur})\s*)?{number}(?:\s*(?:{mult})\.?(?!\w))?"
        rf"(?:\s*(?:(?:{conn})\s*)?(?:{cur})(?!\w))?",
        re.IGNORECASE,
    )


def find_amount_spans(text: str) -> list[str]:
    """Substrings of running text stating a euro amount (a currency or multiplier is required)."""
    spans = []
    for match in _amount_span_pattern().finditer(normalise_space(text)):
        span = match.group().strip()
        if not re.fullmatch(r"[\d.,'\s-]+", span):
            spans.append(span)
    return spans
