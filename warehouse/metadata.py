"""Datasette metadata and settings, generated from the pandera models (titles, descriptions,
facets, FTS) and warehouse/queries.yml, so nothing is described twice."""

from __future__ import annotations

import html
import json
from pathlib import Path

import yaml

from schemas import TABLE_MODELS, table_meta
from warehouse.build import LOAD_ORDER, fts_table_name
from warehouse.ddl import table_columns

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

SETTINGS: dict[str, object] = {
    # Suggested facets run extra queries on every table page; the useful facets are configured.
    "suggest_facets": False,
    # A public server: one slow query must not hold a thread for long.
    "sql_time_limit_ms": 1000,
    "facet_time_limit_ms": 200,
    "default_page_size": 50,
    "max_returned_rows": 1000,
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
    return queries


def _sources_html(sources: list[dict]) -> str:
    items = "".join(
        "<li>"
        + (
            f'<a href="{html.escape(s["homepage"])}">{html.escape(s["title"])}</a>'
            if s.get("homepage")
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


def _table_metadata(table: str) -> dict:
    model = TABLE_MODELS[table]
    meta = table_meta(model)
    columns = table_columns(model)
    table_metadata: dict = {
        "title": meta["title"],
        "description": meta["description"],
        "columns": {c.name: c.description for c in columns},
        "label_column": meta["label_column"],
    }
    facets: list = [c.name for c in columns if c.facet]
    facets += [{"array": c.name} for c in columns if c.facet_array]
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


def datasette_metadata(sources: list[dict]) -> dict:
    """Datasette metadata: licence and sources, every table and column described, facets, FTS,
    label columns and the canned queries.

    `sources`: dicts with source_id, title, publisher, homepage and licence (the sources table)."""
    tables = {table: _table_metadata(table) for table in LOAD_ORDER}
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
