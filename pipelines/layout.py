"""Where everything lives under the data directory (default ./data, git-ignored)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DB_NAME = "clusterdata.db"


@dataclass(frozen=True)
class DataLayout:
    """Paths of one data directory; every asset and command goes through this."""

    root: Path

    @property
    def raw(self) -> Path:
        """Crawl output: raw/<source_id>/<run_id>.jsonl."""
        return self.root / "raw"

    def raw_runs(self, source_id: str) -> list[Path]:
        return sorted((self.raw / source_id).glob("*.jsonl"))

    def latest_raw(self, source_id: str) -> Path | None:
        runs = self.raw_runs(source_id)
        return runs[-1] if runs else None

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    def staged(self, layer: str, entity: str, source_id: str | None = None) -> Path:
        """staging/<layer>/<entity>.parquet, or staging/<layer>/<entity>/<source_id>.parquet."""
        if source_id:
            return self.staging / layer / entity / f"{source_id}.parquet"
        return self.staging / layer / f"{entity}.parquet"

    @property
    def build_dir(self) -> Path:
        return self.staging / "build"

    @property
    def published(self) -> Path:
        """The served database."""
        return self.root / DB_NAME

    @property
    def quarantine_db(self) -> Path:
        """Rows that failed validation, beside (never inside) the served database."""
        return self.root / "quarantine.db"

    @property
    def health(self) -> Path:
        """Each source's latest crawl outcome (pipelines/health.py)."""
        return self.root / "health.json"

    @property
    def http_cache(self) -> Path:
        """Scrapy's HTTP cache of live crawls: what conditional requests revalidate."""
        return self.root / "httpcache"

    @property
    def memo(self) -> Path:
        """Extractions of documents by content hash (scrapers/extract/memo.py)."""
        return self.root / "memo"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def serve_config(self) -> Path:
        return self.root / "datasette"
