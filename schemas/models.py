"""The registry of pandera (polars) models, one per table (imported lazily through `schemas`)."""

import pandera.polars as pa

from schemas.calls import CallRecord
from schemas.clusters import ClusterRecord
from schemas.documents import DocumentRecord
from schemas.history import ChangeRecord, RecordVersionRecord
from schemas.organisations import OrganisationRecord
from schemas.participants import ParticipantRecord
from schemas.projects import ProjectRecord
from schemas.recognitions import RecognitionRecord
from schemas.source_health import SourceHealthRecord
from schemas.sources import SourceRecord

# Entity tables, in load order; the spiders yield records for these.
ENTITY_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "clusters": ClusterRecord,
    "recognitions": RecognitionRecord,
    "organisations": OrganisationRecord,
    "calls": CallRecord,
    "projects": ProjectRecord,
    "participants": ParticipantRecord,
}

# Every table of the served database.
TABLE_MODELS: dict[str, type[pa.DataFrameModel]] = {
    **ENTITY_MODELS,
    "documents": DocumentRecord,
    "sources": SourceRecord,
    # Not an entity: the refreshes' per-source outcomes, built from DATA_DIR/health/.
    "source_health": SourceHealthRecord,
    # History (pipelines/history.py): what changed between refreshes, and every record version.
    "changes": ChangeRecord,
    "record_versions": RecordVersionRecord,
}


def table_meta(model: type[pa.DataFrameModel]) -> dict:
    """The table-level metadata (table name, primary key, title, description) of a model."""
    return dict(model.Config.metadata)


def references(model: type[pa.DataFrameModel]) -> list[tuple[str, str]]:
    """(column, referenced table) for every column whose Field declares `references`: the one
    place relationships are stated (warehouse foreign keys and orphan checks read it)."""
    return [
        (name, column.metadata["references"])
        for name, column in model.to_schema().columns.items()
        if column.metadata and column.metadata.get("references")
    ]


def load_order() -> tuple[str, ...]:
    """Every table, each after the tables it references (from the models' `references`), ties
    kept in TABLE_MODELS order: the order to validate and to load in."""
    from graphlib import TopologicalSorter

    graph = {
        name: {t for _, t in references(model) if t != name} for name, model in TABLE_MODELS.items()
    }
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=list(TABLE_MODELS).index)
        order.extend(ready)
        sorter.done(*ready)
    return tuple(order)
