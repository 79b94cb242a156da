"""The raw layer: a crawl's JSON Lines, split into one typed polars frame per entity."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from scrapers.items import BOOL, DATE, INT, LIST, NUMBER, RAW_ITEMS, TEXT

_DTYPES = {
    TEXT: pl.Utf8,
    DATE: pl.Utf8,  # ISO text; parsed strictly in the clean layer
    NUMBER: pl.Float64,
    LIST: pl.List(pl.Utf8),
    INT: pl.Int64,
    BOOL: pl.Boolean,
}


class RawDataError(ValueError):
    """A crawl file that breaks the raw contract."""


def raw_schema(entity: str) -> dict[str, pl.DataType]:
    """The typed columns of one raw entity, from its item class."""
    fields = RAW_ITEMS[entity].fields
    return {name: _DTYPES[meta.get("kind", TEXT)] for name, meta in fields.items()}


def _union_schema() -> dict[str, pl.DataType]:
    union: dict[str, pl.DataType] = {}
    for entity in RAW_ITEMS:
        for name, dtype in raw_schema(entity).items():
            if union.setdefault(name, dtype) != dtype:
                raise RawDataError(f"field {name} has two raw types")
    return union


def read_raw(path: Path) -> dict[str, pl.DataFrame]:
    """One frame per raw entity (empty where the file has none), with exactly its columns."""
    if path.stat().st_size == 0:
        frame = pl.DataFrame(schema=_union_schema())
    else:
        frame = pl.read_ndjson(path, schema=_union_schema())
    unknown = set(frame["entity"].unique().to_list()) - set(RAW_ITEMS)
    if unknown:
        raise RawDataError(f"{path}: unknown entities {sorted(map(str, unknown))}")
    return {
        entity: frame.filter(pl.col("entity") == entity).select(list(raw_schema(entity)))
        for entity in RAW_ITEMS
    }


def empty_raw(entity: str) -> pl.DataFrame:
    return pl.DataFrame(schema=raw_schema(entity))
