"""The base every source spider extends: its YAML, its start URLs, provenance on every item."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response

from scrapers.extract.memo import Memo
from scrapers.items import (
    CallItem,
    ClusterItem,
    DocumentItem,
    FileItem,
    ParticipantItem,
    ProjectItem,
    RecognitionItem,
)
from scrapers.registry import SourceSpec, get_source
from scrapers.replay import FETCHED_AT_HEADER, RECONSTRUCTED_HEADER, SYNTHETIC_HEADER, utc_now


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


class SourceSpider(scrapy.Spider):
    """A spider whose `name` is a source slug with a YAML in scrapers/sources/."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source: SourceSpec = get_source(self.name)

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        politeness = get_source(cls.name).politeness
        if "download_delay" in politeness:
            settings.set("DOWNLOAD_DELAY", float(politeness["download_delay"]), "spider")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.source.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def extract(self, fn: Callable[..., Any], body: bytes, **options: Any) -> Any:
        """fn(body, **options) for a pure extractor, memoised by the bytes' hash when the crawl
        has a memo directory (CLUSTERDATA_MEMO_DIR): an unchanged document is not read again."""
        memo = getattr(self, "_memo", None)
        if memo is None:
            folder = self.crawler.settings.get("CLUSTERDATA_MEMO_DIR") if self.crawler else None
            if not folder:
                return fn(body, **options)
            memo = self._memo = Memo(Path(folder))
        reused = memo.reused
        value = memo.call(fn, body, **options)
        self.crawler.stats.inc_value(
            "clusterdata/memo/reused" if memo.reused > reused else "clusterdata/memo/stored"
        )
        return value

    def provenance(self, response: Response) -> dict[str, Any]:
        """source_id, source_url, fetched_at and document_sha256 for rows read from `response`."""
        return {
            "source_id": self.name,
            "source_url": response.url,
            "fetched_at": _header(response, FETCHED_AT_HEADER) or utc_now(),
            "document_sha256": hashlib.sha256(response.body).hexdigest(),
        }

    def document(self, response: Response) -> DocumentItem:
        """The documents row for a response; yield it once per response read."""
        prov = self.provenance(response)
        content_type = _header(response, "Content-Type")
        return DocumentItem(
            entity="documents",
            document_sha256=prov["document_sha256"],
            url=response.url,
            fetched_at=prov["fetched_at"],
            http_status=response.status,
            content_type=content_type,
            size_bytes=len(response.body),
            source_id=self.name,
            reconstructed=_header(response, RECONSTRUCTED_HEADER) == "1",
            synthetic=_header(response, SYNTHETIC_HEADER) == "1",
        )

    def project_items(
        self, response: Response, record: dict[str, Any]
    ) -> Iterator[ProjectItem | ParticipantItem]:
        """A project record from scrapers.extract (project sheet or partnership page) as items."""
        prov = self.provenance(response)
        flags = record.get("quality_flags") or None
        yield ProjectItem(
            entity="projects",
            **prov,
            quality_flags=flags,
            **{k: record.get(k) for k in _PROJECT_FIELDS},
        )
        for p in record.get("participants") or []:
            yield ParticipantItem(
                entity="participants",
                **prov,
                project_reference=record.get("reference"),
                project_title=record.get("title"),
                name_as_published=p["name"],
                role=p.get("role"),
                role_as_published=p.get("role_as_published"),
                country=p.get("country"),
                work_packages_led=p.get("work_packages_led") or None,
                **{
                    k: p.get(k)
                    for k in ("organisation_key", "pic", "vat", "eu_contribution_eur")
                    if p.get(k) is not None
                },
            )

    def call_item(self, response: Response, record: dict[str, Any]) -> CallItem:
        """A call record from scrapers.extract as an item."""
        return CallItem(
            entity="calls",
            **self.provenance(response),
            quality_flags=record.get("quality_flags") or None,
            **{k: record.get(k) for k in _CALL_FIELDS},
        )

    def cluster_item(self, response: Response, **fields: Any) -> ClusterItem:
        return ClusterItem(entity="clusters", **self.provenance(response), **fields)

    def recognition_item(self, response: Response, **fields: Any) -> RecognitionItem:
        """A dated label or recognition of a cluster this source also yields (by its name)."""
        return RecognitionItem(entity="recognitions", **self.provenance(response), **fields)

    def save_file(self, response: Response, name: str, meta: dict[str, Any]) -> FileItem:
        """Keep a bulk download beside the run (for the module's parse_file) and describe it."""
        directory = Path(self.settings.get("CLUSTERDATA_FILES_DIR"))
        if not directory.name:
            raise RuntimeError("CLUSTERDATA_FILES_DIR is not set; run through scrapers.crawl")
        if Path(name).name != name:
            raise ValueError(f"file name {name!r} must not contain a path")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(response.body)
        prov = self.provenance(response)
        return FileItem(
            entity="files",
            source_id=self.name,
            url=response.url,
            fetched_at=prov["fetched_at"],
            document_sha256=prov["document_sha256"],
            path=f"{directory.name}/{name}",
            content_type=_header(response, "Content-Type"),
            meta=json.dumps(meta, sort_keys=True),
        )


_PROV = {"entity", "source_id", "source_url", "fetched_at", "document_sha256", "quality_flags"}
_PROJECT_FIELDS = [f for f in ProjectItem.fields if f not in _PROV]
_CALL_FIELDS = [f for f in CallItem.fields if f not in _PROV]
