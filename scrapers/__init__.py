"""Scrapy project: one spider per source, shared items, the replay layer and page extractors."""
