"""publish_checked: one publish at a time (flock), a smoke check after the switch, and a rollback
to the byte-identical previous file when that check fails; fault points do nothing unset."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from tests.test_warehouse import project_title, sample_tables
from warehouse import publish
from warehouse.build import build_database
from warehouse.faults import fault_point
from warehouse.publish import PublishError, publish_checked, publish_lock


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _first_release(tmp_path: Path) -> Path:
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables("Old title"), tmp_path / "old.db")
    publish_checked(tmp_path / "old.db", target, tmp_path)
    return target


def test_publish_checked_serves_the_new_release(tmp_path: Path) -> None:
    target = _first_release(tmp_path)
    built = tmp_path / "next.db"
    build_database(sample_tables("New title"), built)
    assert publish_checked(built, target, tmp_path) == target.resolve()
    assert project_title(target) == "New title"
    assert not (tmp_path / "clusterdata.db.previous").exists()


def test_failed_smoke_check_rolls_back_to_the_identical_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _first_release(tmp_path)
    before = _digest(target)
    queries = publish.load_queries()
    name = next(iter(queries))
    broken = {**queries, name: {**queries[name], "sql": "SELECT no_such_column FROM projects"}}
    monkeypatch.setattr(publish, "load_queries", lambda: broken)
    built = tmp_path / "next.db"
    build_database(sample_tables("New title"), built)
    with pytest.raises(PublishError) as caught:
        publish_checked(built, target, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"smoke check failed: canned query {name}: ")
    assert message.endswith("; rolled back to the previous release")
    assert "\n" not in message
    assert _digest(target) == before
    assert project_title(target) == "Old title"
    assert not (tmp_path / "clusterdata.db.previous").exists()


def test_every_canned_query_passes_the_smoke_check(tmp_path: Path) -> None:
    target = _first_release(tmp_path)
    publish.smoke_check(target)  # raises on the first failing query
    with sqlite3.connect(target) as conn:
        conn.execute("ALTER TABLE projects RENAME COLUMN eu_contribution_eur TO renamed")
    with pytest.raises(sqlite3.Error):
        publish.smoke_check(target)


def _hold_lock(data_dir: str, ready, release) -> None:
    with publish_lock(Path(data_dir)):
        ready.set()
        release.wait(20)


def test_a_second_concurrent_publish_is_refused_at_once(tmp_path: Path) -> None:
    target = _first_release(tmp_path)
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(20)
        built = tmp_path / "next.db"
        build_database(sample_tables("New title"), built)
        with pytest.raises(PublishError, match=rf"another publish is running \(pid {holder.pid}\)"):
            publish_checked(built, target, tmp_path)
        assert project_title(target) == "Old title"
    finally:
        release.set()
        holder.join(20)
    # The lock went with its holder: the next publish goes through.
    assert publish_checked(built, target, tmp_path)
    assert project_title(target) == "New title"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    assert ready.wait(20)
    holder.kill()  # SIGKILL
    holder.join(20)
    with publish_lock(tmp_path):
        pass


def test_fault_point_does_nothing_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLUSTERDATA_KILL_AT", raising=False)
    fault_point("publish:switched")
    monkeypatch.setenv("CLUSTERDATA_KILL_AT", "somewhere:else")
    fault_point("publish:switched")


def test_a_first_release_that_fails_its_smoke_check_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = publish.load_queries()
    name = next(iter(queries))
    broken = {**queries, name: {**queries[name], "sql": "SELECT no_such_column FROM projects"}}
    monkeypatch.setattr(publish, "load_queries", lambda: broken)
    target = tmp_path / "clusterdata.db"
    build_database(sample_tables("First title"), tmp_path / "first.db")
    with pytest.raises(PublishError, match="no previous release to roll back to; kept as "):
        publish_checked(tmp_path / "first.db", target, tmp_path)
    assert not target.exists()
    assert project_title(tmp_path / "clusterdata.db.rejected") == "First title"
