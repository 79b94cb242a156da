"""The source_health table: one row per refresh and source, the operators' view of how each
crawl went over time (the sources table keeps only the last run)."""

import pandera.polars as pa

from schemas.common import SLUG_PATTERN, UTC_TIMESTAMP_PATTERN

RUN_ID_PATTERN = r"^\d{8}T\d{6}\d*Z$"
HEALTH_STATUSES = ("ok", "partial", "failed", "deferred", "stale")


class SourceHealthRecord(pa.DataFrameModel):
    """One source in one refresh, from DATA_DIR/health/<run_id>.json."""

    health_id: str = pa.Field(
        unique=True,
        str_matches=r"^\d{8}T\d{6}\d*Z/(eu|[a-z]{2})_[a-z0-9]+_[a-z]+$",
        description="<run_id>/<source_id>: one row per refresh and source",
    )
    run_id: str = pa.Field(
        str_matches=RUN_ID_PATTERN,
        description="The refresh (sortable UTC id, e.g. 20261123T071502123456Z); the run report "
        "is reports/<run_id>.json",
        metadata={"facet": True},
    )
    checked_at: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN, description="When the crawl finished (UTC)"
    )
    source_id: str = pa.Field(
        str_matches=SLUG_PATTERN,
        description="Source slug; see the sources table",
        metadata={"facet": True, "references": "sources"},
    )
    status: str = pa.Field(
        isin=list(HEALTH_STATUSES),
        description="ok; partial (some rows quarantined); failed (no valid rows); deferred (the "
        "server asked us to come back later and the source had no earlier rows); stale (the "
        "crawl failed or was deferred: the rows published are those of its last good run)",
        metadata={"facet": True},
    )
    reason: str = pa.Field(
        nullable=True, description="Why the run was not ok (the crawl's one-line reason), else NULL"
    )
    items: int = pa.Field(
        nullable=True, ge=0, description="Items the crawl yielded (NULL when it failed)"
    )
    pages: int = pa.Field(
        nullable=True, ge=0, description="Pages the crawl fetched (NULL when it failed)"
    )
    rows_valid: int = pa.Field(
        nullable=True, ge=0, description="Rows of this source published by this refresh"
    )
    rows_quarantined: int = pa.Field(
        nullable=True, ge=0, description="Rows of this source quarantined by this refresh"
    )
    duration_s: float = pa.Field(
        nullable=True, ge=0, description="Seconds the crawl took (process start-up included)"
    )

    class Config:
        strict = True
        metadata = {
            "table": "source_health",
            "sort_desc": "checked_at",
            "label_column": "health_id",
            "primary_key": "health_id",
            "title": "Source health",
            "description": "How each source's crawl went in each of the last 100 refreshes: "
            "status, reason, items, pages, rows and duration.",
        }
