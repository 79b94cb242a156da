"""Calls for proposals, expressions of interest and cascade-funding calls."""

import datetime as dt

import pandera.polars as pa
import polars as pl

from schemas.common import NON_BLANK, URL_PATTERN, Provenance, country_field
from schemas.vocab import CALL_STATUSES, CALL_TYPES


class CallRecord(Provenance):
    """One call or topic."""

    call_id: str = pa.Field(
        unique=True, description="Stable id: <source_id>:<identifier or slug of the title>"
    )
    identifier: str = pa.Field(
        nullable=True, description="The publisher's own identifier of the call, where it has one"
    )
    title: str = pa.Field(str_matches=NON_BLANK, description="Title", metadata={"fts": True})
    programme: str = pa.Field(
        nullable=True, description="Funding programme, e.g. COSME", metadata={"facet": True}
    )
    publisher: str = pa.Field(
        nullable=True,
        description="Body that launched the call, e.g. European Commission",
        metadata={"facet": True},
    )
    call_type: str = pa.Field(
        nullable=True,
        isin=list(CALL_TYPES),
        description="Kind of call: " + ", ".join(CALL_TYPES),
        metadata={"facet": True},
    )
    opening_date: dt.date = pa.Field(nullable=True, description="Date the call opens")
    deadline_date: dt.date = pa.Field(
        nullable=True, description="Next (or last) submission deadline"
    )
    deadline_dates: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="All deadlines of a multi-stage call, ISO dates (JSON array)",
        metadata={"json": True},
    )
    status: str = pa.Field(
        nullable=True,
        isin=list(CALL_STATUSES),
        description="forthcoming, open or closed, derived from the dates against the run's "
        "clock; NULL when the dates are unknown",
        metadata={"facet": True},
    )
    budget_eur: float = pa.Field(nullable=True, ge=0, description="Total budget of the call in EUR")
    eligible_applicants: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Kinds of organisation that may apply, as published (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    topics: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Thematic scope as published (JSON array)",
        metadata={"json": True, "fts": True},
    )
    description: str = pa.Field(
        nullable=True, description="Summary of the call as published", metadata={"fts": True}
    )
    url: str = pa.Field(nullable=True, str_matches=URL_PATTERN, description="Page of the call")
    country: str = country_field(
        "Country of a national or regional call (ISO 3166-1 alpha-2); NULL for EU-wide calls"
    )
    document_urls: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="The call's documents (notice, annexes), as URLs (JSON array)",
        metadata={"json": True},
    )

    @pa.check("deadline_dates", name="iso_dates")
    def iso_dates(cls, data) -> pl.LazyFrame:
        col = pl.col(data.key)
        iso = pl.element().str.to_date("%Y-%m-%d", strict=False).is_not_null()
        return data.lazyframe.select(col.is_null() | col.list.eval(iso).list.all())

    @pa.dataframe_check(name="opening_not_after_deadline")
    def opening_not_after_deadline(cls, data) -> pl.LazyFrame:
        o, d = pl.col("opening_date"), pl.col("deadline_date")
        return data.lazyframe.select(o.is_null() | d.is_null() | (o <= d))

    class Config:
        strict = True
        metadata = {
            "table": "calls",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort_desc": "deadline_date",
            "label_column": "title",
            "primary_key": "call_id",
            "title": "Calls",
            "description": "Calls for proposals and expressions of interest aimed at clusters, "
            "with dates, budget and who may apply.",
        }
