"""Crawl a list of URLs with the project's Scrapy settings and write what happened as JSON.

    python -m tests.fault_crawl OUT.json URL... [--set NAME=VALUE ...]

Run in a subprocess by tests/test_crawl_faults.py (Twisted's reactor cannot restart in-process).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings


def peak_rss_mib() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries that high-water mark
    over fork and exec, so a child of a big pytest process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


class FaultSpider(scrapy.Spider):
    """Fetches each URL once and notes the response or the failure."""

    name = "faults"
    custom_settings = {"HTTPERROR_ALLOW_ALL": True}

    def __init__(self, urls: list[str], outcomes: dict, **kwargs):
        super().__init__(**kwargs)
        self.urls = urls
        self.outcomes = outcomes

    async def start(self):
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True)

    def parse(self, response):
        """Any page: its status, size and decoded text."""
        text = response.text if isinstance(response, scrapy.http.TextResponse) else None
        self.outcomes[response.request.meta.get("redirect_urls", [response.url])[0]] = {
            "status": response.status,
            "bytes": len(response.body),
            "encoding": getattr(response, "encoding", None),
            "text": text[:500] if text else None,
        }

    def failed(self, failure):
        request = failure.request
        self.outcomes[request.meta.get("redirect_urls", [request.url])[0]] = {
            "error": failure.type.__name__,
            "message": str(failure.value)[:300],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    settings = get_project_settings()
    settings.setmodule("scrapers.settings", priority="project")
    settings.set("LOG_LEVEL", "WARNING")
    for pair in args.set:
        name, value = pair.split("=", 1)
        settings.set(name, json.loads(value))
    outcomes: dict = {}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(FaultSpider)
    process.crawl(crawler, urls=args.urls, outcomes=outcomes)
    process.start()
    stats = crawler.stats.get_stats()
    args.out.write_text(
        json.dumps(
            {
                "outcomes": outcomes,
                "stats": stats,
                "maxrss_mib": peak_rss_mib(),
            },
            default=str,
            indent=1,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
