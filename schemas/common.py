"""Columns and checks every entity shares: provenance on every row."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from schemas.vocab import COUNTRIES

SLUG_PATTERN = r"^(eu|[a-z]{2})_[a-z0-9]+_[a-z]+$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
URL_PATTERN = r"^https?://\S+$"
UTC_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
# Text must carry a visible character: no empty strings standing in for NULL.
NON_BLANK = r"\S"


def country_field(description: str, **kwargs) -> object:
    """An ISO 3166-1 alpha-2 country column: two capitals and a real code."""
    return pa.Field(
        nullable=True,
        str_matches=COUNTRY_PATTERN,
        isin=sorted(COUNTRIES),
        description=description,
        metadata={"facet": True},
        **kwargs,
    )


def matches_per_value(data: PolarsData, pattern: str) -> pl.LazyFrame:
    """pandera's `str_matches`, row by row, with the regex run once per distinct value.

    Provenance repeats one URL, timestamp and SHA-256 over every row read from one response (a
    bulk export is one response for a million rows), and the regex over every row was most of
    the validation's time (bench/README.md, section 1). Each row still gets its own verdict, so
    every failing row is reported and quarantined; NULL passes, as with `str_matches`
    (non-NULL is a check of its own)."""
    col = pl.col(data.key)
    distinct = data.lazyframe.select(col.unique()).collect().to_series()
    matching = distinct.filter(distinct.str.contains(pattern))
    if matching.len() == distinct.drop_nulls().len():
        # Every value matches: no second pass over the rows to look each one up.
        return data.lazyframe.select(pl.when(col.is_not_null()).then(pl.lit(True)))
    return data.lazyframe.select(col.is_in(matching.implode()))


def matches(column: str, pattern: str) -> classmethod:
    """A column check that is `str_matches(pattern)`, named and reported as pandera reports
    that one (so the quarantine, the source gate and the run report read it as before),
    computed by `matches_per_value`."""

    def str_matches(cls, data: PolarsData) -> pl.LazyFrame:
        return matches_per_value(data, pattern)

    # The name comes from the function: pandera pops a `name=` given to pa.check when the first
    # model inheriting the check is built, and names it after the function for the others.
    return pa.check(column, error=f"str_matches('{pattern}')")(str_matches)


def list_values_in(data: PolarsData, allowed: tuple[str, ...] | frozenset[str]) -> pl.LazyFrame:
    """Element-wise: every value of the list column is in a vocabulary (NULL passes)."""
    col = pl.col(data.key)
    return data.lazyframe.select(
        col.is_null() | col.list.eval(pl.element().is_in(sorted(allowed))).list.all()
    )


class Provenance(pa.DataFrameModel):
    """Where a row came from: the source, the page and the exact response."""

    # The format checks of these four columns are the `matches` checks below.
    source_id: str = pa.Field(
        description="Source slug (<scope>_<publisher>_<entity>); see the sources table",
        metadata={"facet": True, "references": "sources"},
    )
    source_url: str = pa.Field(description="URL of the page or API response the row was read from")
    fetched_at: str = pa.Field(description="When that response was fetched (UTC, ISO 8601)")
    document_sha256: str = pa.Field(
        description="SHA-256 of the raw response body; see the documents table",
        metadata={"references": "documents"},
    )
    quality_flags: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Data-quality notes on this row, e.g. a malformed amount that was read "
        "with a stated interpretation (JSON array)",
        metadata={"json": True},
    )

    source_id_is_a_slug = matches("source_id", SLUG_PATTERN)
    source_url_is_a_url = matches("source_url", URL_PATTERN)
    fetched_at_is_utc = matches("fetched_at", UTC_TIMESTAMP_PATTERN)
    document_sha256_is_a_sha256 = matches("document_sha256", SHA256_PATTERN)
