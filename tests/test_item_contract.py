"""The item contract the crawler enforces before anything reaches a run file."""

from __future__ import annotations

import pytest
from scrapy.exceptions import DropItem
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector

from scrapers.crawl import failure_reason
from scrapers.items import ProjectItem
from scrapers.pipelines import StrictItemPipeline

PROVENANCE = {
    "entity": "projects",
    "source_id": "pt_ticept_projects",
    "source_url": "https://tice.pt/en/projects-and-studies/connection",
    "document_sha256": "0" * 64,
    "fetched_at": "2026-11-23T00:00:00Z",
}


class _Crawler:
    def __init__(self):
        self.settings = Settings()
        self.stats = MemoryStatsCollector(self)


def test_a_project_with_no_key_is_refused_as_a_layout_change():
    pipeline = StrictItemPipeline.from_crawler(_Crawler())
    with pytest.raises(DropItem, match="layout may have changed"):
        pipeline.process_item(ProjectItem(**PROVENANCE, description="just prose"))


def test_keyed_items_pass_and_are_counted_per_entity():
    crawler = _Crawler()
    pipeline = StrictItemPipeline.from_crawler(crawler)
    pipeline.process_item(ProjectItem(**PROVENANCE, title="CONNECTION"))
    assert crawler.stats.get_value("clusterdata/items/projects") == 1


def test_a_crawl_that_read_only_documents_fails():
    stats = {"finish_reason": "finished", "item_scraped_count": 3,
             "clusterdata/items/documents": 3}
    assert failure_reason(stats) == "0 data items (only documents)"
    stats["clusterdata/items/projects"] = 1
    assert failure_reason(stats) is None
    assert failure_reason({"finish_reason": "finished"}) == "0 items"
