"""IAPMEI's 2020 deck listing Portugal's recognised Competitiveness Clusters."""

from collections.abc import Iterator

from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.extract import find_dates, match_names, parse_cluster_list_deck, pdf_text

# What the deck states, as `recognitions` summaries: "what (by whom, year)". The pacts were
# "signed between the Ministry for Economy and Digital Transition and the Competitiveness
# Clusters recognized by IAPMEI" (slide text).
RECOGNITION = "Competitiveness Cluster"
PACT = "Sectoral Pact for Competitiveness and Internationalization"
PACT_SIGNED_WITH = "Ministry for Economy and Digital Transition"


class IapmeiClustersSpider(SourceSpider):
    """Reads the IAPMEI presentation (PDF) on Portuguese cluster policy."""

    name = "pt_iapmei_clusters"

    def parse(self, response: Response) -> Iterator:
        """The deck: 18 recognised clusters, 16 of which signed the 2019 Sectoral Pacts."""
        yield self.document(response)
        text = self.extract(pdf_text, response.body)
        deck = parse_cluster_list_deck(text)
        # The title slide dates the deck (the meeting it was shown at): the list held that day.
        dates = find_dates(text.split("\f", 1)[0])
        if len(dates) != 1:
            raise ValueError(f"expected one date on the deck's title slide, found {dates}")
        (as_of,) = dates
        # Every pact name must be one of the recognised clusters; match_names raises otherwise.
        signatories = set(match_names(deck["sectoral_pacts"], deck["recognised"]).values())
        year = deck["pacts_year"]
        by = deck["recognised_by"]
        for name in deck["recognised"]:
            signed = name in signatories
            summary = [f"{RECOGNITION} ({by}, {as_of.year})"]
            summary += [f"{PACT} signatory ({year})"] if signed else []
            yield self.cluster_item(response, name=name, country="PT", recognitions=summary)
            yield self.recognition_item(
                response,
                cluster_name=name,
                kind="recognition",
                name=RECOGNITION,
                awarded_by=by,
                as_of=as_of.isoformat(),
                evidence=f"{by} presentation, {as_of.isoformat()}",
                evidence_url=response.url,
            )
            if signed:
                yield self.recognition_item(
                    response,
                    cluster_name=name,
                    kind="recognition",
                    name=PACT,
                    awarded_by=PACT_SIGNED_WITH,
                    year=year,
                    evidence=f"{by} presentation, {as_of.isoformat()}",
                    evidence_url=response.url,
                )
