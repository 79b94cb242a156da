"""Scrapy project: one spider per source, shared items, the replay layer and page extractors."""

# Exit status of `python -m scrapers.crawl` when the only failures are sources deferred by their
# server (Retry-After above the cap): not broken, and not empty either. Here, not in
# scrapers.crawl, so the CLI can read it without importing Scrapy.
EXIT_DEFERRED = 3
