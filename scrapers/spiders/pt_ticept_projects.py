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
        yield from self.project_items(response, parse_project_sheet(response.text, response.url))
