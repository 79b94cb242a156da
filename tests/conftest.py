"""Shared fixtures: one offline refresh of the whole pipeline on the recordings, per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RUN_DATE = "2026-11-23"


def run_refresh(data_dir: Path, *extra: str) -> int:
    return main(["refresh", "--offline", "--data-dir", str(data_dir), "--run-date", RUN_DATE,
                 *extra])


def refetch_later(recordings: Path, source_id: str, when: str = "2026-11-30T06:00:00Z") -> None:
    """The source's recorded responses, fetched again later with the same bytes."""
    index = recordings / source_id / "index.json"
    recorded = json.loads(index.read_text(encoding="utf-8"))
    for response in recorded["responses"]:
        response["fetched_at"] = when
    index.write_text(json.dumps(recorded), encoding="utf-8")


def empty_page(recordings: Path, source_id: str, name: str) -> None:
    """One recorded page replaced by an empty one (a redesign that lost every field)."""
    (recordings / source_id / name).write_text("<html><body></body></html>", encoding="utf-8")


@pytest.fixture(scope="session")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after `clusterdata refresh --offline` on the bundled recordings."""
    data_dir = tmp_path_factory.mktemp("data")
    assert run_refresh(data_dir) == 0
    return data_dir


@pytest.fixture(scope="session")
def published_db(refreshed: Path) -> Path:
    return refreshed / "clusterdata.db"


@pytest.fixture
def recordings_copy(tmp_path: Path) -> Path:
    """A writable copy of the recordings, for tests that break one."""
    target = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, target)
    return target
