"""Summary tables: aggregates of the projects that the warehouse build writes beside them, so the
funding canned queries read a few thousand rows instead of every project on each request (the
projects are the table that grows to millions: bench/README.md, serve). Not one of TABLE_MODELS:
no pipeline asset produces them; `warehouse.build` computes them from the loaded projects in SQL,
in the same build, so they can never disagree with the projects they summarise."""

import pandera.polars as pa
import polars as pl

FUNDING_SUMMARY_TABLE = "funding_summary"
FUNDING_BY_COUNTRY_TABLE = "funding_by_programme_country"

# The columns both summary tables share, written once. Not a base model: pandera puts inherited
# fields first, which would move summary_id out of first place in the public columns.
_SHARED: dict[str, dict] = {
    "programme": {"nullable": True, "description": "Main funding programme (projects)"},
    "country": {"nullable": True, "description": "Country of the operation (projects)"},
    "projects": {"ge": 1, "description": "Number of projects"},
    "projects_with_eu_amount": {
        "ge": 0,
        "description": "Projects whose EU contribution is stated (the sums skip the others)",
    },
    "eu_contribution_eur": {
        "nullable": True,
        "ge": 0,
        "description": "Sum of the stated EU contributions, EUR",
    },
    "total_eligible_eur": {
        "nullable": True,
        "ge": 0,
        "description": "Sum of the stated total eligible costs, EUR",
    },
}


class FundingSummaryRecord(pa.DataFrameModel):
    """Projects, EU contribution and total eligible cost per programme, country and funds."""

    summary_id: int = pa.Field(
        unique=True, description="Row number within this release (no meaning across releases)"
    )
    programme: str = pa.Field(**_SHARED["programme"])
    country: str = pa.Field(**_SHARED["country"])
    funds: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="The projects' EU funds, the whole list as the projects state it "
        "(JSON array): a project financed by ERDF and ESF is counted once, in the row of "
        '["ERDF", "ESF"]',
        metadata={"json": True},
    )
    projects: int = pa.Field(**_SHARED["projects"])
    projects_with_eu_amount: int = pa.Field(**_SHARED["projects_with_eu_amount"])
    eu_contribution_eur: float = pa.Field(**_SHARED["eu_contribution_eur"])
    total_eligible_eur: float = pa.Field(**_SHARED["total_eligible_eur"])

    class Config:
        strict = True
        metadata = {
            "table": FUNDING_SUMMARY_TABLE,
            "sort_desc": "eu_contribution_eur",
            "label_column": "programme",
            "primary_key": "summary_id",
            "title": "Funding summary",
            "description": "Projects and their EU contribution and total eligible cost, summed "
            "per programme, country and funds at each build (the canned query "
            "eu_funding_by_programme reads it). Sums skip projects whose amount is unknown: "
            "compare projects with projects_with_eu_amount.",
        }


class FundingByProgrammeCountryRecord(pa.DataFrameModel):
    """Projects, EU contribution and total eligible cost per programme and country: what the
    eu_funding_by_programme_and_country canned query returns, as a table, so that all its rows
    page, filter and export (a canned query stops at Datasette's max_returned_rows, 1,000, and
    its CSV does not say so), and so that the query is a read of rows already summed and sorted
    instead of a re-aggregation on every request (bench/README.md, serve)."""

    summary_id: int = pa.Field(
        unique=True,
        description="Row number within this release, in the order of the EU contribution "
        "(largest first; no meaning across releases)",
    )
    programme: str = pa.Field(**_SHARED["programme"])
    country: str = pa.Field(**_SHARED["country"])
    projects: int = pa.Field(**_SHARED["projects"])
    projects_with_eu_amount: int = pa.Field(**_SHARED["projects_with_eu_amount"])
    eu_contribution_eur: float = pa.Field(**_SHARED["eu_contribution_eur"])
    total_eligible_eur: float = pa.Field(**_SHARED["total_eligible_eur"])

    class Config:
        strict = True
        metadata = {
            "table": FUNDING_BY_COUNTRY_TABLE,
            "sort": "summary_id",
            "label_column": "programme",
            "primary_key": "summary_id",
            "title": "Funding by programme and country",
            "description": "Projects and their EU contribution and total eligible cost, summed "
            "per programme and country at each build, largest EU contribution first (the "
            "canned query eu_funding_by_programme_and_country reads it). Sums skip projects "
            "whose amount is unknown: compare projects with projects_with_eu_amount.",
        }


# The aggregate each summary table holds, over the projects table as built: the columns in the
# model's order after summary_id (which SQLite numbers, in this order).
SUMMARY_SQL: dict[str, str] = {
    FUNDING_SUMMARY_TABLE: """
        select
          programme, country, funds,
          count(*), count(eu_contribution_eur), sum(eu_contribution_eur), sum(total_eligible_eur)
        from projects
        group by programme, country, funds
        order by programme, country, funds
    """,
    # Summed from the projects, not from funding_summary: the same sums the canned query used to
    # compute, in the same order of addition. Numbered in the canned query's order.
    FUNDING_BY_COUNTRY_TABLE: """
        select
          programme, country,
          count(*), count(eu_contribution_eur), sum(eu_contribution_eur), sum(total_eligible_eur)
        from projects
        group by programme, country
        order by sum(eu_contribution_eur) desc nulls last, programme, country
    """,
}
SUMMARY_MODELS: dict[str, type[pa.DataFrameModel]] = {
    FUNDING_SUMMARY_TABLE: FundingSummaryRecord,
    FUNDING_BY_COUNTRY_TABLE: FundingByProgrammeCountryRecord,
}
