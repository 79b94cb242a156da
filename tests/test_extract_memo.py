"""Memoised extraction (scrapers/extract/memo.py): an unchanged document is not read again, and
anything that could change the result misses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scrapers.extract import memo as memo_module
from scrapers.extract.memo import Memo

ROOT = Path(__file__).resolve().parents[1]
calls: list[bytes] = []


def words(body: bytes, *, upper: bool = False) -> list[str]:
    calls.append(body)
    text = body.decode()
    return (text.upper() if upper else text).split()


def refuse(body: bytes) -> None:
    calls.append(body)
    raise ValueError("unreadable")


@pytest.fixture(autouse=True)
def _fresh_calls():
    calls.clear()


def test_the_same_bytes_and_options_are_read_once(tmp_path):
    memo = Memo(tmp_path)
    assert memo.call(words, b"a b") == ["a", "b"]
    assert memo.call(words, b"a b") == ["a", "b"]
    assert Memo(tmp_path).call(words, b"a b") == ["a", "b"]  # another run, the same store
    assert calls == [b"a b"]
    assert (memo.reused, memo.stored) == (1, 1)


def test_other_bytes_or_options_are_read_again(tmp_path):
    memo = Memo(tmp_path)
    memo.call(words, b"a b")
    assert memo.call(words, b"a c") == ["a", "c"]
    assert memo.call(words, b"a b", upper=True) == ["A", "B"]
    assert len(calls) == 3


def test_a_change_to_the_extraction_code_misses(tmp_path, monkeypatch):
    Memo(tmp_path).call(words, b"a b")
    monkeypatch.setattr(memo_module, "code_hash", lambda: "another version")
    Memo(tmp_path).call(words, b"a b")
    assert len(calls) == 2


def test_an_extractor_that_raises_stores_nothing(tmp_path):
    memo = Memo(tmp_path)
    for _ in range(2):
        with pytest.raises(ValueError, match="unreadable"):
            memo.call(refuse, b"x")
    assert len(calls) == 2 and memo.stored == 0


def test_a_torn_entry_is_a_miss_and_is_replaced(tmp_path):
    Memo(tmp_path).call(words, b"a b")
    (entry,) = tmp_path.glob("*/*.pickle")
    entry.write_bytes(b"\x80\x05truncated")
    assert Memo(tmp_path).call(words, b"a b") == ["a", "b"]
    assert len(calls) == 2
    assert Memo(tmp_path).call(words, b"a b") == ["a", "b"]
    assert len(calls) == 2


def test_prune_removes_entries_unused_for_the_period(tmp_path):
    memo = Memo(tmp_path)
    memo.call(words, b"old")
    memo.call(words, b"new")
    month_ago = time.time() - 31 * 86400
    for path in tmp_path.glob("*/*.pickle"):
        os.utime(path, (month_ago, month_ago))
    memo.call(words, b"new")  # used now: kept
    assert memo.prune() == 1
    assert Memo(tmp_path).call(words, b"new") == ["new"]
    assert calls == [b"old", b"new"]  # "new" still stored; "old" is gone
    Memo(tmp_path).call(words, b"old")
    assert calls == [b"old", b"new", b"old"]


def _crawl(tmp_path: Path, memo: Path, name: str) -> dict:
    out = tmp_path / name / "run.jsonl"
    stats = tmp_path / name / "stats.json"
    cmd = [
        sys.executable,
        "-m",
        "scrapers.crawl",
        "pt_ticept_projects",
        "--offline",
        "--recordings",
        str(ROOT / "tests" / "fixtures"),
        "--out",
        str(out),
        "--stats",
        str(stats),
        "--memo-dir",
        str(memo),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        row.pop("fetched_at", None)
    return {"rows": rows, "stats": json.loads(stats.read_text())}


def test_a_second_crawl_reuses_the_extraction_and_yields_the_same_rows(tmp_path):
    memo = tmp_path / "memo"
    first = _crawl(tmp_path, memo, "first")
    second = _crawl(tmp_path, memo, "second")
    assert first["stats"].get("clusterdata/memo/stored", 0) >= 1
    assert "clusterdata/memo/reused" not in first["stats"]
    assert second["stats"]["clusterdata/memo/reused"] == first["stats"]["clusterdata/memo/stored"]
    assert "clusterdata/memo/stored" not in second["stats"]
    assert second["rows"] == first["rows"] and first["rows"]
