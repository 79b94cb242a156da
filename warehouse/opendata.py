"""Open-data metadata of a release, generated from the pandera models (the one place columns are
typed and described): a Frictionless Data Package (v2), a DCAT-AP catalogue in Turtle and a
Markdown data dictionary."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
from rdflib import RDF, RDFS, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

from schemas import TABLE_MODELS, table_meta
from schemas.releases import ReleaseRecord
from schemas.summaries import SUMMARY_MODELS
from warehouse.ddl import ColumnSpec, foreign_keys, primary_key, table_columns
from warehouse.exports import excel_headers
from warehouse.metadata import DESCRIPTION, LICENSE_URL, TITLE

LICENSE_NAME = "CC-BY-4.0"
LICENSE_TITLE = "Creative Commons Attribution 4.0 International"
PUBLISHER = "clusterdata"
KEYWORDS = (
    "industrial clusters",
    "cluster organisations",
    "calls for proposals",
    "EU funding",
    "cohesion policy",
    "open data",
)
# Table Schema field type of each SQLite storage kind (warehouse.ddl.ColumnSpec.storage).
FIELD_TYPES = {
    "text": "string",
    "real": "number",
    "integer": "integer",
    "bool": "boolean",
    "date": "date",
    "json": "array",
}
# Formats of the release's files: (Table Schema/DCAT label, IANA media type, EU file type).
FORMATS: dict[str, tuple[str, str, str]] = {
    "csv": ("CSV", "text/csv", "CSV"),
    "parquet": ("Parquet", "application/vnd.apache.parquet", "PARQUET"),
    "xlsx": (
        "XLSX",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "XLSX",
    ),
    "sqlite": ("SQLite", "application/vnd.sqlite3", "SQL"),
    "json": ("JSON", "application/json", "JSON"),
    "ttl": ("Turtle", "text/turtle", "RDF_TURTLE"),
    "md": ("Markdown", "text/markdown", "TXT"),
}

DATAPACKAGE_PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
DATARESOURCE_PROFILE = "https://datapackage.org/profiles/2.0/dataresource.json"
TABLESCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"

EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_LANGUAGE_ENG = URIRef("http://publications.europa.eu/resource/authority/language/ENG")
EU_DATA_THEME = URIRef("http://publications.europa.eu/resource/authority/data-theme")
EU_THEME_ECON = URIRef("http://publications.europa.eu/resource/authority/data-theme/ECON")
EU_PLACE_EUROPE = URIRef("http://publications.europa.eu/resource/authority/continent/EUROPE")
EU_FREQUENCY_IRREG = URIRef("http://publications.europa.eu/resource/authority/frequency/IRREG")
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
SPDX = Namespace("http://spdx.org/rdf/terms#")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release, as listed in the releases table's `files`."""

    name: str
    format: str
    bytes: int
    sha256: str
    table: str | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "table": self.table,
            "format": self.format,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class ReleaseInfo:
    """What the metadata of one release needs to know about it."""

    release_id: str
    built_at: str  # ISO UTC, e.g. 2026-11-23T10:00:00Z
    base_url: str  # e.g. http://127.0.0.1:8001, no trailing slash
    # The columns of each table in the release's files (warehouse.exports.file_columns).
    columns: dict[str, list[ColumnSpec]]
    files: list[ReleaseFile]
    # Rows of the sources table: source_id, title, publisher, homepage, licence.
    sources: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        """URL of the release's folder on the server (Datasette's /releases/ static mount)."""
        return f"{self.base_url.rstrip('/')}/releases/{self.release_id}/"


def _field(column) -> dict:
    spec = {
        "name": column.name,
        "type": FIELD_TYPES[column.storage],
        "description": column.description,
    }
    if column.storage == "date":
        spec["format"] = "default"  # ISO 8601 YYYY-MM-DD
    constraints = {}
    if not column.nullable:
        constraints["required"] = True
    if constraints:
        spec["constraints"] = constraints
    return spec


def table_schema(model: type[pa.DataFrameModel], columns: list[ColumnSpec]) -> dict:
    """A Table Schema (v2) for one model's file: field types, descriptions, required fields,
    the primary key and the foreign keys the models declare with `references`."""
    names = {c.name for c in columns}
    schema: dict = {
        "$schema": TABLESCHEMA_PROFILE,
        "fields": [_field(c) for c in columns],
        "missingValues": [""],
        "primaryKey": [primary_key(model)],
    }
    keys = [
        {
            "fields": [k.column],
            "reference": {"resource": k.other_table, "fields": [k.other_column]},
        }
        for k in foreign_keys(model)
        if k.column in names
    ]
    if keys:
        schema["foreignKeys"] = keys
    return schema


def datapackage(info: ReleaseInfo) -> dict:
    """datapackage.json of a release: one tabular resource per CSV file."""
    csv_files = {f.table: f for f in info.files if f.format == "csv" and f.table}
    resources = []
    for table in info.columns:
        model = TABLE_MODELS[table]
        meta = table_meta(model)
        file = csv_files[table]
        resources.append(
            {
                "$schema": DATARESOURCE_PROFILE,
                "name": table,
                "type": "table",
                "path": file.name,
                "title": meta["title"],
                "description": meta["description"],
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "bytes": file.bytes,
                "hash": f"sha256:{file.sha256}",
                "schema": table_schema(model, info.columns[table]),
            }
        )
    return {
        "$schema": DATAPACKAGE_PROFILE,
        "name": "clusterdata",
        "id": info.url,
        "title": TITLE,
        "description": DESCRIPTION,
        "version": info.release_id,
        "created": info.built_at,
        "homepage": f"{info.base_url.rstrip('/')}/",
        "keywords": list(KEYWORDS),
        "licenses": [{"name": LICENSE_NAME, "path": LICENSE_URL, "title": LICENSE_TITLE}],
        "contributors": [{"title": PUBLISHER, "roles": ["publisher"]}],
        "sources": [
            {
                "title": s["title"],
                "path": s["homepage"],
                **(
                    {"description": f"{s['publisher']}; terms: {s['licence']}"}
                    if s.get("publisher") and s.get("licence")
                    else {}
                ),
            }
            for s in sorted(info.sources, key=lambda s: s["source_id"])
            if s.get("homepage")
        ],
        "resources": resources,
    }


def _en(text: str) -> Literal:
    return Literal(text, lang="en")


def catalog_graph(info: ReleaseInfo) -> Graph:
    """The DCAT-AP (3.0) catalogue of a release: one dcat:Catalog, one dcat:Dataset (the
    release) and one dcat:Distribution per file, every object typed as DCAT-AP's range
    classes require (licence, format, media type, language, theme, publisher)."""
    g = Graph()
    for prefix, ns in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("skos", SKOS),
        ("spdx", SPDX),
    ):
        g.bind(prefix, ns)
    base = info.url
    catalog = URIRef(f"{base}catalog.ttl#catalog")
    dataset = URIRef(f"{base}catalog.ttl#dataset")
    publisher = URIRef(f"{base}catalog.ttl#publisher")
    license_doc = URIRef(LICENSE_URL)
    issued = Literal(info.built_at, datatype=XSD.dateTime)
    homepage = URIRef(f"{info.base_url.rstrip('/')}/")

    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, _en(PUBLISHER)))
    g.add((license_doc, RDF.type, DCTERMS.LicenseDocument))
    g.add((license_doc, RDFS.label, _en(LICENSE_TITLE)))
    g.add((EU_LANGUAGE_ENG, RDF.type, DCTERMS.LinguisticSystem))
    g.add((EU_DATA_THEME, RDF.type, SKOS.ConceptScheme))
    g.add((EU_DATA_THEME, DCTERMS.title, _en("Data theme")))
    g.add((EU_THEME_ECON, RDF.type, SKOS.Concept))
    g.add((EU_THEME_ECON, SKOS.prefLabel, _en("Economy and finance")))
    g.add((EU_THEME_ECON, SKOS.inScheme, EU_DATA_THEME))
    g.add((EU_PLACE_EUROPE, RDF.type, DCTERMS.Location))
    g.add((EU_FREQUENCY_IRREG, RDF.type, DCTERMS.Frequency))
    g.add((homepage, RDF.type, FOAF.Document))

    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, _en(TITLE)))
    g.add((catalog, DCTERMS.description, _en(DESCRIPTION)))
    g.add((catalog, DCTERMS.publisher, publisher))
    g.add((catalog, DCTERMS.license, license_doc))
    g.add((catalog, DCTERMS.language, EU_LANGUAGE_ENG))
    g.add((catalog, DCTERMS.issued, issued))
    g.add((catalog, DCTERMS.modified, issued))
    g.add((catalog, FOAF.homepage, homepage))
    g.add((catalog, DCAT.themeTaxonomy, EU_DATA_THEME))
    g.add((catalog, DCAT.dataset, dataset))

    g.add((dataset, RDF.type, DCAT.Dataset))
    g.add((dataset, DCTERMS.title, _en(f"{TITLE}, release {info.release_id}")))
    g.add((dataset, DCTERMS.description, _en(DESCRIPTION)))
    g.add((dataset, DCTERMS.identifier, Literal(info.release_id)))
    g.add((dataset, DCTERMS.publisher, publisher))
    g.add((dataset, DCTERMS.issued, issued))
    g.add((dataset, DCTERMS.modified, issued))
    g.add((dataset, DCTERMS.language, EU_LANGUAGE_ENG))
    g.add((dataset, DCTERMS.spatial, EU_PLACE_EUROPE))
    g.add((dataset, DCTERMS.accrualPeriodicity, EU_FREQUENCY_IRREG))
    g.add((dataset, DCAT.theme, EU_THEME_ECON))
    g.add((dataset, DCAT.landingPage, homepage))
    for keyword in KEYWORDS:
        g.add((dataset, DCAT.keyword, _en(keyword)))
    for source in sorted(info.sources, key=lambda s: s["source_id"]):
        if source.get("homepage"):
            page = URIRef(source["homepage"])
            g.add((page, RDF.type, RDFS.Resource))
            g.add((dataset, DCTERMS.relation, page))
    if info.sources:
        provenance = BNode()
        g.add((provenance, RDF.type, DCTERMS.ProvenanceStatement))
        names = "; ".join(
            f"{s['title']} ({s.get('publisher') or 'publisher not stated'}, {s['source_id']})"
            for s in sorted(info.sources, key=lambda s: s["source_id"])
        )
        g.add((provenance, RDFS.label, _en(f"Compiled from public sources: {names}.")))
        g.add((dataset, DCTERMS.provenance, provenance))

    for file in info.files:
        label, media, eu_type = FORMATS[file.format]
        url = URIRef(f"{base}{file.name}")
        dist = URIRef(f"{base}{file.name}#distribution")
        media_node = URIRef(IANA_MEDIA_TYPES + media)
        format_node = URIRef(EU_FILE_TYPE + eu_type)
        g.add((media_node, RDF.type, DCTERMS.MediaType))
        g.add((format_node, RDF.type, DCTERMS.MediaTypeOrExtent))
        g.add((url, RDF.type, RDFS.Resource))
        what = (
            f"table {file.table} ({table_meta(TABLE_MODELS[file.table])['title']})"
            if file.table
            else _FILE_ROLES.get(file.name, file.name)
        )
        checksum = BNode()
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        g.add((checksum, SPDX.checksumValue, Literal(file.sha256, datatype=XSD.hexBinary)))
        g.add((SPDX.checksumAlgorithm_sha256, RDF.type, SPDX.ChecksumAlgorithm))

        g.add((dataset, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, _en(f"{file.name}: {what}, {label}")))
        g.add(
            (
                dist,
                DCTERMS.description,
                _en(f"{what.capitalize()} as {label}, release {info.release_id}."),
            )
        )
        g.add((dist, DCAT.accessURL, url))
        g.add((dist, DCAT.downloadURL, url))
        g.add((dist, DCAT.mediaType, media_node))
        g.add((dist, DCTERMS.format, format_node))
        g.add((dist, DCTERMS.license, license_doc))
        g.add((dist, DCAT.byteSize, Literal(file.bytes, datatype=XSD.nonNegativeInteger)))
        g.add((dist, SPDX.checksum, checksum))
        g.add((dist, DCTERMS.issued, issued))
        g.add((dist, DCTERMS.modified, issued))
    return g


_FILE_ROLES = {
    "clusterdata.db": "the whole database",
    "clusterdata.xlsx": "every table, one sheet each",
    "datapackage.json": "the Frictionless Data Package descriptor",
    "DATA_DICTIONARY.md": "the data dictionary",
    "CHANGELOG.md": "the changes since the previous release",
}


def data_dictionary(columns: dict[str, list[ColumnSpec]], release_id: str) -> str:
    """DATA_DICTIONARY.md: every table of the release (and the releases table) with every
    column's type, spreadsheet header and description, from the pandera models."""
    lines = [
        f"# clusterdata data dictionary — release {release_id}",
        "",
        "Generated from the pandera models in `schemas/`. Types are Table Schema types "
        "(`array`: a JSON array, stored as text in SQLite, CSV and XLSX, as a list in "
        'Parquet). "Header" is the column\'s header in clusterdata.xlsx.',
        "",
    ]
    tables = [(TABLE_MODELS[t], cols) for t, cols in columns.items()]
    tables += [(model, table_columns(model)) for model in SUMMARY_MODELS.values()]
    tables.append((ReleaseRecord, table_columns(ReleaseRecord)))
    for model, cols in tables:
        meta = table_meta(model)
        headers = excel_headers(cols)
        lines += [f"## `{meta['table']}` — {meta['title']}", "", meta["description"], ""]
        lines.append(f"Primary key: `{primary_key(model)}`.")
        names = {c.name for c in cols}
        keys = foreign_keys(model) if meta["table"] in TABLE_MODELS else []
        keys = [k for k in keys if k.column in names]
        for key in keys:
            lines.append(f"`{key.column}` references `{key.other_table}.{key.other_column}`.")
        if model is ReleaseRecord:
            lines.append("Only in the served database (not a file of the release).")
        elif meta["table"] in SUMMARY_MODELS:
            lines.append(
                "Summed from `projects` at each build: in clusterdata.db and the served "
                "database, not a file of its own."
            )
        lines += [
            "",
            "| column | type | required | header | description |",
            "|---|---|---|---|---|",
        ]
        for column in cols:
            required = "yes" if not column.nullable else ""
            description = column.description.replace("|", "\\|")
            header = headers[column.name].replace("|", "\\|")
            lines.append(
                f"| `{column.name}` | {FIELD_TYPES[column.storage]} | {required} | "
                f"{header} | {description} |"
            )
        lines.append("")
    return "\n".join(lines)
