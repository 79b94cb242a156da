"""Generated EU-publicity project-sheet pages (30–60 KB each) for the parse and crawl benches.

Each page is a whole site page: head with styles and scripts, navigation, a "Label | value"
sheet in one of six languages (European number and date formats), long prose, lists, a footer.
Labels come from scrapers/extract/tables/project_labels.yml, so the extractor maps them all.
Every value is synthetic. Written under data/bench/pages-<n>-<seed>/ with an index.json in the
replay layout (scrapers/replay.py, <dir>/<spider>/index.json), generated once and reused.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from bench.generate import SEED, WORDS

# The project-sheet spider whose recordings folder the pages stand in for (crawl bench).
SPIDER = "pt_ticept_projects"

LABELS = {
    "en": (
        "Project name",
        "Lead Promoter",
        "Total eligible investment",
        "European Union funding support through FEDER",
        "Start date",
        "End date",
        "Co-funding",
        "Reference",
        "Description",
    ),
    "pt": (
        "Nome do projeto",
        "Promotor",
        "Investimento total elegível",
        "Apoio financeiro da União Europeia",
        "Data de início",
        "Data de fim",
        "Cofinanciamento",
        "Código do projeto",
        "Descrição",
    ),
    "es": (
        "Nombre del proyecto",
        "Beneficiario",
        "Inversión total elegible",
        "Ayuda de la Unión Europea",
        "Fecha de inicio",
        "Fecha de fin",
        "Cofinanciación",
        "Código del proyecto",
        "Descripción",
    ),
    "fr": (
        "Nom du projet",
        "Bénéficiaire",
        "Coût total éligible",
        "Contribution de l'Union européenne",
        "Date de début",
        "Date de fin",
        "Cofinancement",
        "Référence",
        "Description",
    ),
    "it": (
        "Titolo del progetto",
        "Beneficiario",
        "Costo totale ammissibile",
        "Contributo dell'Unione europea",
        "Data di inizio",
        "Data di fine",
        "Cofinanziamento",
        "Codice progetto",
        "Descrizione",
    ),
    "de": (
        "Projekttitel",
        "Begünstigter",
        "Förderfähige Gesamtkosten",
        "EU-Beitrag",
        "Projektbeginn",
        "Projektende",
        "Kofinanzierung",
        "Projektnummer",
        "Beschreibung",
    ),
}
HEAD = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8"><title>{title}</title>
<style>{style}</style>
<script>{script}</script>
</head>
<body>
<nav><ul>{nav}</ul></nav>
<main id="content"><article class="project">
<h1>{title}</h1>
<div class="project-sheet">
"""


def euro(value: float) -> str:
    """1234567.8 -> '1.234.567,80 €' (the format of Portuguese, Spanish, Italian pages)."""
    whole, cents = divmod(round(value * 100), 100)
    return f"{whole:,}".replace(",", ".") + f",{cents:02d} €"


def page(rng: random.Random, i: int, size: int) -> tuple[str, dict]:
    """One page of about `size` bytes and the facts it states."""
    lang = rng.choice(list(LABELS))
    labels = LABELS[lang]
    words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    title = words(rng.randint(3, 8)).capitalize()
    total = round(rng.uniform(20_000, 5_000_000), 2)
    eu = round(total * rng.choice([0.5, 0.6, 0.75, 0.85]), 2)
    start = (rng.randint(1, 28), rng.randint(1, 12), rng.randint(2015, 2023))
    end = (start[0], start[1], start[2] + rng.randint(1, 4))
    facts = {"title": title, "total_eligible_eur": total, "eu_contribution_eur": eu}
    rows = [
        (labels[0], title),
        (labels[1], f"{words(2).title()} Lda"),
        (labels[2], euro(total)),
        (labels[3], euro(eu)),
        (labels[4], "{:02d}.{:02d}.{}".format(*start)),
        (labels[5], "{:02d}.{:02d}.{}".format(*end)),
        (labels[6], "COMPETE 2020, P2020, FEDER"),
        (labels[7], f"BENCH-{i:06d}"),
    ]
    parts = [
        HEAD.format(
            lang=lang,
            title=title,
            style=".project{margin:0 auto}" * 40,
            script="window.dataLayer=window.dataLayer||[];" * 30,
            nav="".join(f'<li><a href="/{w}">{w}</a></li>' for w in rng.sample(WORDS, 25)),
        )
    ]
    parts += [f"<p><strong>{label}</strong>&nbsp;|&nbsp;{value}</p>\n" for label, value in rows]
    parts.append(
        f'</div>\n<div class="project-body">\n<p><strong>{labels[8]}:</strong> '
        f"{words(60).capitalize()}.</p>\n"
    )
    body = sum(len(p) for p in parts)
    while body < size - 600:
        if rng.random() < 0.3:
            chunk = "<ul>" + "".join(f"<li>{words(12)}.</li>" for _ in range(6)) + "</ul>\n"
        else:
            chunk = f"<p>{words(rng.randint(40, 120)).capitalize()}.</p>\n"
        parts.append(chunk)
        body += len(chunk)
    parts.append(
        "</div></article></main>\n<footer><p>Cofinanciado por FEDER · "
        "Portugal 2020 · COMPETE 2020</p></footer>\n</body></html>\n"
    )
    return "".join(parts), facts


def ensure_pages(root: Path, count: int, seed: int = SEED) -> Path:
    """`count` pages in the replay layout (index.json + bodies), generated once and reused."""
    base = root / f"pages-{count}-{seed}"
    folder = base / SPIDER
    index_path = folder / "index.json"
    if index_path.exists():
        return base
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    entries = []
    for i in range(count):
        html, _ = page(rng, i, rng.randint(30_000, 58_000))
        name = f"sheet-{i:05d}.html"
        body = html.encode("utf-8")
        (folder / name).write_bytes(body)
        entries.append(
            {
                "url": f"https://bench.example.eu/projects/sheet-{i:05d}",
                "file": name,
                "method": "GET",
                "status": 200,
                "headers": {"Content-Type": "text/html; charset=utf-8"},
                "fetched_at": "2026-11-23T00:00:00Z",
                "reconstructed": False,
                "synthetic": True,
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        )
    index = {"source_id": SPIDER, "synthetic": True, "responses": entries}
    index_path.write_text(json.dumps(index, indent=1))
    return base
