"""The ESCP-4i partnership's own page."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import parse_partnership_page


class Escp4iProjectsSpider(SourceSpider):
    """Reads the ESCP-4i page: the partnership and its partners' roles."""

    name = "eu_escp4i_projects"

    def parse(self, response: Response) -> Iterator:
        """The partnership page: one project, its partners with roles and work packages."""
        yield self.document(response)
        yield from self.project_items(response, parse_partnership_page(response.text, response.url))
