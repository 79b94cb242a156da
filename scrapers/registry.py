"""The source registry: one YAML per source in scrapers/sources/<source_id>.yml.

Sources are data: title, publisher, licence, start URLs, cadence, politeness, expected row-count
bounds and value lookups live in the YAML; the spider module holds only parsing code.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

from schemas.vocab import CADENCES, ENTITY_KINDS

SOURCES_DIR = Path(__file__).parent / "sources"
SLUG_RE = re.compile(r"^(eu|[a-z]{2})_[a-z0-9]+_[a-z]+$")
REQUIRED_KEYS = (
    "title",
    "publisher",
    "homepage",
    "licence",
    "entity_kinds",
    "start_urls",
    "cadence",
)


class RegistryError(ValueError):
    """A source YAML is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class RowBounds:
    min: int
    max: int | None


@dataclass(frozen=True)
class SourceSpec:
    source_id: str
    title: str
    publisher: str
    homepage: str
    licence: str
    entity_kinds: tuple[str, ...]
    start_urls: tuple[str, ...]
    cadence: str
    politeness: dict[str, Any] = field(default_factory=dict)
    expected_rows: dict[str, RowBounds] = field(default_factory=dict)
    lookups: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: str | None = None
    # When several sources list the same cluster, organisations link to the one whose source
    # has the lowest priority number (ties: source_id order).
    link_priority: int = 100
    # The source gate fails a run with fewer rows than this share of its last good run's.
    min_row_ratio: float = 0.8

    def lookup(self, table: str) -> dict[str, str]:
        """Value fixes for one vocabulary, e.g. 'programmes' -> {'P2020': 'Portugal 2020'}."""
        return self.lookups.get(table, {})


def _bounds(source_id: str, raw: dict[str, Any]) -> dict[str, RowBounds]:
    out = {}
    for entity, b in (raw or {}).items():
        if entity not in ENTITY_KINDS:
            raise RegistryError(f"{source_id}: expected_rows names unknown entity {entity!r}")
        lo, hi = b.get("min", 0), b.get("max")
        if not isinstance(lo, int) or (hi is not None and (not isinstance(hi, int) or hi < lo)):
            raise RegistryError(f"{source_id}: expected_rows.{entity} must be min <= max integers")
        out[entity] = RowBounds(lo, hi)
    return out


@lru_cache(maxsize=64)
def _parse_yaml(text: str) -> Any:
    """A YAML document, parsed once per distinct text. Keyed on the file's content, not its
    path or mtime, so an edited file (or a test's own directory) is always read as it is now;
    callers get a deep copy. Why: a bulk source's parse_file asks for its spec once per file
    (54 Kohesio exports a run), and PyYAML takes 12 ms (idle) to 70 ms (loaded machine) to
    parse the Kohesio YAML."""
    return yaml.safe_load(text)


def load_source(path: Path) -> SourceSpec:
    """Read and check one source YAML; the file name is the slug."""
    source_id = path.stem
    if not SLUG_RE.match(source_id):
        raise RegistryError(f"{path.name}: slug must be <scope>_<publisher>_<entity>")
    try:
        raw = copy.deepcopy(_parse_yaml(path.read_text(encoding="utf-8"))) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path.name}: not valid YAML ({exc.__class__.__name__})") from exc
    if not raw.get("start_urls") and isinstance(raw.get("pages"), list):
        # Generic page sources list `pages:` (url + optional kind/lang): those are the starts.
        raw["start_urls"] = [p["url"] if isinstance(p, dict) else p for p in raw["pages"]]
    missing = [k for k in REQUIRED_KEYS if not raw.get(k)]
    if missing:
        raise RegistryError(f"{path.name}: missing {', '.join(missing)}")
    unknown_kinds = set(raw["entity_kinds"]) - set(ENTITY_KINDS)
    if unknown_kinds:
        raise RegistryError(f"{path.name}: unknown entity kinds {sorted(unknown_kinds)}")
    if raw["cadence"] not in CADENCES:
        raise RegistryError(f"{path.name}: cadence must be one of {', '.join(CADENCES)}")
    return SourceSpec(
        source_id=source_id,
        title=raw["title"],
        publisher=raw["publisher"],
        homepage=raw["homepage"],
        licence=raw["licence"],
        entity_kinds=tuple(raw["entity_kinds"]),
        start_urls=tuple(raw["start_urls"]),
        cadence=raw["cadence"],
        politeness=dict(raw.get("politeness") or {}),
        expected_rows=_bounds(source_id, raw.get("expected_rows")),
        lookups={k: dict(v) for k, v in (raw.get("lookups") or {}).items()},
        notes=raw.get("notes"),
        link_priority=int(raw.get("link_priority", 100)),
        min_row_ratio=_ratio(path.name, raw.get("min_row_ratio", 0.8)),
    )


def _ratio(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise RegistryError(f"{name}: min_row_ratio must be a number in (0, 1]")
    return float(value)


def load_registry(directory: Path = SOURCES_DIR) -> dict[str, SourceSpec]:
    """Every source, by slug, in slug order."""
    return {p.stem: load_source(p) for p in sorted(directory.glob("*.yml"))}


@cache
def source_config(source_id: str, directory: Path = SOURCES_DIR) -> dict[str, Any]:
    """The whole YAML of a source, for the keys only its own spider reads (a query, URL
    templates, column lists): sources are data, so a spider's settings live there too."""
    path = directory / f"{source_id}.yml"
    if not path.is_file():
        raise RegistryError(f"no YAML for source {source_id!r} in {directory}")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def get_source(source_id: str, directory: Path = SOURCES_DIR) -> SourceSpec:
    """One source by slug, or a RegistryError that lists the known slugs."""
    path = directory / f"{source_id}.yml"
    if not path.is_file():
        known = ", ".join(p.stem for p in sorted(directory.glob("*.yml")))
        raise RegistryError(f"unknown source {source_id!r}; known: {known or '(none)'}")
    # Only its own YAML: bulk parsers call this per file, and the whole registry is 16 reads.
    return load_source(path)
