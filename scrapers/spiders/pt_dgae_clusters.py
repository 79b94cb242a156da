"""Portugal's 2025 list of 21 recognised Competitiveness Clusters, as reward.pt reports it.

The primary source is DGAE's news page (see the YAML); only the text of reward.pt's post was
available, so that is the page read. What the post states, and nothing more: the Comissão de
Avaliação recognised four new clusters "para o ciclo de 2024-2030" on 28 February 2025, "através
do Despacho n.º 1172/2024, de 31 de janeiro"; "a atual lista" has 21 names. It names no act, body
or date for the other 17 (SOURCES.md's Despacho 307/2025 and 2784/2025 are not on the page).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import match_names, parse_date, split_list
from scrapers.extract.text import block_texts, fold, load_table, normalise_space, parse_html

RECOGNITION = "Competitiveness Cluster"
LIST_LEAD = "A atual lista de Clusters de Competitividade reconhecidos"
NEW_SENTENCE = re.compile(
    r"A (?P<by>Comissão de Avaliação) reconheceu (?P<count>\w+) novos Clusters de "
    r"Competitividade para o ciclo de (?P<cycle>\d{4}-\d{4}) a (?P<date>\d{1,2} de \w+ \d{4})\. "
    r"Os clusters em questão são (?P<names>.+?)\.$"
)
ACT_SENTENCE = re.compile(
    r"Os (?P<count>\w+) novos Clusters de Competitividade foram reconhecidos através do "
    r"(?P<act>Despacho n\.º \d+/\d{4}, de \d{1,2} de \w+),"
)
# "ITD Cluster Portugal – Indústrias …", "CIC – Cluster …": a capitalised word on either side
# of a dash that separates it from the spelled-out name. "Cluster AEC" states no acronym.
DASH_ACRONYM = re.compile(
    r"^(?P<left>[A-Z][A-Z0-9]{1,9})\b.*\s[–—-]\s|\s[–—-]\s(?P<right>[A-Z][A-Z0-9]{1,9})\b"
)


class LayoutChanged(ValueError):
    """The post no longer reads as the sentences and list this parser knows."""


def dash_acronym(name: str) -> str | None:
    """The acronym a name states beside a dash ("CIC – Cluster …"), else None."""
    match = DASH_ACRONYM.search(name)
    return (match["left"] or match["right"]) if match else None


def stated(**fields: Any) -> dict[str, Any]:
    """The fields the page gives a value for (a field it is silent on is left unset)."""
    return {k: v for k, v in fields.items() if v is not None}


def _count(word: str) -> int:
    if word.isdigit():
        return int(word)
    numbers = {fold(k): int(v) for k, v in load_table("language")["number_words"]["pt"].items()}
    if fold(word) not in numbers:
        raise LayoutChanged(f"not a count: {word!r}")
    return numbers[fold(word)]


def _one(pattern: re.Pattern[str], paragraphs: list[str], what: str) -> re.Match[str]:
    found = [m for m in map(pattern.search, paragraphs) if m]
    if len(found) != 1:
        raise LayoutChanged(f"expected one {what} paragraph, found {len(found)}")
    return found[0]


def _strip_article(name: str) -> str:
    articles = "|".join(re.escape(a) for a in load_table("language")["articles"]["pt"])
    return re.sub(rf"^(?i:{articles})\s+", "", name)


def parse_recognised_list(html: str | bytes) -> dict[str, Any]:
    """The post's list of recognised clusters and its sentence on the four new ones.

    Returns {"names": [...], "new": {list name: name in the sentence}, "recognised_by", "date",
    "cycle", "act"}. Raises LayoutChanged when a sentence or the list is missing, when the stated
    count differs from the names given, or when a new cluster is not in the list.
    """
    root = parse_html(html)
    paragraphs = block_texts(root, "//p")
    leads = [
        p for p in root.xpath("//p") if normalise_space(p.text_content()).startswith(LIST_LEAD)
    ]
    if len(leads) != 1:
        raise LayoutChanged(f"expected one paragraph starting {LIST_LEAD!r}, found {len(leads)}")
    items = leads[0].xpath("following-sibling::*[1][self::ul or self::ol]/li")
    names = [normalise_space(li.text_content()) for li in items]
    if not names or not all(names):
        raise LayoutChanged("no list of clusters after the list paragraph")
    if len(set(names)) != len(names):
        raise LayoutChanged("the list names a cluster twice")

    new = _one(NEW_SENTENCE, paragraphs, "new-clusters")
    stated = [_strip_article(n) for n in split_list(new["names"], lang="pt", keep=names)]
    if len(stated) != _count(new["count"]):
        raise LayoutChanged(f"the post states {new['count']} new clusters but names {stated}")
    act = _one(ACT_SENTENCE, paragraphs, "act")
    if _count(act["count"]) != len(stated):
        raise LayoutChanged("the act sentence counts a different number of new clusters")
    date = parse_date(new["date"], lang="pt")
    if date is None:
        raise LayoutChanged(f"not a date: {new['date']!r}")
    # match_names raises when a new cluster is not (a spelling of) one on the list.
    matched = match_names(stated, names)
    return {
        "names": names,
        "new": {listed: in_sentence for in_sentence, listed in matched.items()},
        "recognised_by": new["by"],
        "date": date,
        "cycle": new["cycle"],
        "act": act["act"],
    }


class DgaeClustersSpider(SourceSpider):
    """Reads reward.pt's post on the four new Competitiveness Clusters and the list of 21."""

    name = "pt_dgae_clusters"

    def parse(self, response: Response) -> Iterator:
        """The post: the 21 recognised clusters, one dated recognition each."""
        yield self.document(response)
        try:
            page = parse_recognised_list(response.body)
        except LayoutChanged as exc:
            self.logger.error("layout changed at %s: %s", response.url, exc)
            return
        date: dt.date = page["date"]
        for name in page["names"]:
            in_sentence = page["new"].get(name)
            flags = []
            aliases = None
            if in_sentence is not None and in_sentence != name:
                # The post spells one name two ways ("Curcularity" in the list, "Circularity"
                # in the sentence): the list's spelling is the name, the other an alias.
                aliases = [in_sentence]
                flags.append(
                    f"name_spelling_differs: the list writes {name!r}, the post's first "
                    f"paragraph {in_sentence!r}; likely a typo in the list"
                )
            if in_sentence is not None:
                by = page["recognised_by"]
                summary = f"{RECOGNITION} {page['cycle']} ({by}, {date.year})"
                dating: dict[str, Any] = {"as_of": date.isoformat()}
                evidence = f"{page['act']} (cycle {page['cycle']})"
                recognition_flags: list[str] = []
            else:
                by = None
                summary = f"{RECOGNITION} ({date.year})"
                dating = {"year": date.year}
                evidence = f"{LIST_LEAD} (no act named)"
                recognition_flags = [
                    "year_from_announcement: the post calls the list current and dates only the "
                    f"{date.isoformat()} recognition; it names no act, body or date for this one"
                ]
            yield self.cluster_item(
                response,
                **stated(
                    name=name,
                    acronym=dash_acronym(name),
                    aliases=aliases,
                    country="PT",
                    recognitions=[summary],
                    quality_flags=flags or None,
                ),
            )
            yield self.recognition_item(
                response,
                **stated(
                    cluster_name=name,
                    kind="recognition",
                    name=RECOGNITION,
                    awarded_by=by,
                    evidence=evidence,
                    evidence_url=response.url,
                    quality_flags=recognition_flags or None,
                    **dating,
                ),
            )
