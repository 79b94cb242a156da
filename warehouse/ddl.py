"""SQLite DDL generated from the pandera models: the models are the only place columns are typed,
described and related (a Field's `references` metadata), so nothing here names a column."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from schemas import TABLE_MODELS, references, table_meta
from schemas.common import Provenance

# Provenance columns close every entity row: the data first, where it came from last.
PROVENANCE_COLUMNS: tuple[str, ...] = tuple(Provenance.to_schema().columns)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table, as the model declares it, with its SQLite storage."""

    name: str
    sql_type: str
    # How a polars column is turned into a SQLite value: "text", "real", "integer", "bool",
    # "date" (ISO text) or "json" (a JSON array as text).
    storage: str
    nullable: bool
    description: str
    facet: bool
    facet_array: bool
    fts: bool


@dataclass(frozen=True)
class ForeignKey:
    """A column of a table referencing the primary key of another."""

    column: str
    other_table: str
    other_column: str


def _storage(name: str, dtype: pl.DataType) -> tuple[str, str]:
    """(SQLite type, storage kind) of a polars dtype; unknown dtypes are an error, not TEXT."""
    if isinstance(dtype, pl.List):
        if dtype.inner not in (pl.String, pl.Utf8):
            raise TypeError(f"{name}: only lists of strings are stored (as JSON), got {dtype}")
        return "TEXT", "json"
    if dtype == pl.String:
        return "TEXT", "text"
    if dtype == pl.Boolean:
        return "INTEGER", "bool"
    if dtype.is_integer():
        return "INTEGER", "integer"
    if dtype.is_float():
        return "REAL", "real"
    if dtype == pl.Date:
        return "TEXT", "date"
    raise TypeError(f"{name}: no SQLite mapping for polars dtype {dtype}")


def primary_key(model: type[pa.DataFrameModel]) -> str:
    """The primary-key column of a model (from its Config.metadata)."""
    return table_meta(model)["primary_key"]


def table_name(model: type[pa.DataFrameModel]) -> str:
    """The table a model is stored in (from its Config.metadata)."""
    return table_meta(model)["table"]


def table_columns(model: type[pa.DataFrameModel]) -> list[ColumnSpec]:
    """The model's columns in table order: primary key, the model's own columns, provenance."""
    schema_columns = model.to_schema().columns
    pk = primary_key(model)
    if pk not in schema_columns:
        raise ValueError(f"{model.__name__}: primary key {pk!r} is not a column")
    provenance = (
        [c for c in PROVENANCE_COLUMNS if c in schema_columns]
        if issubclass(model, Provenance)
        else []
    )
    own = [c for c in schema_columns if c != pk and c not in provenance]
    specs = []
    for name in [pk, *own, *provenance]:
        column = schema_columns[name]
        if not column.description:
            raise ValueError(f"{model.__name__}.{name} has no description")
        sql_type, storage = _storage(name, column.dtype.type)
        flags = column.metadata or {}
        specs.append(
            ColumnSpec(
                name=name,
                sql_type=sql_type,
                storage=storage,
                nullable=bool(column.nullable),
                description=column.description,
                facet=bool(flags.get("facet")),
                facet_array=bool(flags.get("facet_array")),
                fts=bool(flags.get("fts")),
            )
        )
    return specs


def foreign_keys(model: type[pa.DataFrameModel]) -> list[ForeignKey]:
    """The foreign keys of a model's table, in column order."""
    table = table_name(model)
    columns = [c.name for c in table_columns(model)]
    declared = dict(references(model))
    keys = []
    for column in columns:
        other = declared.get(column)
        if other is None or other == table:
            continue
        keys.append(ForeignKey(column, other, primary_key(TABLE_MODELS[other])))
    return keys


def quote(identifier: str) -> str:
    """A SQLite identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def _comment(text: str) -> str:
    # SQLite keeps comments in sqlite_master.sql, so `.schema` and Datasette's schema view show
    # the description next to each column; a newline would end the comment early.
    return " ".join(text.split())


def create_table_sql(model: type[pa.DataFrameModel]) -> str:
    """CREATE TABLE for a model: types, NOT NULL, PRIMARY KEY, FOREIGN KEYs, descriptions."""
    table = table_name(model)
    pk = primary_key(model)
    definitions: list[tuple[str, str]] = []
    for column in table_columns(model):
        parts = [quote(column.name), column.sql_type]
        if column.name == pk:
            parts.append("PRIMARY KEY")
        if not column.nullable or column.name == pk:
            parts.append("NOT NULL")
        if column.storage == "json":
            # A JSON column holds an array or NULL, so json_each() and array facets always work.
            parts.append(
                f"CHECK ({quote(column.name)} IS NULL OR json_type({quote(column.name)}) = 'array')"
            )
        elif column.storage == "bool":
            parts.append(f"CHECK ({quote(column.name)} IN (0, 1))")
        elif column.storage == "date":
            parts.append(
                f"CHECK ({quote(column.name)} IS NULL OR "
                f"date({quote(column.name)}) = {quote(column.name)})"
            )
        definitions.append((" ".join(parts), _comment(column.description)))
    for key in foreign_keys(model):
        definitions.append(
            (
                f"FOREIGN KEY ({quote(key.column)}) REFERENCES "
                f"{quote(key.other_table)} ({quote(key.other_column)})",
                "",
            )
        )
    lines = []
    for index, (definition, comment) in enumerate(definitions):
        separator = "," if index < len(definitions) - 1 else ""
        lines.append(f"    {definition}{separator}" + (f"  -- {comment}" if comment else ""))
    title = _comment(table_meta(model)["title"])
    return f"CREATE TABLE {quote(table)} (  -- {title}\n" + "\n".join(lines) + "\n)"
