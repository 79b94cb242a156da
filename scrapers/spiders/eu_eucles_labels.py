"""EUCLES's monthly announcements of Cluster Management Excellence labels (Bronze, Silver, Gold).

A post ("July, August and September 2024 labellised clusters") has one section per level ("1. The
GOLD Label"), a sentence stating how many clusters got that level and when ("8 clusters have been
awarded the Gold label in July, August and September 2024:"), then each cluster as a line "Name
🇩🇪" followed by its description. The months are stated per group, so a label is dated by its year
only; no validity period is stated, so none is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from scrapy import Request
from scrapy.http import Response

from schemas.vocab import COUNTRIES
from scrapers.base import SourceSpider
from scrapers.extract import visible_lines
from scrapers.extract.text import parse_html
from scrapers.registry import SOURCES_DIR

SOURCE_ID = "eu_eucles_labels"
LABEL = "Cluster Management Excellence Label"
AWARDED_BY = "EUCLES"

# Regional indicator symbols 🇦..🇿 (U+1F1E6..U+1F1FF): a flag is a pair of them.
_INDICATOR_A = 0x1F1E6
NAME_LINE = re.compile(r"^(?P<name>.+?)\s*(?P<flag>[\U0001F1E6-\U0001F1FF]{2})$")
SECTION_LINE = re.compile(r"^(?:\d+\.\s*)?The (?P<level>[A-Za-z]+) Label$")
AWARDED_SENTENCE = re.compile(
    r"(?P<sentence>(?P<count>\d+) clusters? (?:has|have) been awarded the (?P<level>[A-Za-z]+) "
    r"label in (?P<period>[^:.]+?) (?P<year>\d{4}))"
)
INTRO_SENTENCE = re.compile(r"approved (?P<counts>.+?) (?P<year>\d{4})\b")
MONTH_COUNT = re.compile(r"(?P<count>\d+)(?: newly labell?ised clusters?)? in (?P<month>[A-Z]\w+)")
# A description that stops without closing its sentence was cut (on the page or in a copy).
SENTENCE_END = re.compile(r"[.!?…)\"”’]$")
# "TREC – Transylvania …", "Allianz … – AFBW e.V.": a capitalised word beside a dash that
# separates it from the spelled-out name.
DASH_ACRONYM = re.compile(
    r"^(?P<left>[A-Z][A-Z0-9]{1,9})\b.*\s[–—-]\s|\s[–—-]\s(?P<right>[A-Z][A-Z0-9]{1,9})\b"
)


class LayoutChanged(ValueError):
    """The page no longer reads as the listing or announcement this parser knows."""


def announcement_link_pattern(source_id: str = SOURCE_ID) -> re.Pattern[str]:
    """The `announcement_link` regex of the source YAML (not a SourceSpec key, so read here)."""
    raw = yaml.safe_load((SOURCES_DIR / f"{source_id}.yml").read_text(encoding="utf-8"))
    return re.compile(raw["announcement_link"])


def flag_country(flag: str) -> str:
    """The two letters a flag emoji spells: '🇩🇪' -> 'DE'. Raises ValueError on anything else."""
    if len(flag) != 2 or not all(_INDICATOR_A <= ord(c) < _INDICATOR_A + 26 for c in flag):
        raise ValueError(f"not a flag emoji: {flag!r}")
    return "".join(chr(ord("A") + ord(c) - _INDICATOR_A) for c in flag)


def dash_acronym(name: str) -> str | None:
    """The acronym a name states beside a dash ("TREC – Transylvania …"), else None."""
    match = DASH_ACRONYM.search(name)
    return (match["left"] or match["right"]) if match else None


@dataclass
class LabelledCluster:
    name: str
    flag_code: str
    description_lines: list[str] = field(default_factory=list)

    @property
    def description(self) -> str | None:
        return " ".join(self.description_lines) or None


@dataclass
class LabelSection:
    level_as_published: str
    awarded: re.Match[str] | None = None
    clusters: list[LabelledCluster] = field(default_factory=list)


def parse_announcement(html: str | bytes) -> dict[str, Any]:
    """A monthly post: {"sections": [LabelSection...], "announced": {month: count}}.

    Only the first <article> is read when the page has one. Raises LayoutChanged when the post
    has no label section, a section states no award sentence (its labels would be undated), or
    no labelled cluster is listed at all.
    """
    root = parse_html(html)
    # The post's own text: a page's header, sidebar and footer are not part of any description.
    lines = visible_lines(next(iter(root.xpath("(//article)[1]")), root))
    text = "\n".join(lines)
    intro = INTRO_SENTENCE.search(text)
    announced = (
        {m["month"]: int(m["count"]) for m in MONTH_COUNT.finditer(intro["counts"])}
        if intro
        else {}
    )
    sections: list[LabelSection] = []
    for line in lines:
        heading = SECTION_LINE.match(line)
        if heading:
            sections.append(LabelSection(heading["level"]))
            continue
        if not sections:
            continue
        section = sections[-1]
        named = NAME_LINE.match(line)
        if named:
            section.clusters.append(LabelledCluster(named["name"], named["flag"]))
        elif section.clusters:
            section.clusters[-1].description_lines.append(line)
        elif section.awarded is None:
            section.awarded = AWARDED_SENTENCE.search(line)
    if not sections:
        raise LayoutChanged("no label section ('1. The GOLD Label') on the page")
    for section in sections:
        if section.awarded is None:
            raise LayoutChanged(
                f"the {section.level_as_published} section states no 'N clusters have been "
                "awarded the … label in <months> <year>' sentence"
            )
    if not any(section.clusters for section in sections):
        raise LayoutChanged("0 labelled clusters: no 'Name <flag>' line under any label section")
    return {"sections": sections, "announced": announced}


class EuclesLabelsSpider(SourceSpider):
    """Reads EUCLES's news listing, then each monthly post announcing labelled clusters."""

    name = SOURCE_ID

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link_pattern = announcement_link_pattern(self.name)
        # A cluster labelled again in a later post is one cluster row, with one label per post.
        self.clusters_seen: set[str] = set()

    def parse(self, response: Response) -> Iterator:
        """The news listing: follow every link to a labelling announcement."""
        yield self.document(response)
        links = sorted({response.urljoin(h) for h in response.xpath("//a/@href").getall()})
        posts = [url for url in links if self.link_pattern.search(url)]
        if not posts:
            self.logger.error(
                "layout changed at %s: no link matches %s", response.url, self.link_pattern.pattern
            )
            return
        for url in posts:
            yield Request(url, callback=self.parse_announcement)

    def parse_announcement(self, response: Response) -> Iterator:
        """One announcement post: each labelled cluster and its label, by section."""
        yield self.document(response)
        try:
            page = parse_announcement(response.body)
        except LayoutChanged as exc:
            self.logger.error("layout changed at %s: %s", response.url, exc)
            return
        levels = self.source.lookup("levels")
        sections: list[LabelSection] = page["sections"]
        unknown = [s.level_as_published for s in sections if s.level_as_published not in levels]
        if unknown:
            self.logger.error("unknown label levels %s at %s", unknown, response.url)
            return
        announced_total = sum(page["announced"].values())
        listed_total = sum(len(s.clusters) for s in sections)
        page_flags = []
        if announced_total and announced_total != listed_total:
            months = ", ".join(f"{n} in {m}" for m, n in page["announced"].items())
            page_flags.append(
                f"announced_{announced_total}_listed_{listed_total}: the post announces "
                f"{announced_total} labelled clusters overall ({months}) and lists {listed_total}"
            )
        for section in sections:
            yield from self.section_items(response, section, levels, page_flags)

    def section_items(
        self, response: Response, section: LabelSection, levels: dict[str, str], page_flags: list
    ) -> Iterator:
        level = levels[section.level_as_published]
        awarded = section.awarded
        flags = list(page_flags)
        if int(awarded["count"]) != len(section.clusters):
            flags.insert(
                0,
                f"announced_{awarded['count']}_listed_{len(section.clusters)}: the post says "
                f"{awarded['count']} clusters got the {level} label and lists "
                f"{len(section.clusters)}",
            )
        for cluster in section.clusters:
            code = flag_country(cluster.flag_code)
            cluster_flags = []
            if code not in COUNTRIES:
                cluster_flags.append(f"flag_not_a_country: {cluster.flag_code} ({code})")
            description = cluster.description
            if description and not SENTENCE_END.search(description):
                cluster_flags.append("description_ends_mid_sentence: cut on the page or its copy")
            if cluster.name not in self.clusters_seen:
                self.clusters_seen.add(cluster.name)
                yield self.cluster_item(
                    response,
                    **stated(
                        name=cluster.name,
                        acronym=dash_acronym(cluster.name),
                        country=code if code in COUNTRIES else None,
                        description=description,
                        labels=[level],
                        quality_flags=cluster_flags or None,
                    ),
                )
            yield self.recognition_item(
                response,
                **stated(
                    cluster_name=cluster.name,
                    kind="label",
                    name=LABEL,
                    level=level,
                    awarded_by=AWARDED_BY,
                    year=int(awarded["year"]),
                    evidence=f"EUCLES announcement: {awarded['sentence']}",
                    evidence_url=response.url,
                    quality_flags=flags or None,
                ),
            )


def stated(**fields: Any) -> dict[str, Any]:
    """The fields the page gives a value for (a field it is silent on is left unset)."""
    return {k: v for k, v in fields.items() if v is not None}
