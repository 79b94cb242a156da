"""Shared fixtures: one offline refresh of the whole pipeline on the recordings, per session."""

from __future__ import annotations

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
