"""The real Datasette server, started by warehouse.serve.serve on a built database: JSON API rows,
a canned query, the licence, and a new release served without a restart (the hot_reload plugin)."""

from __future__ import annotations

import asyncio
import contextlib
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


def _children(pid: int) -> set[int]:
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


@pytest.mark.slow
def test_publishing_a_release_is_served_without_a_restart_and_ctrl_c_ends_it(
    server, tmp_path: Path
) -> None:
    base, process, db, log = server
    url = f"{base}/clusterdata/projects.json?_shape=array&project_id=p%3A1"
    old, new = "Competitividade Açores", "Competitividade Açores, segunda fase"
    assert get_json(url)[0]["title"] == old
    datasette = _children(process.pid)
    answers: list[tuple[float, int, str | None]] = []
    done = threading.Event()

    def poll() -> None:
        # One client asking as fast as it can across the publish: every answer is recorded.
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    title = json.loads(response.read())[0]["title"]
                    answers.append((time.monotonic(), response.status, title))
            except urllib.error.HTTPError as exc:
                answers.append((time.monotonic(), exc.code, None))
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                answers.append((time.monotonic(), 0, repr(exc)))

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(0.5)
        built = tmp_path / "data" / "next.db"
        build_database(samples.sample_tables(new), built)
        published_at = time.monotonic()
        publish_database(built, db)
        deadline = published_at + 10
        while time.monotonic() < deadline and not any(a[2] == new for a in answers):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        done.set()
        poller.join(timeout=10)

    assert [a for a in answers if a[1] != 200] == []
    titles = [title for _, _, title in answers]
    assert set(titles) == {old, new}
    first_new = titles.index(new)
    # No mixing back: once a client has seen the new release it never sees the old one again.
    assert set(titles[first_new:]) == {new}
    assert answers[first_new][0] - published_at < 10
    assert _children(process.pid) == datasette  # the same Datasette, not a restarted one

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    with pytest.raises(urllib.error.URLError):
        get_json(f"{base}/-/versions.json")


def _publish(tmp_path: Path, title: str) -> Path:
    """Build the sample tables with a project titled `title` and publish them as
    tmp_path/clusterdata.db (the served file)."""
    db = tmp_path / "clusterdata.db"
    build_database(samples.sample_tables(title), tmp_path / "build.db")
    publish_database(tmp_path / "build.db", db)
    return db


def _in_process(db: Path):
    from datasette.app import Datasette
    from datasette.plugins import pm

    from warehouse.metadata import datasette_metadata, datasette_settings
    from warehouse.serve import PLUGINS_DIR, read_sources

    ds = Datasette(
        [str(db)],
        metadata=datasette_metadata(read_sources(db)),
        plugins_dir=str(PLUGINS_DIR),
        settings=datasette_settings(),
    )
    return ds, pm.get_plugin("hot_reload.py")


async def _title(ds) -> str:
    response = await ds.client.get("/clusterdata/projects.json?_shape=array&project_id=p%3A1")
    assert response.status_code == 200
    return response.json()[0]["title"]


def test_hot_reload_swaps_in_a_new_database_and_closes_the_old_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _publish(tmp_path, "Release 0")
    ds, plugin = _in_process(db)
    monkeypatch.setattr(plugin, "RETIRE_SECONDS", 0.2)

    async def scenario() -> list[int]:
        assert await _title(ds) == "Release 0"
        descriptors = []
        for n in range(1, 6):
            served = ds.databases["clusterdata"]
            _publish(tmp_path, f"Release {n}")
            assert await plugin.reload_if_published(ds, plugin.Refused())
            assert ds.databases["clusterdata"] is not served
            assert await _title(ds) == f"Release {n}"
            # A request that looked up the old Database before the swap finishes on the old
            # release (its unlinked inode), not half on the new one.
            old = await served.execute("SELECT title FROM projects WHERE project_id = 'p:1'")
            assert old.first()[0] == f"Release {n - 1}"
            await asyncio.sleep(0.5)  # past RETIRE_SECONDS: the old connections are closed
            descriptors.append(len(os.listdir("/proc/self/fd")))
        return descriptors

    descriptors = asyncio.run(scenario())
    assert len(set(descriptors)) == 1, descriptors  # no descriptor leaked per publish


def test_hot_reload_keeps_the_release_when_the_new_file_does_not_open(tmp_path: Path) -> None:
    db = _publish(tmp_path, "Good release")
    ds, plugin = _in_process(db)

    async def scenario() -> None:
        assert await _title(ds) == "Good release"
        # Not through publish_database (which would refuse it): what the plugin itself checks.
        broken = tmp_path / "broken.db"
        broken.write_bytes(b"not a database" * 100)
        os.replace(broken, db)
        refused = plugin.Refused()
        assert not await plugin.reload_if_published(ds, refused)
        assert len(refused) == 1
        assert await _title(ds) == "Good release"

    asyncio.run(scenario())


def test_hot_reload_tries_a_file_that_did_not_open_again_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passing error (a busy machine) must not keep a good release off the server for good."""
    db = _publish(tmp_path, "Release 0")
    ds, plugin = _in_process(db)
    monkeypatch.setattr(plugin, "RETRY_SECONDS", 0.3)
    opens = []
    open_release = plugin._open_release

    def fails_once(ds, current):
        opens.append(1)
        if len(opens) == 1:
            raise sqlite3.OperationalError("unable to open database file")
        return open_release(ds, current)

    async def scenario() -> None:
        assert await _title(ds) == "Release 0"
        ds._hot_reload_task.cancel()  # this test polls by hand
        monkeypatch.setattr(plugin, "_open_release", fails_once)
        _publish(tmp_path, "Release 1")
        refused = plugin.Refused()
        assert not await plugin.reload_if_published(ds, refused)
        assert not await plugin.reload_if_published(ds, refused)  # waiting: not tried again yet
        assert len(opens) == 1
        assert await _title(ds) == "Release 0"
        await asyncio.sleep(0.4)
        assert await plugin.reload_if_published(ds, refused)
        assert len(refused) == 0
        assert await _title(ds) == "Release 1"

    asyncio.run(scenario())


def test_the_watcher_keeps_polling_after_a_poll_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A watcher that died would leave the server on an old release with nothing said."""
    db = _publish(tmp_path, "Release 0")
    ds, plugin = _in_process(db)
    monkeypatch.setattr(plugin, "POLL_SECONDS", 0.05)
    polls = []
    reload_if_published = plugin.reload_if_published

    async def raises_once(ds, refused):
        polls.append(1)
        if len(polls) == 1:
            raise RuntimeError("something no one expected")
        return await reload_if_published(ds, refused)

    monkeypatch.setattr(plugin, "reload_if_published", raises_once)

    async def scenario() -> None:
        assert await _title(ds) == "Release 0"  # the first request starts the watcher
        _publish(tmp_path, "Release 1")
        for _ in range(100):
            if ds.databases["clusterdata"].identity == plugin.file_identity(str(db)):
                break
            await asyncio.sleep(0.05)
        assert len(polls) > 1
        assert await _title(ds) == "Release 1"
        ds._hot_reload_task.cancel()

    asyncio.run(scenario())


def test_a_schema_refresh_that_is_interrupted_does_not_fail_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Datasette refreshes its schema catalogue before every request, outside its views' error
    handling; a busy machine once interrupted that refresh right after a swap, and the request
    got a 500 (kill drill, CI)."""
    from datasette.database import QueryInterrupted

    db = _publish(tmp_path, "Release 0")
    ds, plugin = _in_process(db)
    refreshes = []
    refresh = ds._refresh_schemas

    async def interrupted() -> None:
        refreshes.append(1)
        if len(refreshes) > 1:  # the first refresh (start-up) succeeds, then every one fails
            raise QueryInterrupted(sqlite3.OperationalError("interrupted"), "select 1", None)
        await refresh()

    monkeypatch.setattr(ds, "_refresh_schemas", interrupted)

    async def scenario() -> None:
        assert await _title(ds) == "Release 0"
        _publish(tmp_path, "Release 1")
        # Its own refresh fails: logged.
        assert await plugin.reload_if_published(ds, plugin.Refused())
        assert await _title(ds) == "Release 1"  # and so does the request's: still a 200

    asyncio.run(scenario())
    assert len(refreshes) >= 3


@pytest.mark.parametrize(
    ("query", "from_index"),
    [("_search=Mobilidade", True), ("_search=Mobilidade&country=PT", False)],
)
def test_a_search_alone_is_counted_in_its_index_and_counts_the_same(
    tmp_path: Path, query: str, from_index: bool
) -> None:
    """The served release answers the count of a table search that is the only filter from the
    FTS index alone (search_plan.py): the same number as Datasette's own count."""
    from datasette.tracer import capture_traces

    db = _publish(tmp_path, "Release 0")
    ds, _ = _in_process(db)

    async def scenario() -> tuple[dict, list[str]]:
        assert await _title(ds) == "Release 0"  # the release is pinned
        traces: list[dict] = []
        with capture_traces(traces):
            response = await ds.client.get(f"/clusterdata/projects.json?{query}")
        assert response.status_code == 200
        ds._hot_reload_task.cancel()
        return response.json(), [t["sql"] for t in traces if "sql" in t]

    body, sqls = asyncio.run(scenario())
    counts = [s for s in sqls if s.startswith("select count(*) from")]
    assert any(s.startswith("select count(*) from (select rowid from projects_fts") for s in counts)
    in_table = [s for s in counts if s.startswith("select count(*) from projects where")]
    assert (in_table == []) is from_index, counts
    clause = "rowid in (select rowid from projects_fts where projects_fts match 'Mobilidade')"
    where = clause + (" and country = 'PT'" if "country" in query else "")
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        (direct,) = conn.execute(f"select count(*) from projects where {where}").fetchone()
    assert direct >= 1
    assert body["filtered_table_rows_count"] == direct
