"""eu_eccp_clusters: ECCP cluster profiles read by their labels, through the sitemap and listing.

The generic test (test_sources.py) compares the crawl with expected.jsonl; this one checks each
rule on its own: the TICE.PT profile field by field, the sitemap's re-hosting and lastmod cutoff,
the same extractor on other markups (inline HTML: the recordings hold only facts we have), the
misaligned label, personal data, and the crawl failing loudly when a page's layout changed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import scrapy
from scrapy.http import HtmlResponse, XmlResponse
from scrapy.utils.test import get_crawler

from pipelines.clean import clean_clusters
from pipelines.raw import read_run
from pipelines.validate import validate_entity
from scrapers.registry import load_registry
from scrapers.spiders.eu_eccp_clusters import (
    EccpClustersSpider,
    EccpLayoutError,
    SitemapEntry,
    acronym_of,
    eccp_config,
    is_newer,
    listing_links,
    path_kind,
    read_profile,
    read_sitemap,
    rehost,
)

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "fixtures" / "eu_eccp_clusters"
SOURCE = "eu_eccp_clusters"
SITE = eccp_config()["site"]
TICE_URL = (
    "https://www.clustercollaboration.eu/cluster-organisations/"
    "associacao-para-o-polo-das-tecnologias-de-informacao"
)
TICE_NAME = (
    "Associação para o Pólo das Tecnologias de Informação, Comunicação e Electronica TICE.PT"
)
STAFF_LABEL = "Number of staff in the management team of the cluster organisation"


def crawl(out: Path, recordings: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapers.crawl",
            SOURCE,
            "--out",
            str(out),
            "--offline",
            "--recordings",
            str(recordings),
            "--log-file",
            str(out.with_suffix(".log")),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def tice() -> dict:
    return read_profile((HERE / "profile_tice_pt.html").read_bytes(), TICE_URL)


# --- the TICE.PT profile, field by field -----------------------------------------------------


def test_tice_pt_profile_field_by_field():
    record = tice()
    c = record["cluster"]
    assert c["name"] == TICE_NAME  # as published, with its diacritics
    assert c["acronym"] == "TICE.PT"
    assert c["eccp_url"] == TICE_URL
    assert c["founded_year"] == 2008  # "Friday, 26 September, 2008"
    assert c["labels"] == ["Gold Label"]  # as published; lookups.labels makes it "Gold"
    assert c["partnerships"] is None  # the ESCP field is empty on the page
    assert c["sectors"] == [
        "Communications Equipment and Services",
        "Education and Knowledge Creation",
    ]
    assert c["technology_fields"] == [
        "Electronic engineering",
        "Automation, Robotics Control Systems",
    ]
    assert c["s3_priorities"] == [
        "ICT trust, cyber security & network security",
        "e-Inclusion (e.g. e-Skills, e-Learning)",
    ]
    assert c["ecosystems"] == ["Blue Growth Industries", "Digital Industries"]
    for empty in (
        "members_total",
        "members_smes",
        "members_large",
        "members_research",
        "website",
        "city",
    ):
        assert c[empty] is None, empty
    assert c["description"].startswith("The TICE.PT aims to promote and leverage networking")
    assert c["description"].endswith("added value in domestic products.")
    # No date is stated for the Gold Label: a summary only, no recognition row.
    assert record["recognition"] is None
    # "Do you have a formalised strategy?" is a known label; nothing went unread.
    assert record["unknown_labels"] == []
    assert record["labels_found"] >= 15


def test_misaligned_staff_label_is_not_a_staff_count_but_flagged_region():
    c = tice()["cluster"]
    flags = c["quality_flags"]
    assert f"staff: 'Centro (PT)' under '{STAFF_LABEL}' is not a whole number: not stored" in flags
    assert any(f.startswith("region: 'Centro (PT)' is printed under") for f in flags)
    assert (c["region"], c["country"]) == ("Centro", "PT")
    assert "Centro (PT)" not in json.dumps(c, ensure_ascii=False).replace(
        json.dumps(flags, ensure_ascii=False), ""
    )


def test_unknown_ecosystem_is_kept_and_flagged_and_lookups_normalise(tmp_path):
    c = tice()["cluster"]
    assert any(
        "'Blue Growth Industries' is not one of the EU industrial ecosystems" in f
        for f in c["quality_flags"]
    )
    assert not any("'Digital Industries'" in f for f in c["quality_flags"])
    frames = read_run(SOURCE, HERE / "expected.jsonl")
    cleaned = clean_clusters(frames["clusters"], load_registry())
    assert validate_entity("clusters", cleaned.frame).quarantined.height == 0
    row = cleaned.frame.row(0, named=True)
    assert row["labels"] == ["Gold"]
    assert row["ecosystems"] == ["Blue Growth Industries", "Digital"]
    assert row["cluster_id"].startswith("eu_eccp_clusters:associação-para-o-pólo")


def test_ecosystem_lookups_only_map_into_the_vocabulary():
    config = eccp_config()
    vocabulary = set(config["site"]["ecosystem_vocabulary"])
    assert len(vocabulary) == 14
    assert set(config["lookups"]["ecosystems"].values()) <= vocabulary
    assert set(config["lookups"]["labels"].values()) == {"Gold", "Silver", "Bronze"}


@pytest.mark.parametrize(
    ("name", "acronym"),
    [
        (TICE_NAME, "TICE.PT"),
        ("Cyberforum e.V.", None),
        ("Basque Aerospace Cluster (HEGAN)", "HEGAN"),
        ("Cluster II", None),
        ("Health Cluster Portugal", None),
        ("TICE.PT", None),
    ],
)
def test_acronym_only_where_the_name_ends_with_one(name, acronym):
    assert acronym_of(name) == acronym


# --- other markups: the same extractor, by labels --------------------------------------------

FACTS = {
    "founded": "12 March 2015",
    "label": "Silver Label",
    "escp": ["ESCP-4i"],
    "sectors": ["Digital Industries Services", "Logistical Services"],
    "ecosystems": ["Digital", "Mobility-Transport-Automotive"],
    "total": "64",
    "smes": "40",
    "large": "9",
    "research": "11",
}


def drupal8(facts: dict) -> str:
    def field(label: str, *values: str) -> str:
        items = "".join(f'<div class="field__item">{v}</div>' for v in values)
        return (
            f'<div class="field field--name-x field--label-inline">'
            f'<div class="field__label">{label}</div><div class="field__items">{items}'
            "</div></div>"
        )

    return (
        "<html><body><header><nav><a href='/content/news'>News</a></nav></header><main>"
        "<h1>Example Mobility Cluster</h1>"
        + field("Country", "Germany")
        + field("Region", "Baden-Württemberg")
        + field("City", "Karlsruhe")
        + field("Website", "https://cluster.example.org/")
        + field("The date when the cluster organisation was established", facts["founded"])
        + field("Cluster Excellence Label", facts["label"])
        + field("Label valid until", "30/06/2026")
        + field("European Strategic Cluster Partnerships", *facts["escp"])
        + field("Sectoral Industries", *facts["sectors"])
        + field("Industrial ecosystems", *facts["ecosystems"])
        + field("Total number of members", facts["total"])
        + field("Number of SME members", facts["smes"])
        + field("Number of larger company members", facts["large"])
        + field(
            "Number of research organisations/universities/technology centres", facts["research"]
        )
        + "<h2>Cluster Strategy</h2><p>We connect mobility firms.</p>"
        "</main><footer><p>Terms of use</p></footer></body></html>"
    )


def definition_list(facts: dict) -> str:
    def row(label: str, *values: str) -> str:
        inner = (
            values[0]
            if len(values) == 1
            else "<ul>" + "".join(f"<li>{v}</li>" for v in values) + "</ul>"
        )
        return f"<dt>{label}:</dt><dd>{inner}</dd>"

    return (
        "<html><body><div role='main'><h1>Example Mobility Cluster</h1><dl>"
        + row("Country", "DE")
        + row("Region", "Baden-Württemberg")
        + row("City", "Karlsruhe")
        + row("Website", "https://cluster.example.org/")
        + row("The date when the cluster organisation was established", facts["founded"])
        + row("Cluster Excellence Label", facts["label"])
        + row("Label valid until", "30/06/2026")
        + row("European Strategic Cluster Partnerships", *facts["escp"])
        + row("Sectoral industries", *facts["sectors"])
        + row("Industrial Ecosystems", *facts["ecosystems"])
        + row("Total number of members", facts["total"])
        + row("Number of SME members", facts["smes"])
        + row("Number of larger company members", facts["large"])
        + row(
            "Number of research organisations / universities / technology centres",
            facts["research"],
        )
        + "</dl><h3>Cluster strategy</h3><p>We connect mobility firms.</p></div></body></html>"
    )


def table(facts: dict) -> str:
    def row(label: str, *values: str) -> str:
        return f"<tr><td>{label}</td><td>{'<br>'.join(values)}</td></tr>"

    return (
        "<html><body><article><h1>Example Mobility Cluster</h1><table>"
        + row("Country", "Germany")
        + row("Region", "Baden-Württemberg")
        + row("City", "Karlsruhe")
        + row("Website", "https://cluster.example.org/")
        + row("The date when the cluster organisation was established", facts["founded"])
        + row("Cluster Excellence Label", facts["label"])
        + row("Label valid until", "30/06/2026")
        + row("European Strategic Cluster Partnerships", *facts["escp"])
        + row("Sectoral Industries", *facts["sectors"])
        + row("Industrial ecosystems", *facts["ecosystems"])
        + row("Total number of members", facts["total"])
        + row("Number of SME members", facts["smes"])
        + row("Number of larger company members", facts["large"])
        + row("Number of research organisations/universities/technology centres", facts["research"])
        + row("Cluster Strategy", "We connect mobility firms.")
        + "</table></article></body></html>"
    )


@pytest.mark.parametrize("markup", [drupal8, definition_list, table])
def test_same_extractor_reads_other_markups(markup):
    url = "https://www.clustercollaboration.eu/content/example-mobility-cluster"
    record = read_profile(markup(FACTS), url)
    c = record["cluster"]
    assert c["name"] == "Example Mobility Cluster"
    assert (c["country"], c["region"], c["city"]) == ("DE", "Baden-Württemberg", "Karlsruhe")
    assert c["website"] == "https://cluster.example.org/"
    assert c["founded_year"] == 2015
    assert c["labels"] == ["Silver Label"]
    assert c["partnerships"] == ["ESCP-4i"]
    assert c["sectors"] == FACTS["sectors"]
    assert c["ecosystems"] == FACTS["ecosystems"]
    assert (c["members_total"], c["members_smes"], c["members_large"], c["members_research"]) == (
        64,
        40,
        9,
        11,
    )
    assert c["description"] == "We connect mobility firms."
    assert c["quality_flags"] is None
    assert record["unknown_labels"] == []
    # The label is dated on this page: one recognition, dated by what the page states.
    assert record["recognition"] == {
        "cluster_name": "Example Mobility Cluster",
        "kind": "label",
        "name": "Cluster Management Excellence Label",
        "level": "Silver Label",
        "awarded_by": None,
        "valid_from": None,
        "valid_to": "2026-06-30",
        "year": None,
        "evidence": "ECCP profile: Cluster Excellence Label: Silver Label",
        "evidence_url": url,
    }


def test_values_that_do_not_fit_their_type_are_null_and_flagged():
    facts = {**FACTS, "total": "about 60", "founded": "soon"}
    c = read_profile(drupal8(facts), "https://www.clustercollaboration.eu/content/x")["cluster"]
    assert c["members_total"] is None and c["founded_year"] is None
    assert (
        "members_total: 'about 60' under 'Total number of members' is not a whole number: "
        "not stored" in c["quality_flags"]
    )
    assert any(f.startswith("founded: 'soon'") for f in c["quality_flags"])


def test_unknown_labels_are_audited_not_read_as_values():
    html = drupal8(FACTS).replace(
        "<h2>Cluster Strategy</h2>",
        '<div class="field"><div class="field__label">Annual budget</div>'
        '<div class="field__item">1 000 000</div></div><h2>Cluster Strategy</h2>',
    )
    record = read_profile(html, "https://www.clustercollaboration.eu/content/x")
    assert record["unknown_labels"] == ["Annual budget"]
    assert "1 000 000" not in json.dumps(record["cluster"])


# --- personal data ---------------------------------------------------------------------------

PEOPLE = ("Joana Exemplo", "Pedro Modelo")
PHONE = "+351 900 000 000"
EMAIL = "joana.exemplo@example.org"


def with_people(html: str) -> str:
    team = (
        '<div class="field"><div class="field__label">Cluster Management Team</div>'
        f'<div class="field__item">{PEOPLE[0]}</div><div class="field__item">Cluster Manager'
        f'</div><div class="field__item">{PHONE}</div><div class="field__item">{EMAIL}</div>'
        f'<div class="field__item">{PEOPLE[1]}</div>'
        '<div class="field__item">ECCP Responsible Person</div></div>'
    )
    return html.replace("<h2>Cluster Strategy</h2>", team + "<h2>Cluster Strategy</h2>").replace(
        "We connect mobility firms.",
        f"We connect mobility firms. Write to {EMAIL} or call {PHONE}.",
    )


def test_no_person_phone_or_email_in_any_output_field():
    record = read_profile(with_people(drupal8(FACTS)), "https://www.clustercollaboration.eu/c/x")
    out = json.dumps(record, ensure_ascii=False)
    for secret in (*PEOPLE, PHONE, EMAIL, "Cluster Manager", "ECCP Responsible Person"):
        assert secret not in out, secret
    assert record["cluster"]["description"] == (
        "We connect mobility firms. Write to [e-mail removed] or call [phone number removed]."
    )
    assert (
        "description: contact data removed from the text under 'Cluster Strategy'"
        in record["cluster"]["quality_flags"]
    )


def test_recorded_output_has_no_phone_or_email():
    text = (HERE / "expected.jsonl").read_text(encoding="utf-8")
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)
    assert not re.search(r"\+\d{2,3}[\s\d]{8,}", text)
    assert "Cluster Manager" not in text and "Responsible" not in text


# --- the sitemap and the listing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rehosted", "kind"),
    [
        (
            "http://default/content/cyberforum-ev",
            "https://www.clustercollaboration.eu/content/cyberforum-ev",
            "candidate",
        ),
        (
            "http://default/cluster-organisations/associacao-para-o-polo-das-tecnologias-de-"
            "informacao",
            TICE_URL,
            "profile",
        ),
        (
            "https://clustercollaboration.eu/cluster-organisations/x/",
            "https://www.clustercollaboration.eu/cluster-organisations/x",
            "profile",
        ),
        (
            "http://default/community-news/some-news",
            "https://www.clustercollaboration.eu/community-news/some-news",
            None,
        ),
        ("http://default/faq-page", "https://www.clustercollaboration.eu/faq-page", None),
        ("https://example.org/content/x", "https://example.org/content/x", None),
    ],
)
def test_sitemap_entries_are_rehosted_and_classified(url, rehosted, kind):
    assert rehost(url, SITE) == rehosted
    assert path_kind(rehosted, SITE) == kind


def test_read_sitemap_cuts_theme_debug_junk_and_reads_indexes():
    body = (
        b"<!-- THEME DEBUG -->\n<!-- FILE NAME SUGGESTIONS -->\n"
        + (HERE / "sitemap.xml").read_bytes()
    )
    kind, entries = read_sitemap(body)
    assert kind == "urlset" and len(entries) == 4
    assert entries[1] == SitemapEntry(
        "http://default/content/cluster-initiative-expedition-visit-eight-go-cluster-members",
        "2022-07-05",
    )
    assert entries[0].lastmod is None
    index = (
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
        b'sitemap/0.9"><sitemap><loc>http://default/sitemap.xml?page=2</loc>'
        b"<lastmod>2025-01-02T10:00:00+01:00</lastmod></sitemap></sitemapindex>"
    )
    assert read_sitemap(index) == (
        "sitemapindex",
        [SitemapEntry("http://default/sitemap.xml?page=2", "2025-01-02T10:00:00+01:00")],
    )
    with pytest.raises(EccpLayoutError, match="not <urlset>"):
        read_sitemap(b"<html><body>Maintenance</body></html>")


@pytest.mark.parametrize(
    ("lastmod", "since", "read"),
    [
        ("2022-07-05", None, True),
        ("2022-07-05", dt.date(2022, 7, 5), True),
        ("2022-07-05T23:59:00+02:00", dt.date(2022, 7, 6), False),
        ("2024-01-01T08:00:00Z", dt.date(2022, 7, 6), True),
        (None, dt.date(2030, 1, 1), True),  # an undated entry is read, never skipped
        ("last week", dt.date(2030, 1, 1), True),
    ],
)
def test_lastmod_cutoff(lastmod, since, read):
    assert is_newer(SitemapEntry("http://default/content/x", lastmod), since) is read


def spider(since: str | None = None) -> EccpClustersSpider:
    crawler = get_crawler(EccpClustersSpider)
    crawler.spider = (
        crawler._create_spider(since=since) if since is not None else crawler._create_spider()
    )
    return crawler.spider


def sitemap_requests(since: str | None) -> list[str]:
    s = spider(since)
    response = XmlResponse(s.sitemap_url, body=(HERE / "sitemap.xml").read_bytes())
    return [r.url for r in s.parse(response) if isinstance(r, scrapy.Request)]


def test_since_skips_older_sitemap_entries_then_reads_the_listing():
    news = (
        "https://www.clustercollaboration.eu/content/"
        "cluster-initiative-expedition-visit-eight-go-cluster-members"
    )
    listing = "https://www.clustercollaboration.eu/cluster-organisations"
    assert sitemap_requests(None) == [TICE_URL, news, listing]
    # The news entry (lastmod 2022-07-05) is older than the cutoff; TICE.PT has no lastmod.
    assert sitemap_requests("2022-07-06") == [TICE_URL, listing]
    assert sitemap_requests("2022-07-05") == [TICE_URL, news, listing]
    with pytest.raises(ValueError):
        spider("last week")


def test_listing_skips_profiles_the_sitemap_dated_before_since():
    s = spider("2030-01-01")
    sitemap = (
        (HERE / "sitemap.xml")
        .read_bytes()
        .replace(b"informacao</loc>", b"informacao</loc><lastmod>2021-03-04</lastmod>")
    )
    requests = [
        r
        for r in s.parse(XmlResponse(s.sitemap_url, body=sitemap))
        if isinstance(r, scrapy.Request)
    ]
    assert [r.url for r in requests] == [s.listing_url]
    page = HtmlResponse(
        s.listing_url, body=(HERE / "listing_cluster_organisations.html").read_bytes()
    )
    assert [x for x in s.parse_listing(page) if isinstance(x, scrapy.Request)] == []
    assert s.listing_urls == {TICE_URL}


OLD_PAGER = """<html><body><div id="content"><div class="view-content">
<div class="views-row"><a href="/cluster-organisations/alpha-cluster">Alpha</a></div>
<div class="views-row"><a href="/content/beta-cluster">Beta</a></div></div>
<h2 class="element-invisible">Pages</h2><div class="item-list"><ul class="pager">
<li class="pager-first first"><a href="/cluster-organisations?page=0%2C0">« first</a></li>
<li class="pager-previous"><a href="/cluster-organisations?page=0%2C1">‹ previous</a></li>
<li class="pager-current">3</li>
<li class="pager-item"><a href="/cluster-organisations?page=0%2C3">4</a></li>
<li class="pager-next"><a href="/cluster-organisations?page=0%2C3">next ›</a></li>
</ul></div></div><div id="sidebar"><a href="/content/some-news">News</a></div></body></html>"""


def test_listing_links_and_old_drupal_pager():
    profiles, pages = listing_links(
        OLD_PAGER, "https://clustercollaboration.eu/cluster-organisations?page=0%2C2", SITE
    )
    base = "https://www.clustercollaboration.eu"
    assert profiles == [
        f"{base}/cluster-organisations/alpha-cluster",
        f"{base}/content/beta-cluster",
    ]  # not the sidebar's news link
    assert pages == [f"{base}/cluster-organisations?page=0%2C{n}" for n in (0, 1, 3)]


# --- the crawl fails loudly when a layout changed --------------------------------------------


def test_listing_with_no_profiles_fails_the_crawl(recordings_copy, tmp_path):
    listing = recordings_copy / SOURCE / "listing_cluster_organisations.html"
    listing.write_text(
        re.sub(
            r'<div class="view-content">.*?</div>\n</div>\n',
            '<div class="view-content"></div>\n',
            listing.read_text(encoding="utf-8"),
            flags=re.S,
        ),
        encoding="utf-8",
    )
    assert "associacao" not in listing.read_text(encoding="utf-8")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("errors logged")
    log = out.with_suffix(".log").read_text(encoding="utf-8")
    assert (
        "ERROR: listing page https://www.clustercollaboration.eu/cluster-organisations "
        "links no cluster profile"
    ) in log
    assert not out.exists()


def test_profile_with_no_known_label_fails_the_crawl_naming_it(recordings_copy, tmp_path):
    profile = recordings_copy / SOURCE / "profile_tice_pt.html"
    html = profile.read_text(encoding="utf-8")
    # A redesign: every label renamed, the group headings gone.
    html = re.sub(
        r'<div class="field-label">[^<]*</div>', '<div class="field-label">Renamed:</div>', html
    )
    html = re.sub(r"<h2><span>[^<]*</span></h2>", "", html)
    profile.write_text(html, encoding="utf-8")
    out = tmp_path / "run.jsonl"
    proc = crawl(out, recordings_copy)
    assert proc.returncode == 1
    log = out.with_suffix(".log").read_text(encoding="utf-8")
    assert f"ERROR: profile {TICE_URL} unreadable: no known profile label on the page" in log


def test_content_pages_that_are_not_profiles_are_skipped():
    frames = read_run(SOURCE, HERE / "expected.jsonl")
    assert frames["clusters"]["name"].to_list() == [TICE_NAME]
    documents = frames["documents"]["url"].to_list()
    assert any("/content/cluster-initiative-expedition" in u for u in documents)
    assert frames["recognitions"].height == 0
