"""The Trentino EU office's news pages that announce European calls."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import parse_call_announcement


class TrentinoCallsSpider(SourceSpider):
    """Reads call announcements relayed by the Province of Trento's EU office."""

    name = "it_trentino_calls"

    def parse(self, response: Response) -> Iterator:
        """One news page announcing one call."""
        yield self.document(response)
        yield self.call_item(response, parse_call_announcement(response.text, response.url))
