"""Funded projects and operations."""

import datetime as dt

import pandera.polars as pa
import polars as pl

from schemas.common import NON_BLANK, URL_PATTERN, Provenance, country_field, list_values_in
from schemas.vocab import FUNDS


class ProjectRecord(Provenance):
    """One funded project or operation."""

    project_id: str = pa.Field(
        unique=True, description="Stable id: <source_id>:<reference or slug of the title>"
    )
    reference: str = pa.Field(
        nullable=True, description="The funder's or beneficiary's reference of the operation"
    )
    title: str = pa.Field(str_matches=NON_BLANK, description="Title", metadata={"fts": True})
    acronym: str = pa.Field(nullable=True, description="Acronym", metadata={"fts": True})
    lead_organisation: str = pa.Field(
        nullable=True,
        description="Lead organisation or promoter as published",
        metadata={"fts": True},
    )
    lead_organisation_id: str = pa.Field(
        nullable=True,
        description="The lead organisation (see organisations)",
        metadata={"references": "organisations"},
    )
    programme: str = pa.Field(
        nullable=True,
        description="Main funding programme (the operational programme where stated)",
        metadata={"facet": True},
    )
    programmes: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Every programme the source names for the project (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    funds: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="EU funds by English acronym, e.g. ERDF (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    operation_type: str = pa.Field(
        nullable=True, description="Type of operation or support scheme as published"
    )
    total_eligible_eur: float = pa.Field(
        nullable=True, ge=0, description="Total eligible cost in EUR"
    )
    eu_contribution_eur: float = pa.Field(nullable=True, ge=0, description="EU funding in EUR")
    cofinancing_rate: float = pa.Field(
        nullable=True,
        ge=0,
        le=1,
        description="EU co-financing rate, 0..1 (derived: eu_contribution_eur / "
        "total_eligible_eur when the source does not state it)",
    )
    start_date: dt.date = pa.Field(nullable=True, description="Start date")
    end_date: dt.date = pa.Field(nullable=True, description="End date")
    regions: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Regions of intervention as published (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    description: str = pa.Field(
        nullable=True, description="Description as published", metadata={"fts": True}
    )
    website: str = pa.Field(nullable=True, str_matches=URL_PATTERN, description="Project website")
    country: str = country_field(
        "Country of the operation (ISO 3166-1 alpha-2); for multi-country projects, the "
        "coordinator's"
    )
    nuts_codes: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="NUTS codes of the places of intervention (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    categories: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Categories of intervention or topics, 'code label' as published (JSON array)",
        metadata={"json": True},
    )
    cluster_support: bool = pa.Field(
        nullable=True,
        description="True when the source classes the project as cluster support (e.g. "
        "cohesion-policy category 063 'cluster support and business networks'); NULL when "
        "the source does not classify it",
        metadata={"facet": True},
    )
    call_identifier: str = pa.Field(
        nullable=True,
        description="Identifier of the call or topic that funded the project (see calls)",
        metadata={"facet": True},
    )

    @pa.check("funds", name="funds_known")
    def funds_known(cls, data) -> pl.LazyFrame:
        return list_values_in(data, FUNDS)

    @pa.dataframe_check(name="eu_contribution_within_total")
    def eu_contribution_within_total(cls, data) -> pl.LazyFrame:
        eu, total = pl.col("eu_contribution_eur"), pl.col("total_eligible_eur")
        return data.lazyframe.select(eu.is_null() | total.is_null() | (eu <= total))

    @pa.dataframe_check(name="start_not_after_end")
    def start_not_after_end(cls, data) -> pl.LazyFrame:
        s, e = pl.col("start_date"), pl.col("end_date")
        return data.lazyframe.select(s.is_null() | e.is_null() | (s <= e))

    class Config:
        strict = True
        metadata = {
            "table": "projects",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort_desc": "eu_contribution_eur",
            # No facet on every page: 1.5 M rows at EU scale, where each facet is a scan of its
            # index per page view (7-17 ms at 150,000, bench/README.md) and a row lookup per match
            # of a search. Each facet column is indexed and one click away (?_facet=country).
            "page_facets": [],
            # Composite indexes (warehouse.build.index_definitions), each named for what it
            # serves: a filter by country sorted by amount; the cluster-support query in amount
            # order; the funding-by-year canned query (queries.yml) reads from the index alone.
            # (The funding queries by programme read the funding summary: schemas/summaries.py.)
            "indexes": {
                "country_amount": ("country", "eu_contribution_eur"),
                "cluster_support_amount": ("cluster_support", "eu_contribution_eur"),
                "start_date_amount": ("start_date", "eu_contribution_eur"),
            },
            "label_column": "title",
            "primary_key": "project_id",
            "title": "Projects",
            "description": "Funded projects and operations, with programme, funds, amounts "
            "in EUR and dates.",
        }
