"""Render the evaluation set's HTML pages from the page texts in tests/eval/texts/.

    .venv/bin/python tests/eval/build_pages.py

Each text (a real page's text, see README.md) becomes one HTML page. Every word of the body is
the text's, in the text's order, typos and odd spacing kept; what is ours is the markup: a
per-page layout (label/value table, definition list, div/span fields, pipe-separated cells,
paragraphs, bullet lists, headings) and site chrome (navigation, cookie banner, footer) that
states no fact. The `url:` header becomes <link rel="canonical">; about half of the pages carry
<html lang>, the others leave the language to be detected from the text. The `[...]` cut
markers of the texts are not page content and are dropped. Pages listed in build_pdfs.PDF_STEMS
are written as PDFs by build_pdfs.py instead.

The output is deterministic: rerunning the script rewrites the same bytes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
TEXTS = HERE / "texts"
PAGES = HERE / "pages"

# Kept in step with build_pdfs.py (which imports it).
PDF_STEMS = ("05_cluster-list_es", "06_cluster-list_de", "13_call_bg", "22_cluster-list_pl",
             "27_project_ro", "39_cluster-list_sv")


@dataclass(frozen=True)
class Layout:
    """How one page is marked up: `fields` renders label/value lines as table, dl, div, pipe
    or plain paragraphs; `labels` lists labels that the text gives without a colon."""

    fields: str = "p"
    lang_attr: bool = False
    chrome: str = "a"
    labels: tuple[str, ...] = ()
    pre: bool = False


LAYOUTS: dict[str, Layout] = {
    "01_call_en": Layout("p", True, "a"),
    "02_call_it": Layout("p", False, "b"),
    "03_call_it": Layout("p", True, "c"),
    "04_call_pl": Layout("dl", False, "a"),
    "07_call_pl": Layout("p", True, "b"),
    "08_call_en": Layout("div", False, "c"),
    "09_partnership_en": Layout("div", True, "a"),
    "10_call_es": Layout("p", False, "b"),
    "11_call_ca": Layout("p", True, "c"),
    "12_project_fr": Layout("p", False, "a"),
    "14_project_en": Layout("table", True, "b", labels=(
        "Status", "Start date", "End date", "Contract date", "Total cost", "Grant")),
    "15_project_en": Layout("div", False, "c"),
    "16_partnership_de": Layout("pipe", True, "a"),
    "17_call_it": Layout("p", False, "b"),
    "18_partnership_fr": Layout("p", True, "c"),
    "19_partnership_sl": Layout("p", False, "a"),
    "20_project_cs": Layout("p", True, "b"),
    "21_project_pl": Layout("p", False, "c"),
    "23_cluster-list_pt": Layout("div", True, "a"),
    "24_cluster-list_fr": Layout("p", False, "b"),
    "25_project_hu": Layout("p", True, "c", pre=True),
    "26_project_pt": Layout("p", False, "a"),
    "28_call_ro": Layout("p", True, "b"),
    "29_call_es": Layout("p", False, "c"),
    "30_partnership_en": Layout("table", True, "a"),
    "31_partnership_en": Layout("table", False, "b", labels=(
        "Project name", "Objective", "Priority", "Aim", "Results", "Cost", "Duration",
        "Partners involved", "Partners requested", "Benefit", "Innovation", "Follow up of",
        "Follow up fundings")),
    "32_partnership_es": Layout("p", True, "c"),
    "33_partnership_de": Layout("pipe", False, "a"),
    "34_partnership_pt": Layout("p", True, "b"),
    "35_project_sl": Layout("table", False, "c"),
    "36_cluster-list_no": Layout("p", True, "a"),
    "37_cluster-list_en": Layout("p", False, "b"),
    "38_cluster-list_it": Layout("p", True, "c"),
    "40_project_en": Layout("dl", False, "a", labels=(
        "Reference number", "Coordinator", "Funding from Vinnova", "Project duration",
        "Status")),
    "41_partnership_sv": Layout("p", True, "b"),
    "42_call_de": Layout("p", False, "c"),
    "43_call_fr": Layout("p", True, "a"),
    "44_project_it": Layout("p", False, "b"),
    "45_partnership_it": Layout("p", True, "c"),
}

# Chrome words per language (no facts: no dates, names, amounts or places).
CHROME = {
    "en": ("Home", "About", "News", "Contact", "This site uses cookies to work properly.",
           "Accept", "Privacy", "Legal notice", "Accessibility"),
    "de": ("Startseite", "Über uns", "Aktuelles", "Kontakt",
           "Diese Website verwendet Cookies.", "Akzeptieren", "Datenschutz", "Impressum",
           "Barrierefreiheit"),
    "fr": ("Accueil", "À propos", "Actualités", "Contact",
           "Ce site utilise des cookies.", "Accepter", "Confidentialité", "Mentions légales",
           "Accessibilité"),
    "it": ("Home", "Chi siamo", "Notizie", "Contatti", "Questo sito utilizza cookie.",
           "Accetta", "Privacy", "Note legali", "Accessibilità"),
    "es": ("Inicio", "Quiénes somos", "Noticias", "Contacto", "Este sitio utiliza cookies.",
           "Aceptar", "Privacidad", "Aviso legal", "Accesibilidad"),
    "pt": ("Início", "Sobre nós", "Notícias", "Contactos", "Este sítio utiliza cookies.",
           "Aceitar", "Privacidade", "Termos legais", "Acessibilidade"),
    "pl": ("Strona główna", "O nas", "Aktualności", "Kontakt",
           "Ta strona korzysta z plików cookies.", "Akceptuję", "Prywatność",
           "Nota prawna", "Dostępność"),
}

BULLET = re.compile(r"^\s*(?:[•·▪]\s*|-\s+|\d{1,2}\.\s+)(?P<item>\S.*)$")
LABEL = re.compile(r"^(?P<label>[^\s:|][^:|]{0,40}?):\s*(?P<value>\S.*)?$")


def parse_text(path: Path) -> tuple[dict[str, str], list[list[str]]]:
    """The three header lines, and the body as blocks of lines (blank lines separate blocks)."""
    raw = path.read_text(encoding="utf-8")
    head, _, body = raw.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines())
    blocks: list[list[str]] = [[]]
    for line in body.splitlines():
        if line.strip() == "[...]":
            continue
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return headers, [b for b in blocks if b]


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def split_label(line: str, layout: Layout) -> tuple[str, str] | None:
    """(label, value) when the line is a label/value pair: `Label: value`, or one of the
    layout's colon-less labels followed by its value."""
    for label in sorted(layout.labels, key=len, reverse=True):
        if line.startswith(label + " ") or line == label:
            return label, line[len(label):].strip()
    if layout.labels or "|" in line:  # the page's own labels only; pipe rows stay as written
        return None
    match = LABEL.match(line.strip())
    if match and len(match["label"].split()) <= 6 and match["value"]:
        return match["label"] + ":", match["value"]
    return None


def render_fields(pairs: list[tuple[str, str]], style: str) -> str:
    if style == "table":
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>\n" for k, v in pairs)
        return f'<table class="facts">\n{rows}</table>'
    if style == "dl":
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>\n" for k, v in pairs)
        return f'<dl class="details">\n{items}</dl>'
    if style == "div":
        return "\n".join(f'<div class="field"><span class="label">{esc(k)}</span> '
                         f'<span class="value">{esc(v)}</span></div>' for k, v in pairs)
    if style == "pipe":
        return "\n".join(f'<div class="row"><span>{esc(k)}</span> | <span>{esc(v)}</span> |'
                         "</div>" for k, v in pairs)
    return "\n".join(f"<p><strong>{esc(k)}</strong> {esc(v)}</p>" for k, v in pairs)


def is_heading(block: list[str]) -> bool:
    line = block[0].strip()
    return (len(block) == 1 and len(line) < 90 and not line.endswith((".", ",", ";", ":"))
            and not BULLET.match(line) and not LABEL.match(line))


def render_block(block: list[str], layout: Layout, first: bool) -> str:
    """One block of the text as markup: heading, list, label/value fields or a paragraph."""
    if layout.pre:
        return f"<pre>{esc(chr(10).join(block))}</pre>"
    if is_heading(block):
        tag = "h1" if first else "h2"
        return f"<{tag}>{esc(block[0].strip())}</{tag}>"
    out: list[str] = []
    run: list[str] = []
    items: list[str] = []
    pairs: list[tuple[str, str]] = []

    def flush() -> None:
        if run and layout.fields == "p":
            out.append("<p>" + "<br>\n".join(esc(x) for x in run) + "</p>")
        elif run:
            for x in run:
                if "|" in x and layout.fields == "pipe":
                    out.append(f'<div class="row">{esc(x)}</div>')
                elif len(x) < 90 and not x.endswith((".", ",", ";", ":", "|")):
                    out.append(f"<h3>{esc(x)}</h3>")
                else:
                    out.append(f"<p>{esc(x)}</p>")
        run.clear()
        if items:
            out.append("<ul>\n" + "".join(f"<li>{esc(x)}</li>\n" for x in items) + "</ul>")
            items.clear()
        if pairs:
            out.append(render_fields(pairs, layout.fields))
            pairs.clear()

    for line in block:
        bullet = BULLET.match(line)
        pair = split_label(line, layout) if layout.fields != "p" or layout.labels else None
        kind = "li" if bullet else "pair" if pair else "p"
        if (kind == "li" and (run or pairs)) or (kind == "pair" and (run or items)) or (
                kind == "p" and (items or pairs)):
            flush()
        if bullet:
            items.append(bullet["item"])
        elif pair:
            pairs.append(pair)
        else:
            run.append(line.strip() if layout.fields != "p" else line)
    flush()
    return "\n".join(out)


def _short_line(block: list[str], limit: int) -> bool:
    return len(block) == 1 and len(block[0].strip()) < limit


def render_body(blocks: list[list[str]], layout: Layout) -> list[str]:
    """Blocks to markup. With a field layout, a short heading-like block directly followed by a
    one-line value (and not introducing a long paragraph) is one label/value field, and a lone
    bullet followed by a short caption is one list item: how such pages lay them out."""
    out: list[str] = []
    i = 0
    while i < len(blocks):
        block, nxt = blocks[i], blocks[i + 1] if i + 1 < len(blocks) else None
        after = blocks[i + 2] if i + 2 < len(blocks) else None
        label_like = _short_line(block, 40) and (is_heading(block)
                                                  or block[0].rstrip().endswith(":"))
        if (layout.fields != "p" and nxt and i > 0 and label_like and _short_line(nxt, 90)
                and not nxt[0].rstrip().endswith(":") and not BULLET.match(nxt[0])
                and not (after and len(" ".join(after)) > 90)):
            out.append(render_fields([(block[0].strip(), nxt[0].strip())], layout.fields))
            i += 2
            continue
        bullet = BULLET.match(block[0]) if len(block) == 1 else None
        if bullet and nxt and is_heading(nxt):
            out.append(f'<ul class="timeline"><li><span class="date">{esc(bullet["item"])}'
                       f"</span> <span>{esc(nxt[0].strip())}</span></li></ul>")
            i += 2
            continue
        out.append(render_block(block, layout, i == 0))
        i += 1
    return out


def chrome(lang: str, variant: str) -> tuple[str, str, str]:
    """(header, cookie banner, footer) in the page's language where we have the words."""
    home, about, news, contact, cookies, accept, privacy, legal, access = CHROME.get(
        lang, CHROME["en"])
    nav = (f'<nav class="menu"><a href="/">{home}</a> <a href="/about">{about}</a> '
           f'<a href="/news">{news}</a> <a href="/contact">{contact}</a></nav>')
    banner = (f'<div id="cookie-banner" class="cookies"><p>{cookies}</p>'
              f"<button>{accept}</button></div>")
    footer = (f'<footer><ul class="links"><li><a href="/privacy">{privacy}</a></li>'
              f'<li><a href="/legal">{legal}</a></li>'
              f'<li><a href="/accessibility">{access}</a></li></ul></footer>')
    if variant == "b":
        nav = f"<header>{nav}</header>"
    elif variant == "c":
        nav = f'<div class="topbar">{nav}</div>'
        banner = f"<aside>{banner}</aside>"
    return nav, banner, footer


def render_page(headers: dict[str, str], blocks: list[list[str]], layout: Layout) -> str:
    lang, url = headers["lang"], headers["url"]
    first = blocks[0][0].strip() if blocks else ""
    title = first if 0 < len(first) < 120 else urlsplit(url).netloc
    nav, banner, footer = chrome(lang, layout.chrome)
    body = "\n".join(render_body(blocks, layout))
    html_tag = f'<html lang="{lang}">' if layout.lang_attr else "<html>"
    return (f"<!DOCTYPE html>\n{html_tag}\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<link rel=\"canonical\" href=\"{html.escape(url)}\">\n"
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto}</style>\n"
            f"</head>\n<body>\n{banner}\n{nav}\n<main>\n<article>\n{body}\n</article>\n"
            f"</main>\n{footer}\n<script>document.body.className='js';</script>\n"
            "</body>\n</html>\n")


def build() -> list[Path]:
    written = []
    for path in sorted(TEXTS.glob("*.txt")):
        if path.stem in PDF_STEMS:
            continue
        headers, blocks = parse_text(path)
        out = PAGES / f"{path.stem}.html"
        out.write_text(render_page(headers, blocks, LAYOUTS[path.stem]), encoding="utf-8")
        written.append(out)
    return written


if __name__ == "__main__":
    PAGES.mkdir(exist_ok=True)
    for page in build():
        print(f"wrote {page.relative_to(HERE)}")
