"""The labelled evaluation set itself (tests/eval/): its size and spread, its pairing, its gold
against the contract, and that the gold states nothing the page does not."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import lxml.html
import pytest
from pypdf import PdfReader

from pipelines.evaluation import FIELDS, KINDS, MEMBER_FIELDS, EvaluationError, load_set

EVAL = Path(__file__).parent / "eval"
sys.path.insert(0, str(EVAL))
import build_pages  # noqa: E402

PAGES = sorted(p for p in (EVAL / "pages").iterdir() if p.suffix in (".html", ".pdf"))
GOLDS = sorted((EVAL / "gold").glob("*.json"))
# Strings the gold copies from the page (codes, dates, numbers and acronym lists are derived).
GROUNDED_SCALARS = {"title", "acronym", "reference", "lead_organisation", "programme",
                    "identifier", "publisher", "operation_type", "description"}
GROUNDED_LISTS = {"regions", "eligible_applicants"}


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).casefold().strip()


def visible_text(path: Path) -> str:
    """What a reader sees: the body's text (not script, style or head) or the PDF's text."""
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    root = lxml.html.fromstring(path.read_bytes())
    for node in root.xpath("//script|//style|//head"):
        node.drop_tree()
    return " ".join(root.itertext())


def test_set_size_and_spread() -> None:
    pages = load_set(EVAL)
    assert len(pages) >= 40
    kinds = Counter(p.kind for p in pages)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 5, kinds
    assert len({p.lang for p in pages}) >= 6
    assert sum(p.path.suffix == ".pdf" for p in pages) >= 5
    # Language is left to detection on about half of the HTML pages.
    html = [p for p in pages if p.path.suffix == ".html"]
    tagged = sum(b'<html lang="' in p.path.read_bytes() for p in html)
    assert 0.3 <= tagged / len(html) <= 0.7, (tagged, len(html))


def test_every_page_has_gold_and_every_gold_a_page() -> None:
    assert {p.stem for p in PAGES} == {g.stem for g in GOLDS}
    assert len({p.stem for p in PAGES}) == len(PAGES), "a stem has both an .html and a .pdf"
    assert {p.stem for p in PAGES} == {t.stem for t in (EVAL / "texts").glob("*.txt")}


@pytest.mark.parametrize("gold_path", GOLDS, ids=lambda p: p.stem)
def test_gold_follows_the_contract(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    headers, _ = build_pages.parse_text(EVAL / "texts" / f"{gold_path.stem}.txt")
    assert gold["url"] == headers["url"]
    for record in gold["records"]:
        assert record["url"] == gold["url"] and record["lang"] == gold["lang"]
        assert set(record) - {"record_type"} <= set(FIELDS[record["record_type"]])
    # load_set validates field names, types, ISO dates, roles and alpha-2 countries.
    assert any(p.stem == gold_path.stem for p in load_set(EVAL))


@pytest.mark.parametrize("gold_path", GOLDS, ids=lambda p: p.stem)
def test_gold_strings_occur_in_the_page(gold_path: Path) -> None:
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    page = next(p for p in PAGES if p.stem == gold_path.stem)
    text = norm(visible_text(page))
    strings = []
    for record in gold["records"]:
        for name, value in record.items():
            if value is None:
                continue
            if name in GROUNDED_SCALARS:
                strings.append(value)
            elif name in GROUNDED_LISTS:
                strings.extend(value)
            elif name in MEMBER_FIELDS:
                strings.extend(m["name"] for m in value)
                strings.extend(m["sector"] for m in value if m.get("sector"))
    missing = [s for s in strings if norm(s) not in text]
    assert not missing, f"gold values not in the page: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_keeps_the_text_in_order(page: Path) -> None:
    """Markup is ours, words are the text's: every line of the text is in the page, in order."""
    # Spaces are compared away: markup may put a cell boundary where the text had none
    # ("Número de associados:71"), and a PDF wraps lines where the text did not.
    _, blocks = build_pages.parse_text(EVAL / "texts" / f"{page.stem}.txt")
    text, pos = norm(visible_text(page)).replace(" ", ""), 0
    for line in (line for block in blocks for line in block):
        item = build_pages.BULLET.match(line)
        wanted = norm(item["item"] if item else line).replace(" ", "")
        found = text.find(wanted, pos)
        assert found >= 0, f"{page.name}: {wanted!r} missing or out of order"
        pos = found + len(wanted)


@pytest.mark.parametrize("page", [p for p in PAGES if p.suffix == ".html"], ids=lambda p: p.name)
def test_html_page_is_what_the_builder_writes(page: Path) -> None:
    headers, blocks = build_pages.parse_text(EVAL / "texts" / f"{page.stem}.txt")
    rendered = build_pages.render_page(headers, blocks, build_pages.LAYOUTS[page.stem])
    assert page.read_text(encoding="utf-8") == rendered
    assert f'<link rel="canonical" href="{headers["url"].replace("&", "&amp;")}">' in rendered


def test_load_set_rejects_an_unpaired_page(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "gold").mkdir()
    (tmp_path / "pages" / "01_call_en.html").write_text("<p>x</p>")
    with pytest.raises(EvaluationError, match="do not pair up: 01_call_en"):
        load_set(tmp_path)


def test_no_extractor_reads_the_evaluation_set() -> None:
    """The set measures the extractors; an extractor that looked at it would be graded on its
    own homework."""
    root = EVAL.parents[1] / "scrapers"
    readers = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".yml", ".yaml")
               and "tests/eval" in p.read_text(encoding="utf-8", errors="replace")]
    assert not readers, readers
