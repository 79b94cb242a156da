"""Pages announcing a call (proposals, expressions of interest) for clusters, on any site.

Generic: the pages are listed in scrapers/sources/eu_call_announcements.yml (`pages:`);
adding a site of this kind is adding a URL there.
"""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.page_spider import PageListSpider


class CallAnnouncementsSpider(PageListSpider):
    """Reads every listed page as a call page with scrapers.extract.document."""

    name = "eu_call_announcements"
    page_kind = "call"

    def parse(self, response: Response, kind: str = "call", lang: str = "auto") -> Iterator:
        """One listed call page: its document row and the records it holds."""
        yield from super().parse(response, kind=kind, lang=lang)
