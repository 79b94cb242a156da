"""The European Cluster Collaboration Platform: cluster organisation profiles.

Profiles are reached through the sitemap (incremental by <lastmod>) and the listing pager (the
fallback and cross-check), and read by their LABELS, not by a CSS path: `profile_tokens` turns
any label/value markup (Drupal field-label divs, <dl>, tables, "Label: value" lines) into one
token stream, and `read_profile` maps it through the label table in the source YAML. The pure
functions here are tested one by one in tests/test_source_eu_eccp_clusters.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import lxml.html
import scrapy
from babel import Locale
from lxml import etree
from scrapy.http import Response
from twisted.python.failure import Failure

from schemas.vocab import COUNTRIES
from scrapers.base import SourceSpider
from scrapers.extract.dates import find_dates
from scrapers.extract.text import fold, normalise_space, parse_html, visible_lines
from scrapers.httpcache import LASTMOD_META, lastmod_date
from scrapers.registry import source_config

SOURCE_ID = "eu_eccp_clusters"
RECOGNITION_NAME = "Cluster Management Excellence Label"

# Private-use characters that survive visible_lines: they mark where a label starts and ends,
# and which lines are headings, so the markup's own hints are not lost in the text.
LABEL_START, LABEL_END, HEADING = "\ue000", "\ue001", "\ue002"
_MARKS = re.compile(f"[{LABEL_START}{LABEL_END}{HEADING}]")
_MARKED_LABEL = re.compile(
    f"^(?P<pre>[^{LABEL_START}]*){LABEL_START}(?P<label>[^{LABEL_END}]*)"
    f"(?:{LABEL_END}\\s*(?:\\|\\s*)?(?P<value>.*))?$"
)
_PIPE = re.compile(r"^(?P<label>[^|]{1,160}?)\s*\|\s*(?P<value>.*)$")
_COLON = re.compile(r"^(?P<label>.{1,200}?)\s*:\s*(?P<value>.*)$")
# Class names of label elements: field-label (Drupal 7), field__label / field--label (Drupal 8+),
# views-label, any BEM "<block>__label". Not field-label-inline / field--label-above / …hidden
# nor field-name-field-excellence-label: those are on the whole field wrapper.
_LABEL_CLASS = re.compile(r"^(?:label|field-label|field--label|views-label|[a-z0-9-]+__label)$")
_INT = re.compile(r"^\d{1,7}$")
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
_URL = re.compile(r"^https?://\S+$")
_BARE_DOMAIN = re.compile(r"^(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:/\S*)?$", re.I)
_REGION_WITH_COUNTRY = re.compile(r"^(?P<region>.+?)\s*\((?P<country>[A-Z]{2})\)$")
# "… TICE.PT" or "… (ACRONYM)": at least two capitals and three letters or digits.
_ACRONYM_TOKEN = re.compile(
    r"^(?=(?:[^A-Z]*[A-Z]){2})(?=(?:\W*\w){3})[A-Z0-9]+(?:[.&-][A-Z0-9]+)*$"
)
_ROMAN = re.compile(r"^[IVXLC]+$")
# The clusters columns a profile fills (the rest, aliases/recognitions/registry_id, it cannot).
_CLUSTER_FIELDS = (
    "name",
    "acronym",
    "country",
    "region",
    "city",
    "website",
    "sectors",
    "labels",
    "eccp_url",
    "description",
    "founded_year",
    "technology_fields",
    "s3_priorities",
    "ecosystems",
    "members_total",
    "members_smes",
    "members_large",
    "members_research",
    "partnerships",
)
# Personal contact data must never be stored, even inside free text.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?:\+|\b00)\d{1,3}[\s./-]?(?:\(?\d{1,5}\)?[\s./-]?){2,}\d")


_KIND_WORDS = {"int": "a whole number", "date": "a date", "url": "a URL", "country": "a country"}


class EccpLayoutError(ValueError):
    """A sitemap, listing or profile page that does not have the shape we read."""


@cache
def eccp_config() -> dict[str, Any]:
    """The source YAML, with the keys only this source reads (`site`, `profile`)."""
    return source_config(SOURCE_ID)


# --- URLs ------------------------------------------------------------------------------------


def rehost(url: str, site: dict[str, Any]) -> str:
    """A URL on one of the site's hosts (or the sitemap's `http://default`) on base_url's host,
    without fragment or trailing slash."""
    parts = urlsplit(url)
    base = urlsplit(site["base_url"])
    if parts.hostname in site["rehost"]:
        parts = parts._replace(scheme=base.scheme, netloc=base.netloc)
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(parts._replace(path=path, fragment=""))


def path_kind(url: str, site: dict[str, Any]) -> str | None:
    """'profile' (certain), 'candidate' (a /content/ alias: read to decide) or None (skip)."""
    parts = urlsplit(url)
    if parts.netloc != urlsplit(site["base_url"]).netloc or parts.query:
        return None
    if any(re.match(p, parts.path) for p in site["profile_paths"]):
        return "profile"
    if any(re.match(p, parts.path) for p in site["candidate_paths"]):
        return "candidate"
    return None


# --- the sitemap -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: str | None


def read_sitemap(body: bytes) -> tuple[str, list[SitemapEntry]]:
    """('urlset' | 'sitemapindex', entries). Junk before `<?xml` (Drupal theme-debug comments)
    is cut; anything but a sitemap is an EccpLayoutError."""
    start = body.find(b"<?xml")
    body = body[start:] if start >= 0 else body.lstrip()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise EccpLayoutError(f"not XML: {exc}") from exc
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise EccpLayoutError(f"root element is <{kind}>, not <urlset> or <sitemapindex>")
    child = "url" if kind == "urlset" else "sitemap"
    entries = []
    for el in root.xpath("*[local-name()=$name]", name=child):
        locs = [normalise_space(x.text or "") for x in el.xpath("*[local-name()='loc']")]
        if len(locs) != 1 or not locs[0]:
            raise EccpLayoutError(f"a <{child}> with {len(locs)} <loc> elements")
        mods = [normalise_space(x.text or "") for x in el.xpath("*[local-name()='lastmod']")]
        entries.append(SitemapEntry(locs[0], mods[0] if mods and mods[0] else None))
    return kind, entries


def is_newer(entry: SitemapEntry, since: dt.date | None) -> bool:
    """Whether an incremental crawl reads the entry: no cutoff, no (readable) lastmod, or a
    lastmod on or after the cutoff. An entry we cannot date is read, never skipped."""
    modified = lastmod_date(entry.lastmod)
    return since is None or modified is None or modified >= since


# --- the listing -----------------------------------------------------------------------------


def listing_links(html: str | bytes, url: str, site: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(profile URLs, pager page URLs) of one listing page, in page order, re-hosted."""
    root = parse_html(html)
    containers: list[Any] = []
    for xpath in site["listing_containers"]:
        containers = root.xpath(xpath)
        if containers:
            break
    containers = containers or [root]
    profiles: list[str] = []
    for container in containers:
        for a in container.iter("a"):
            href = rehost(urljoin(url, a.get("href") or ""), site)
            if path_kind(href, site) and href not in profiles:
                profiles.append(href)
    pages: list[str] = []
    listing_path = site["listing_path"]
    for a in root.iter("a"):
        href = rehost(urljoin(url, a.get("href") or ""), site)
        parts = urlsplit(href)
        if parts.path == listing_path and "page=" in parts.query and href not in pages:
            pages.append(href)
    return profiles, pages


# --- the profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # label | heading | text
    text: str
    value: str = ""


def _is_label_element(el: Any) -> bool:
    if el.tag in ("dt", "th"):
        return True
    return any(_LABEL_CLASS.match(c) for c in (el.get("class") or "").split())


def profile_tokens(root: lxml.html.HtmlElement, known: set[str]) -> list[Token]:
    """The content as label / heading / text tokens, whatever the markup.

    A label is an element the markup calls one (dt, th, a *-label / *__label class), or a line
    that reads "Known label: value", "Known label | value", "Known label" or ends with ':'.
    `known` holds the folded labels of the YAML's label table.
    """
    marked: list[Any] = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            el.text = HEADING + (el.text or "")
        elif _is_label_element(el) and not any(a in marked for a in el.iterancestors()):
            marked.append(el)
    for el in marked:
        el.text = LABEL_START + (el.text or "")
        if len(el):
            el[-1].tail = (el[-1].tail or "") + LABEL_END
        else:
            el.text += LABEL_END
    tokens = []
    for line in visible_lines(root):
        if line.startswith(HEADING):
            tokens.append(Token("heading", _MARKS.sub("", line).strip()))
            continue
        match = _MARKED_LABEL.match(line)
        if match and not match["pre"].strip():
            label = _MARKS.sub("", match["label"]).strip()
            tokens.append(Token("label", _label_text(label), _MARKS.sub("", match["value"] or "")))
            continue
        tokens.append(_plain_token(_MARKS.sub("", line).strip(), known))
    return [t for t in tokens if t.text or t.kind != "text"]


def _label_text(text: str) -> str:
    return text.rstrip(": ").strip()


def label_key(text: str) -> str:
    """How labels compare: folded, typographic quotes straightened, ':' and the spaces around
    it and around '/' ignored."""
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    folded = fold(_label_text(text).replace(" :", ":"))
    return re.sub(r"\s+", " ", re.sub(r"\s*/\s*", "/", folded))


def _plain_token(line: str, known: set[str]) -> Token:
    """A line with no markup hint: a label only when its label part is a known one, or when the
    line is nothing but "Something:"."""
    if label_key(line) in known:
        return Token("label", _label_text(line))
    for pattern in (_PIPE, _COLON):
        match = pattern.match(line)
        if match and label_key(match["label"]) in known:
            return Token("label", _label_text(match["label"]), match["value"].strip())
    if line.endswith(":") and len(line.split()) <= 25:
        return Token("label", _label_text(line))
    pipe = _PIPE.match(line)
    if pipe and len(pipe["label"].split()) <= 12:
        # A table row or <dt>/<dd> pair under a label we do not know: audited, not a value.
        return Token("label", _label_text(pipe["label"]), pipe["value"].strip())
    return Token("text", line)


@dataclass
class ProfileFields:
    """The values found under each known label, and what could not be placed."""

    values: dict[str, list[str]] = field(default_factory=dict)
    labels_seen: dict[str, str] = field(default_factory=dict)  # key -> label as published
    unknown_labels: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)


def label_table(profile: dict[str, Any]) -> dict[str, str]:
    """Folded label -> field key, from the YAML's `profile.fields`."""
    table: dict[str, str] = {}
    for key, spec in profile["fields"].items():
        for label in spec["labels"]:
            folded = label_key(label)
            if table.get(folded, key) != key:
                raise ValueError(f"label {label!r} names two fields: {table[folded]} and {key}")
            table[folded] = key
    return table


def read_fields(tokens: Iterable[Token], profile: dict[str, Any]) -> ProfileFields:
    """Values by field key: each known label owns the text lines up to the next label or
    heading; a heading that is itself a known label (Cluster Strategy) starts a field."""
    table = label_table(profile)
    headings = {label_key(h) for h in profile["headings"]}
    out = ProfileFields()
    current: str | None = None
    for token in tokens:
        key = table.get(label_key(token.text)) if token.kind != "text" else None
        if token.kind == "text" and label_key(token.text) in headings:
            # A group heading written as plain text (a <legend>, a <span>) still ends a field.
            current = None
            continue
        if token.kind == "heading":
            current = key
        elif token.kind == "label":
            if key is None:
                out.unknown_labels.append(token.text)
                current = "__unknown__"
                continue
            current = key
        if token.kind != "text" and key is not None:
            if key in out.values:
                out.repeated.append(token.text)
            out.values.setdefault(key, [])
            out.labels_seen.setdefault(key, token.text)
            if token.value:
                out.values[key].append(token.value)
        elif token.kind == "text" and current is not None and current != "__unknown__":
            out.values[current].append(token.text)
    return out


@cache
def _country_names() -> dict[str, str]:
    names = {fold(name): code for code, name in Locale("en").territories.items()}
    return {k: v for k, v in names.items() if v in COUNTRIES}


def country_code(value: str) -> str | None:
    """ISO 3166-1 alpha-2 from a code or an English country name, else None."""
    value = normalise_space(value)
    if value.upper() in COUNTRIES and len(value) == 2:
        return value.upper()
    return _country_names().get(fold(value))


def acronym_of(name: str) -> str | None:
    """The acronym a name ends with: "… TICE.PT" -> TICE.PT, "… (CYBER)" -> CYBER."""
    last = name.split()[-1] if len(name.split()) > 1 else ""
    inner = last[1:-1] if last.startswith("(") and last.endswith(")") else last
    if _ACRONYM_TOKEN.match(inner) and not _ROMAN.match(inner):
        return inner
    return None


def scrub_contacts(text: str) -> tuple[str, bool]:
    """Text with e-mail addresses and international phone numbers cut out (never stored)."""
    cleaned = _PHONE.sub("[phone number removed]", _EMAIL.sub("[e-mail removed]", text))
    return cleaned, cleaned != text


def _name(root: lxml.html.HtmlElement) -> str:
    names = [normalise_space(_MARKS.sub("", h.text_content())) for h in root.iter("h1")]
    names = [n for n in names if n]
    if len(names) != 1:
        raise EccpLayoutError(f"expected one <h1> naming the cluster, found {len(names)}")
    return names[0]


def _content(root: lxml.html.HtmlElement, profile: dict[str, Any]) -> lxml.html.HtmlElement:
    for xpath in profile["content_containers"]:
        found = root.xpath(xpath)
        if len(found) == 1:
            return found[0]
    return root


def read_profile(html: str | bytes, url: str) -> dict[str, Any]:
    """One profile page as {'cluster': fields, 'recognition': fields | None, 'labels_found': n}.

    A value that does not fit its field's type is NULL plus a quality flag, never guessed; a
    personal block (the management team) is skipped unread. EccpLayoutError when the page has no
    single <h1> name.
    """
    config = eccp_config()
    profile, site = config["profile"], config["site"]
    root = parse_html(html)
    name = _name(root)
    known = set(label_table(profile))
    fields = read_fields(profile_tokens(_content(root, profile), known), profile)
    flags: list[str] = []
    cluster: dict[str, Any] = {f: None for f in _CLUSTER_FIELDS}
    cluster.update(name=name, acronym=acronym_of(name), eccp_url=url)
    label_levels = config["lookups"]["labels"]
    vocabulary = set(site["ecosystem_vocabulary"])
    ecosystem_words = set(config["lookups"]["ecosystems"]) | vocabulary
    misplaced_region: tuple[str, str, str] | None = None
    typed: dict[str, Any] = {}

    for key, values in fields.values.items():
        spec = profile["fields"][key]
        kind, label = spec["type"], fields.labels_seen[key]
        values = [normalise_space(v) for v in values if normalise_space(v)]
        if kind == "personal":
            continue
        if kind in ("list", "label_level"):
            kept = []
            for v in values:
                v, scrubbed = scrub_contacts(v)
                if scrubbed:
                    flags.append(f"{key}: contact data removed from a value under {label!r}")
                kept.append(v)
            typed[key] = list(dict.fromkeys(kept)) or None
            continue
        if kind == "text":
            text, scrubbed = scrub_contacts("\n".join(values))
            if scrubbed:
                flags.append(f"{key}: contact data removed from the text under {label!r}")
            typed[key] = text or None
            continue
        if not values:
            continue
        if len(values) > 1:
            flags.append(
                f"{key}: {len(values)} values under {label!r} where one is expected "
                f"({' / '.join(values)}): not stored"
            )
            continue
        (value,) = values
        parsed = _typed(kind, value)
        if parsed is None:
            region = _REGION_WITH_COUNTRY.match(value)
            if kind == "int" and region and region["country"] in COUNTRIES:
                misplaced_region = (region["region"], region["country"], label)
            flags.append(f"{key}: {value!r} under {label!r} is not {_KIND_WORDS[kind]}: not stored")
            continue
        if kind == "url" and not _URL.match(value):
            flags.append(f"{key}: {value!r} has no scheme: read as {parsed}")
        typed[key] = parsed

    for key, value in typed.items():
        target = profile["fields"][key].get("field")
        if target == "founded_year":
            cluster[target] = value.year if isinstance(value, dt.date) else value
        elif target == "region":
            cluster["region"] = value[0]
            if value[1]:
                cluster["country_from_region"] = value[1]
        elif target:
            cluster[target] = value

    if misplaced_region and cluster["region"] is None:
        region, country, label = misplaced_region
        cluster["region"], cluster["country_from_region"] = region, country
        flags.append(
            f"region: '{region} ({country})' is printed under {label!r} (a misaligned "
            f"field): read as the region {region!r}, country {country}"
        )
    from_region = cluster.pop("country_from_region", None)
    if cluster.get("country") and from_region and cluster["country"] != from_region:
        flags.append(f"country: {cluster['country']} but the region says {from_region}")
    cluster["country"] = cluster.get("country") or from_region

    for value in cluster.get("ecosystems") or []:
        if value not in ecosystem_words:
            flags.append(
                f"ecosystems: {value!r} is not one of the EU industrial ecosystems "
                "(lookups.ecosystems): kept as published"
            )
    for value in cluster.get("labels") or []:
        if value not in label_levels:
            flags.append(
                f"labels: {value!r} is not a known label level (lookups.labels): kept as published"
            )
    for label in fields.repeated:
        flags.append(f"label {label!r} appears more than once: values joined")

    # A recognition is a dated fact: only a date the page states for the label makes one (the
    # fetch date is not stated by the page); an undated label stays in `labels` only.
    recognition = None
    dated = {k: typed.get(k) for k in ("label_valid_from", "label_valid_to")}
    year = dated["label_valid_from"] if isinstance(dated["label_valid_from"], int) else None
    levels = [v for v in cluster.get("labels") or [] if v in label_levels]
    if len(levels) == 1 and (year or any(isinstance(d, dt.date) for d in dated.values())):
        recognition = {
            "cluster_name": name,
            "kind": "label",
            "name": RECOGNITION_NAME,
            "level": levels[0],
            "awarded_by": typed.get("label_awarded_by"),
            "valid_from": _iso(dated["label_valid_from"]),
            "valid_to": _iso(dated["label_valid_to"]),
            "year": year,
            "evidence": f"ECCP profile: Cluster Excellence Label: {levels[0]}",
            "evidence_url": url,
        }
    cluster["quality_flags"] = flags or None
    return {
        "cluster": cluster,
        "recognition": recognition,
        "labels_found": len(fields.labels_seen),
        "unknown_labels": fields.unknown_labels,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


def _typed(kind: str, value: str) -> Any:
    """A scalar value read strictly by its field type, or None when it does not fit."""
    if kind == "int":
        return int(value) if _INT.match(value) else None
    if kind == "date":
        # "Friday, 26 September, 2008": exactly one date, or a bare year.
        dates = find_dates(value)
        if len(dates) == 1:
            return dates[0]
        return int(value) if _YEAR.match(value) else None
    if kind == "url":
        if _URL.match(value):
            return value
        return f"http://{value}" if _BARE_DOMAIN.match(value) else None
    if kind == "country":
        return country_code(value)
    if kind == "region":
        match = _REGION_WITH_COUNTRY.match(value)
        if match and match["country"] in COUNTRIES:
            return (match["region"], match["country"])
        return (value, None)
    raise ValueError(f"unknown field type {kind!r} in the YAML")


# --- the spider ------------------------------------------------------------------------------


class EccpClustersSpider(SourceSpider):
    """Reads the ECCP sitemap, the cluster-organisations listing and each profile page."""

    name = SOURCE_ID

    def __init__(self, *args: Any, since: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.site = eccp_config()["site"]
        raw_since = since if since is not None else (self.site.get("since") or "")
        # A malformed cutoff is a ValueError at start: never a silent full or empty crawl.
        self.since = dt.date.fromisoformat(raw_since) if raw_since else None
        if len(self.source.start_urls) != 2:
            raise ValueError(f"{SOURCE_ID}: start_urls must be [sitemap, listing]")
        self.sitemap_url, self.listing_url = self.source.start_urls
        self.pending_sitemaps: list[str] = []
        self.sitemap_urls: set[str] = set()  # profile and candidate URLs the sitemap lists
        self.listing_urls: set[str] = set()
        self.requested: set[str] = set()
        self.not_profiles: set[str] = set()
        self.names: dict[str, str] = {}
        self.profiles_from_sitemap = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self._sitemap_request(self.sitemap_url)

    def _sitemap_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse, errback=self.sitemap_failed)

    def _listing_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(url, callback=self.parse_listing, errback=self.listing_failed)

    def _profile_request(
        self, url: str, known: bool, origin: str, lastmod: str | None = None
    ) -> scrapy.Request:
        self.requested.add(url)
        return scrapy.Request(
            url,
            callback=self.parse_profile,
            errback=self.profile_failed,
            cb_kwargs={"known": known, "origin": origin},
            # A live crawl with the HTTP cache reuses a copy fetched after this date without
            # asking the server (scrapers/httpcache.py); the page is still read, so it is kept.
            meta={LASTMOD_META: lastmod} if lastmod else {},
        )

    def _after_sitemap(self) -> Iterator[scrapy.Request]:
        """The next child sitemap, or, once every sitemap is read, the listing."""
        if self.pending_sitemaps:
            yield self._sitemap_request(self.pending_sitemaps.pop(0))
            return
        if not self.sitemap_urls:
            self.logger.error(
                "sitemap %s lists no cluster profile URLs (rules: %s, %s): layout changed?",
                self.sitemap_url,
                self.site["profile_paths"],
                self.site["candidate_paths"],
            )
        yield self._listing_request(self.listing_url)

    def parse(self, response: Response) -> Iterator:
        """The sitemap (a <urlset> or a <sitemapindex>): profile URLs newer than `since`."""
        yield self.document(response)
        try:
            kind, entries = read_sitemap(response.body)
        except EccpLayoutError as exc:
            self.logger.error("sitemap %s unreadable: %s", response.url, exc)
            yield from self._after_sitemap()
            return
        if kind == "sitemapindex":
            self.pending_sitemaps += [rehost(e.loc, self.site) for e in entries]
            yield from self._after_sitemap()
            return
        skipped_old = 0
        for entry in entries:
            url = rehost(entry.loc, self.site)
            kind_of = path_kind(url, self.site)
            if kind_of is None:
                self.crawler.stats.inc_value("eccp/sitemap_other_paths")
                continue
            self.sitemap_urls.add(url)
            if not is_newer(entry, self.since):
                skipped_old += 1
                continue
            if url not in self.requested:
                yield self._profile_request(
                    url, known=kind_of == "profile", origin="sitemap", lastmod=entry.lastmod
                )
        self.logger.info(
            "sitemap %s: %s entries, %s older than %s",
            response.url,
            len(entries),
            skipped_old,
            self.since,
        )
        self.crawler.stats.inc_value("eccp/sitemap_skipped_by_lastmod", skipped_old)
        yield from self._after_sitemap()

    def sitemap_failed(self, failure: Failure) -> Iterator[scrapy.Request]:
        self.logger.error(
            "sitemap download failed: %s: %s", failure.request.url, failure.getErrorMessage()
        )
        yield from self._after_sitemap()

    def parse_listing(self, response: Response) -> Iterator:
        """One page of /cluster-organisations (Drupal pager ?page=0%2CN): profile links."""
        yield self.document(response)
        profiles, pages = listing_links(response.body, response.url, self.site)
        if not profiles:
            self.logger.error(
                "listing page %s links no cluster profile: layout changed?", response.url
            )
        for url in profiles:
            self.listing_urls.add(url)
            if url in self.requested:
                continue
            if url in self.sitemap_urls:
                # Listed by the sitemap but older than `since`: unchanged, not read again.
                continue
            self.logger.info("profile %s is on the listing but not in the sitemap", url)
            yield self._profile_request(url, known=True, origin="listing")
        for url in pages:
            yield self._listing_request(url)

    def listing_failed(self, failure: Failure) -> None:
        self.logger.error(
            "listing download failed: %s: %s", failure.request.url, failure.getErrorMessage()
        )

    def parse_profile(self, response: Response, known: bool, origin: str) -> Iterator:
        """A cluster organisation profile: one cluster row, a recognition if its label is dated."""
        url = rehost(response.url, self.site)
        try:
            record = read_profile(response.body, url)
        except EccpLayoutError as exc:
            record = None
            reason = str(exc)
        else:
            reason = "no known profile label on the page"
            if not known and record["labels_found"] < self.site["candidate_min_labels"]:
                record = None
            elif record["labels_found"] == 0:
                record = None
        yield self.document(response)
        if record is None:
            if known:
                self.logger.error("profile %s unreadable: %s: layout changed?", url, reason)
            else:
                self.not_profiles.add(url)
                self.crawler.stats.inc_value("eccp/content_pages_not_profiles")
            return
        for label in record["unknown_labels"]:
            self.logger.warning("profile %s: unknown label %r (not read)", url, label)
            self.crawler.stats.inc_value("eccp/unknown_labels")
        cluster = record["cluster"]
        if cluster["name"] in self.names:
            self.logger.warning(
                "profile %s repeats the cluster %r of %s: skipped",
                url,
                cluster["name"],
                self.names[cluster["name"]],
            )
            return
        self.names[cluster["name"]] = url
        self.profiles_from_sitemap += origin == "sitemap"
        yield self.cluster_item(response, **cluster)
        if record["recognition"]:
            yield self.recognition_item(response, **record["recognition"])

    def profile_failed(self, failure: Failure) -> None:
        self.logger.error(
            "profile download failed: %s: %s", failure.request.url, failure.getErrorMessage()
        )

    def closed(self, reason: str) -> None:
        """Cross-check the sitemap against the listing; fail the crawl when either gave none."""
        if not self.listing_urls:
            self.logger.error("the listing %s yielded 0 profiles", self.listing_url)
        if self.since is None and self.sitemap_urls and not self.profiles_from_sitemap:
            self.logger.error("the sitemap %s yielded 0 profiles", self.sitemap_url)
        listed_not_profiles = sorted(self.listing_urls & self.not_profiles)
        if listed_not_profiles:
            self.logger.error("listed profiles with no profile labels: %s", listed_not_profiles)
        missing = sorted(self.listing_urls - self.sitemap_urls)
        if missing:
            self.logger.warning(
                "%s listed profiles are not in the sitemap, e.g. %s", len(missing), missing[:5]
            )
        unlisted = sorted(set(self.names.values()) - self.listing_urls)
        if unlisted:
            self.logger.info(
                "%s profiles from the sitemap are not on the listing, e.g. %s",
                len(unlisted),
                unlisted[:5],
            )
