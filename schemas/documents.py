"""Raw responses every row was read from."""

import pandera.polars as pa

from schemas.common import SHA256_PATTERN, SLUG_PATTERN, URL_PATTERN, UTC_TIMESTAMP_PATTERN


class DocumentRecord(pa.DataFrameModel):
    """One raw response (page, PDF or API payload)."""

    document_sha256: str = pa.Field(
        unique=True, str_matches=SHA256_PATTERN, description="SHA-256 of the response body"
    )
    url: str = pa.Field(str_matches=URL_PATTERN, description="URL requested")
    fetched_at: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN, description="When it was fetched (UTC, ISO 8601)"
    )
    http_status: int = pa.Field(ge=100, le=599, description="HTTP status of the response")
    content_type: str = pa.Field(nullable=True, description="Content-Type of the response")
    size_bytes: int = pa.Field(ge=0, description="Size of the body in bytes")
    source_id: str = pa.Field(
        str_matches=SLUG_PATTERN,
        description="Source slug",
        metadata={"facet": True, "references": "sources"},
    )
    reconstructed: bool = pa.Field(
        description="True when the recording was rebuilt from the page's text rather than "
        "captured from the live site",
        metadata={"facet": True},
    )

    synthetic: bool = pa.Field(
        description="True when the recording holds invented test values (offline fixtures "
        "for a source whose real payload we do not have): rows read from it are not facts",
        metadata={"facet": True},
    )

    class Config:
        strict = True
        metadata = {
            "table": "documents",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort_desc": "fetched_at",
            "label_column": "url",
            "primary_key": "document_sha256",
            "title": "Documents",
            "description": "The raw responses the rows were read from, by SHA-256.",
        }
