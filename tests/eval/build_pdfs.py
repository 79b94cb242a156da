"""Write the evaluation set's PDF pages (build_pages.PDF_STEMS) with fpdf2.

    .venv/bin/python tests/eval/build_pdfs.py

Each PDF lays out one page text of tests/eval/texts/ as a printed document: the first line as a
bold title, then every line of the text in order (typos, spacing and number formats kept), blank
lines as paragraph gaps, bullets as indented items. The `[...]` cut markers are dropped. The
markup (fonts, sizes, indents) is ours; the words are the text's.

Font: DejaVu Sans, a Unicode TrueType font (the Bulgarian page is Cyrillic, the Polish and
Swedish ones need ł, ś, ä, ö...), embedded as a subset so the PDFs stand alone; the script needs
the font file only to rebuild them (Debian: fonts-dejavu-core). The output is reproducible
(fixed creation date); the script fails loudly when a glyph is missing.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from build_pages import PAGES, PDF_STEMS, TEXTS, parse_text  # type: ignore[import-not-found]
from fpdf import FPDF

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BULLET = re.compile(r"^\s*(?:[•·]\s*|-\s+)(?P<item>\S.*)$")


class Document(FPDF):
    """A4 portrait, one Unicode font in two weights, page numbers in the footer."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=16)
        self.set_creation_date(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        self.set_title(title)
        self.set_creator("tests/eval/build_pdfs.py (reconstructed from the page text)")
        self.set_producer("fpdf2")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 8)
        self.cell(0, 5, str(self.page_no()), align="C")

    def text_line(self, text: str, style: str = "", size: float = 10.5, indent: float = 0) -> None:
        self.set_font("DejaVu", style, size)
        self.set_x(self.l_margin + indent)
        self.multi_cell(self.w - self.r_margin - self.l_margin - indent, size * 0.5, text,
                        align="L", new_x="LMARGIN", new_y="NEXT")


def build(stem: str) -> bytes:
    _, blocks = parse_text(TEXTS / f"{stem}.txt")
    title = blocks[0][0].strip()
    pdf = Document(title if len(title) < 120 else stem)
    pdf.add_page()
    for b, block in enumerate(blocks):
        for n, line in enumerate(block):
            bullet = BULLET.match(line)
            if b == 0 and n == 0 and len(line) < 120:
                pdf.text_line(line.strip(), "B", 14)
                pdf.ln(2)
            elif bullet:
                pdf.text_line("• " + bullet["item"], indent=6)
            else:
                pdf.text_line(line.strip())
        pdf.ln(3)
    missing = getattr(pdf, "_missing_glyphs", None)
    if missing:
        raise SystemExit(f"{stem}: glyphs missing from the font: {missing}")
    return bytes(pdf.output())


if __name__ == "__main__":
    for stem in PDF_STEMS:
        out = PAGES / f"{stem}.pdf"
        out.write_bytes(build(stem))
        print(f"wrote {out.relative_to(PAGES.parent)} ({out.stat().st_size} bytes)")
