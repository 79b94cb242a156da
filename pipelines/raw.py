"""The raw layer: a crawl's JSON Lines, split into one typed polars frame per entity.

Bulk sources (CSV, XLSX, zip downloads) yield a `files` line per downloaded file instead of a
line per row; their spider module's `parse_file` turns each file into the same typed frames with
polars, so everything after the raw layer sees one shape.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import polars as pl

from scrapers.bulk import raw_schema
from scrapers.items import RAW_ITEMS

__all__ = ["ROW_ENTITIES", "RawDataError", "empty_raw", "raw_schema", "read_raw", "read_run"]


class RawDataError(ValueError):
    """A crawl file that breaks the raw contract."""


def _union_schema() -> dict[str, pl.DataType]:
    union: dict[str, pl.DataType] = {}
    for entity in RAW_ITEMS:
        for name, dtype in raw_schema(entity).items():
            if union.setdefault(name, dtype) != dtype:
                raise RawDataError(f"field {name} has two raw types")
    return union


# Entities that are rows of the database (files are parsed into these).
ROW_ENTITIES = [e for e in RAW_ITEMS if e != "files"]


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


def read_run(source_id: str, path: Path) -> dict[str, pl.DataFrame]:
    """The row entities of one crawl run, bulk files parsed by the source's `parse_file`."""
    frames = read_raw(path)
    files = frames.pop("files")
    if files.height == 0:
        return frames
    module = importlib.import_module(f"scrapers.spiders.{source_id}")
    parse_file = getattr(module, "parse_file", None)
    if parse_file is None:
        raise RawDataError(f"{source_id} yields files but its spider module has no parse_file")
    parts: dict[str, list[pl.DataFrame]] = {e: [frames[e]] for e in ROW_ENTITIES}
    for item in files.iter_rows(named=True):
        file_path = path.parent / item["path"]
        if not file_path.is_file():
            raise RawDataError(f"{source_id}: {item['path']} is listed but missing")
        item["meta"] = json.loads(item["meta"]) if item["meta"] else {}
        for entity, frame in parse_file(file_path, item).items():
            expected = raw_schema(entity)
            if dict(frame.schema) != expected:
                raise RawDataError(
                    f"{source_id}.parse_file: {entity} columns/types differ from the raw contract"
                )
            parts[entity].append(frame)
    return {e: pl.concat(parts[e]) for e in ROW_ENTITIES}
