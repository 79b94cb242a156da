"""Pages about a cluster partnership project and its partners, on any site.

Generic: the pages are listed in scrapers/sources/eu_partnership_pages.yml (`pages:`); adding a site
of this kind is adding a URL there.
"""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.page_spider import PageListSpider


class PartnershipPagesSpider(PageListSpider):
    """Reads every listed page as a partnership page with scrapers.extract.document."""

    name = "eu_partnership_pages"
    page_kind = "partnership"

    def parse(self, response: Response, kind: str = "partnership", lang: str = "auto") -> Iterator:
        """One listed partnership page: its document row and the records it holds."""
        yield from super().parse(response, kind=kind, lang=lang)
