"""Benchmark stages, one per child process: `python -m bench.stages STAGE PARAMS_JSON`.

Each stage prints one JSON line of figures (seconds, rows, peak RSS). The project's code is
measured exactly as the pipeline calls it; each baseline does the same work with the plain
library (polars, sqlite3, lxml) and none of the project's checks.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.measure import peak_rss_mib
from bench.parallel import stage_parallel, stage_parallel_crawl

# --- 1. clean + validate ------------------------------------------------------------------------


def _file_items(folder: Path) -> list[dict[str, Any]]:
    return json.loads((folder / "files.json").read_text())


def _co_beneficiaries(raw_participants: pl.DataFrame, total: int) -> pl.DataFrame:
    from bench.generate import co_beneficiaries

    return co_beneficiaries(raw_participants, total)


def documents_frame(items: list[dict[str, Any]]) -> pl.DataFrame:
    """The raw documents rows the spider yields for its export files."""
    from pipelines.raw import raw_schema

    rows = [
        {
            "entity": "documents",
            "document_sha256": i["document_sha256"],
            "url": i["url"],
            "fetched_at": i["fetched_at"],
            "http_status": 200,
            "content_type": "text/csv",
            "size_bytes": i["size_bytes"],
            "source_id": i["source_id"],
            "reconstructed": False,
            "synthetic": True,
        }
        for i in items
    ]
    return pl.DataFrame(rows, schema=raw_schema("documents"))


def stage_clean(params: dict[str, Any]) -> dict[str, Any]:
    """The project's parse_file → clean_* → derive_organisations → validate_entity/drop_orphans,
    as the raw, clean and validated assets run them."""
    # pandera loads its polars backends on a process's first validate() (0.07-0.3 s here): an
    # import like the others, made here so that it is not timed as validation.
    import pandera.backends.polars.builtin_checks  # noqa: F401
    import pandera.backends.polars.container  # noqa: F401

    from pipelines.clean import (
        clean_clusters,
        clean_documents,
        clean_participants,
        clean_projects,
        derive_organisations,
    )
    from pipelines.raw import empty_raw
    from pipelines.validate import drop_orphans, validate_entity
    from scrapers.registry import load_registry
    from scrapers.spiders.eu_kohesio_projects import parse_file

    folder = Path(params["folder"])
    registry = load_registry()
    t0 = time.perf_counter()
    parts: dict[str, list[pl.DataFrame]] = {"projects": [], "participants": []}
    for item in _file_items(folder):
        for entity, frame in parse_file(folder / item["path"], item).items():
            parts[entity].append(frame)
    raw_projects = pl.concat(parts["projects"])
    raw_participants = pl.concat(parts["participants"])
    del parts
    t_parse = time.perf_counter() - t0
    rss_after_parse = peak_rss_mib()
    # Generated input (not timed): participants up to the bench's size.
    raw_participants = pl.concat(
        [raw_participants, _co_beneficiaries(raw_participants, params["participants"])]
    )
    projects_in, participants_in = raw_projects.height, raw_participants.height
    rows_in = projects_in + participants_in

    t1 = time.perf_counter()
    clusters = clean_clusters(empty_raw("clusters"), registry).frame
    organisations = derive_organisations(raw_projects, raw_participants, clusters, registry)
    documents = clean_documents(documents_frame(_file_items(folder)))
    # Each raw frame is released once cleaned, as the assets (one step each) would release it:
    # the peak RSS is then the pipeline's, not the sum of every intermediate frame.
    projects = clean_projects(raw_projects, registry)
    del raw_projects
    participants = clean_participants(raw_participants, registry)
    del raw_participants
    t_clean = time.perf_counter() - t1
    rss_after_clean = peak_rss_mib()

    # The validated assets' order: parents first, each child's orphans against valid parents.
    t2 = time.perf_counter()
    valid: dict[str, pl.DataFrame] = {"documents": documents.frame, "clusters": clusters}
    quarantined = projects.rejected.height
    t_orphans = 0.0
    cleaned = {"organisations": organisations, "projects": projects, "participants": participants}
    del organisations, projects, participants
    for entity in ("organisations", "projects", "participants"):
        frame = cleaned.pop(entity).frame
        checked = validate_entity(entity, frame)
        t = time.perf_counter()
        kept = drop_orphans(entity, checked.valid, valid)
        t_orphans += time.perf_counter() - t
        valid[entity] = kept.valid
        if entity == "organisations":
            organisations_quarantined = frame.height - kept.valid.height
        else:
            quarantined += frame.height - kept.valid.height
    t_validate = time.perf_counter() - t2

    if params.get("save"):
        out = Path(params["save"])
        out.mkdir(parents=True, exist_ok=True)
        for entity in ("documents", "organisations", "projects", "participants"):
            valid[entity].write_parquet(out / f"{entity}.parquet")
    return {
        "rows_in": rows_in,
        "projects_in": projects_in,
        "participants_in": participants_in,
        "projects_valid": valid["projects"].height,
        "participants_valid": valid["participants"].height,
        "organisations": valid["organisations"].height,
        "rows_quarantined": quarantined,
        "organisations_quarantined": organisations_quarantined,
        "parse_s": t_parse,
        "clean_s": t_clean,
        "validate_s": t_validate,
        "orphans_s": t_orphans,
        "clean_validate_rows_per_s": rows_in / (t_clean + t_validate),
        "parse_clean_validate_rows_per_s": rows_in / (t_parse + t_clean + t_validate),
        "peak_rss_after_parse_mib": rss_after_parse,
        "peak_rss_after_clean_mib": rss_after_clean,
        "peak_rss_mib": peak_rss_mib(),
    }


def stage_clean_plain(params: dict[str, Any]) -> dict[str, Any]:
    """Plain polars doing the same parsing with no validation: read the CSVs, trim, amounts and
    rates as numbers, DD/MM/YYYY dates, Q-ids, country codes, the same ids."""
    from scrapers.registry import get_source

    folder = Path(params["folder"])
    countries = get_source("eu_kohesio_projects").lookup("countries")
    t0 = time.perf_counter()
    plain = r"^-?[0-9]+(\.[0-9]+)?$"
    frames = []
    for item in _file_items(folder):
        lazy = pl.scan_csv(folder / item["path"], infer_schema=False)
        frames.append(
            lazy.select(
                [
                    pl.col(c).str.strip_chars().alias(c)
                    for c in (
                        "Operation_Unique_Identifier",
                        "Operation_Name_English",
                        "Operation_Name_Programme_Language",
                        "Country",
                        "Operation_Start_Date",
                        "Operation_End_Date",
                        "Cofinancing_Rate",
                        "Total_Eligible_Expenditure_amount",
                        "Project_EU_Budget",
                        "Beneficiary_Unique_Identifier",
                        "Beneficiary_Name",
                        "Fund_Code",
                        "Fund_Name",
                        "Programme_Name",
                        "NUTS1_Code",
                        "NUTS2_Code",
                        "NUTS3_Code",
                        "Operation_Summary_English",
                        "Operation_Summary_Programme_Language",
                    )
                ]
            )
        )
    rows = pl.concat(frames)
    q = pl.col("Operation_Unique_Identifier").str.extract(r"/entity/(Q[0-9]+)$", 1)
    num = {
        c: pl.when(pl.col(c).str.contains(plain)).then(pl.col(c).cast(pl.Float64))
        for c in ("Total_Eligible_Expenditure_amount", "Project_EU_Budget", "Cofinancing_Rate")
    }
    projects_lazy = rows.select(
        pl.concat_str([pl.lit("eu_kohesio_projects:"), q]).alias("project_id"),
        pl.coalesce("Operation_Name_English", "Operation_Name_Programme_Language").alias("title"),
        pl.col("Country").replace(countries).alias("country"),
        pl.col("Operation_Start_Date").str.to_date("%d/%m/%Y", strict=False).alias("start_date"),
        pl.col("Operation_End_Date").str.to_date("%d/%m/%Y", strict=False).alias("end_date"),
        num["Total_Eligible_Expenditure_amount"].alias("total_eligible_eur"),
        num["Project_EU_Budget"].alias("eu_contribution_eur"),
        (num["Cofinancing_Rate"] / 100).alias("cofinancing_rate"),
        pl.coalesce("Fund_Code", "Fund_Name").alias("fund"),
        pl.col("Programme_Name").alias("programme"),
        pl.concat_list(["NUTS1_Code", "NUTS2_Code", "NUTS3_Code"])
        .list.drop_nulls()
        .alias("nuts_codes"),
        pl.coalesce("Operation_Summary_English", "Operation_Summary_Programme_Language").alias(
            "description"
        ),
    )
    participants_lazy = rows.filter(pl.col("Beneficiary_Name").is_not_null()).select(
        pl.concat_str([pl.lit("eu_kohesio_projects:"), q]).alias("project_id"),
        pl.col("Beneficiary_Name").alias("name_as_published"),
        pl.col("Beneficiary_Unique_Identifier")
        .str.extract(r"/entity/(Q[0-9]+)$", 1)
        .alias("organisation_key"),
    )
    projects, participants = pl.collect_all([projects_lazy, participants_lazy])
    t_parse = time.perf_counter() - t0
    # The same number of participant rows as the project's run, trimmed and keyed the same way.
    extra = params["participants"] - participants.height
    if extra > 0:
        participants = pl.concat(
            [participants, participants.sample(extra, with_replacement=True, seed=1)]
        )
    t1 = time.perf_counter()
    participants = participants.with_columns(
        pl.col("name_as_published").str.strip_chars(),
        pl.concat_str(
            [
                pl.col("project_id"),
                pl.lit(":"),
                pl.coalesce(
                    "organisation_key",
                    pl.col("name_as_published")
                    .str.to_lowercase()
                    .str.replace_all(r"[^\p{L}\p{N}]+", "-"),
                ),
            ]
        ).alias("participant_id"),
    )
    t_ids = time.perf_counter() - t1
    rows_in = projects.height + participants.height
    return {
        "rows_in": rows_in,
        "plain_s": t_parse + t_ids,
        "plain_rows_per_s": rows_in / (t_parse + t_ids),
        "peak_rss_mib": peak_rss_mib(),
    }


# --- 2. load ------------------------------------------------------------------------------------


def bench_tables(folder: Path) -> dict[str, pl.DataFrame]:
    """Every table build_database needs: the validated frames the clean stage saved, the other
    entity tables empty, and the sources table built as the warehouse asset builds it."""
    from schemas import TABLE_MODELS
    from scrapers.registry import load_registry

    tables: dict[str, pl.DataFrame] = {}
    for entity, model in TABLE_MODELS.items():
        path = folder / f"{entity}.parquet"
        if path.exists():
            tables[entity] = pl.read_parquet(path)
        else:
            columns = model.to_schema().columns
            tables[entity] = pl.DataFrame(schema={c: col.dtype.type for c, col in columns.items()})
    registry = load_registry()
    columns = TABLE_MODELS["sources"].to_schema().columns
    rows = [
        {
            "source_id": s,
            "title": spec.title,
            "publisher": spec.publisher,
            "homepage": spec.homepage,
            "licence": spec.licence,
            "entity_kinds": list(spec.entity_kinds),
            "cadence": spec.cadence,
            "notes": spec.notes,
            "last_run_at": None,
            "last_success": None,
            "last_status": None,
            "rows_valid": None,
            "rows_quarantined": None,
        }
        for s, spec in registry.items()
    ]
    tables["sources"] = pl.DataFrame(rows, schema={c: col.dtype.type for c, col in columns.items()})
    return tables


def stage_load(params: dict[str, Any]) -> dict[str, Any]:
    """The project's warehouse build (tables, inserts, FTS5, indexes, checks) into a new file."""
    from warehouse.build import build_database

    tables = bench_tables(Path(params["valid"]))
    target = Path(params["db"])
    target.unlink(missing_ok=True)
    report = build_database(tables, target)
    phases = report["phase_seconds"]
    rows = sum(report["rows"].values())
    projects = report["rows"]["projects"]
    return {
        "rows": rows,
        "projects": projects,
        "insert_s": phases["insert"],
        "fts_s": phases["fts"],
        "indexes_s": phases["indexes"],
        "checks_s": phases["checks"],
        "build_s": report["seconds"],
        "insert_rows_per_s": rows / phases["insert"],
        "build_s_per_million_projects": report["seconds"] / (projects / 1e6),
        "db_mib": target.stat().st_size / 2**20,
        "peak_rss_mib": peak_rss_mib(),
    }


def stage_load_raw(params: dict[str, Any]) -> dict[str, Any]:
    """Raw sqlite3: the same rows, already in their SQLite form, one executemany per table in
    one transaction, journal_mode=OFF, synchronous=OFF, no constraints, no FTS, no indexes."""
    import sqlite3

    from schemas import TABLE_MODELS
    from warehouse.build import LOAD_ORDER, _sqlite_ready
    from warehouse.ddl import table_columns

    tables = bench_tables(Path(params["valid"]))
    ready = {t: _sqlite_ready(tables[t], table_columns(TABLE_MODELS[t])) for t in LOAD_ORDER}
    target = Path(params["db"] + ".raw")
    target.unlink(missing_ok=True)
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    started = time.perf_counter()
    conn.execute("BEGIN")
    rows = 0
    for table in LOAD_ORDER:
        frame = ready[table]
        names = ", ".join(f'"{c}"' for c in frame.columns)
        conn.execute(f'CREATE TABLE "{table}" ({names})')
        marks = ", ".join("?" for _ in frame.columns)
        conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', frame.iter_rows())
        rows += frame.height
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    target.unlink()
    return {
        "rows": rows,
        "raw_insert_s": seconds,
        "raw_insert_rows_per_s": rows / seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


# --- 3. parse -----------------------------------------------------------------------------------


def _page_bodies(base: Path) -> list[tuple[str, bytes]]:
    from bench.pages import SPIDER

    index = json.loads((base / SPIDER / "index.json").read_text())
    return [(e["url"], (base / SPIDER / e["file"]).read_bytes()) for e in index["responses"]]


def stage_parse(params: dict[str, Any]) -> dict[str, Any]:
    """The project's parse_project_sheet on every page (bodies already in memory)."""
    import logging

    from scrapers.extract import parse_project_sheet

    # Unmapped labels are logged at INFO; the bench measures parsing, not log formatting.
    logging.disable(logging.INFO)
    pages = _page_bodies(Path(params["pages"]))
    mb = sum(len(b) for _, b in pages) / 1e6
    started = time.perf_counter()
    with_amounts = 0
    for url, body in pages:
        record = parse_project_sheet(body, url)
        with_amounts += record["total_eligible_eur"] is not None
    seconds = time.perf_counter() - started
    return {
        "pages": len(pages),
        "mb": mb,
        "parse_s": seconds,
        "pages_per_s": len(pages) / seconds,
        "pages_with_amount": with_amounts,
        "peak_rss_mib": peak_rss_mib(),
    }


def stage_parse_lxml(params: dict[str, Any]) -> dict[str, Any]:
    """Raw lxml.html parse + XPath on the same pages: the label/value rows and the prose."""
    import lxml.html

    pages = _page_bodies(Path(params["pages"]))
    started = time.perf_counter()
    with_amounts = 0
    for _url, body in pages:
        root = lxml.html.fromstring(body)
        fields = {}
        for p in root.xpath('//div[@class="project-sheet"]/p'):
            label, _, value = p.text_content().partition("|")
            fields[label.strip(" \xa0:")] = value.strip(" \xa0")
        description = " ".join(root.xpath('//div[@class="project-body"]//text()'))
        with_amounts += bool(fields) and bool(description)
    seconds = time.perf_counter() - started
    return {
        "pages": len(pages),
        "lxml_s": seconds,
        "lxml_pages_per_s": len(pages) / seconds,
        "pages_with_fields": with_amounts,
        "peak_rss_mib": peak_rss_mib(),
    }


# --- 4. crawl -----------------------------------------------------------------------------------


def _profile_summary(profile: Any, top: int = 12) -> dict[str, Any]:
    """Where the time went: seconds per package (own time) and the costliest functions."""
    import pstats

    stats = pstats.Stats(profile)
    by_package: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        path = filename.replace("\\", "/")
        if "/site-packages/" in path:
            package = path.split("/site-packages/", 1)[1].split("/", 1)[0]
        elif "/work/" in path or path.startswith(("scrapers", "pipelines", "bench")):
            package = "clusterdata:" + "/".join(path.rsplit("/", 2)[-2:])
        elif filename.startswith("~") or filename == "~":
            package = "builtins (C)"
        else:
            package = "stdlib"
        by_package[package] = by_package.get(package, 0.0) + tottime
        functions.append((tottime, cumtime, f"{path.rsplit('/', 1)[-1]}:{line}({name})"))
    functions.sort(reverse=True)
    return {
        "own_seconds_by_package": dict(
            sorted(((k, round(v, 3)) for k, v in by_package.items()), key=lambda kv: -kv[1])[:top]
        ),
        "top_functions_own_seconds": [
            {"function": f, "own_s": round(t, 3), "cumulative_s": round(c, 3)}
            for t, c, f in functions[:top]
        ],
    }


def stage_crawl(params: dict[str, Any]) -> dict[str, Any]:
    """A full Scrapy crawl of the generated pages with the project's spider, middlewares, item
    pipeline and feed: offline through the replay layer, or live against a static HTTP server
    on 127.0.0.1 (politeness delays off: the bench measures the machinery, not the manners)."""
    import cProfile
    import logging

    import scrapy
    from scrapy.crawler import CrawlerProcess

    from bench.pages import SPIDER
    from scrapers.crawl import crawl_settings
    from scrapers.spiders.pt_ticept_projects import TicePtProjectsSpider

    base = Path(params["pages"])
    index = json.loads((base / SPIDER / "index.json").read_text())
    mode = params["mode"]
    server = None
    if mode == "offline":
        urls = [e["url"] for e in index["responses"]]
    else:
        server, port = _static_server(base / SPIDER)
        urls = [f"http://127.0.0.1:{port}/{e['file']}" for e in index["responses"]]

    class BenchSheetsSpider(TicePtProjectsSpider):
        """The project-sheet spider, started on the bench's URLs instead of its YAML's."""

        @classmethod
        def update_settings(cls, settings: Any) -> None:
            super().update_settings(settings)
            settings.set("DOWNLOAD_DELAY", 0, "spider")

        async def start(self):
            for url in urls:
                yield scrapy.Request(url, callback=self.parse)

    out = Path(params["out"])
    out.unlink(missing_ok=True)
    settings = crawl_settings(
        out, mode == "offline", base if mode == "offline" else None, None, Path(params["log"])
    )
    settings.set("AUTOTHROTTLE_ENABLED", False)
    settings.set("ROBOTSTXT_OBEY", False)
    if mode == "http":
        # Loopback: one server, so the per-domain limit is the concurrency.
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", settings.getint("CONCURRENT_REQUESTS"))
    logging.disable(logging.INFO)
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BenchSheetsSpider)
    process.crawl(crawler)
    profile = cProfile.Profile() if params.get("profile") else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    process.start()
    if profile:
        profile.disable()
    seconds = time.perf_counter() - started
    if server:
        server.shutdown()
    stats = crawler.stats.get_stats()
    items = sum(1 for _ in out.open()) if out.exists() else 0
    figures: dict[str, Any] = {
        "pages": stats.get("response_received_count", 0),
        "items_written": items,
        "errors": stats.get("log_count/ERROR", 0),
        "crawl_s": seconds,
        "pages_per_s": stats.get("response_received_count", 0) / seconds,
        "peak_rss_mib": peak_rss_mib(),
    }
    if profile:
        profile.dump_stats(params["profile"])
        figures["profile"] = _profile_summary(params["profile"])
    return figures


def _static_server(folder: Path):
    """A threaded static file server on 127.0.0.1 (a free port), in a background thread."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


# --- 5. serve -----------------------------------------------------------------------------------


def serve_requests(db: Path) -> dict[str, str]:
    """The benchmark's requests (name -> path) for the served database: ids and bounds are read
    from the database itself, so every request has a real answer."""
    import sqlite3
    from urllib.parse import quote

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    count = conn.execute("select count(*) from projects").fetchone()[0]
    pk = conn.execute(
        "select project_id from projects limit 1 offset ?", (12_345 % count,)
    ).fetchone()[0]
    country = conn.execute(
        "select country from projects group by country order by count(*) desc limit 1"
    ).fetchone()[0]
    # The amount above which about 10,000 projects lie (all of them on a small database).
    amounts = conn.execute("select count(eu_contribution_eur) from projects").fetchone()[0]
    floor = conn.execute(
        "select eu_contribution_eur from projects where eu_contribution_eur is not null "
        "order by eu_contribution_eur desc limit 1 offset ?",
        (max(0, min(9_999, amounts - 1)),),
    ).fetchone()[0]
    conn.close()
    base = "/clusterdata"
    return {
        "row_json": f"{base}/projects/{quote(pk, safe='')}.json",
        "table_json_50": f"{base}/projects.json?_size=50",
        "filtered_country_amount": f"{base}/projects.json?country={country}"
        "&eu_contribution_eur__gte=100000&eu_contribution_eur__lte=500000&_size=50",
        "two_facets": f"{base}/projects.json?_facet=country&_facet=programme&_size=50",
        # The table page's search box (Datasette's own FTS query, which counts every match)...
        "fts_search": f"{base}/projects.json?_search=innovation&_size=50",
        # ...and the search_projects canned query (queries.yml), which stops at its 100th.
        "fts_search_canned": f"{base}/search_projects.json?q=innovation",
        "canned_query": f"{base}/eu_funding_by_programme_and_country.json",
        "csv_export_10000": f"{base}/projects.csv?eu_contribution_eur__gte={floor}"
        "&_stream=on&_size=max",
    }


async def _load(url_base: str, path: str, requests: int, connections: int) -> dict[str, Any]:
    """`requests` GETs of one path through at most `connections` connections at once."""
    import asyncio

    import aiohttp

    latencies: list[float] = []
    errors = 0
    # Which errors: a 4xx (Datasette answers 400 to a query past sql_time_limit_ms), a 5xx,
    # another status that is not 200, or no answer at all.
    kinds = dict.fromkeys(("errors_4xx", "errors_5xx", "errors_other", "errors_no_answer"), 0)
    sizes = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(url_base, timeout=timeout, connector=connector) as session:

        async def worker() -> None:
            nonlocal errors, sizes
            while not queue.empty():
                queue.get_nowait()
                t = time.perf_counter()
                try:
                    async with session.get(path) as response:
                        body = await response.read()
                        if response.status != 200:
                            errors += 1
                            status = response.status
                            kind = "5xx" if status >= 500 else "4xx" if status >= 400 else "other"
                            kinds[f"errors_{kind}"] += 1
                        sizes += len(body)
                except (TimeoutError, aiohttp.ClientError):
                    errors += 1
                    kinds["errors_no_answer"] += 1
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests": requests,
        "errors": errors,
        **kinds,
        "rps": requests / seconds,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "mean_bytes": sizes / requests,
    }


def stage_serve(params: dict[str, Any]) -> dict[str, Any]:
    """The real Datasette (warehouse.serve.datasette_command, the project's metadata, settings
    and plugins) on one database, every benchmark request at `connections` concurrency."""
    import asyncio
    import socket
    import subprocess
    import urllib.request

    from warehouse.metadata import write_datasette_config
    from warehouse.serve import datasette_command, read_sources

    db = Path(params["db"])
    config_dir = db.parent / "datasette"
    write_datasette_config(config_dir, read_sources(db))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        datasette_command(db, port, "127.0.0.1", config_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url_base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url_base + "/-/versions.json", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("datasette did not start") from None
                time.sleep(0.3)
        figures: dict[str, Any] = {}
        for name, path in serve_requests(db).items():
            count = params["csv_requests"] if name.startswith("csv") else params["requests"]
            # One warm-up request: the first hit opens connections and fills SQLite's cache.
            asyncio.run(_load(url_base, path, 1, 1))
            result = asyncio.run(_load(url_base, path, count, params["connections"]))
            for key, value in result.items():
                figures[f"{name}.{key}"] = value
        return figures
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def stage_generate(params: dict[str, Any]) -> dict[str, Any]:
    """Generate (or find) the inputs in a child, so the bench's own process stays small."""
    from bench.generate import ensure_kohesio
    from bench.pages import ensure_pages

    data = Path(params["data"])
    started = time.perf_counter()
    folder, items = ensure_kohesio(data, params["operations"], countries=params["countries"])
    pages = ensure_pages(data, params["pages"])
    return {
        "kohesio": str(folder),
        "kohesio_files": len(items),
        "kohesio_mb": sum(i["size_bytes"] for i in items) / 1e6,
        "pages": str(pages),
        "generate_s": time.perf_counter() - started,
    }


STAGES = {
    "generate": stage_generate,
    "clean": stage_clean,
    "clean_plain": stage_clean_plain,
    "load": stage_load,
    "load_raw": stage_load_raw,
    "parse": stage_parse,
    "parse_lxml": stage_parse_lxml,
    "crawl": stage_crawl,
    "serve": stage_serve,
    "parallel_crawl": stage_parallel_crawl,
    "parallel": stage_parallel,
}


def main() -> None:
    stage, params = sys.argv[1], json.loads(sys.argv[2])
    figures = STAGES[stage](params)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
