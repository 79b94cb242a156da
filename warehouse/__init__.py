"""The served SQLite database: DDL from the models, build, atomic publish, Datasette config and
server.

The names below are loaded from their modules on first use (PEP 562): importing a light module
of this package (or the CLI, which imports `warehouse.release` only to run a release) does not
pay for polars and the pandera models."""

from __future__ import annotations

import importlib
from typing import Any

# Where the server is reached, for download links, unless --base-url / $CLUSTERDATA_BASE_URL.
DEFAULT_BASE_URL = "http://127.0.0.1:8001"

_EXPORTS = {
    "BuildError": "warehouse.build",
    "build_database": "warehouse.build",
    "create_table_sql": "warehouse.ddl",
    "datasette_metadata": "warehouse.metadata",
    "datasette_settings": "warehouse.metadata",
    "write_datasette_config": "warehouse.metadata",
    "PublishError": "warehouse.publish",
    "publish_database": "warehouse.publish",
    "datasette_command": "warehouse.serve",
    "serve": "warehouse.serve",
}
__all__ = ["DEFAULT_BASE_URL", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'warehouse' has no attribute {name!r}")
