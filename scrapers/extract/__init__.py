"""Pure extractors: page text, HTML or PDF bytes in, plain dict records out.

No network, no Scrapy: spiders call these on response bodies and the tests call them on the
recorded fixtures. Word tables (labels, month names, funds, roles, places) are data in `tables/`.
"""

from scrapers.extract.amounts import ParsedAmount, find_amount_spans, parse_amount, parse_rate
from scrapers.extract.call_page import parse_call_announcement
from scrapers.extract.cluster_list import UnmatchedName, match_names, parse_cluster_list_deck
from scrapers.extract.dates import find_dates, parse_date
from scrapers.extract.document import extract_document, read_document
from scrapers.extract.errors import UnreadableDocument
from scrapers.extract.partnership import parse_partnership_page
from scrapers.extract.pdf import pdf_text
from scrapers.extract.project_sheet import parse_project_sheet
from scrapers.extract.text import detect_language, label_value_rows, split_list, visible_lines

__all__ = [
    "ParsedAmount",
    "UnmatchedName",
    "UnreadableDocument",
    "detect_language",
    "extract_document",
    "find_amount_spans",
    "find_dates",
    "label_value_rows",
    "match_names",
    "parse_amount",
    "parse_call_announcement",
    "parse_cluster_list_deck",
    "parse_date",
    "parse_partnership_page",
    "parse_project_sheet",
    "parse_rate",
    "pdf_text",
    "read_document",
    "split_list",
    "visible_lines",
]
