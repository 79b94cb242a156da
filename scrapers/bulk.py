"""Bulk-file sources: save a downloaded file beside the run and parse it with polars.

A bulk spider yields `self.save_file(response, name, meta)` (a FileItem) instead of one item per
row; its module defines `parse_file(path, file_item) -> dict[entity, polars.DataFrame]`, called by
the raw layer, which returns frames in the raw contract (`raw_schema`): use `to_raw_frame`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


class BulkFileError(ValueError):
    """A downloaded file that is not what the source promises (wrong type, truncated, headers
    changed); the message is one line for an operator."""


def non_null_list(items: list[pl.Expr]) -> pl.Expr:
    """The row's non-NULL `items` as a list of text, in order; NULL when all are NULL (quality
    flags, a project's NUTS codes).

    Not `pl.concat_list(items).list.drop_nulls()`: polars (2.1) builds that list row by row,
    25 ms per item per 150,000 rows, most of the Kohesio parse with its 15 flags
    (bench/README.md, clean + validate). A fixed-width array of the items, as a list, with the
    NULLs dropped inside each list, is the same list built column-wise, about 15× faster."""
    texts = [item.cast(pl.Utf8) for item in items]
    listed = pl.concat_arr(texts).arr.to_list().list.eval(pl.element().drop_nulls())
    return pl.when(pl.any_horizontal([t.is_not_null() for t in texts])).then(listed)


def raw_schema(entity: str) -> dict[str, pl.DataType]:
    """The typed columns of one raw entity, from its item class."""
    fields = RAW_ITEMS[entity].fields
    return {name: _DTYPES[meta.get("kind", TEXT)] for name, meta in fields.items()}


def to_raw_frame(
    entity: str, frame: pl.DataFrame | pl.LazyFrame, file_item: dict[str, Any]
) -> pl.DataFrame:
    """Complete a frame of some raw columns into the raw contract for `entity`: provenance from
    the file item, every other missing column as a typed NULL; unknown columns are an error."""
    schema = raw_schema(entity)
    lazy = frame.lazy()
    present = lazy.collect_schema().names()
    unknown = set(present) - set(schema)
    if unknown:
        raise BulkFileError(f"{entity}: columns outside the raw contract: {sorted(unknown)}")
    fixed = {
        "entity": entity,
        "source_id": file_item["source_id"],
        "source_url": file_item["url"],
        "fetched_at": file_item["fetched_at"],
        "document_sha256": file_item["document_sha256"],
    }
    columns = []
    for name, dtype in schema.items():
        if name in present:
            columns.append(pl.col(name).cast(dtype))
        elif name in fixed:
            columns.append(pl.lit(fixed[name], dtype).alias(name))
        else:
            columns.append(pl.lit(None, dtype).alias(name))
    return lazy.select(columns).collect()


def sniff(path: Path, expected: str) -> None:
    """Refuse a download that is not a file of the expected kind: an HTML error page served with
    200, a truncated zip, an XML error blob. `expected` is csv, xlsx, zip or json."""
    with path.open("rb") as handle:
        head = handle.read(512)
    if not head:
        raise BulkFileError(f"{path.name}: empty file")
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<error")):
        raise BulkFileError(f"{path.name}: an HTML/XML page, not a {expected} file")
    if expected in ("xlsx", "zip"):
        import zipfile

        if not zipfile.is_zipfile(path):
            raise BulkFileError(f"{path.name}: not a complete {expected} (zip) file")
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad:
            raise BulkFileError(f"{path.name}: corrupt member {bad}")
