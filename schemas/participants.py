"""Organisations taking part in projects."""

import pandera.polars as pa
import polars as pl

from schemas.common import NON_BLANK, Provenance, country_field
from schemas.vocab import ROLES


class ParticipantRecord(Provenance):
    """One organisation in one project."""

    participant_id: str = pa.Field(
        unique=True, description="Stable id: <project_id>:<slug of the name as published>"
    )
    project_id: str = pa.Field(
        description="The project (see projects)", metadata={"references": "projects"}
    )
    organisation_id: str = pa.Field(
        description="The organisation (see organisations)",
        metadata={"references": "organisations"},
    )
    name_as_published: str = pa.Field(
        str_matches=NON_BLANK, description="Name as the page writes it", metadata={"fts": True}
    )
    role: str = pa.Field(
        nullable=True,
        isin=list(ROLES),
        description="Role: " + ", ".join(ROLES) + "; NULL when the source states none",
        metadata={"facet": True},
    )
    role_as_published: str = pa.Field(
        nullable=True, description="The words the source uses for the role"
    )
    country: str = country_field("Country (ISO 3166-1 alpha-2), where the source states it")
    work_packages_led: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="Work packages this participant leads, e.g. WP5 (JSON array)",
        metadata={"json": True},
    )
    eu_contribution_eur: float = pa.Field(
        nullable=True, ge=0, description="EU funding to this participant in EUR, where stated"
    )

    class Config:
        strict = True
        metadata = {
            "table": "participants",
            # Datasette: the default order of the table page, and the column naming a row.
            "sort": "project_id",
            # Grows with the projects (several per project): no facet on every page, as for
            # projects (schemas/projects.py); each facet column is indexed, ?_facet=<column>.
            "page_facets": [],
            "label_column": "name_as_published",
            "primary_key": "participant_id",
            "title": "Participants",
            "description": "Organisations taking part in projects, with their roles.",
        }
