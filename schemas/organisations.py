"""Organisations seen as beneficiaries, lead organisations or partners."""

import pandera.polars as pa

from schemas.common import NON_BLANK, Provenance, country_field


class OrganisationRecord(Provenance):
    """Any legal body seen in a project; cluster organisations are linked to `clusters`."""

    organisation_id: str = pa.Field(
        unique=True,
        description="Stable id: <source_id>:<the source's own id (e.g. PIC), else the slug of "
        "the name as published>",
    )
    name: str = pa.Field(
        str_matches=NON_BLANK, description="Name as published", metadata={"fts": True}
    )
    country: str = country_field("Country (ISO 3166-1 alpha-2), where the source states it")
    pic: str = pa.Field(
        nullable=True,
        str_matches=r"^\d{9}$",
        description="EU Participant Identification Code (9 digits), where published",
    )
    vat: str = pa.Field(nullable=True, description="VAT number, where published")
    cluster_id: str = pa.Field(
        nullable=True,
        description="The cluster this organisation is, when its name or acronym matches one "
        "exactly (see clusters)",
        metadata={"references": "clusters"},
    )

    class Config:
        strict = True
        metadata = {
            "table": "organisations",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort": "name",
            # Grows with the projects (one per lead or participant): no facet on every page,
            # as for projects (schemas/projects.py); each facet column is indexed, ?_facet=.
            "page_facets": [],
            "label_column": "name",
            "primary_key": "organisation_id",
            "title": "Organisations",
            "description": "Organisations named as lead organisations or participants of "
            "projects, linked to the cluster they are when the match is exact.",
        }
