"""HTML to visible text lines, label/value rows, list splitting and language detection.

The word tables these helpers use live in `data/*.yml`, loaded once by `load_table`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from typing import Any

import lxml.html
import yaml
from lxml import etree

from scrapers.extract.errors import UnreadableDocument

log = logging.getLogger(__name__)

# Spaces a page may use instead of U+0020: NBSP, narrow NBSP, thin, figure, en/em spaces.
_SPACES = re.compile(r"[\u00a0\u202f\u2009\u2007\u2002\u2003\u2004\u2005\u2006\u2008\u200a\t\r]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\ufeff]")
_MULTISPACE = re.compile(r" {2,}")

_INVISIBLE_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody "
    "thead tfoot tr ul".split()
)
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


@cache
def load_table(name: str) -> Any:
    """One YAML table from `scrapers/extract/data/`, parsed once per process."""
    text = resources.files("scrapers.extract").joinpath("data", f"{name}.yml").read_text("utf-8")
    return yaml.safe_load(text)


def normalise_space(text: str) -> str:
    """Every kind of space becomes one U+0020; zero-width characters go; ends are trimmed."""
    text = _ZERO_WIDTH.sub("", _SPACES.sub(" ", text))
    return _MULTISPACE.sub(" ", text).strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive key: 'Março' and 'marco' fold alike."""
    decomposed = unicodedata.normalize("NFKD", normalise_space(text).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


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
    # lxml refuses str input that carries an XML encoding declaration.
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html)
    if not html.strip():
        raise UnreadableDocument("empty page")
    return lxml.html.document_fromstring(html)


def visible_lines(root: lxml.html.HtmlElement | str | bytes) -> list[str]:
    """The page's visible text, one line per block element (p, li, h*, tr...), spaces normalised.

    Table rows come out as "cell | cell" and a <dt> with its <dd> as "term | definition", so
    label/value markup and literal "Label | value" text read the same way.
    """
    if not isinstance(root, lxml.html.HtmlElement):
        root = parse_html(root)
    # Work on a copy: the caller may still want the original tree.
    root = lxml.html.fromstring(etree.tostring(root, encoding="unicode"))
    etree.strip_elements(root, *_INVISIBLE_TAGS, etree.Comment, with_tail=False)
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        if tag == "br":
            el.tail = "\n" + (el.tail or "")
        elif tag in ("td", "th"):
            following = el.getnext()
            if following is not None and following.tag in ("td", "th"):
                el.tail = " | " + (el.tail or "")
        elif tag == "dt":
            el.text = "\n" + (el.text or "")
            el.tail = " | " + (el.tail or "")
        elif tag == "dd":
            previous = el.getprevious()
            if previous is None or previous.tag != "dt":
                el.text = "\n" + (el.text or "")
            el.tail = "\n" + (el.tail or "")
        elif tag in _BLOCK_TAGS:
            el.text = "\n" + (el.text or "")
            el.tail = "\n" + (el.tail or "")
    lines = (normalise_space(line) for line in root.text_content().split("\n"))
    return [line for line in lines if line]


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
        match = _PIPE_ROW.match(line) or _COLON_ROW.match(line)
        if match and len(match["label"].split()) <= 8:
            rows.append((match["label"].strip(), match["value"].strip()))
    return rows


def and_words(lang: str | None = None) -> list[str]:
    """Words for 'and' in one language, or in every language the tables know."""
    table: dict[str, list[str]] = load_table("language")["and_words"]
    if lang is not None:
        return list(table.get(lang, []))
    return sorted({word for words in table.values() for word in words})


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


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the language whose function words dominate the text, else None."""
    table = load_table("language")
    counts: dict[str, int] = {}
    tokens = [t.casefold() for t in _WORD.findall(text)]
    for lang, stopwords in table["stopwords"].items():
        vocabulary = {str(w).casefold() for w in stopwords}
        counts[lang] = sum(1 for t in tokens if t in vocabulary)
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_hits), (_, second_hits) = ranked[0], ranked[1]
    if best_hits < table["min_hits"] or best_hits < table["margin"] * second_hits:
        return None
    return best


def dedupe(items: Iterable[str]) -> list[str]:
    """Items in first-seen order, repeats dropped."""
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
