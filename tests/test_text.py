"""The fast paths of scrapers/extract/text.py give what the plain code they replaced gives."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from scrapers.extract import text as T

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = sorted(p for p in FIXTURES.rglob("*.html"))

_TAGS = "p div td th tr table dt dd dl br span b script style li ul h2 template svg a pre".split()
_BITS = [
    "Budget", "der", "und", "the", "les", "Orçamento total (€)", "518.314,72", "ß", "Σίσυφος",
    "<!-- c -->", "<?pi x?>", "&amp;", "&nbsp;", "x|y", ": ", "\u00a0", "\u202f", "\t", "\u200b",
    "  ", " ",
]  # fmt: skip


def _random_page(rng: random.Random) -> str:
    def fragment(depth: int) -> str:
        if depth > 4 or rng.random() < 0.3:
            return "".join(rng.choice(_BITS) for _ in range(rng.randint(0, 4)))
        tag = rng.choice(_TAGS)
        inner = "".join(fragment(depth + 1) for _ in range(rng.randint(0, 4)))
        tail = rng.choice(["", rng.choice(_BITS), "<!--k-->"])
        return f"<br>{inner}" if tag == "br" else f"<{tag}>{inner}</{tag}>{tail}"

    return f"<html><head><title>t</title></head><body>{fragment(0)}{fragment(0)}</body></html>"


def test_page_fixtures_are_found():
    assert len(PAGES) >= 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_xslt_reading_of_a_page_equals_the_python_walk(page):
    root = T.parse_html(page.read_bytes())
    assert T._block_text(root) == T._block_text_walk(root)


def test_xslt_reading_equals_the_walk_on_random_markup():
    rng = random.Random(20261203)
    for _ in range(400):
        root = T.parse_html(_random_page(rng))
        assert T._block_text(root) == T._block_text_walk(root)


def test_reading_a_subtree_keeps_xpath_unions_in_document_order():
    # libxslt, run on a subtree, renumbers the elements it sorts node sets by: an XPath union
    # on the page afterwards came back out of order (p2, p3, t2, t3).
    html = "".join(f"<div><p>p{i}</p><table><tr><td>t{i}</td></tr></table></div>" for i in range(6))
    root = T.parse_html(f"<html><body>{html}</body></html>")
    expected = [el.text for el in root.xpath("//td|//p")]
    for div in list(root.iter("div"))[2:4]:
        T.visible_lines(div)
    assert [el.text for el in root.xpath("//td|//p")] == expected


def test_space_normalisation_equals_the_regexes():
    rng = random.Random(7)
    alphabet = ["a", "é", " ", "  ", "\n", *T._SPACE_CHARS, *T._ZERO_WIDTH_CHARS]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        expected = T._MULTISPACE.sub(" ", T._ZERO_WIDTH.sub("", T._SPACES.sub(" ", text)))
        assert T._normalise_page_space(text) == expected


def test_token_counts_equal_counting_every_token_in_order():
    rng = random.Random(11)
    words = ["Der", "der", "STRAßE", "l'État", "co-op", "n°12", "über", "Σίσυφος", "x_y", "a1b"]
    for _ in range(500):
        text = rng.choice([" ", "\n", "\u00a0"]).join(rng.choice(words) for _ in range(40))
        naive = Counter(t.casefold() for t in T._DETECT_WORD.findall(text))
        chunk_counts = Counter(text.split())
        counts = T._token_counts(chunk_counts, T._chunk_tokens(chunk_counts))
        assert list(counts.items()) == list(naive.items())  # same counts, same order


def test_head_token_counts_equal_counting_the_first_two_fifths_in_order():
    rng = random.Random(13)
    # Chunks of zero, one and several tokens, so the head ends inside a chunk as well.
    words = ["Der", "der", "STRAßE", "l'État", "co-op", "n°12", "12", "--", "a1b2c", "x_y_z"]
    for n in [0, 1, 2, 3, *range(4, 60)] * 20:
        text = " ".join(rng.choice(words) for _ in range(n))
        tokens = [t.casefold() for t in T._DETECT_WORD.findall(text)]
        naive = Counter(tokens[: max(len(tokens) * 2 // 5, 1)])
        chunks = text.split()
        counts = T._head_token_counts(chunks, T._chunk_tokens(Counter(chunks)))
        assert list(counts.items()) == list(naive.items())  # same counts, same order


def test_xml_incompatible_test_agrees_with_the_regex():
    for text in ["plain", "a\x00b", "tab\tok", "\x0b", "\x7f", "é\ufffe", "\uffff", "\x1f", "ü"]:
        assert T._has_xml_incompatible(text) == bool(T._XML_INCOMPATIBLE.search(text))
    assert re.sub(T._XML_INCOMPATIBLE, "", "a\x00b") == "ab"
