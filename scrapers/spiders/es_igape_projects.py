"""IGAPE's newsletter pages about the European projects it took part in."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import parse_partnership_page


class IgapeProjectsSpider(SourceSpider):
    """Reads IGAPE newsletter project pages (ATCLUSTERS and the like)."""

    name = "es_igape_projects"

    def parse(self, response: Response) -> Iterator:
        """One project page: the project and the organisations it names."""
        yield self.document(response)
        yield from self.project_items(response, parse_partnership_page(response.text, response.url))
