"""Memoised extraction: a document whose bytes were read before is not read again.

An extractor here is a pure function of the document's bytes and a few options, so its result is
stored under a key made of the SHA-256 of the bytes, the options, the function's name and a hash
of the extraction code (scrapers/extract/, its tables included): any change to an extractor
misses every entry it could have changed. A refresh where nothing changed upstream then parses
no page and runs no PDF worker: it loads each result from <data>/memo/.

Entries are pickles written by this process into our own data directory (a cache, like
joblib.Memory's, never input from outside); one that does not load is a miss. An extractor that
raises stores nothing, so the error is raised again, with its reason, on every run. Entries not
used for PRUNE_DAYS are removed at the start of a crawl.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

EXTRACT_DIR = Path(__file__).resolve().parent
PRUNE_DAYS = 30


@cache
def code_hash() -> str:
    """SHA-256 of the extraction code and its tables (what a stored result depends on)."""
    digest = hashlib.sha256()
    for path in sorted(EXTRACT_DIR.rglob("*")):
        if path.suffix in (".py", ".yml", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(EXTRACT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def memo_key(fn: Callable[..., Any], body: bytes, options: dict[str, Any]) -> str:
    """The store key of fn(body, **options): the extraction code, fn's own module (a spider's
    helper lives outside scrapers/extract/), fn's name, the options and the bytes."""
    digest = hashlib.sha256()
    name = f"{fn.__module__}.{fn.__qualname__}"
    module = _file_hash(inspect.getsourcefile(fn) or "")
    digest.update(f"{code_hash()}\n{module}\n{name}\n{sorted(options.items())!r}\n".encode())
    digest.update(hashlib.sha256(body).digest())
    return digest.hexdigest()


class Memo:
    """Results of extractors by content, under one directory; `reused` and `stored` count."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.reused = 0
        self.stored = 0

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.pickle"

    def call(self, fn: Callable[..., Any], body: bytes, **options: Any) -> Any:
        """fn(body, **options), from the store when these bytes were read with these options."""
        path = self._path(memo_key(fn, body, options))
        try:
            value = pickle.loads(path.read_bytes())
        except Exception:  # missing, torn or foreign: a miss, replaced below
            pass
        else:
            self.reused += 1
            os.utime(path)  # used: not pruned
            return value
        value = fn(body, **options)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as out:
            out.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(out.name, path)
        self.stored += 1
        return value

    def prune(self, days: float = PRUNE_DAYS) -> int:
        """Remove entries not used for `days` (and temporary files of a killed run); how many."""
        now = time.time()
        cutoff = now - days * 86400
        removed = 0
        for path in self.folder.glob("*/*"):
            modified = path.stat().st_mtime
            if modified < cutoff or (path.suffix == ".tmp" and modified < now - 3600):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
