"""Datasette plugin: the data behind the landing page (index.html) and the charts page.

The landing page tells a newcomer what the data is, how fresh it is, where the downloads are and
how to call the API; every figure on it is read from the served database when the page is
rendered, never written into the template. Scraped text reaches the templates as plain values
and is escaped by Jinja's autoescape (no `|safe` on data).

The charts page (/-/charts) draws each chart from a canned query: the main server has arbitrary
SQL off, so a chart shows only what a canned query (listed on the database page) returns.
"""

from __future__ import annotations

import json
import re
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response

DATABASE = "clusterdata"
COUNTED_TABLES = ("clusters", "calls", "projects", "participants")

# One chart per canned query (warehouse/queries.yml): the query's rows are the chart's data,
# summed per label. Drawn on the server as SVG: no script, so nothing for the CSP to refuse and
# nothing to fetch (the main server has arbitrary SQL off, and vega needs eval).
CHARTS: list[dict[str, str]] = [
    {
        "slug": "eu-funding-by-programme",
        "title": "EU contribution by programme",
        "query": "eu_funding_by_programme",
        "label": "programme",
        "value": "eu_contribution_eur",
        "sort": "value",
    },
    {
        "slug": "eu-funding-by-country",
        "title": "EU contribution by country of the operation",
        "query": "eu_funding_by_programme_and_country",
        "label": "country",
        "value": "eu_contribution_eur",
        "sort": "value",
    },
    {
        "slug": "eu-funding-by-year",
        "title": "EU contribution by start year of the project",
        "query": "eu_funding_by_start_year",
        "label": "start_year",
        "value": "eu_contribution_eur",
        "sort": "label",
    },
]
CHART_WIDTH = 640
LABEL_WIDTH = 220
BAR_HEIGHT = 22


def chart_bars(rows: list[dict], chart: dict[str, str]) -> dict[str, Any]:
    """The bars of one chart: value summed per label (a NULL amount adds nothing and is
    counted as unknown), each bar's length in px, ready for the SVG template."""
    totals: dict[str, float] = {}
    unknown = 0
    for row in rows:
        label = row[chart["label"]]
        label = "(not stated)" if label is None else str(label)
        value = row[chart["value"]]
        if value is None:
            unknown += 1
        else:
            totals[label] = totals.get(label, 0.0) + float(value)
    # A label whose every amount is unknown gets no bar: a bar of €0 would state a fact.
    if chart["sort"] == "value":
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    else:
        ordered = sorted(totals.items())
    top = max((v for _, v in ordered), default=0.0)
    span = CHART_WIDTH - LABEL_WIDTH - 110
    bars = [
        {
            "label": label,
            "value": value,
            "y": i * BAR_HEIGHT,
            "length": round(span * value / top, 1) if top > 0 else 0,
        }
        for i, (label, value) in enumerate(ordered)
    ]
    return {
        "bars": bars,
        "unknown_rows": unknown,
        "height": max(len(bars), 1) * BAR_HEIGHT,
        "width": CHART_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


async def chart_data(datasette: Any) -> list[dict[str, Any]]:
    """Every chart with its bars, from its canned query run with its parameters left empty."""
    queries = datasette.metadata("queries", database=DATABASE) or {}
    db = datasette.get_database(DATABASE)
    charts = []
    for chart in CHARTS:
        sql = queries[chart["query"]]["sql"]
        params = {name: "" for name in re.findall(r":(\w+)", sql)}
        rows = [dict(row) for row in await db.execute(sql, params)]
        charts.append(
            {
                **chart,
                **chart_bars(rows, chart),
                "query_url": datasette.urls.path(f"/{DATABASE}/{chart['query']}"),
            }
        )
    return charts


def _release_files(text: str | None) -> list[dict]:
    """The file entries of a releases row (those with a name); anything else reads as none."""
    try:
        value = json.loads(text) if text else []
    except json.JSONDecodeError:
        return []
    if not isinstance(value, list):
        return []
    return [f for f in value if isinstance(f, dict) and isinstance(f.get("name"), str)]


async def landing_page_data(datasette: Any) -> dict[str, Any]:
    """Headline counts, the EU funding total, per-source health and the current release."""
    db = datasette.get_database(DATABASE)
    counts_sql = ", ".join(f"(select count(*) from {t}) as {t}" for t in COUNTED_TABLES)
    counts = dict((await db.execute(f"select {counts_sql}")).first())
    funding = (
        await db.execute(
            "select sum(eu_contribution_eur) as total, count(eu_contribution_eur) as known, "
            "count(*) as projects from projects"
        )
    ).first()
    sources = [
        dict(row)
        for row in await db.execute(
            "select source_id, title, publisher, licence, last_status, last_run_at, "
            "last_success, rows_valid, rows_quarantined from sources order by source_id"
        )
    ]
    last_refresh = max((s["last_run_at"] for s in sources if s["last_run_at"]), default=None)
    release = None
    if await db.table_exists("releases"):
        row = (
            await db.execute(
                "select release_id, built_at, files from releases "
                "order by is_current desc, built_at desc limit 1"
            )
        ).first()
        if row is not None:
            release = {
                "release_id": row["release_id"],
                "built_at": row["built_at"],
                "files": _release_files(row["files"]),
            }
    return {
        "counts": counts,
        "eu_funding_total": funding["total"],
        "projects_with_eu_amount": funding["known"],
        "sources": sources,
        "last_refresh": last_refresh,
        "release": release,
        "charts": CHARTS,
    }


@hookimpl
def extra_template_vars(template: str, datasette: Any, request: Any) -> Any:
    """The landing page's figures, queried only when index.html is rendered."""
    if template != "index.html":
        return {}

    async def inner() -> dict[str, Any]:
        data = await landing_page_data(datasette)
        data["site_url"] = datasette.absolute_url(request, "/") if request else "/"
        return {"landing": data}

    return inner


async def charts_page(request: Any, datasette: Any) -> Response:
    """/-/charts: EU funding by programme, country and start year, as SVG bar charts."""
    charts = await chart_data(datasette)
    return Response.html(
        await datasette.render_template("charts.html", {"charts": charts}, request=request)
    )


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/charts$", charts_page)]
