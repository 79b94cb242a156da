"""EU-publicity sheets of funded projects, on any beneficiary's or programme's site.

Generic: the pages are listed in scrapers/sources/eu_project_sheets.yml (`pages:`); adding a site
of this kind is adding a URL there.
"""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.page_spider import PageListSpider


class ProjectSheetsSpider(PageListSpider):
    """Reads every listed page as a project page with scrapers.extract.document."""

    name = "eu_project_sheets"
    page_kind = "project"

    def parse(self, response: Response, kind: str = "project", lang: str = "auto") -> Iterator:
        """One listed project page: its document row and the records it holds."""
        yield from super().parse(response, kind=kind, lang=lang)
