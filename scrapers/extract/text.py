"""HTML to visible text lines, label/value rows, list splitting and language detection.

The word tables these helpers use live in `tables/*.yml`, loaded once by `load_table`.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from itertools import accumulate
from typing import Any

import lxml.html
import yaml
from lxml import etree

from scrapers.extract.errors import UnreadableDocument

log = logging.getLogger(__name__)

# Spaces a page may use instead of U+0020: NBSP, narrow NBSP, thin, figure, en/em spaces.
_SPACE_CHARS = "\u00a0\u202f\u2009\u2007\u2002\u2003\u2004\u2005\u2006\u2008\u200a\t\r"
_ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\ufeff"
_SPACES = re.compile(f"[{_SPACE_CHARS}]")
_ZERO_WIDTH = re.compile(f"[{_ZERO_WIDTH_CHARS}]")
_MULTISPACE = re.compile(r" {2,}")

_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe")
_INVISIBLE_SET = frozenset(_INVISIBLE_TAGS)
_BLOCK_TAGS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody "
    "thead tfoot tr ul".split()
)
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_XML_INCOMPATIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
# The ASCII part of _XML_INCOMPATIBLE as bytes: none of them occurs inside a UTF-8 sequence.
_XML_INCOMPATIBLE_ASCII = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


@cache
def load_table(name: str) -> Any:
    """One YAML table from `scrapers/extract/tables/`, parsed once per process."""
    text = resources.files("scrapers.extract").joinpath("tables", f"{name}.yml").read_text("utf-8")
    return yaml.safe_load(text)


def normalise_space(text: str) -> str:
    """Every kind of space becomes one U+0020; zero-width characters go; ends are trimmed."""
    if text.isascii():
        # Of the spaces above only tab and CR are ASCII, and no zero-width one is: the same
        # result without two of the three regex passes (this runs for every fold()).
        text = text.replace("\t", " ").replace("\r", " ")
        return (_MULTISPACE.sub(" ", text) if "  " in text else text).strip()
    text = _ZERO_WIDTH.sub("", _SPACES.sub(" ", text))
    return _MULTISPACE.sub(" ", text).strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive key: 'Março' and 'marco' fold alike."""
    text = normalise_space(text)
    if text.isascii():
        return text.lower()  # NFKD and casefold leave ASCII as lower() does; no marks to drop
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    basic, others = _combining_marks()
    # The accents of Latin scripts in one C-level pass; a character-by-character test only
    # for the rare text that keeps another mark (the same characters go either way).
    stripped = basic.sub("", decomposed)
    if stripped.isascii() or others.isdisjoint(stripped):
        return stripped
    return "".join(c for c in stripped if not unicodedata.combining(c))


@cache
def _combining_marks() -> tuple[re.Pattern[str], frozenset[str]]:
    """(the marks of U+0300–U+036F as a regex class, every other mark as a set), by
    `unicodedata.combining`, computed once."""
    marks = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))}
    basic = sorted(c for c in marks if "\u0300" <= c <= "\u036f")
    pattern = re.compile("[" + "".join(re.escape(c) for c in basic) + "]+")
    return pattern, frozenset(marks - set(basic))


def parse_html(html: str | bytes) -> lxml.html.HtmlElement:
    """Parse a page; bytes are decoded strictly with the charset the page declares (else UTF-8)."""
    if isinstance(html, bytes):
        declared = _META_CHARSET.search(html[:4096])
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
        try:
            html = html.decode(encoding)
        except (UnicodeDecodeError, LookupError) as error:
            # A charset that lies would store mojibake as fact; refuse instead.
            raise UnreadableDocument(f"page is not valid {encoding}: {error}") from error
    # lxml refuses str input that carries an XML encoding declaration, and control characters.
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)
    if _has_xml_incompatible(html):
        html = _XML_INCOMPATIBLE.sub("", html)
    if not html or html.isspace():  # what `not html.strip()` tests, without the copy
        raise UnreadableDocument("empty page")
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as error:
        raise UnreadableDocument(f"page cannot be parsed as HTML: {error}") from error


def _has_xml_incompatible(text: str) -> bool:
    """Whether `text` holds a character of `_XML_INCOMPATIBLE`.

    The regex tests a 50 KB page character by character (a quarter of a millisecond, more than
    a tenth of lxml's parse); `bytes.translate` drops the control characters from the UTF-8
    bytes in one table-driven pass, and the two non-characters are plain substring searches.
    """
    raw = text.encode("utf-8", "surrogatepass")
    return (
        len(raw.translate(None, _XML_INCOMPATIBLE_ASCII)) != len(raw)
        or "\ufffe" in text
        or "\uffff" in text
    )


def visible_lines(root: lxml.html.HtmlElement | str | bytes) -> list[str]:
    """The page's visible text, one line per block element (p, li, h*, tr...), spaces normalised.

    Table rows come out as "cell | cell" and a <dt> with its <dd> as "term | definition", so
    label/value markup and literal "Label | value" text read the same way.
    """
    if not isinstance(root, lxml.html.HtmlElement):
        root = parse_html(root)
    # Normalised per line as before, but in one pass over the whole text: no space class
    # crosses a line break, so the result is the same and the replacements run once, not once
    # per line.
    text = _normalise_page_space(_block_text(root))
    lines = (line.strip() for line in text.split("\n"))
    return [line for line in lines if line]


def _normalise_page_space(text: str) -> str:
    """`_SPACES` -> " ", `_ZERO_WIDTH` -> "", runs of spaces -> one, as the three regexes do.

    On a whole page the regexes cost a millisecond (they test every character against a
    class); a substring search per character of the classes, and a replace for the few a page
    holds, give the same text. Halving runs of spaces until none is left collapses each run
    to one space, as `_MULTISPACE` does.
    """
    if text.isascii():
        text = text.replace("\t", " ").replace("\r", " ")
    else:
        for char in _SPACE_CHARS:
            if char in text:
                text = text.replace(char, " ")
        for char in _ZERO_WIDTH_CHARS:
            if char in text:
                text = text.replace(char, "")
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def _skipped(el: Any) -> bool:
    """An element whose text is not visible (script, style, head..., comments); its tail is."""
    return el.tag is etree.Comment or (isinstance(el.tag, str) and el.tag in _INVISIBLE_SET)


def _sibling(el: Any, step: str) -> Any:
    """The next or previous sibling, skipping the elements `_skipped` leaves out."""
    sibling = getattr(el, step)()
    while sibling is not None and _skipped(sibling):
        sibling = getattr(sibling, step)()
    return sibling


# A sibling that decides a cell's " | " or a definition's line break: the next (previous)
# node that is not text, a comment or an invisible element (a processing instruction counts).
_DECIDING = "node()[not(self::text() or self::comment() or {invisible})][1]".format(
    invisible=" or ".join(f"self::{tag}" for tag in _INVISIBLE_TAGS)
)
# Templates in the order of the branches they replace (an element takes the first that fits:
# dt and dd are block tags too, so the block template leaves them out).
_BLOCK_TEXT_XSLT = f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="/"><xsl:apply-templates select="*[1]/node()"/></xsl:template>
<xsl:template match="comment()|processing-instruction()|{"|".join(_INVISIBLE_TAGS)}"/>
<xsl:template match="br"><xsl:apply-templates/><xsl:text>&#10;</xsl:text></xsl:template>
<xsl:template match="td|th"><xsl:apply-templates/><xsl:if
  test="following-sibling::{_DECIDING}[self::td or self::th]"> | </xsl:if></xsl:template>
<xsl:template match="dt"><xsl:text>&#10;</xsl:text><xsl:apply-templates/> | </xsl:template>
<xsl:template match="dd"><xsl:if test="not(preceding-sibling::{_DECIDING}[self::dt])"
  ><xsl:text>&#10;</xsl:text></xsl:if><xsl:apply-templates/><xsl:text>&#10;</xsl:text
></xsl:template>
<xsl:template match="{"|".join(sorted(_BLOCK_TAGS - {"br", "td", "th", "dt", "dd"}))}"
  ><xsl:text>&#10;</xsl:text><xsl:apply-templates/><xsl:text>&#10;</xsl:text></xsl:template>
</xsl:stylesheet>
"""
_per_thread = threading.local()


def _block_text_transform() -> etree.XSLT:
    """The compiled `_BLOCK_TEXT_XSLT`, one per thread (an XSLT object is not shared across
    threads: its dictionary is libxml2's, without locks)."""
    transform = getattr(_per_thread, "block_text", None)
    if transform is None:
        transform = _per_thread.block_text = etree.XSLT(etree.XML(_BLOCK_TEXT_XSLT))
    return transform


def _block_text(root: lxml.html.HtmlElement) -> str:
    """The text of `root` with a line break around each block and " | " between cells.

    Invisible elements (script, style, head..., comments) are skipped, their tails kept, which
    is what stripping them with `with_tail=False` and then taking `text_content()` gives.

    A whole page (the document's root element) is walked by libxslt in C (`_BLOCK_TEXT_XSLT`):
    the Python walk of `_block_text_walk` cost four times as much on a 50 KB page. A subtree is
    not: libxslt numbers the elements of the document it runs on to sort node sets, and run on
    a subtree it numbers that subtree from one, which leaves later XPath unions on the page
    (`//td|//p`) out of document order.
    """
    if root.getparent() is not None:
        return _block_text_walk(root)
    # XSLT reads the element's content; the line break before it is the walk's (a page parsed
    # as a fragment has a block element, a div, at its root).
    tag = root.tag.lower()
    head = "\n" if tag in _BLOCK_TAGS and tag not in ("br", "td", "th") else ""
    return head + str(_block_text_transform()(root))


def _block_text_walk(root: lxml.html.HtmlElement) -> str:
    """`_block_text` of any element, in Python, reading the tree without changing it (no copy:
    a copy of a 50 KB page costs more than the whole walk)."""
    parts: list[str] = []
    append = parts.append
    # (element, is_root) to enter, or a string to emit after its subtree.
    stack: list[Any] = [(root, True)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            append(item)
            continue
        el, is_root = item
        tag = el.tag
        if not isinstance(tag, str):
            # Comments (stripped), processing instructions, entities: only the tail shows.
            if not is_root and el.tail:
                append(el.tail)
            continue
        if not is_root and tag in _INVISIBLE_SET:
            if el.tail:
                append(el.tail)
            continue
        tag = tag.lower()
        head = tail = ""
        if tag == "br":
            tail = "\n"
        elif tag in ("td", "th"):
            following = _sibling(el, "getnext")
            if following is not None and following.tag in ("td", "th"):
                tail = " | "
        elif tag == "dt":
            head, tail = "\n", " | "
        elif tag == "dd":
            previous = _sibling(el, "getprevious")
            if previous is None or previous.tag != "dt":
                head = "\n"
            tail = "\n"
        elif tag in _BLOCK_TAGS:
            head = tail = "\n"
        append(head)
        if el.text:
            append(el.text)
        if not is_root:
            stack.append(tail + (el.tail or ""))
        stack.extend((child, False) for child in reversed(el))
    return "".join(parts)


def block_texts(root: lxml.html.HtmlElement, xpath: str) -> list[str]:
    """Normalised text of each element an XPath selects, empty ones left out."""
    texts = (normalise_space(el.text_content()) for el in root.xpath(xpath))
    return [text for text in texts if text]


def headings(root: lxml.html.HtmlElement) -> list[tuple[str, str]]:
    """(tag, text) of every h1–h6 in page order."""
    out = []
    for el in root.iter(*_HEADING_TAGS):
        text = normalise_space(el.text_content())
        if text:
            out.append((el.tag, text))
    return out


_PIPE_ROW = re.compile(r"^(?P<label>[^|]{1,80}?)\s*\|\s*(?P<value>.*)$")
# "Label: value" only when the label is short and reads like a label (no sentence punctuation).
_COLON_ROW = re.compile(r"^(?P<label>[^:|,.;!?]{1,60}?)\s*:\s*(?P<value>.*)$")


def label_value_rows(lines: Iterable[str]) -> list[tuple[str, str]]:
    """(label, value) for every line written "Label | value" or "Label: value"."""
    rows = []
    for line in lines:
        # Each pattern needs its separator; without it, its lazy label would be tried at every
        # length up to 60-80 characters before failing (most lines of a page are prose).
        match = ("|" in line and _PIPE_ROW.match(line)) or (":" in line and _COLON_ROW.match(line))
        if match and len(match["label"].split()) <= 8:
            # A row of a pipe table may keep its closing bar: "Förderprogramm: | X |".
            rows.append((match["label"].strip(), match["value"].strip().rstrip("|").strip()))
    return rows


def and_words(lang: str | None = None) -> list[str]:
    """Words for 'and' in one language, or in every language the tables know."""
    spec = load_table("language")
    table: dict[str, list[str]] = spec["and_words"]
    if lang is not None:
        return list(table.get(lang, []))
    # Without a language only the languages whose 'and' is not an everyday word elsewhere:
    # Czech "a", Dutch "en", Slovene "in" would split names in every other language.
    return sorted({w for code in spec["and_words_any_language"] for w in table.get(code, [])})


def split_list(text: str, lang: str | None = None, keep: Sequence[str] = ()) -> list[str]:
    """Split "A, B and C" (or "A, B e C") into items; names in `keep` are never split.

    Serial commas ("A, B, and C") work too. Splits on the 'and' words of `lang`, or of every
    language when it is None.
    """
    text = normalise_space(text).rstrip(".;:")
    protected: dict[str, str] = {}
    for i, name in enumerate(sorted(keep, key=len, reverse=True)):
        if name in text:
            token = f"\x00{i}\x00"
            protected[token] = name
            text = text.replace(name, token)
    words = "|".join(re.escape(w) for w in sorted(and_words(lang), key=len, reverse=True))
    parts = re.split(rf",\s*(?:(?:{words})\s+)?|\s+(?:{words})\s+", text)
    items = []
    for part in parts:
        for token, name in protected.items():
            part = part.replace(token, name)
        part = part.strip(" ,;")
        if part:
            items.append(part)
    return items


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# For language detection an elision is two words: "d'aquest" -> "d", "aquest".
_DETECT_WORD = re.compile(r"[^\W\d_]+")


@cache
def _stopword_weights() -> dict[str, dict[str, float]]:
    """Folded function word -> {language: weight}; a word n languages share weighs 1/n each."""
    table: dict[str, list[str]] = load_table("language")["stopwords"]
    vocab = {lang: {str(w).casefold() for w in words} for lang, words in table.items()}
    owners: dict[str, list[str]] = {}
    for lang, words in vocab.items():
        for word in words:
            owners.setdefault(word, []).append(lang)
    return {word: {lang: 1 / len(langs) for lang in langs} for word, langs in owners.items()}


def _chunk_tokens(chunk_counts: Counter[str]) -> dict[str, list[str]]:
    """The casefolded `_DETECT_WORD` tokens of each distinct white-space chunk of a text.

    A token never spans white space (no white-space character is a letter or a digit), so a
    text's tokens are those of its `split()` chunks, in order. A page repeats most of its
    words: each distinct chunk is tokenized and casefolded once (findall + casefold of the
    ~8,000 tokens of a page was a third of the parse).
    """
    return {
        # One token when the chunk is all letters (letters are token characters, and only them).
        chunk: [chunk.casefold()]
        if chunk.isalpha()
        else [token.casefold() for token in _DETECT_WORD.findall(chunk)]
        for chunk in chunk_counts
    }


def _token_counts(chunk_counts: Counter[str], tokens_of: dict[str, list[str]]) -> Counter[str]:
    """How often each token occurs in a text whose chunks occur `chunk_counts` times.

    The counts, and their order (that of each token's first occurrence, which the order of
    the float sums in `_language_scores` follows), are those of
    `Counter(t.casefold() for t in _DETECT_WORD.findall(text))`: a token first occurs in the
    first chunk that holds it, and `chunk_counts` lists chunks in first-occurrence order.
    """
    counts: Counter[str] = Counter()
    for chunk, n in chunk_counts.items():
        for token in tokens_of[chunk]:
            counts[token] += n
    return counts


def _head_token_counts(chunks: list[str], tokens_of: dict[str, list[str]]) -> Counter[str]:
    """The token counts of the first two fifths of a text's tokens (at least one token), from
    its chunks: the same counts, in the same order, as tokenizing the whole text again and
    counting `tokens[: max(len(tokens) * 2 // 5, 1)]`, which cost a quarter of the parse of a
    two-language page."""
    ends = list(accumulate(map(len, map(tokens_of.__getitem__, chunks))))
    head = max((ends[-1] if ends else 0) * 2 // 5, 1)
    # Chunk i holds the head's last token; the head is the chunks before it and part of it.
    i = bisect_left(ends, head)
    if i == len(ends):  # a text with no token at all
        return Counter()
    counts = _token_counts(Counter(chunks[:i]), tokens_of)
    for token in tokens_of[chunks[i]][: head - (ends[i - 1] if i else 0)]:
        counts[token] += 1
    return counts


def _language_scores(counts: Counter[str]) -> tuple[list[tuple[str, float]], dict[str, int]]:
    """(languages ranked by score, function-word hits per language) of casefolded token counts.

    Counted once per distinct word, not looked up once per token: a 50 KB page has ~8,000
    tokens but a few hundred distinct function words.
    """
    weights = _stopword_weights()
    scores: dict[str, float] = {lang: 0.0 for lang in load_table("language")["stopwords"]}
    hits: dict[str, int] = dict.fromkeys(scores, 0)
    for token, count in counts.items():
        owners = weights.get(token)
        if owners is None:
            continue
        for lang, weight in owners.items():
            scores[lang] += weight * count
            hits[lang] += count
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True), hits


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language whose function words dominate the text, else None.

    Rules in tables/language.yml: distinctive words weigh more than shared ones, the winner must
    lead clearly, and a two-language page (close scores) is in the language it starts with.
    """
    table = load_table("language")
    min_hits, margin = table["min_hits"], table["margin"]

    def clear_winner(scored: tuple[list[tuple[str, float]], dict[str, int]]) -> str | None:
        ranked, hits = scored
        (best, best_score), (_, second_score) = ranked[0], ranked[1]
        if hits[best] < min_hits or best_score < margin * second_score:
            return None
        return best

    chunks = text.split()
    chunk_counts = Counter(chunks)
    tokens_of = _chunk_tokens(chunk_counts)
    whole = _language_scores(_token_counts(chunk_counts, tokens_of))
    ranked = whole[0]
    if ranked[1][1] < table["bilingual_share"] * ranked[0][1]:
        return clear_winner(whole)
    top_two = {ranked[0][0], ranked[1][0]}
    # A bilingual page: the language of its first part is its main one, if it is one of the two.
    first = clear_winner(_language_scores(_head_token_counts(chunks, tokens_of)))
    return first if first in top_two else clear_winner(whole)


def dedupe(items: Iterable[str]) -> list[str]:
    """Items in first-seen order, repeats dropped."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
