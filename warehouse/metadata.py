"""Datasette metadata and settings, generated from the pandera models (titles, descriptions,
facets, FTS) and warehouse/queries.yml, so nothing is described twice."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import yaml

from schemas import TABLE_MODELS, table_meta
from schemas.releases import RELEASES_TABLE, ReleaseRecord
from schemas.summaries import SUMMARY_MODELS
from warehouse.build import LOAD_ORDER, fts_table_name
from warehouse.ddl import ColumnSpec, table_columns

DATABASE_NAME = "clusterdata"
TITLE = "clusterdata — Europe's industrial clusters, calls and funding"
DESCRIPTION = (
    "Open data on Europe's industrial clusters, the calls aimed at them and the money they "
    "received, compiled from public sources. Every row says where it came from: source_id, "
    "source_url, fetched_at and the SHA-256 of the raw response."
)
LICENSE = "CC BY 4.0"
LICENSE_URL = "https://creativecommons.org/licenses/by/4.0/"
SOURCE = "Public sources listed in the sources table, each under its own terms"
# Relative, so it holds wherever the server runs.
SOURCE_URL = f"/{DATABASE_NAME}/sources"
SOURCE_KEYS = ("source_id", "title", "publisher", "homepage", "licence")
QUERIES_PATH = Path(__file__).with_name("queries.yml")
MAP_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
MAP_TILES_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

SETTINGS: dict[str, object] = {
    # Suggested facets run extra queries on every table page; the useful facets are configured.
    "suggest_facets": False,
    # A public server: one slow query must not hold a thread for long.
    "sql_time_limit_ms": 1000,
    "facet_time_limit_ms": 200,
    "default_page_size": 50,
    "max_returned_rows": 1000,
    # Arbitrary SQL (and ?_where=) is off on the public server: a few clients sending expensive
    # queries starved every page. `clusterdata serve --sql-port N` runs a second Datasette with
    # it on over the same file (warehouse.serve); canned queries stay here.
    "default_allow_sql": False,
    # The whole file is one of the release downloads, so offering it here costs nothing.
    "allow_download": True,
    # A release changes at most once per refresh; five minutes of caching is safe.
    "default_cache_ttl": 300,
}


def load_queries(path: Path = QUERIES_PATH) -> dict[str, dict]:
    """The canned queries: {name: {title, description, sql}}."""
    queries = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, query in queries.items():
        missing = {"title", "description", "sql"} - set(query)
        if missing:
            raise ValueError(f"{path.name}: query {name} lacks {sorted(missing)}")
        # The public server is read-only: a writable canned query would be its one write endpoint.
        if query.get("write"):
            raise ValueError(f"{path.name}: query {name} writes; canned queries are read-only")
    return queries


def _is_web_url(value: str | None) -> bool:
    # html.escape does not make a javascript: (or data:) URL safe in an href: link http(s) only.
    return bool(value) and value.strip().lower().startswith(("https://", "http://"))


def _sources_html(sources: list[dict]) -> str:
    items = "".join(
        "<li>"
        + (
            f'<a href="{html.escape(s["homepage"])}">{html.escape(s["title"])}</a>'
            if _is_web_url(s.get("homepage"))
            else html.escape(s["title"])
        )
        + f" ({html.escape(s.get('publisher') or 'publisher unknown')}): "
        + f"{html.escape(s.get('licence') or 'licence not stated')}"
        + f" — <code>{html.escape(s['source_id'])}</code></li>"
        for s in sorted(sources, key=lambda s: s["source_id"])
    )
    return (
        f'<p>Our compilation is published under <a href="{LICENSE_URL}">{LICENSE}</a>. '
        "The data of each source remains under each source's own terms:</p>"
        f"<ul>{items}</ul>"
    )


def page_facets(model: type) -> list[str]:
    """The facets computed on every page of a model's table: its plain `facet` columns, or the
    subset its Config.metadata lists as `page_facets` (a table that grows with the data).

    Only plain columns: each has an index (warehouse.build.index_definitions), so its counts
    come from the index alone (7-17 ms per facet at 150,000 projects). A JSON-array facet reads
    and parses the array of every row (1.3 to 17 s per facet there, on every table page), so
    those are offered by URL only, `?_facet_array=<column>`, as the table's description says."""
    meta = table_meta(model)
    plain = [c.name for c in table_columns(model) if c.facet]
    listed = meta.get("page_facets")
    if listed is None:
        return plain
    unindexed = [name for name in listed if name not in plain]
    if unindexed:
        raise ValueError(f"{meta['table']}: page_facets {unindexed} are not facet columns")
    return list(listed)


def _facet_notes(table: str, columns: list[ColumnSpec], shown: list[str]) -> str:
    """What the table's description says about the facets its page does not compute."""
    notes = ""
    plain = [c.name for c in columns if c.facet and c.name not in shown]
    if plain:
        notes += (
            f" Counts by {', '.join(plain)} are one click away (a column's menu, Facet by this; "
            f"or ?_facet=<column> in the URL, e.g. /{DATABASE_NAME}/{table}?_facet={plain[0]})."
        )
    arrays = [c.name for c in columns if c.facet_array]
    if arrays:
        notes += (
            f" Counts by each value of the JSON-array columns ({', '.join(arrays)}) are not "
            "computed on every page, as each reads every row: add ?_facet_array=<column> to the "
            f"URL, e.g. /{DATABASE_NAME}/{table}?_facet_array={arrays[0]}."
        )
    return notes


def _table_metadata(table: str) -> dict:
    # The releases table is written by `clusterdata release` and the summary tables by the build
    # from the projects, not by the pipeline, but they are served and described like the others.
    model = TABLE_MODELS.get(table) or SUMMARY_MODELS.get(table) or ReleaseRecord
    meta = table_meta(model)
    columns = table_columns(model)
    facets = page_facets(model)
    table_metadata: dict = {
        "title": meta["title"],
        "description": meta["description"] + _facet_notes(table, columns, facets),
        "columns": {
            c.name: c.description
            + (f". Counts by value: ?_facet_array={c.name}" if c.facet_array else "")
            for c in columns
        },
        "label_column": meta["label_column"],
    }
    if facets:
        table_metadata["facets"] = facets
    for key in ("sort", "sort_desc"):
        if key in meta:
            table_metadata[key] = meta[key]
    if any(c.fts for c in columns):
        table_metadata["fts_table"] = fts_table_name(table)
        table_metadata["fts_pk"] = "rowid"
        # Raw mode would let a stray quote or hyphen in a search box be an FTS syntax error.
        table_metadata["searchmode"] = "escaped"
    return table_metadata


def map_plugin_config() -> dict:
    """datasette-cluster-map's settings: the clusters' city centroids on a tile layer.

    The tiles are the one thing the map loads from elsewhere (the browser fetches them; the
    server never does): CLUSTERDATA_MAP_TILES names another tile server, e.g. one of your own
    (and CLUSTERDATA_MAP_ATTRIBUTION its credit line). Offline, the markers still show, on a
    blank map."""
    tiles = os.environ.get("CLUSTERDATA_MAP_TILES") or MAP_TILES
    attribution = os.environ.get("CLUSTERDATA_MAP_ATTRIBUTION") or (
        MAP_TILES_ATTRIBUTION if tiles == MAP_TILES else ""
    )
    return {
        "datasette-cluster-map": {
            "tile_layer": tiles,
            "tile_layer_options": {"maxZoom": 19, "attribution": attribution},
            "latitude_column": "latitude",
            "longitude_column": "longitude",
        }
    }


def datasette_metadata(sources: list[dict]) -> dict:
    """Datasette metadata: licence and sources, every table and column described, facets, FTS,
    label columns and the canned queries.

    `sources`: dicts with source_id, title, publisher, homepage and licence (the sources table)."""
    tables = {
        table: _table_metadata(table) for table in [*LOAD_ORDER, *SUMMARY_MODELS, RELEASES_TABLE]
    }
    sources_note = _sources_html(sources)
    tables["sources"]["description_html"] = (
        f"<p>{html.escape(tables['sources']['description'])}</p>{sources_note}"
    )
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        # Datasette renders description_html in place of description where both are present.
        "description_html": f"<p>{html.escape(DESCRIPTION)}</p>{sources_note}",
        "license": LICENSE,
        "license_url": LICENSE_URL,
        "source": SOURCE,
        "source_url": SOURCE_URL,
        # Machine-readable twin of the note above, for API clients reading /-/metadata.json.
        "sources": [
            {key: s.get(key) for key in SOURCE_KEYS}
            for s in sorted(sources, key=lambda s: s["source_id"])
        ],
        "plugins": map_plugin_config(),
        "databases": {
            DATABASE_NAME: {
                "title": TITLE,
                "description": DESCRIPTION,
                "tables": tables,
                "queries": load_queries(),
            }
        },
    }


def datasette_settings() -> dict:
    """Datasette settings for the public server (passed as --setting name value)."""
    return dict(SETTINGS)


def write_datasette_config(config_dir: Path, sources: list[dict]) -> tuple[Path, Path]:
    """Write metadata.json and settings.json into `config_dir`; return both paths.

    settings.json records what the server runs with; Datasette 0.65 takes settings as
    `--setting name value` (see warehouse.serve.datasette_command), not from this file unless
    the database is served in configuration-directory mode."""
    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    metadata_path = config_dir / "metadata.json"
    settings_path = config_dir / "settings.json"
    metadata_path.write_text(
        json.dumps(datasette_metadata(sources), indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    settings_path.write_text(json.dumps(datasette_settings(), indent=2) + "\n", encoding="utf-8")
    return metadata_path, settings_path
