"""The base of the generic page sources: a YAML list of pages, read by `extract_document`.

A generic source (eu_project_sheets, eu_call_announcements, eu_partnership_pages) is one kind
of page on many sites. Its YAML lists the pages:

    pages:
      - url: https://example.org/project/42
        lang: sl            # optional: the page's language, when detection should not decide
      - https://example.org/project/43

so adding a site of a known kind is adding a URL. Each page is read with the kind its source
declares (`page_kind` on the spider; a page entry may override it) and yields the shared items
(project_items, call_item, cluster_item). A page that cannot be read (encrypted PDF, empty,
not HTML or PDF) is logged as an error, which fails the crawl loudly: nothing is stored in its
place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract.document import KINDS, read_document
from scrapers.extract.errors import UnreadableDocument
from scrapers.registry import RegistryError, source_config


class PageListSpider(SourceSpider):
    """A source whose YAML `pages:` lists pages of one kind (`page_kind`)."""

    page_kind: str = "auto"

    def pages(self) -> list[dict[str, Any]]:
        """The YAML's pages as {"url", "kind", "lang"} entries."""
        out = []
        for entry in source_config(self.name).get("pages") or []:
            page = {"url": entry} if isinstance(entry, str) else dict(entry)
            if "url" not in page:
                raise RegistryError(f"{self.name}: a page entry has no url: {entry!r}")
            page.setdefault("kind", self.page_kind)
            page.setdefault("lang", "auto")
            if page["kind"] not in ("auto", *KINDS):
                raise RegistryError(f"{self.name}: unknown page kind {page['kind']!r}")
            out.append(page)
        return out

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for page in self.pages():
            yield scrapy.Request(
                page["url"],
                callback=self.parse,
                cb_kwargs={"kind": page["kind"], "lang": page["lang"]},
            )

    def parse(self, response: Response, kind: str = "auto", lang: str = "auto") -> Iterator:
        """One listed page: its document row, then the records extract_document reads."""
        yield self.document(response)
        content_type = response.headers.get("Content-Type")
        try:
            _, _, records = self.extract(
                read_document,
                response.body,
                url=response.url,
                content_type=content_type.decode("latin-1") if content_type else None,
                kind=kind,
                lang=lang,
            )
        except UnreadableDocument as error:
            self.logger.error("unreadable page %s: %s", response.url, error.reason)
            return
        for record in records:
            yield from self.items(response, record)

    def items(self, response: Response, record: dict[str, Any]) -> Iterator:
        """The shared items of one record."""
        if record["record_type"] == "call":
            yield self.call_item(response, record)
        elif record["record_type"] == "project":
            if not (record.get("title") or record.get("reference")):
                # Rows are keyed by reference, else title: a project the page neither names
                # nor numbers cannot be stored (nor its participants tied to it).
                self.logger.warning("no project title or reference on %s; not stored", response.url)
                return
            yield from self.project_items(response, record)
        else:
            for cluster in record["clusters"]:
                sector = cluster.get("sector")
                yield self.cluster_item(
                    response,
                    name=cluster["name"],
                    country=cluster.get("country"),
                    sectors=[sector] if sector else None,
                )
