"""Datasette plugin: an Atom feed with no entries is a valid, empty feed, not an error 500.

datasette-atom 0.9 dates the feed by the newest entry (`max()` over the rows), so a canned query
that returns no row (no call published yet, a filter that matches nothing) makes it raise. This
renderer takes over the `.atom` extension: with rows it is datasette-atom's own; with none it
writes an empty feed dated now (the time the feed was generated, which is what an empty feed's
<updated> can truthfully say).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response


def render_atom(
    datasette: Any,
    request: Any,
    sql: str,
    columns: list[str],
    rows: list,
    database: str,
    table: str | None,
    query_name: str | None,
    view_name: str,
    data: dict,
) -> Response:
    """datasette-atom's feed, or an empty feed where there is no row."""
    import datasette_atom
    from feedgen.feed import FeedGenerator

    if rows or not datasette_atom.REQUIRED_COLUMNS.issubset(columns):
        # datasette-atom's own (including its 400 for a query without the atom_ columns).
        return datasette_atom.render_atom(
            datasette, request, sql, columns, rows, database, table, query_name, view_name, data
        )
    title = request.args.get("_feed_title", sql)
    if query_name:
        queries = datasette.metadata("queries", database=database) or {}
        title = (queries.get(query_name) or {}).get("title") or title
    feed = FeedGenerator()
    feed.id(request.url)
    feed.link(href=request.url, rel="self")
    feed.title(title)
    feed.updated(dt.datetime.now(dt.UTC))
    return Response(
        feed.atom_str(pretty=True), content_type="application/xml; charset=utf-8", status=200
    )


@hookimpl(trylast=True)
def register_output_renderer(datasette: Any) -> list[dict]:
    """Registered last, so Datasette's table of renderers keeps this one for `.atom`."""
    try:
        import datasette_atom
    except ImportError:
        return []
    return [
        {
            "extension": "atom",
            "render": render_atom,
            "can_render": datasette_atom.can_render_atom,
        }
    ]
