"""Controlled vocabularies shared by the schemas and the extractors (data, not code)."""

from babel import Locale

# ISO 3166-1 alpha-2, from CLDR via babel; CLDR also lists groupings that are not countries.
_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "AC", "CP", "DG", "EA", "IC", "TA", "CQ"}
COUNTRIES: frozenset[str] = frozenset(
    code
    for code in Locale("en").territories
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
)

ROLES = ("coordinator", "lead_partner", "partner", "associated_partner", "beneficiary")

CALL_STATUSES = ("forthcoming", "open", "closed")

CALL_TYPES = (
    "call_for_proposals",
    "call_for_expression_of_interest",
    "call_for_tenders",
    "cascade_funding",
    "prospect",
)

# EU funds by their English acronyms; sources' own acronyms are mapped to these by the lookups.
# ENI: the European Neighbourhood Instrument (2014-2020), co-funding e.g. the Danube programme.
FUNDS = ("ERDF", "ESF", "ESF+", "CF", "JTF", "EAFRD", "EMFF", "EMFAF", "RRF", "IPA", "ENI", "NDICI")

RECOGNITION_KINDS = ("label", "recognition")

LABEL_LEVELS = ("Bronze", "Silver", "Gold")

CADENCES = ("daily", "weekly", "monthly", "yearly")

ENTITY_KINDS = ("clusters", "recognitions", "organisations", "calls", "projects", "participants")
