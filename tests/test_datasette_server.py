"""The real Datasette server, started by warehouse.serve.serve on a built database: JSON API rows,
a canned query, the licence, and a restart when a new release is published."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import stop
from warehouse.build import build_database
from warehouse.publish import publish_database

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 30


def _sample_tables_module():
    # The small valid database lives with the warehouse tests; loaded by path so this file does
    # not depend on tests/ being a package.
    spec = importlib.util.spec_from_file_location(
        "_warehouse_samples", Path(__file__).with_name("test_warehouse.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


samples = _sample_tables_module()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def wait_until(predicate, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited ({process.returncode}) before {what}:\n{log.read_text()}")
        try:
            if predicate():
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"no {what} within {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen, Path, Path]]:
    """serve() in a subprocess, exactly as the CLI runs it; yields (base URL, process, db, log)."""
    db = tmp_path / "data" / "clusterdata.db"
    db.parent.mkdir()
    build_database(samples.sample_tables(), tmp_path / "data" / "build.db")
    publish_database(tmp_path / "data" / "build.db", db)
    port = free_port()
    log = tmp_path / "serve.log"
    code = (
        "from pathlib import Path; from warehouse.serve import serve; "
        f"serve(Path({str(db)!r}), {port}, config_dir=Path({str(tmp_path / 'config')!r}), "
        "poll_seconds=0.2)"
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get_json(f"{base}/-/versions.json"), "answer", process, log)
        yield base, process, db, log
    finally:
        stop(process)


@pytest.mark.slow
def test_datasette_serves_rows_queries_and_licence(server) -> None:
    base, process, db, log = server
    assert log.read_text().startswith(f"Serving clusterdata on {base}/")

    reference = urllib.parse.quote("ACORES-01-0247-FEDER-000123")
    rows = get_json(f"{base}/clusterdata/projects.json?_shape=array&reference={reference}")
    assert len(rows) == 1
    row = rows[0]
    assert row["project_id"] == "p:1"
    assert row["title"] == "Competitividade Açores"
    assert row["eu_contribution_eur"] == 85000.0
    assert row["start_date"] == "2021-03-01"
    assert json.loads(row["funds"]) == ["ERDF"]

    # Full-text search through Datasette's own _search, diacritics folded.
    found = get_json(f"{base}/clusterdata/projects.json?_shape=array&_search=acores")
    assert [r["project_id"] for r in found] == ["p:1"]

    funding = get_json(f"{base}/clusterdata/eu_funding_by_programme.json?_shape=array&fund=ESF")
    assert funding == [
        {
            "programme": "Compete 2020",
            "projects": 1,
            "projects_with_eu_amount": 1,
            "eu_contribution_eur": 50000.0,
            "total_eligible_eur": 80000.0,
        }
    ]

    metadata = get_json(f"{base}/-/metadata.json")
    assert metadata["license"] == "CC BY 4.0"
    assert "All rights reserved" in metadata["description_html"]
    settings = get_json(f"{base}/-/settings.json")
    assert settings["sql_time_limit_ms"] <= 1000
    assert settings["suggest_facets"] is False


@pytest.mark.slow
def test_publishing_a_release_restarts_the_server_and_ctrl_c_ends_it(
    server, tmp_path: Path
) -> None:
    base, process, db, log = server
    url = f"{base}/clusterdata/projects.json?_shape=array&project_id=p%3A1"
    assert get_json(url)[0]["title"] == "Competitividade Açores"

    built = tmp_path / "data" / "next.db"
    build_database(samples.sample_tables("Competitividade Açores, segunda fase"), built)
    publish_database(built, db)
    wait_until(
        lambda: get_json(url)[0]["title"] == "Competitividade Açores, segunda fase",
        "new release served",
        process,
        log,
    )

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    with pytest.raises(urllib.error.URLError):
        get_json(f"{base}/-/versions.json")
