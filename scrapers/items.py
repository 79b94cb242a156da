"""The shared item types every spider yields, one per raw entity.

Each field declares its raw type (`text`, `number`, `date` as ISO text, `list` of text, `int`,
`bool`); the Dagster raw layer reads the JSON Lines with exactly these columns, so a field a
spider sets that is not declared here is a KeyError at crawl time, never silently dropped.
"""

from __future__ import annotations

import scrapy

TEXT, NUMBER, DATE, LIST, INT, BOOL = "text", "number", "date", "list", "int", "bool"


def _f(kind: str = TEXT) -> scrapy.Field:
    return scrapy.Field(kind=kind)


class SourcedItem(scrapy.Item):
    """Provenance every raw row carries."""

    entity = _f()
    source_id = _f()
    source_url = _f()
    fetched_at = _f()
    document_sha256 = _f()
    quality_flags = _f(LIST)


class ClusterItem(SourcedItem):
    name = _f()
    acronym = _f()
    aliases = _f(LIST)
    country = _f()
    region = _f()
    city = _f()
    website = _f()
    sectors = _f(LIST)
    labels = _f(LIST)
    recognitions = _f(LIST)
    eccp_url = _f()
    registry_id = _f()
    description = _f()
    founded_year = _f(INT)
    technology_fields = _f(LIST)
    s3_priorities = _f(LIST)
    ecosystems = _f(LIST)
    members_total = _f(INT)
    members_smes = _f(INT)
    members_large = _f(INT)
    members_research = _f(INT)
    partnerships = _f(LIST)


class RecognitionItem(SourcedItem):
    # The cluster is named as the same source's cluster row names it (its `name`).
    cluster_name = _f()
    kind = _f()
    name = _f()
    level = _f()
    awarded_by = _f()
    valid_from = _f(DATE)
    valid_to = _f(DATE)
    as_of = _f(DATE)
    year = _f(INT)
    evidence = _f()
    evidence_url = _f()


class CallItem(SourcedItem):
    identifier = _f()
    title = _f()
    programme = _f()
    publisher = _f()
    call_type = _f()
    opening_date = _f(DATE)
    deadline_date = _f(DATE)
    deadline_dates = _f(LIST)
    budget_eur = _f(NUMBER)
    eligible_applicants = _f(LIST)
    topics = _f(LIST)
    description = _f()
    url = _f()
    country = _f()
    document_urls = _f(LIST)


class ProjectItem(SourcedItem):
    reference = _f()
    title = _f()
    acronym = _f()
    lead_organisation = _f()
    lead_organisation_country = _f()
    lead_organisation_key = _f()  # the source's own id of the lead (e.g. a PIC)
    programme = _f()
    programmes = _f(LIST)
    funds = _f(LIST)
    operation_type = _f()
    total_eligible_eur = _f(NUMBER)
    eu_contribution_eur = _f(NUMBER)
    cofinancing_rate = _f(NUMBER)
    start_date = _f(DATE)
    end_date = _f(DATE)
    regions = _f(LIST)
    description = _f()
    website = _f()
    # Where the operation takes place (ISO 3166-1 alpha-2), and its NUTS codes.
    country = _f()
    nuts_codes = _f(LIST)
    # Categories of intervention (cohesion policy) or topics, as codes with labels.
    categories = _f(LIST)
    # True when the source classes the project as cluster support; None when it does not say.
    cluster_support = _f(BOOL)
    call_identifier = _f()


class ParticipantItem(SourcedItem):
    # The project is named by the same key the project row uses (reference, else title).
    project_reference = _f()
    project_title = _f()
    name_as_published = _f()
    role = _f()
    role_as_published = _f()
    country = _f()
    work_packages_led = _f(LIST)
    # The source's own id of the organisation (a PIC, a beneficiary id), when it has one.
    organisation_key = _f()
    pic = _f()
    vat = _f()
    eu_contribution_eur = _f(NUMBER)


class DocumentItem(scrapy.Item):
    entity = _f()
    document_sha256 = _f()
    url = _f()
    fetched_at = _f()
    http_status = _f(INT)
    content_type = _f()
    size_bytes = _f(INT)
    source_id = _f()
    reconstructed = _f(BOOL)
    synthetic = _f(BOOL)


class FileItem(scrapy.Item):
    """A downloaded bulk file (CSV, XLSX, zip) kept beside the run's JSON Lines; the source's
    spider module parses it with polars (`parse_file`) in the raw layer."""

    entity = _f()
    source_id = _f()
    url = _f()
    fetched_at = _f()
    document_sha256 = _f()
    path = _f()  # relative to the run's JSON Lines file
    content_type = _f()
    meta = _f()  # JSON object: what the spider knows about the file (country, period, year…)


# Raw entity name -> item class; spiders set `entity` to the key.
RAW_ITEMS: dict[str, type[scrapy.Item]] = {
    "clusters": ClusterItem,
    "recognitions": RecognitionItem,
    "calls": CallItem,
    "projects": ProjectItem,
    "participants": ParticipantItem,
    "documents": DocumentItem,
    "files": FileItem,
}
