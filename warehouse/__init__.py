"""The served SQLite database: DDL from the models, build, atomic publish, Datasette config and
server."""

from warehouse.build import BuildError, build_database
from warehouse.ddl import create_table_sql
from warehouse.metadata import datasette_metadata, datasette_settings, write_datasette_config
from warehouse.publish import PublishError, publish_database
from warehouse.serve import datasette_command, serve

__all__ = [
    "BuildError",
    "PublishError",
    "build_database",
    "create_table_sql",
    "datasette_command",
    "datasette_metadata",
    "datasette_settings",
    "publish_database",
    "serve",
    "write_datasette_config",
]
