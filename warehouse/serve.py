"""Run the real `datasette serve` on the published database, with the generated metadata and
settings, in the foreground."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from warehouse.metadata import DATABASE_NAME, datasette_settings, write_datasette_config
from warehouse.metadata import SOURCE_KEYS as _SOURCE_KEYS

TEMPLATES_DIR = Path(__file__).with_name("templates")
RELEASES_DIR = "releases"
# Our Datasette plugins (SQLite limits, security headers, pages): loaded by both servers.
PLUGINS_DIR = Path(__file__).with_name("plugins")
# The arbitrary-SQL server yields the CPU to the main one: table and row pages stay fast while
# someone floods it with expensive queries.
SQL_SERVER_NICENESS = 10
# Memory (heap and anonymous mappings, RLIMIT_DATA) the arbitrary-SQL server may take. Each value
# is capped at 16 MiB by the SQLite limits plugin, but a query returning many such rows was still
# rendered into gigabytes of JSON (15 GB for 40 rows of zeroblob(16000000)); with the cap the
# request fails with a MemoryError and the server goes on. Table pages need far less.
SQL_SERVER_MEMORY_BYTES = 1024 * 1024 * 1024
# A SQL server that dies this soon after starting is broken (a port in use), not killed by a query.
SQL_SERVER_MIN_LIFE_SECONDS = 5.0


def default_config_dir(db_path: Path) -> Path:
    """Where the generated Datasette config lives when none is given: beside the database."""
    return Path(db_path).parent / "datasette"


def datasette_command(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    config_dir: Path | None = None,
    *,
    allow_sql: bool = False,
) -> list[str]:
    """The argv of `datasette serve` for the published database (config written beforehand by
    write_datasette_config into `config_dir`).

    allow_sql: the arbitrary-SQL server (the SQL editor, ?sql= and ?_where=); the main server
    serves tables, rows, facets, search and canned queries only."""
    db_path = Path(db_path)
    # Datasette names a database after its file; URLs and canned queries use /clusterdata/.
    if db_path.stem != DATABASE_NAME:
        raise ValueError(f"{db_path.name}: the served file must be named {DATABASE_NAME}.db")
    config_dir = Path(config_dir) if config_dir else default_config_dir(db_path)
    argv = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        # A plain (not --immutable) file: publish replaces it, and immutable mode would also
        # count every table on start-up.
        str(db_path),
        "--host",
        host,
        "--port",
        str(port),
        "--metadata",
        str(config_dir / "metadata.json"),
        # Open data: let browser apps on other origins call the JSON API.
        "--cors",
    ]
    settings = datasette_settings()
    if allow_sql:
        settings["default_allow_sql"] = True
    for name, value in settings.items():
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        argv += ["--setting", name, text]
    if any(TEMPLATES_DIR.glob("*.html")):
        argv += ["--template-dir", str(TEMPLATES_DIR)]
    # The release downloads (clusterdata release) at /releases/<release_id>/<file>. Datasette
    # refuses a --static folder that does not exist, so an empty one stands in before the first.
    releases = db_path.parent / RELEASES_DIR
    releases.mkdir(parents=True, exist_ok=True)
    argv += ["--static", f"{RELEASES_DIR}:{releases.resolve()}"]
    if any(PLUGINS_DIR.glob("*.py")):
        argv += ["--plugins-dir", str(PLUGINS_DIR)]
    return argv


def read_sources(db_path: Path) -> list[dict]:
    """The sources table of a database, as write_datasette_config wants it."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        columns = ", ".join(_SOURCE_KEYS)
        return [
            dict(row) for row in conn.execute(f"SELECT {columns} FROM sources ORDER BY source_id")
        ]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Terminated(Exception):
    """SIGTERM arrived: stop the server as Ctrl-C would."""


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    # Without this, SIGTERM would kill this process and leave Datasette running as an orphan.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sql_server_limits() -> None:
    # Runs in the child between fork and exec (Popen preexec_fn): only the SQL server is niced
    # and capped.
    os.nice(SQL_SERVER_NICENESS)
    resource.setrlimit(resource.RLIMIT_DATA, (SQL_SERVER_MEMORY_BYTES, SQL_SERVER_MEMORY_BYTES))


def serve(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    config_dir: Path | None = None,
    *,
    sql_port: int | None = None,
    poll_seconds: float = 1.0,
) -> None:
    """Serve the database with Datasette in the foreground until Ctrl-C (or SIGTERM).

    The server on `port` has arbitrary SQL off; with `sql_port`, a second Datasette process on
    that port serves the same file with arbitrary SQL on, at a lower CPU priority and with a
    memory cap, so a flood of expensive queries there cannot starve the table and row pages
    here; if a query kills it, it is started again.

    A new release (publish_database swapping the file) is served without a restart: the
    hot_reload plugin (plugins/hot_reload.py) in each server swaps in the new file and its
    metadata within a second, with no failed request. A non-zero exit of either Datasette stops
    both and ends this with SystemExit(<its exit code>)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"{db_path}: no published database; run the refresh first")
    if sql_port is not None and sql_port == port:
        raise ValueError(f"the SQL server needs a port of its own, not {port}")
    config_dir = Path(config_dir) if config_dir else default_config_dir(db_path)
    commands = [(datasette_command(db_path, port, host, config_dir), None)]
    print(f"Serving {DATABASE_NAME} on http://{host}:{port}/", flush=True)
    if sql_port is not None:
        sql_argv = datasette_command(db_path, sql_port, host, config_dir, allow_sql=True)
        commands.append((sql_argv, _sql_server_limits))
        print(f"Arbitrary SQL on http://{host}:{sql_port}/{DATABASE_NAME}", flush=True)
    write_datasette_config(config_dir, read_sources(db_path))
    processes: list[subprocess.Popen] = []
    started: list[float] = []
    returncode = 0
    with _sigterm_as_exception():
        try:
            for argv, preexec in commands:
                processes.append(subprocess.Popen(argv, preexec_fn=preexec))
                started.append(time.monotonic())
            while True:
                exited = [i for i, p in enumerate(processes) if p.poll() is not None]
                if 0 in exited or any(
                    time.monotonic() - started[i] < SQL_SERVER_MIN_LIFE_SECONDS for i in exited
                ):
                    codes = [processes[i].returncode for i in exited]
                    returncode = next((code for code in codes if code != 0), 0)
                    break
                for i in exited:
                    print(
                        f"The SQL server exited ({processes[i].returncode}): restarting it",
                        flush=True,
                    )
                    argv, preexec = commands[i]
                    processes[i] = subprocess.Popen(argv, preexec_fn=preexec)
                    started[i] = time.monotonic()
                time.sleep(poll_seconds)
        except (KeyboardInterrupt, _Terminated):
            return
        finally:
            for process in processes:
                _stop(process)
    if returncode != 0:
        raise SystemExit(returncode)
