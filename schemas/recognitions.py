"""Dated recognitions and labels of clusters."""

import datetime as dt

import pandera.polars as pa
import polars as pl

from schemas.common import NON_BLANK, URL_PATTERN, Provenance
from schemas.vocab import LABEL_LEVELS, RECOGNITION_KINDS


class RecognitionRecord(Provenance):
    """One dated fact: a cluster held a label or a public recognition, per one source."""

    recognition_id: str = pa.Field(
        unique=True,
        description="Stable id: <cluster_id>:<slug of kind, name, level and first date>",
    )
    cluster_id: str = pa.Field(
        description="The cluster (see clusters)", metadata={"references": "clusters"}
    )
    kind: str = pa.Field(
        isin=list(RECOGNITION_KINDS),
        description="label (a cluster-management excellence label) or recognition (a public "
        "programme or legal act recognising the cluster)",
        metadata={"facet": True},
    )
    name: str = pa.Field(
        str_matches=NON_BLANK,
        description="What was awarded, e.g. 'Cluster Management Excellence Label' or "
        "'Competitiveness Cluster'",
        metadata={"facet": True},
    )
    level: str = pa.Field(
        nullable=True,
        isin=list(LABEL_LEVELS),
        description="Label level: " + ", ".join(LABEL_LEVELS),
        metadata={"facet": True},
    )
    awarded_by: str = pa.Field(
        nullable=True, description="Who awarded or recognised it", metadata={"facet": True}
    )
    valid_from: dt.date = pa.Field(nullable=True, description="First day it is valid, if stated")
    valid_to: dt.date = pa.Field(nullable=True, description="Last day it is valid, if stated")
    as_of: dt.date = pa.Field(
        nullable=True,
        description="A day on which the source states it held (when no validity is stated)",
    )
    year: int = pa.Field(
        nullable=True,
        ge=1990,
        le=2100,
        description="The year the source states, when it gives no day",
        metadata={"facet": True},
    )
    evidence: str = pa.Field(
        nullable=True, description="The act or announcement, e.g. 'Despacho 307/2025'"
    )
    evidence_url: str = pa.Field(
        nullable=True, str_matches=URL_PATTERN, description="Where the evidence is published"
    )

    @pa.dataframe_check(name="valid_from_not_after_valid_to")
    def valid_from_not_after_valid_to(cls, data) -> pl.LazyFrame:
        f, t = pl.col("valid_from"), pl.col("valid_to")
        return data.lazyframe.select(f.is_null() | t.is_null() | (f <= t))

    @pa.dataframe_check(name="dated")
    def dated(cls, data) -> pl.LazyFrame:
        """A recognition is a dated fact: at least one of the dates or the year is stated."""
        cols = ["valid_from", "valid_to", "as_of", "year"]
        return data.lazyframe.select(pl.any_horizontal(pl.col(c).is_not_null() for c in cols))

    class Config:
        strict = True
        metadata = {
            "table": "recognitions",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort": "cluster_id",
            "label_column": "name",
            "primary_key": "recognition_id",
            "title": "Recognitions and labels",
            "description": "Dated labels (Bronze, Silver, Gold) and public recognitions of "
            "clusters, with the act or announcement that states them.",
        }
