"""The history tables: field-level changes between releases, and every version of every record
(a removed record stays here). Written by pipelines/history.py from a store beside the served
file; no foreign keys to the entity tables, since a removed record is no longer in them."""

import pandera.polars as pa

from schemas.common import SLUG_PATTERN, UTC_TIMESTAMP_PATTERN

CHANGE_TYPES = ("added", "changed", "removed")
# The entity tables whose records are tracked (bookkeeping tables such as sources are not).
TRACKED_TABLES = ("clusters", "recognitions", "organisations", "calls", "projects", "participants")
# The tables this module's models describe: built from the history store, not crawled.
HISTORY_TABLES = ("changes", "record_versions")


class ChangeRecord(pa.DataFrameModel):
    """One change to one record between two refreshes: a field that changed, or the record
    appearing or disappearing."""

    change_id: str = pa.Field(
        unique=True,
        description="<changed_at>/<table_name>/<record_id>/<field, or the change type for an "
        "added or removed record>",
    )
    table_name: str = pa.Field(
        isin=list(TRACKED_TABLES),
        description="The table the record is in (or was in, when removed)",
        metadata={"facet": True},
    )
    record_id: str = pa.Field(description="The record's primary key in that table")
    source_id: str = pa.Field(
        nullable=True,
        str_matches=SLUG_PATTERN,
        description="Source slug of the record; see the sources table",
        metadata={"facet": True},
    )
    field: str = pa.Field(
        nullable=True,
        description="The column that changed; NULL for an added or removed record",
        metadata={"facet": True},
    )
    old_value: str = pa.Field(
        nullable=True,
        description="The value before, as JSON (NULL when added, or when the field was empty)",
    )
    new_value: str = pa.Field(
        nullable=True,
        description="The value after, as JSON (NULL when removed, or when the field was emptied)",
    )
    change_type: str = pa.Field(
        isin=list(CHANGE_TYPES),
        description="added (a new record), changed (one field), removed (the record is gone "
        "from its source)",
        metadata={"facet": True},
    )
    changed_at: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The build that first saw the change (UTC): the record's valid_from for "
        "added and changed, its removed_at for removed",
    )

    class Config:
        strict = True
        metadata = {
            "table": "changes",
            "sort_desc": "changed_at",
            "label_column": "change_id",
            "primary_key": "change_id",
            "title": "Changes",
            "description": "Field-level changes between refreshes, e.g. a call's deadline moved: "
            "one row per changed field, and one per record added or removed.",
        }


class RecordVersionRecord(pa.DataFrameModel):
    """One version of one record: its values from valid_from until valid_to."""

    version_id: str = pa.Field(
        unique=True, description="<table_name>/<record_id>/<version>: one row per version"
    )
    table_name: str = pa.Field(
        isin=list(TRACKED_TABLES),
        description="The table the record is in (or was in, when removed)",
        metadata={"facet": True},
    )
    record_id: str = pa.Field(description="The record's primary key in that table")
    source_id: str = pa.Field(
        nullable=True,
        str_matches=SLUG_PATTERN,
        description="Source slug of the record; see the sources table",
        metadata={"facet": True},
    )
    version: int = pa.Field(ge=1, description="1 for the record as first seen, +1 per change")
    valid_from: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The build that first served this version (UTC)",
    )
    valid_to: str = pa.Field(
        nullable=True,
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The build that replaced or removed it (UTC); NULL for the current version",
    )
    first_seen: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The build that first served the record (any version, UTC)",
    )
    last_seen: str = pa.Field(
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The last build that served the record (any version, UTC)",
    )
    removed_at: str = pa.Field(
        nullable=True,
        str_matches=UTC_TIMESTAMP_PATTERN,
        description="The build in which the record was gone from its source (UTC); NULL while "
        "it is served",
    )
    row_json: str = pa.Field(
        description="The record's tracked fields in this version, as a JSON object",
        metadata={"json": True},
    )

    class Config:
        strict = True
        metadata = {
            "table": "record_versions",
            "sort_desc": "valid_from",
            # At least one row per record ever published: no facet on every page, as for
            # projects (schemas/projects.py); each facet column is indexed, ?_facet=<column>.
            "page_facets": [],
            "label_column": "version_id",
            "primary_key": "version_id",
            "title": "Record versions",
            "description": "Every version of every record with the dates it was valid, so what "
            "a record said at any refresh, and records since removed, stay queryable.",
        }
