"""The validated layer: pandera on collected polars frames; failing rows go to quarantine.

`validate_entity` never drops a row silently: every input row is either valid or quarantined
with the column, the check and the failing value (the conservation check asserts it).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from pipelines.quarantine import empty_quarantine, reject, rows_as_json
from schemas import TABLE_MODELS, references, table_meta

# child entity -> (column, parent entity), from the models' `references`: a row whose parent was
# quarantined is quarantined too, so the warehouse's foreign keys always hold. The sources table
# is built from the registry, never quarantined, so it is not a parent to check here.
PARENTS: dict[str, list[tuple[str, str]]] = {
    entity: [(col, parent) for col, parent in references(model) if parent != "sources"]
    for entity, model in TABLE_MODELS.items()
    if entity != "sources"
}


class SchemaBroken(RuntimeError):
    """A failure that is about the frame, not rows (missing column, wrong type): a code bug."""


@dataclass
class Validated:
    valid: pl.DataFrame
    quarantined: pl.DataFrame


def validate_entity(entity: str, frame: pl.DataFrame) -> Validated:
    """Validate a collected frame lazily (all checks run) and split valid from quarantined."""
    model: type[pa.DataFrameModel] = TABLE_MODELS[entity]
    key = table_meta(model)["primary_key"]
    indexed = frame.with_row_index("__row")
    try:
        model.validate(frame, lazy=True)
        return Validated(frame, empty_quarantine())
    except SchemaErrors as exc:
        cases = exc.failure_cases
    if cases["index"].null_count():
        frame_level = cases.filter(pl.col("index").is_null())
        summary = "; ".join(
            f"{r['column']}: {r['check']}" for r in frame_level.head(5).iter_rows(named=True)
        )
        raise SchemaBroken(f"{entity}: frame-level schema failure ({summary})")
    failing = cases.select(
        pl.col("index").cast(pl.UInt32).alias("__row"),
        pl.col("column").cast(pl.Utf8),
        pl.col("check").cast(pl.Utf8),
        pl.col("failure_case").cast(pl.Utf8),
    )
    # Row numbers are unique: a filter on them is the semi/anti join, without the join's gather
    # of every column of every row.
    is_bad = pl.col("__row").is_in(failing["__row"].unique().implode())
    bad_rows = indexed.filter(is_bad)
    row_json = bad_rows.drop("__row").pipe(rows_as_json)
    bad = bad_rows.select("__row", "source_id", pl.col(key).cast(pl.Utf8).alias("record_key"))
    bad = bad.with_columns(row_json)
    quarantined = failing.join(bad, on="__row").select(
        pl.lit("").alias("run_id"),
        pl.lit(entity).alias("entity"),
        "source_id",
        "record_key",
        "column",
        "check",
        "failure_case",
        "row_json",
    )
    valid = indexed.filter(~is_bad).drop("__row")
    return Validated(valid, quarantined)


def drop_orphans(entity: str, frame: pl.DataFrame, parents: dict[str, pl.DataFrame]) -> Validated:
    """Quarantine rows whose parent row (by foreign key) is not among the valid parents.

    A row is reported once, for the first of its parents that is missing (PARENTS' order), and
    exactly the reported rows leave the frame: one membership test per foreign key, where there
    were two anti-joins (the second on the primary key, over every row)."""
    key = table_meta(TABLE_MODELS[entity])["primary_key"]
    rejected = [empty_quarantine()]
    taken: pl.Series | None = None  # rows already reported for an earlier parent
    for column, parent in PARENTS[entity]:
        parent_key = table_meta(TABLE_MODELS[parent])["primary_key"]
        known = parents[parent][parent_key]
        orphan = frame.select(
            pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode())
        ).to_series()
        if taken is not None:
            orphan = orphan & ~taken
        if orphan.any():
            rejected.append(
                reject(
                    frame.filter(orphan),
                    entity=entity,
                    key=key,
                    column=column,
                    check=f"parent_in_{parent}",
                    failure_case=pl.col(column),
                )
            )
            taken = orphan if taken is None else taken | orphan
    if taken is not None:
        frame = frame.filter(~taken)
    return Validated(frame, pl.concat(rejected))
