"""IAPMEI's 2020 deck listing Portugal's recognised Competitiveness Clusters."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import match_names, parse_cluster_list_deck, pdf_text

# What the deck states, written as `recognitions` values: "what (by whom, year)". The deck is
# dated 30 July 2020; the pacts were signed in 2019 (both stated on the slides).
RECOGNITION = "Competitiveness Cluster (IAPMEI, 2020)"
PACT = "Sectoral Pact for Competitiveness and Internationalization signatory ({year})"


class IapmeiClustersSpider(SourceSpider):
    """Reads the IAPMEI presentation (PDF) on Portuguese cluster policy."""

    name = "pt_iapmei_clusters"

    def parse(self, response: Response) -> Iterator:
        """The deck: 18 recognised clusters, 16 of which signed the 2019 Sectoral Pacts."""
        yield self.document(response)
        deck = parse_cluster_list_deck(pdf_text(response.body))
        # Every pact name must be one of the recognised clusters; match_names raises otherwise.
        signatories = set(match_names(deck["sectoral_pacts"], deck["recognised"]).values())
        pact = PACT.format(year=deck["pacts_year"])
        for name in deck["recognised"]:
            recognitions = [RECOGNITION] + ([pact] if name in signatories else [])
            yield self.cluster_item(response, name=name, country="PT", recognitions=recognitions)
