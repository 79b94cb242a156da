"""TICE.PT's EU-publicity project sheets."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import parse_project_sheet


class TicePtProjectsSpider(SourceSpider):
    """Reads TICE.PT's 'Lead Promoter | …' project sheets."""

    name = "pt_ticept_projects"

    def parse(self, response: Response) -> Iterator:
        """One project sheet page: one project, led by the promoter it names."""
        yield self.document(response)
        # Keyed by the decoded text (as UTF-8), exactly what parse_project_sheet reads.
        record = self.extract(_sheet, response.text.encode(), url=response.url)
        yield from self.project_items(response, record)


def _sheet(text: bytes, *, url: str) -> dict:
    """parse_project_sheet of the page's text, given as UTF-8 bytes (what the memo hashes)."""
    return parse_project_sheet(text.decode(), url)
