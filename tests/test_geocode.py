"""City centroids for the clusters map: from the bundled GeoNames extract, exact and unambiguous
matches only, through the clean step."""

import polars as pl
import pytest

from pipelines.clean import clean_clusters
from pipelines.geocode import COORDINATES_FROM, add_city_coordinates
from pipelines.raw import raw_schema
from scrapers.registry import load_registry

REGISTRY = load_registry()


def clusters(rows: list[tuple[str, str | None, str | None]]) -> pl.DataFrame:
    """Raw cluster rows (name, country, city) with provenance; test input, not facts."""
    schema = raw_schema("clusters")
    full = [
        {
            **{k: None for k in schema},
            "entity": "clusters",
            "source_id": "pt_iapmei_clusters",
            "source_url": "https://example.org/clusters",
            "fetched_at": "2026-11-23T00:00:00Z",
            "document_sha256": "a" * 64,
            "name": name,
            "country": country,
            "city": city,
        }
        for name, country, city in rows
    ]
    return pl.DataFrame(full, schema=schema)


def test_clean_step_places_a_city_known_to_geonames():
    frame = clean_clusters(clusters([("A cluster", "PT", " aveiro ")]), REGISTRY).frame
    (row,) = frame.select("city", "latitude", "longitude", "coordinates_from").rows(named=True)
    # GeoNames' centroid of Aveiro, Portugal (geonameid 2742611).
    assert row["latitude"] == pytest.approx(40.644, abs=0.01)
    assert row["longitude"] == pytest.approx(-8.645, abs=0.01)
    assert row["coordinates_from"] == COORDINATES_FROM


def test_an_alternate_name_matches_but_only_in_its_own_country():
    frame = add_city_coordinates(
        pl.DataFrame({"country": ["PT", "ES"], "city": ["Lisboa", "Lisboa"]})
    )
    lisbon, elsewhere = frame.rows(named=True)
    assert lisbon["latitude"] == pytest.approx(38.72, abs=0.01)
    assert lisbon["longitude"] == pytest.approx(-9.14, abs=0.01)
    assert elsewhere["latitude"] is None and elsewhere["coordinates_from"] is None


def test_ambiguous_unknown_or_missing_cities_get_no_coordinate():
    frame = add_city_coordinates(
        pl.DataFrame(
            {
                # Two Frankfurts (am Main, Oder); a name GeoNames does not list; no city.
                "country": ["DE", "DE", "PT", None],
                "city": ["Frankfurt", "Nowhere-upon-Nothing", None, "Paris"],
            }
        )
    )
    assert frame["latitude"].to_list() == [None] * 4
    assert frame["longitude"].to_list() == [None] * 4
    assert frame["coordinates_from"].to_list() == [None] * 4


def test_no_city_at_all_adds_null_columns_of_the_right_type():
    frame = add_city_coordinates(pl.DataFrame({"country": ["PT"], "city": [None]},
                                              schema={"country": pl.Utf8, "city": pl.Utf8}))
    assert frame.schema["latitude"] == pl.Float64
    assert frame.schema["coordinates_from"] == pl.Utf8
    assert frame.height == 1 and frame["latitude"][0] is None
