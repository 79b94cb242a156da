"""Item pipeline: refuse items that break the raw contract before they reach the feed."""

from __future__ import annotations

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.item import Item
from scrapy.statscollectors import StatsCollector

from scrapers.items import RAW_ITEMS

# A row needs at least one of these to be keyed at all. A page whose layout changed (or that came
# back empty) yields items with none of them: refusing those fails the crawl loudly, instead of
# publishing a source that silently lost its rows.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "projects": ("reference", "title"),
    "calls": ("identifier", "title"),
    "clusters": ("name",),
    "recognitions": ("cluster_name",),
    "participants": ("name_as_published",),
}
ITEMS_STAT = "clusterdata/items/{entity}"


class StrictItemPipeline:
    """Every item is one of the shared types, names its entity, carries provenance and can be
    keyed; what passes is counted per entity (the runner fails a crawl with no data items)."""

    def __init__(self, stats: StatsCollector | None = None):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StrictItemPipeline:
        return cls(crawler.stats)

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
        keys = KEY_FIELDS.get(entity)
        if keys and not any(item.get(k) for k in keys):
            raise DropItem(
                f"{entity} item from {item.get('source_url')} has no {' or '.join(keys)}: "
                "the page's layout may have changed"
            )
        if self.stats is not None:
            self.stats.inc_value(ITEMS_STAT.format(entity=entity))
        return item
