"""Public-deployment safety of the real Datasette servers (`clusterdata serve --sql-port`): an
SQL flood on the SQL server does not starve row pages on the main one, memory-bomb queries fail
fast, nothing can write, scraped text is always escaped, the security headers are set, and only
allowlisted tables can be published."""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.util
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import polars as pl
import pytest
from datasette.utils import tilde_encode

from pipelines.cli import main as cli_main
from schemas import TABLE_MODELS
from tests.servers import stop
from warehouse.build import build_database
from warehouse.ddl import foreign_keys, primary_key
from warehouse.metadata import load_queries
from warehouse.publish import PublishError, non_public_objects, publish_database
from warehouse.serve import datasette_command

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 40


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


samples = _load("_warehouse_samples", Path(__file__).with_name("test_warehouse.py"))
limits = _load("_sqlite_limits", REPO / "warehouse" / "plugins" / "sqlite_limits.py")

# Every payload names itself with "xss", so any of it that reaches the page as markup is found.
XSS_CORPUS = (
    "<script>alert('xss-script')</script>",
    "<img src=x onerror=\"alert('xss-img')\">",
    "\"><img src=x onerror=alert('xss-break-out')>",
    "'><svg onload=alert('xss-svg')>",
    "<svg><script>alert('xss-svg-script')</script></svg>",
    "<a href=\"javascript:alert('xss-a')\">xss-link</a>",
    "<iframe src=\"javascript:alert('xss-iframe')\"></iframe>",
    "<details open ontoggle=alert('xss-details')>",
    "<math><mi xlink:href=\"javascript:alert('xss-math')\">m</mi></math>",
    "<form action=\"javascript:alert('xss-form')\"><button>xss-button</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('xss-meta')\">",
    "<base href=\"//evil.example/xss-base/\">",
    "<style>body{background:url(//evil.example/xss-style)}</style>",
    "</textarea></title></script><script>alert('xss-close-tags')</script>",
    "<b>xss-bold</b> **xss-markdown** [xss-md](javascript:alert('xss-md'))",
    '{"html": "<script>alert(\'xss-json\')</script>"}',
    "{{ 7*7 }}xss-template",
)
XSS_TEXT = " ".join(XSS_CORPUS)
# Where a value is a URL, the attack is the whole value, or hides in a real link (Datasette
# links http(s) values: the payload then lands inside an href).
XSS_URL = "javascript:alert('xss-url')"
XSS_HTTPS_URL = "https://example.org/?q=\"><img/src=x/onerror=alert('xss-href')>"
URL_COLUMNS = ("url", "website", "homepage", "eccp_url", "source_url", "evidence_url")
# Tags a payload injects; the templates wrap data in none of them (and a real one never holds
# "xss" in its text or attributes).
INJECTED_TAGS = {
    "script", "img", "svg", "iframe", "details", "math", "mi", "form", "button", "meta",
    "base", "style", "b", "object", "embed",
}  # fmt: skip
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}


# ---------------------------------------------------------------------------------------------
# The databases and the servers


def xss_tables() -> dict[str, pl.DataFrame]:
    """The sample database with the XSS corpus in every text column: keys get it appended (the
    same suffix on both sides of a reference keeps the foreign keys sound), URL columns become a
    javascript: URL (even rows) or an https URL carrying a payload (odd rows), every other text
    column (nulls included) and JSON list holds the corpus."""
    tables = samples.sample_tables()
    for name, frame in tables.items():
        model = TABLE_MODELS[name]
        keys = {primary_key(model)} | {k.column for k in foreign_keys(model)}
        expressions = []
        for column, dtype in frame.schema.items():
            if dtype == pl.String and column in keys:
                expressions.append(pl.col(column) + " " + XSS_TEXT)
            elif dtype == pl.String and column in URL_COLUMNS:
                expressions.append(
                    pl.when(pl.int_range(pl.len()) % 2 == 0)
                    .then(pl.lit(XSS_URL, dtype=pl.String))
                    .otherwise(pl.lit(XSS_HTTPS_URL, dtype=pl.String))
                    .alias(column)
                )
            elif dtype == pl.String:
                expressions.append(pl.lit(XSS_TEXT, dtype=pl.String).alias(column))
            elif dtype == pl.List(pl.String):
                values = [*XSS_CORPUS, XSS_URL, XSS_HTTPS_URL]
                expressions.append(
                    pl.lit(pl.Series([values] * frame.height, dtype=dtype)).alias(column)
                )
            else:
                expressions.append(pl.col(column))
        tables[name] = frame.select(expressions)
    return tables


def add_releases_table(db: Path) -> None:
    """The `releases` table of the issue-6 contract (written by `clusterdata release`), with the
    corpus in its text and in the names inside its JSON."""
    files = [{"name": f"{p}.csv", "table": p, "format": "csv", "bytes": 1, "sha256": "0" * 64}
             for p in XSS_CORPUS]  # fmt: skip
    sources = [{"source_id": p, "status": p, "rows": 1, "snapshot": p} for p in XSS_CORPUS]
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE releases (release_id TEXT PRIMARY KEY, built_at TEXT, "
            "is_current INTEGER, files TEXT, sources TEXT)"
        )
        conn.execute(
            "INSERT INTO releases VALUES (?, ?, 1, ?, ?)",
            (f"2026-12-01-abcdef0 {XSS_TEXT}", XSS_TEXT, json.dumps(files), json.dumps(sources)),
        )
    conn.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


def fetch(url: str, data: bytes | None = None, timeout: float = 10) -> Response:
    """GET (or POST `data`) without raising on 4xx/5xx."""
    started = time.perf_counter()
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    return Response(
        status,
        {k.lower(): v for k, v in headers.items()},
        body,
        time.perf_counter() - started,
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Servers:
    main: str
    sql: str
    db: Path
    db_sha256: str
    log: Path
    serve_pid: int

    def sql_server_pid(self) -> int:
        """The Datasette child of `clusterdata serve` that listens on the SQL port."""
        port = self.sql.rsplit(":", 1)[1]
        children = Path(f"/proc/{self.serve_pid}/task/{self.serve_pid}/children").read_text()
        for pid in children.split():
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"--port" in argv and argv[argv.index(b"--port") + 1] == port.encode():
                return int(pid)
        raise AssertionError(f"no Datasette child on port {port}")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """`clusterdata serve --sql-port` (the real CLI, in a subprocess) on the XSS database."""
    tmp = tmp_path_factory.mktemp("serve_safety")
    data = tmp / "data"
    data.mkdir()
    built = data / "build.db"
    build_database(xss_tables(), built)
    add_releases_table(built)
    db = publish_database(built, data / "clusterdata.db")
    port, sql_port = free_port(), free_port()
    log = tmp / "serve.log"
    argv = [sys.executable, "-m", "pipelines.cli", "serve", "--data-dir", str(data),
            "--port", str(port), "--sql-port", str(sql_port)]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    main, sql = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sql_port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        for base in (main, sql):
            while True:
                if process.poll() is not None:
                    pytest.fail(f"serve exited ({process.returncode}):\n{log.read_text()}")
                try:
                    if fetch(f"{base}/-/versions.json", timeout=2).status == 200:
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{base} did not answer in {STARTUP_SECONDS}s:\n{log.read_text()}")
                time.sleep(0.2)
        yield Servers(main, sql, db, sha256_of(db), log, process.pid)
    finally:
        stop(process)


def sql_url(base: str, sql: str) -> str:
    return f"{base}/clusterdata.json?" + urllib.parse.urlencode({"sql": sql})


def first_row_url(base: str, table: str) -> str:
    """The row page of a table's first row (primary keys tilde-encoded, as Datasette links)."""
    page = json.loads(fetch(f"{base}/clusterdata/{table}.json?_size=1").body)
    pks = page["primary_keys"]
    columns = page["columns"]
    row = page["rows"][0]
    values = [row[columns.index(pk)] for pk in pks] if pks else [row[columns.index("rowid")]]
    return f"{base}/clusterdata/{table}/" + ",".join(tilde_encode(str(v)) for v in values)


# ---------------------------------------------------------------------------------------------
# Starvation: an SQL flood on the SQL server, row pages on the main one


EXPENSIVE_SQL = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT count(*) FROM n, projects"
)


def _measure(url: str, seconds: float, clients: int = 2) -> tuple[float, list[float]]:
    """(requests per second, latencies) of `clients` threads fetching `url` for `seconds`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < stop:
            try:
                response = fetch(url, timeout=5)
            except OSError as exc:  # a timeout or a refused connection is a failed request
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                if response.status != 200:
                    errors.append(f"{response.status}: {response.body[:200]!r}")
                latencies.append(response.seconds)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 10)
    assert not errors, errors[:3]
    return len(latencies) / (time.perf_counter() - started), latencies


def _p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


@pytest.mark.slow
def test_an_sql_flood_on_the_sql_server_does_not_starve_row_pages(servers: Servers) -> None:
    row_json = first_row_url(servers.main, "projects") + ".json"
    assert fetch(row_json).status == 200
    fetch(row_json)  # warm

    quiet_rate, quiet = _measure(row_json, 2.5)

    flood_done: list[Response] = []
    flood_started: list[float] = []
    stop_flood = threading.Event()

    def flooder() -> None:
        while not stop_flood.is_set():
            flood_started.append(time.perf_counter())
            try:
                flood_done.append(fetch(sql_url(servers.sql, EXPENSIVE_SQL), timeout=30))
            except OSError:
                return  # the server is stopped after the tests; nothing left to count

    flooders = [threading.Thread(target=flooder) for _ in range(6)]
    for thread in flooders:
        thread.start()
    try:
        time.sleep(0.5)
        flooded_rate, flooded = _measure(row_json, 2.5)
    finally:
        stop_flood.set()
        for thread in flooders:
            thread.join(timeout=30)

    # The flood was real: six queries at a time, each running into the time limit rather than
    # being turned away (on a loaded machine the niced server takes longer than the limit).
    assert len(flood_started) >= 6 and flood_done
    assert all(r.status == 400 and b"took too long" in r.body for r in flood_done), [
        (r.status, r.body[:120]) for r in flood_done[:3]
    ]
    assert all(r.seconds >= 0.9 for r in flood_done)
    summary = (
        f"quiet {quiet_rate:.0f}/s p99 {_p99(quiet) * 1000:.0f} ms; flooded {flooded_rate:.0f}/s "
        f"p99 {_p99(flooded) * 1000:.0f} ms; {len(flood_done)} flood queries"
    )
    print(summary)
    assert _p99(flooded) <= 0.5, summary
    assert flooded_rate >= 0.5 * quiet_rate, summary


# ---------------------------------------------------------------------------------------------
# Memory bombs, writes, permissions

# Each asks SQLite for one value far over 16 MiB; unlimited, each took seconds and its size in RAM.
MEMORY_BOMBS = {
    "randomblob": "SELECT randomblob(5e8)",
    "zeroblob": "SELECT length(zeroblob(5e8))",
    "hex growth": "SELECT hex(zeroblob(300000000))",
    "replace growth": "SELECT length(replace(hex(zeroblob(100000)), '0', hex(zeroblob(100))))",
    "group_concat growth": "SELECT length(group_concat(hex(zeroblob(1000000)), '')) "
    "FROM (SELECT 1 FROM projects, projects, projects)",
    "concatenation": "SELECT length(zeroblob(9000000) || zeroblob(9000000))",
}


@pytest.mark.slow
def test_memory_bombs_fail_fast_with_a_4xx(servers: Servers) -> None:
    fetch(sql_url(servers.sql, "SELECT 1"))  # warm the connection
    slow = {}
    for name, sql in MEMORY_BOMBS.items():
        # The best of three: the machine running the tests may be busy, a bomb is slow every time.
        responses = [fetch(sql_url(servers.sql, sql)) for _ in range(3)]
        for response in responses:
            assert 400 <= response.status < 500, (name, response.status, response.body[:300])
            assert json.loads(response.body)["error"] == "string or blob too big", name
        best = min(r.seconds for r in responses)
        if best > 0.1:
            slow[name] = f"{best * 1000:.0f} ms"
    assert not slow, slow


def _rss_mib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


@pytest.mark.slow
def test_many_rows_of_large_values_are_refused_within_the_memory_cap(servers: Servers) -> None:
    # Each value is within the 16 MiB limit; uncapped, Datasette rendered these 40 rows into 15 GB.
    sql = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
        "SELECT zeroblob(16000000) FROM n"
    )
    pid = servers.sql_server_pid()
    response = fetch(sql_url(servers.sql, sql), timeout=60)
    assert 400 <= response.status < 500, (response.status, response.body[:300])
    assert _rss_mib(pid) < 1024 + 128
    assert fetch(sql_url(servers.sql, "SELECT 1")).status == 200
    assert servers.sql_server_pid() == pid  # refused, not killed


@pytest.mark.slow
def test_printf_padding_is_capped_without_allocating(servers: Servers) -> None:
    # SQLite's printf answers NULL (not an error) when its result would pass the length limit.
    response = fetch(sql_url(servers.sql, "SELECT printf('%*c', 500000000, 'x') AS padded"))
    assert response.status == 200
    assert json.loads(response.body)["rows"] == [[None]]
    assert response.seconds <= 0.1


@pytest.mark.slow
def test_an_error_page_costs_no_more_than_a_page(servers: Servers) -> None:
    # Datasette printed each exception as a rich traceback with locals: ~1 s of CPU per 404.
    for url in (f"{servers.main}/clusterdata/no_such_table.json", f"{servers.main}/no/such/page",
                sql_url(servers.main, "SELECT 1")):  # fmt: skip
        responses = [fetch(url) for _ in range(3)]
        assert all(r.status in (403, 404) for r in responses), [r.status for r in responses]
        assert min(r.seconds for r in responses) <= 0.1, [r.seconds for r in responses]


def test_the_plugin_sets_the_limits_on_a_connection() -> None:
    conn = sqlite3.connect(":memory:")
    # The heap limit is process-wide: this test process gets its own back afterwards.
    (previous_heap_limit,) = conn.execute("PRAGMA hard_heap_limit").fetchone()
    try:
        limits.prepare_connection(conn)
        assert conn.execute("PRAGMA hard_heap_limit").fetchone() == (256 * 1024 * 1024,)
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 16 * 1024 * 1024
        assert 50_000 <= conn.getlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH) <= 200_000
        assert conn.execute("SELECT length(zeroblob(16 * 1024 * 1024))").fetchone() == (
            16 * 1024 * 1024,
        )
        with pytest.raises(sqlite3.DataError, match="too big"):
            conn.execute("SELECT zeroblob(16 * 1024 * 1024 + 1)").fetchone()
        # Over HTTP a statement this long is cut by the server's request-line limit first.
        with pytest.raises(sqlite3.DataError, match="too large"):
            conn.execute("SELECT 1 WHERE 1 IN (" + ",".join(["1"] * 60_000) + ")")
        with pytest.raises(sqlite3.OperationalError, match="too many attached"):
            conn.execute("ATTACH ':memory:' AS x")
    finally:
        conn.execute(f"PRAGMA hard_heap_limit={previous_heap_limit}")
        conn.close()


@pytest.mark.slow
def test_arbitrary_sql_is_off_on_the_main_server_and_canned_queries_work(
    servers: Servers,
) -> None:
    assert fetch(sql_url(servers.main, "SELECT 1")).status == 403
    assert fetch(f"{servers.main}/clusterdata/projects.json?_where=1%3D1").status == 403
    assert fetch(sql_url(servers.sql, "SELECT 1 AS one")).status == 200
    settings = json.loads(fetch(f"{servers.main}/-/settings.json").body)
    assert settings["default_allow_sql"] is False
    assert settings["suggest_facets"] is False
    assert settings["sql_time_limit_ms"] <= 1000
    assert settings["max_returned_rows"] == 1000
    response = fetch(f"{servers.main}/clusterdata/eu_funding_by_programme.json")
    assert response.status == 200, response.body[:300]


def test_no_canned_query_writes(tmp_path: Path) -> None:
    assert all(not query.get("write") for query in load_queries().values())
    queries = tmp_path / "queries.yml"
    queries.write_text(
        "wipe:\n  title: Wipe\n  description: x\n  sql: DELETE FROM projects\n  write: true\n"
    )
    with pytest.raises(ValueError, match="wipe writes"):
        load_queries(queries)


WRITE_ATTEMPTS = (
    "INSERT INTO projects (project_id, title) VALUES ('x', 'x')",
    "UPDATE projects SET title = 'x'",
    "DELETE FROM projects",
    "DROP TABLE projects",
    "CREATE TABLE x (a)",
    "ATTACH DATABASE '/tmp/clusterdata-attack.db' AS x",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = wal",
    "VACUUM",
    "SELECT 1; DELETE FROM projects",
    "WITH x AS (SELECT 1) DELETE FROM projects",
    "REPLACE INTO sources (source_id) VALUES ('x')",
)


@pytest.mark.slow
def test_writes_are_refused_and_the_file_is_unchanged(servers: Servers) -> None:
    for statement in WRITE_ATTEMPTS:
        for base in (servers.sql, servers.main):
            response = fetch(sql_url(base, statement))
            assert 400 <= response.status < 500, (base, statement, response.status)
        # A POST goes through Datasette's CSRF check before any view.
        body = urllib.parse.urlencode({"sql": statement}).encode()
        assert 400 <= fetch(f"{servers.sql}/clusterdata", data=body).status < 500
    for query in load_queries():
        response = fetch(f"{servers.main}/clusterdata/{query}", data=b"x=1")
        assert 400 <= response.status < 500, (query, response.status)
    assert fetch(f"{servers.main}/clusterdata/projects/-/insert", data=b"{}").status >= 400
    assert not list(servers.db.parent.glob("clusterdata.db-*"))  # no journal, no WAL
    assert sha256_of(servers.db) == servers.db_sha256
    assert int(
        json.loads(fetch(sql_url(servers.sql, "SELECT count(*) FROM projects")).body)["rows"][0][0]
    ) == 3


# ---------------------------------------------------------------------------------------------
# Headers and escaping


@pytest.mark.slow
def test_security_headers_on_pages_and_json(servers: Servers) -> None:
    for url in (f"{servers.main}/", f"{servers.main}/clusterdata/projects",
                f"{servers.main}/clusterdata/projects.json", f"{servers.sql}/clusterdata",
                f"{servers.main}/no-such-page"):  # fmt: skip
        headers = fetch(url).headers
        policy = dict(
            (d.split()[0], d.split()[1:]) for d in headers["content-security-policy"].split(";")
        )
        assert policy["script-src"][0] == "'self'"
        assert all(s.startswith("'sha256-") for s in policy["script-src"][1:]), policy
        assert policy["default-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def _inline_script_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def injected_markup(page: str, csp: str) -> list[str]:
    """What in an HTML page could run an injected payload: an element a payload adds, an event
    handler, a javascript: URL, an inline script the CSP does not allow by hash."""
    found = []
    root = lxml.html.document_fromstring(page)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        own_text = element.text or ""
        attributes = dict(element.attrib)
        for name, value in attributes.items():
            if name.lower().startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if name.lower() in URL_ATTRIBUTES:
                scheme = "".join(value.split()).lower()
                if scheme.startswith(("javascript:", "vbscript:", "data:text/html")):
                    found.append(f"<{tag} {name}={value!r}>")
        if tag in INJECTED_TAGS and (
            "xss" in own_text or any("xss" in v for v in attributes.values())
        ):
            found.append(f"<{tag}> {own_text[:60]!r} {attributes}")
        script_type = attributes.get("type", "text/javascript").lower()
        if tag == "script" and "src" not in attributes and script_type in JS_TYPES:
            if _inline_script_hash(own_text) not in csp:
                found.append(f"inline script not allowed by the CSP: {own_text[:80]!r}")
    if "49xss-template" in page:
        found.append("a template expression was evaluated")
    return found


def xss_pages(servers: Servers) -> list[str]:
    """Every kind of page that shows scraped text: landing page, database page, each table with
    its facets, a row page per table, search results, canned queries, reflected parameters."""
    main = servers.main
    quoted = urllib.parse.quote(XSS_CORPUS[2])
    pages = [f"{main}/", f"{main}/clusterdata", f"{main}/-/metadata",
             f"{main}/clusterdata/projects?_search=alert",
             f"{main}/clusterdata/clusters?_search=xss&_facet=country&_facet_array=sectors",
             f"{main}/clusterdata/projects?_search={quoted}",
             f"{main}/clusterdata/projects?title__contains={quoted}&_sort=title",
             f"{main}/clusterdata/projects?_facet=title&_facet=programme&_facet_array=funds",
             f"{main}/clusterdata/{quoted}", f"{main}/clusterdata/projects/{quoted}"]  # fmt: skip
    pages.append(f"{servers.sql}/clusterdata?sql=" + urllib.parse.quote("SELECT * FROM projects"))
    for table in [*TABLE_MODELS, "releases"]:
        pages.append(f"{main}/clusterdata/{table}")
        pages.append(first_row_url(main, table))
    pages += [f"{main}/clusterdata/{query}" for query in load_queries()]
    return pages


@pytest.mark.slow
def test_scraped_text_is_always_escaped(servers: Servers) -> None:
    problems = {}
    checked = 0
    for url in xss_pages(servers):
        response = fetch(url)
        if response.status >= 500:
            problems[url] = [f"HTTP {response.status}"]
            continue
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        page = response.body.decode("utf-8")
        checked += 1
        found = injected_markup(page, response.headers["content-security-policy"])
        if found:
            problems[url] = found[:5]
    assert not problems, json.dumps(problems, indent=1)[:4000]
    assert checked >= 20
    # The corpus did reach the pages, as text: the check above looked at the real thing.
    projects = fetch(f"{servers.main}/clusterdata/projects").body.decode()
    assert "&lt;script&gt;alert(&#39;xss-script&#39;)&lt;/script&gt;" in projects
    # ... and a payload inside a linked URL stayed inside its href.
    documents = lxml.html.document_fromstring(fetch(f"{servers.main}/clusterdata/documents").body)
    assert XSS_HTTPS_URL in [a.get("href") for a in documents.iter("a")]


def test_the_checker_finds_injected_markup() -> None:
    csp = "script-src 'self'"
    for payload in XSS_CORPUS[:-1]:
        assert injected_markup(f"<html><body><td>{payload}</td></body></html>", csp), payload
    assert injected_markup("<html><body><p>49xss-template</p></body></html>", csp)
    escaped = "".join(f"<td>{html.escape(p)}</td>" for p in XSS_CORPUS)
    assert not injected_markup(f"<html><body>{escaped}</body></html>", csp)


# ---------------------------------------------------------------------------------------------
# The publish-time allowlist


def test_publish_refuses_a_table_not_on_the_allowlist(tmp_path: Path) -> None:
    built = tmp_path / "build.db"
    build_database(samples.sample_tables(), built)
    with sqlite3.connect(built) as conn:
        assert non_public_objects(conn) == []
        conn.execute("CREATE TABLE quarantine_rows (reason TEXT)")
        conn.execute("CREATE VIRTUAL TABLE quarantine_rows_fts USING fts5(reason)")
        conn.execute("CREATE VIEW projects_private AS SELECT * FROM projects")
        refused = non_public_objects(conn)
    conn.close()
    assert refused == [
        "table quarantine_rows", "table quarantine_rows_fts", "table quarantine_rows_fts_config",
        "table quarantine_rows_fts_content", "table quarantine_rows_fts_data",
        "table quarantine_rows_fts_docsize", "table quarantine_rows_fts_idx",
        "view projects_private",
    ]  # fmt: skip
    target = tmp_path / "clusterdata.db"
    with pytest.raises(PublishError, match="not on the public allowlist.*quarantine_rows"):
        publish_database(built, target)
    assert not target.exists()


def test_publish_accepts_the_releases_table_and_fts_indexes(tmp_path: Path) -> None:
    built = tmp_path / "build.db"
    build_database(samples.sample_tables(), built)
    add_releases_table(built)
    with sqlite3.connect(built) as conn:
        conn.execute("CREATE VIRTUAL TABLE releases_fts USING fts5(release_id)")
    conn.close()
    assert publish_database(built, tmp_path / "clusterdata.db").is_file()


# ---------------------------------------------------------------------------------------------
# The command line


def test_only_the_sql_server_allows_arbitrary_sql(tmp_path: Path) -> None:
    main_argv = datasette_command(tmp_path / "clusterdata.db", 8001, config_dir=tmp_path)
    sql_argv = datasette_command(
        tmp_path / "clusterdata.db", 8002, config_dir=tmp_path, allow_sql=True
    )
    for argv, allowed in ((main_argv, "off"), (sql_argv, "on")):
        assert ["--setting", "default_allow_sql", allowed] == argv[
            argv.index("default_allow_sql") - 1 : argv.index("default_allow_sql") + 2
        ]
        assert argv[argv.index("--plugins-dir") + 1] == str(REPO / "warehouse" / "plugins")


def test_serve_refuses_one_port_for_both_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(["serve", "--port", "8001", "--sql-port", "8001", "--data-dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: --sql-port must differ from --port")


@pytest.mark.slow
def test_a_dead_sql_server_is_restarted_and_the_main_server_serves_on(servers: Servers) -> None:
    # Last of the server tests: it kills the SQL server.
    pid = servers.sql_server_pid()
    row = first_row_url(servers.main, "projects") + ".json"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert fetch(row).status == 200
        try:
            if fetch(sql_url(servers.sql, "SELECT 1"), timeout=2).status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, servers.log.read_text()[-2000:]
        time.sleep(0.2)
    assert servers.sql_server_pid() != pid
    assert "The SQL server exited (-9): restarting it" in servers.log.read_text()
