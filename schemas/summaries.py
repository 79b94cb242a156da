"""Summary tables: aggregates of the projects that the warehouse build writes beside them, so the
funding canned queries read a few thousand rows instead of every project on each request (the
projects are the table that grows to millions: bench/README.md, serve). Not one of TABLE_MODELS:
no pipeline asset produces them; `warehouse.build` computes them from the loaded projects in SQL,
in the same build, so they can never disagree with the projects they summarise."""

import pandera.polars as pa
import polars as pl

FUNDING_SUMMARY_TABLE = "funding_summary"


class FundingSummaryRecord(pa.DataFrameModel):
    """Projects, EU contribution and total eligible cost per programme, country and funds."""

    summary_id: int = pa.Field(
        unique=True, description="Row number within this release (no meaning across releases)"
    )
    programme: str = pa.Field(nullable=True, description="Main funding programme (projects)")
    country: str = pa.Field(nullable=True, description="Country of the operation (projects)")
    funds: pl.List(pl.Utf8) = pa.Field(
        nullable=True,
        description="The projects' EU funds, the whole list as the projects state it "
        "(JSON array): a project financed by ERDF and ESF is counted once, in the row of "
        '["ERDF", "ESF"]',
        metadata={"json": True},
    )
    projects: int = pa.Field(ge=1, description="Number of projects")
    projects_with_eu_amount: int = pa.Field(
        ge=0, description="Projects whose EU contribution is stated (the sums skip the others)"
    )
    eu_contribution_eur: float = pa.Field(
        nullable=True, ge=0, description="Sum of the stated EU contributions, EUR"
    )
    total_eligible_eur: float = pa.Field(
        nullable=True, ge=0, description="Sum of the stated total eligible costs, EUR"
    )

    class Config:
        strict = True
        metadata = {
            "table": FUNDING_SUMMARY_TABLE,
            "sort_desc": "eu_contribution_eur",
            "label_column": "programme",
            "primary_key": "summary_id",
            "title": "Funding summary",
            "description": "Projects and their EU contribution and total eligible cost, summed "
            "per programme, country and funds at each build (the funding canned queries read "
            "it). Sums skip projects whose amount is unknown: compare projects with "
            "projects_with_eu_amount.",
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
}
SUMMARY_MODELS: dict[str, type[pa.DataFrameModel]] = {
    FUNDING_SUMMARY_TABLE: FundingSummaryRecord,
}
