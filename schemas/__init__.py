"""pandera (polars) models, one per entity: the single place where columns, types, checks and
column descriptions live. SQLite DDL, Datasette metadata and the data dictionary are generated
from these (the registry is schemas/models.py).

The names below are loaded on first use (PEP 562), so `schemas.vocab` (the YAML registry's
vocabularies) can be imported without pandera: a crawl process and the CLI start ~0.9 s sooner."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CallRecord",
    "ChangeRecord",
    "ClusterRecord",
    "DocumentRecord",
    "ENTITY_MODELS",
    "OrganisationRecord",
    "ParticipantRecord",
    "ProjectRecord",
    "RecognitionRecord",
    "RecordVersionRecord",
    "SourceHealthRecord",
    "SourceRecord",
    "TABLE_MODELS",
    "load_order",
    "references",
    "table_meta",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("schemas.models"), name)
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
