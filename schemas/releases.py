"""The releases table: one row per dated release of the downloads (written by `clusterdata
release`, not by the pipeline, so it is not one of TABLE_MODELS that the warehouse build loads)."""

import pandera.polars as pa

from schemas.common import UTC_TIMESTAMP_PATTERN

RELEASE_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}-[0-9a-f]{7}$"
RELEASES_TABLE = "releases"


class ReleaseRecord(pa.DataFrameModel):
    """One release in <data-dir>/releases/<release_id>/."""

    release_id: str = pa.Field(
        unique=True,
        str_matches=RELEASE_ID_PATTERN,
        description="YYYY-MM-DD-<first 7 hex digits of the SHA-256 of the data>; the files are "
        "under /releases/<release_id>/",
    )
    built_at: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN, description="When the release was written (UTC)"
    )
    is_current: bool = pa.Field(
        description="1 for the release the downloads point at (releases/CURRENT), else 0",
        metadata={"facet": True},
    )
    files: str = pa.Field(
        description='The files of the release: JSON list of {"name", "table", "format", '
        '"bytes", "sha256"}',
        metadata={"json": True},
    )
    sources: str = pa.Field(
        description='Each source\'s state in the release: JSON list of {"source_id", "status", '
        '"rows", "snapshot"} (snapshot: the source\'s last successful run, UTC)',
        metadata={"json": True},
    )

    class Config:
        strict = True
        metadata = {
            "table": RELEASES_TABLE,
            "sort_desc": "built_at",
            "label_column": "release_id",
            "primary_key": "release_id",
            "title": "Releases",
            "description": "Dated, immutable releases of the whole database as downloads "
            "(SQLite, CSV, Parquet, XLSX) with datapackage.json and a DCAT-AP catalogue.",
        }
