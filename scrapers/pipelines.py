"""Item pipeline: refuse items that break the raw contract before they reach the feed."""

from __future__ import annotations

from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.item import Item

from scrapers.items import RAW_ITEMS


class StrictItemPipeline:
    """Every item is one of the shared types, names its entity, and carries provenance."""

    def process_item(self, item: Item, spider: Spider | None = None) -> Item:
        entity = item.get("entity")
        expected = RAW_ITEMS.get(entity)
        if expected is None or not isinstance(item, expected):
            raise DropItem(f"item of type {type(item).__name__} names entity {entity!r}")
        missing = [f for f in ("source_id", "document_sha256", "fetched_at") if not item.get(f)]
        if entity not in ("documents", "files"):
            missing += [f for f in ("source_url",) if not item.get(f)]
        if missing:
            # A dropped item is counted in the stats; the runner fails the crawl on any drop.
            raise DropItem(f"{entity} item without {', '.join(missing)}")
        return item
