"""The source registry, as a table."""

import pandera.polars as pa
import polars as pl

from schemas.common import SLUG_PATTERN, URL_PATTERN, UTC_TIMESTAMP_PATTERN
from schemas.vocab import CADENCES


class SourceRecord(pa.DataFrameModel):
    """One source, from scrapers/sources/<source_id>.yml."""

    source_id: str = pa.Field(unique=True, str_matches=SLUG_PATTERN, description="Source slug")
    title: str = pa.Field(description="Title of the source")
    publisher: str = pa.Field(description="Who publishes it", metadata={"facet": True})
    homepage: str = pa.Field(str_matches=URL_PATTERN, description="Home page of the source")
    licence: str = pa.Field(description="The source's own terms of reuse", metadata={"facet": True})
    entity_kinds: pl.List(pl.Utf8) = pa.Field(
        description="Tables this source feeds (JSON array)", metadata={"json": True}
    )
    cadence: str = pa.Field(
        isin=list(CADENCES), description="How often it is refreshed", metadata={"facet": True}
    )
    notes: str = pa.Field(nullable=True, description="Maintainers' notes on the source")
    last_run_at: str = pa.Field(
        nullable=True,
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="When the source was last crawled (UTC)",
    )
    last_success: str = pa.Field(
        nullable=True,
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="When the source last yielded valid rows (UTC)",
    )
    last_status: str = pa.Field(
        nullable=True,
        isin=["ok", "partial", "failed", "deferred", "stale"],
        description="ok; partial (some rows quarantined); failed (no valid rows); deferred (the "
        "server asked us to come back later and the source has no earlier rows); stale (the "
        "last crawl failed or was deferred: these are the rows of its last good run)",
        metadata={"facet": True},
    )
    last_reason: str = pa.Field(
        nullable=True,
        description="Why the last run was not ok (the crawl's one-line reason), else NULL",
    )
    rows_valid: int = pa.Field(nullable=True, ge=0, description="Rows published in the last run")
    rows_quarantined: int = pa.Field(
        nullable=True, ge=0, description="Rows quarantined in the last run"
    )

    class Config:
        strict = True
        metadata = {
            "table": "sources",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort": "source_id",
            "label_column": "title",
            "primary_key": "source_id",
            "title": "Sources",
            "description": "Where the data comes from: one row per source, with its licence "
            "and the status of its last run.",
        }
