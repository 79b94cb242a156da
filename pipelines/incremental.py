"""The no-change fast path of `clusterdata refresh`: when every source's crawl brought back what
the last publish was built from, the Dagster run and the publish are skipped.

What the published release was built from is a fingerprint (DATA_DIR/published.json, beside the
served file, never inside it) of:

- each source's latest run file, line by line, without what varies from one crawl of the same
  pages to the next: `fetched_at`, and a bulk file's `path` (named after its run file); the
  lines sorted, since several pages of one source may be answered in any order;
- the run date, because call statuses are derived from it;
- the code that turns raw rows into the release (pipelines/, schemas/, warehouse/ and the source
  YAMLs), so an upgrade is never mistaken for "nothing changed".

The fast path is taken only when no crawl failed, the published file is the one that fingerprint
was written for (same inode, size and mtime: a rollback or a copy by hand changes them), and the
fingerprints match. Anything else takes the normal path."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from pipelines.layout import DataLayout

# Per-crawl fields of a raw line: a crawl of unchanged pages gives new values for these.
VOLATILE_FIELDS = ("fetched_at", "path")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("pipelines", "schemas", "warehouse", "scrapers/sources")
CODE_SUFFIXES = (".py", ".yml", ".yaml", ".html", ".json")


def _state_path(layout: DataLayout) -> Path:
    return layout.root / "published.json"


def _run_lines(path: Path) -> list[str]:
    lines = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            for name in VOLATILE_FIELDS:
                row.pop(name, None)
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
    return sorted(lines)


def code_hash() -> str:
    """SHA-256 of the code and configuration that build a release from raw rows."""
    digest = hashlib.sha256()
    for folder in CODE_DIRS:
        for path in sorted((_PACKAGE_ROOT / folder).rglob("*")):
            if path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(_PACKAGE_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(layout: DataLayout, source_ids: list[str], run_date: str) -> str:
    """What a build from each source's latest run file, on `run_date`, depends on."""
    digest = hashlib.sha256()
    digest.update(f"run_date={run_date}\ncode={code_hash()}\n".encode())
    for source_id in sorted(source_ids):
        run = layout.latest_raw(source_id)
        digest.update(f"source={source_id}\n".encode())
        if run is None:
            continue
        for line in _run_lines(run):
            digest.update(line.encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _file_identity(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def remember_publish(layout: DataLayout, value: str, run_id: str, released: bool) -> None:
    """Record that the served file was built from `value` (after a successful publish), and
    whether a release of it was made."""
    state = {
        "fingerprint": value,
        "run_id": run_id,
        "released": released,
        "published_file": _file_identity(layout.published),
    }
    fd, tmp = tempfile.mkstemp(prefix=".published.", dir=layout.root)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(tmp, _state_path(layout))


def forget_publish(layout: DataLayout) -> None:
    """The next refresh takes the normal path (the published file is about to change)."""
    _state_path(layout).unlink(missing_ok=True)


def unchanged_since_publish(
    layout: DataLayout, value: str, need_release: bool = False
) -> str | None:
    """The run id of the publish that `value` matches, when the served file is still the one it
    wrote (and, with `need_release`, was released); else None."""
    try:
        state = json.loads(_state_path(layout).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    identity = _file_identity(layout.published)
    if identity is None or state.get("published_file") != identity:
        return None
    if need_release and not state.get("released"):
        return None  # published with --no-release: this refresh must still make the release
    return state.get("run_id") if state.get("fingerprint") == value else None


def fast_path_allowed(layout: DataLayout) -> bool:
    """Whether a later refresh may skip the build when nothing changed: not while a source is
    served from its last good snapshot (a failed gate) or a record is carried while absent, since
    the next healthy run, even an unchanged one, must count (a second absence drops the record)."""
    from pipelines.gate import gate_failures, load_snapshot
    from scrapers.registry import load_registry

    if gate_failures(layout):
        return False
    for source_id in load_registry():
        snapshot = load_snapshot(layout, source_id)
        if snapshot is not None and any(snapshot.absences.values()):
            return False
    return True
