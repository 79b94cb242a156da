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


def list_values_in(data: PolarsData, allowed: tuple[str, ...] | frozenset[str]) -> pl.LazyFrame:
    """Element-wise: every value of the list column is in a vocabulary (NULL passes)."""
    col = pl.col(data.key)
    return data.lazyframe.select(
        col.is_null() | col.list.eval(pl.element().is_in(sorted(allowed))).list.all()
    )


class Provenance(pa.DataFrameModel):
    """Where a row came from: the source, the page and the exact response."""

    source_id: str = pa.Field(
        str_matches=SLUG_PATTERN,
        description="Source slug (<scope>_<publisher>_<entity>); see the sources table",
        metadata={"facet": True, "references": "sources"},
    )
    source_url: str = pa.Field(
        str_matches=URL_PATTERN, description="URL of the page or API response the row was read from"
    )
    fetched_at: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="When that response was fetched (UTC, ISO 8601)",
    )
    document_sha256: str = pa.Field(
        str_matches=SHA256_PATTERN,
        description="SHA-256 of the raw response body; see the documents table",
        metadata={"references": "documents"},
    )
    quality_flags: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Data-quality notes on this row, e.g. a malformed amount that was read "
        "with a stated interpretation (JSON array)",
        metadata={"json": True},
    )
