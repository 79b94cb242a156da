"""The readers of facts stated in running prose (scrapers/extract/generic.py): counted lists,
a lead partner named mid-sentence, titles and programmes named in a sentence, and the one
country a page names. Sentences are made up; each reader must also decline when unsure."""

from __future__ import annotations

from scrapers.extract.generic import (
    counted_lists,
    lead_in_prose,
    page_country,
    programme_in_prose,
    read_participants,
    title_in_prose,
)


def test_counted_list_with_places_and_a_shared_place() -> None:
    line = (
        "C’est un partenariat composé de quatre clusters, Textil Norte en Galice, LUMEN à Lyon, "
        "Polo Moda et Cluster Calçado au Portugal."
    )
    [(intro, items)] = counted_lists([line])
    assert "partenariat" in intro
    assert items == [
        {"name": "Textil Norte", "country": None},
        {"name": "LUMEN", "country": None},
        {"name": "Polo Moda", "country": "PT"},
        {"name": "Cluster Calçado", "country": "PT"},
    ]


def test_counted_list_place_that_is_a_region() -> None:
    line = "Il existe trois grappes : Alpha Bois en Catalogne, Beta Mer en Bretagne et Gamma Agro."
    [(_, items)] = counted_lists([line])
    assert [(i["name"], i["country"]) for i in items] == [
        ("Alpha Bois", "ES"), ("Beta Mer", "FR"), ("Gamma Agro", None)
    ]


def test_counted_list_skips_relative_clauses_and_a_final_adverb() -> None:
    line = (
        "Il existe trois pôles de compétitivité : Nautilus, qui représente la côte, Héliade qui "
        "est présent dans la région Occitanie et enfin Terra Nova qui regroupe Lot et Tarn."
    )
    [(_, items)] = counted_lists([line])
    assert [i["name"] for i in items] == ["Nautilus", "Héliade", "Terra Nova"]


def test_counted_list_with_another_number_of_names_is_not_read() -> None:
    assert counted_lists(["Il existe trois pôles : Nautilus, Héliade, Terra Nova et Boréal."]) == []
    assert counted_lists(["Four partners, Alpha Labs and Beta Works, met in Lisbon."]) == []


def test_counted_list_that_goes_on_in_prose_is_not_read() -> None:
    assert counted_lists(["We met three clusters, Alpha, Beta, which we visited twice."]) == []


def test_partners_from_a_counted_partnership_sentence() -> None:
    lines = ["The partnership brings together three clusters, Alpha Grid in Portugal, "
             "Beta Wind in France and Gamma Solar in Wales."]
    members = read_participants(lines)
    assert [(m["name"], m["country"], m["role"]) for m in members] == [
        ("Alpha Grid", "PT", None), ("Beta Wind", "FR", None), ("Gamma Solar", "GB", None)
    ]


def test_a_counted_list_that_is_no_partnership_gives_no_partners() -> None:
    lines = ["The region counts three clusters, Alpha Grid in Portugal, Beta Wind in France and "
             "Gamma Solar in Wales."]
    assert read_participants(lines) == []


def test_lead_partner_named_after_the_label() -> None:
    lead = lead_in_prose(["Capofila del progetto NAVIS è l'Università degli Studi di Trieste e "
                          "i partner sono:"])
    assert lead is not None
    assert (lead["name"], lead["role"]) == ("Università degli Studi di Trieste", "lead_partner")


def test_lead_partner_named_before_a_relative_clause() -> None:
    lead = lead_in_prose(["Srečanje je gostila Občina Koper, ki je kot vodilni partner "
                          "predstavila projekt."])
    assert lead is not None
    assert (lead["name"], lead["role"]) == ("Občina Koper", "lead_partner")


def test_two_different_leads_give_none() -> None:
    assert lead_in_prose([
        "The lead partner is Alpha Agency, according to the call.",
        "The lead partner is Beta Institute.",
    ]) is None


def test_lead_in_prose_joins_the_listed_partners() -> None:
    lines = [
        "Capofila del progetto è la Regione Marche e i partner sono:",
        "Comune di Fano", "Comune di Pesaro", "Agenzia Porto Sud",
    ]
    members = read_participants(lines)
    assert members[0]["name"] == "Regione Marche"
    assert members[0]["role"] == "lead_partner"
    assert [m["role"] for m in members[1:]] == ["partner"] * 3


def test_title_after_a_titling_word() -> None:
    assert title_in_prose(["Le projet Interreg, intitulé Aurora, regroupe trois écoles."],
                          None) == "Aurora"


def test_title_quoted_after_a_project_word() -> None:
    lines = ["Das Projekt „Green Ports for the Alps“ soll Antworten liefern."]
    assert title_in_prose(lines, None) == "Green Ports for the Alps"


def test_title_after_its_acronym_and_a_dash() -> None:
    lines = ["Il progetto NAVIS – acronimo di Navigazione Sostenibile Adriatica - è cofinanziato."]
    assert title_in_prose(lines, "NAVIS") == "Navigazione Sostenibile Adriatica"
    lines = ["The new project, GRIDX – Smart Grids for Island Regions (in Greek), started."]
    assert title_in_prose(lines, "GRIDX") == "Smart Grids for Island Regions"


def test_titles_that_disagree_give_none() -> None:
    lines = ["Le projet intitulé Aurora démarre.", "Das Projekt „Borealis“ startet."]
    assert title_in_prose(lines, None) is None
    assert title_in_prose(["The project is a success."], None) is None


def test_programme_next_to_a_programme_word() -> None:
    assert programme_in_prose(["A project funded by LIFE programme since 2020."]) == "LIFE"
    assert programme_in_prose(["Le projet, cofinancé sous le programme HORIZON de l’Union."]) == (
        "HORIZON"
    )
    assert programme_in_prose(["The Baltic project (North Sea Region Programme) began."]) == (
        "North Sea Region Programme"
    )


def test_programme_reader_declines_when_unsure() -> None:
    # A programme word inside another name, a single ordinary word, two programmes, and a short
    # name the page also writes in full.
    assert programme_in_prose(["Alpine Space Programme Office (AT) | Ministry (DE)"]) is None
    assert programme_in_prose(["Al Programma partecipano le Regioni."]) is None
    assert programme_in_prose(["Funded by LIFE programme and by COSME programme."]) is None
    assert programme_in_prose([
        "Il Programma transfrontaliero Interreg Alpi-Mare Ligure 2021-2027 è attivo.",
        "Consultare il programma Interreg Ligure per ulteriori informazioni.",
    ]) is None


def test_page_country_is_the_one_country_a_page_names() -> None:
    assert page_country(["La France compte 50 grappes.", "Un pôle en Bretagne."]) == "FR"
    assert page_country(["Clusters in Italy and in Brazil."]) is None
    assert page_country(["Clusters of the world."]) is None


def test_lead_after_a_lead_verb_in_a_project_sentence() -> None:
    lead = lead_in_prose(["Seis entidades trabajan en el proyecto europeo Mar Abierto, que "
                          "conducirá la Universidade do Algarve (Portugal)."])
    assert lead is not None
    assert (lead["name"], lead["role"], lead["country"]) == (
        "Universidade do Algarve", None, "PT"
    )
    # The same verb outside a sentence about a project names no lead.
    assert lead_in_prose(["La reunión, que conducirá la Universidade do Algarve, empieza."]) is None


def test_heading_under_the_programme_heading_is_the_title() -> None:
    from scrapers.extract.generic import _heading_under

    lines = ["Interreg Baltic", "Sea Bridges", "Program: Interreg Baltic", "Project goal: more."]
    heads = ["Interreg Baltic", "Sea Bridges"]
    assert _heading_under("Interreg Baltic", heads, lines) == "Sea Bridges"
    # Prose, not the sheet's labelled rows, under the headings: no title.
    prose = ["Interreg Baltic", "Sea Bridges", "The programme funds many projects."]
    assert _heading_under("Interreg Baltic", heads, prose) is None
