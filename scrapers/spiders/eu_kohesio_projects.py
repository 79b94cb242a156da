"""Kohesio's bulk exports: one CSV of cohesion-policy operations per member state and period.

The spider downloads the files; `parse_file` (called by the raw layer) reads one file with
polars, all columns as text, and converts them with vectorised expressions only. Quirks and
value fixes live in scrapers/sources/eu_kohesio_projects.yml, which this module also reads for
its own keys (countries, periods, exports, cluster_support_*), the ones registry.py ignores.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from scrapers.base import SourceSpider
from scrapers.bulk import BulkFileError, non_null_list, sniff, to_raw_frame
from scrapers.items import DocumentItem, FileItem
from scrapers.registry import get_source, source_config

SOURCE_ID = "eu_kohesio_projects"

# Operation_Unique_Identifier / Beneficiary_Unique_Identifier: one Wikibase entity URL.
ENTITY_URL = r"^https?://linkedopendata\.eu/entity/(Q[0-9]+)$"
ENTITY_URL_ANYWHERE = r"linkedopendata\.eu/entity/Q[0-9]+"
# The export writes amounts and rates as plain decimals (12345.67); anything else is refused.
PLAIN_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
KOHESIO_DATE = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"
NUTS_CODE = r"^[A-Z]{2}[0-9A-Z]{0,3}$"
# A percentage of 0.8 that matches EU/total as 0.8 (and not as 0.008) is a fraction written in
# a percentage column: within half a percentage point counts as a match.
RATE_TOLERANCE = 0.005
RATE_SCALES = {"percent": 100.0, "fraction": 1.0}


@functools.cache
def load_config() -> dict[str, Any]:
    """This source's YAML, with the keys only this module reads."""
    return source_config(SOURCE_ID)


def planned_downloads(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(country, period, url) for every export the YAML asks for."""
    return [
        (country, period, config["exports"][period]["url_template"].format(country=country))
        for period in config["periods"]
        for country in config["countries"]
    ]


class KohesioProjectsSpider(SourceSpider):
    """Downloads Kohesio's CSV exports, /api/data/object?id=data/projects-<period>/…/<CC>-…csv."""

    name = SOURCE_ID
    # A missing country file reaches `parse` (a warning); any other HTTP error goes to
    # `download_failed` (an error that fails the run).
    handle_httpstatus_list = [404]
    custom_settings = {
        # Large countries' files are tens of MB and growing; the project default is 32 MiB.
        "DOWNLOAD_MAXSIZE": 512 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 128 * 1024 * 1024,
        # DOWNLOAD_TIMEOUT bounds the whole body, not the first byte.
        "DOWNLOAD_TIMEOUT": 600,
    }

    async def start(self) -> AsyncIterator[scrapy.Request]:
        planned = planned_downloads(load_config())
        stray = set(self.source.start_urls) - {url for _, _, url in planned}
        if stray:
            raise ValueError(f"{self.name}: start_urls not built from the exports: {sorted(stray)}")
        for country, period, url in planned:
            yield scrapy.Request(
                url,
                callback=self.parse,
                errback=self.download_failed,
                cb_kwargs={"country": country, "period": period},
            )

    def parse(
        self, response: Response, country: str, period: str
    ) -> Iterator[DocumentItem | FileItem]:
        """One country × period export CSV, kept beside the run for parse_file."""
        if response.status == 404:
            # A member state with no operations published for a period (or a renamed file):
            # the other files are still good, but the log and the stats say which is missing.
            self.crawler.stats.inc_value(f"{self.name}/missing_files")
            self.logger.warning(
                "missing export %s %s: HTTP 404 at %s", country, period, response.url
            )
            return
        yield self.document(response)
        name = f"{country}-{period}.csv"
        item = self.save_file(response, name, {"country": country, "period": period})
        saved = Path(self.settings.get("CLUSTERDATA_FILES_DIR")) / name
        try:
            sniff(saved, "csv")
        except BulkFileError as exc:
            saved.unlink()
            self.crawler.stats.inc_value(f"{self.name}/refused_files")
            self.logger.error("refused export %s %s at %s: %s", country, period, response.url, exc)
            return
        yield item

    def download_failed(self, failure: Failure) -> None:
        """A download that failed (other than 404): logged as an error, so the run fails."""
        self.crawler.stats.inc_value(f"{self.name}/failed_files")
        self.logger.error("export download failed: %s: %s", failure.request.url, failure.value)


# ---------------------------------------------------------------------------------------------
# parse_file: one export CSV -> raw projects and participants (vectorised polars only)


def _trimmed(lazy: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """These columns as trimmed text; blank is NULL. Two steps, not one `when(trimmed is not
    blank).then(trimmed)`: polars evaluates a sub-expression used twice twice, and the trim
    copies every string of every column (summaries included)."""
    return lazy.select(pl.col(c).str.strip_chars() for c in columns).with_columns(
        pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)) for c in columns
    )


def _flag(condition: pl.Expr, *parts: str | pl.Expr) -> pl.Expr:
    """A quality flag (text) where `condition` holds, else NULL."""
    pieces = [pl.lit(p) if isinstance(p, str) else p for p in parts]
    return pl.when(condition.fill_null(False)).then(pl.concat_str(pieces))


def _one_list(expr: pl.Expr) -> pl.Expr:
    """[value], or NULL when the value is NULL."""
    return pl.when(expr.is_not_null()).then(pl.concat_list([expr]))


def _kohesio_date(column: str) -> pl.Expr:
    """DD/MM/YYYY -> ISO text; anything else (31/02/2017, 2017-1-5) stays as published so the
    clean layer quarantines the row instead of losing the date."""
    raw = pl.col(column)
    parsed = raw.str.to_date("%d/%m/%Y", strict=False)
    well_formed = raw.str.contains(KOHESIO_DATE) & parsed.is_not_null()
    return pl.when(well_formed).then(parsed.dt.strftime("%Y-%m-%d")).otherwise(raw)


def _keyword_pattern(keywords: list[str]) -> str | None:
    if not keywords:
        return None
    return r"(?i)\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b"


def _check_header(path: Path, header: list[str], expected: list[str]) -> None:
    if header == expected:
        return
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        raise BulkFileError(
            f"{path.name}: header differs from the official export: missing {missing}, "
            f"unexpected {extra}"
        )
    raise BulkFileError(f"{path.name}: header has the official columns in another order")


def parse_file(path: Path, file_item: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """One Kohesio export CSV (one country, one period) as raw projects and participants."""
    config = load_config()
    meta = file_item["meta"]
    period, file_country = meta["period"], meta["country"]
    export = config["exports"].get(period)
    if export is None:
        raise BulkFileError(f"{path.name}: no export described for period {period!r}")
    divisor = RATE_SCALES.get(config["cofinancing_rate_scale"])
    if divisor is None:
        raise BulkFileError(f"cofinancing_rate_scale must be one of {sorted(RATE_SCALES)}")
    countries = get_source(SOURCE_ID).lookup("countries")
    cluster_codes = [str(c) for c in config["cluster_support_categories"].get(period) or []]
    keywords = _keyword_pattern(config.get("cluster_support_label_keywords") or [])

    lazy = pl.scan_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=True)
    try:
        header = lazy.collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise BulkFileError(f"{path.name}: not a readable CSV: {exc}".splitlines()[0]) from exc
    _check_header(path, header, list(export["columns"]))
    used = [
        c
        for c in header
        if c.startswith(("Operation_", "Beneficiary_", "Category_", "Fund_", "NUTS"))
        or c
        in (
            "Country",
            "CountryCode",
            "Cofinancing_Rate",
            "Total_Eligible_Expenditure_amount",
            "Total_Eligible_Expenditure_Currency",
            "Project_EU_Budget",
            "Programme_Name",
            "Programming_Period",
        )
    ]
    rows = _trimmed(lazy, used)

    # --- stage 1: values parsed from one column each
    currency = pl.col("Total_Eligible_Expenditure_Currency")
    not_eur = currency.is_not_null() & (currency != "EUR")
    amounts = {"Total_Eligible_Expenditure_amount": "__total", "Project_EU_Budget": "__eu"}
    published_country = (
        pl.coalesce(pl.col("CountryCode"), pl.col("Country"))
        if "CountryCode" in header
        else pl.col("Country")
    )
    beneficiary_id = pl.col("Beneficiary_Unique_Identifier")
    rows = rows.with_columns(
        *[
            pl.when(pl.col(c).str.contains(PLAIN_DECIMAL) & ~not_eur)
            .then(pl.col(c).cast(pl.Float64))
            .alias(alias)
            for c, alias in amounts.items()
        ],
        pl.when(pl.col("Cofinancing_Rate").str.contains(PLAIN_DECIMAL))
        .then(pl.col("Cofinancing_Rate").cast(pl.Float64))
        .alias("__rate_value"),
        pl.col("Operation_Unique_Identifier").str.extract(ENTITY_URL, 1).alias("__qid"),
        beneficiary_id.str.extract(ENTITY_URL, 1).alias("__beneficiary_qid"),
        (beneficiary_id.str.count_matches(ENTITY_URL_ANYWHERE) > 1)
        .fill_null(False)
        .alias("__several"),
        pl.coalesce(
            published_country.replace(countries), pl.lit(countries.get(file_country, file_country))
        ).alias("__country"),
        pl.coalesce(
            pl.col("Operation_Name_English"), pl.col("Operation_Name_Programme_Language")
        ).alias("__title"),
    )

    # --- stage 2: values that need two columns
    value = pl.col("__rate_value")
    ratio = pl.when(pl.col("__total") > 0).then(pl.col("__eu") / pl.col("__total"))
    as_fraction = pl.lit(False)
    if divisor > 1:
        as_fraction = (
            (value > 0)
            & (value <= 1)
            & ((ratio - value).abs() < RATE_TOLERANCE)
            & ((ratio - value / divisor).abs() >= RATE_TOLERANCE)
        ).fill_null(False)
    code, label = pl.col("Category_Of_Intervention"), pl.col("Category_Label")
    has_category = code.is_not_null() | label.is_not_null()
    matches = code.is_in(cluster_codes).fill_null(False)
    if keywords:
        matches = matches | label.str.contains(keywords).fill_null(False)
    rows = rows.with_columns(
        pl.when((value <= divisor) & ~as_fraction).then((value / divisor).round(6)).alias("__rate"),
        pl.when(has_category).then(matches).alias("__cluster_support"),
        pl.when(~pl.col("__several")).then(pl.col("Beneficiary_Name")).alias("__lead"),
        pl.when(~pl.col("__several")).then(pl.col("__beneficiary_qid")).alias("__lead_key"),
    )

    project_flags = [
        _flag(pl.col("Operation_Unique_Identifier").is_null(), "no Operation_Unique_Identifier"),
        _flag(
            pl.col("Operation_Unique_Identifier").is_not_null() & pl.col("__qid").is_null(),
            "Operation_Unique_Identifier is not a linkedopendata.eu entity URL; kept as published",
        ),
        *[
            _flag(
                pl.col(c).is_not_null() & ~pl.col(c).str.contains(PLAIN_DECIMAL),
                f"{c} is not a plain decimal number; left empty: ",
                pl.col(c),
            )
            for c in amounts
        ],
        _flag(not_eur, "amounts are in ", currency, ", not EUR; left empty"),
        _flag(
            pl.col("Cofinancing_Rate").is_not_null() & value.is_null(),
            "Cofinancing_Rate is not a plain decimal number; left empty: ",
            pl.col("Cofinancing_Rate"),
        ),
        _flag(
            value > divisor,
            f"Cofinancing_Rate is over {divisor:g}; left empty: ",
            pl.col("Cofinancing_Rate"),
        ),
        _flag(
            as_fraction,
            "Cofinancing_Rate reads as a fraction in a percentage column; left empty: ",
            pl.col("Cofinancing_Rate"),
        ),
        _flag(
            pl.col("__several"),
            "several beneficiary identifiers in one row; no lead organisation chosen",
        ),
        _flag(
            pl.col("Beneficiary_Name").is_null() & beneficiary_id.is_not_null(),
            "Beneficiary_Unique_Identifier without Beneficiary_Name; no participant: ",
            beneficiary_id,
        ),
        *[
            _flag(
                pl.col(c).is_not_null() & ~pl.col(c).str.contains(NUTS_CODE),
                f"{c} is not one NUTS code; kept as published: ",
                pl.col(c),
            )
            for c in ("NUTS1_Code", "NUTS2_Code", "NUTS3_Code")
        ],
        _flag(
            pl.col("Programming_Period").is_not_null() & (pl.col("Programming_Period") != period),
            f"Programming_Period differs from the file's ({period}): ",
            pl.col("Programming_Period"),
        ),
    ]
    # Each flag once, as a column: inside the list expression, the NULL test and the list would
    # each evaluate it.
    flag_columns = [f"__flag{i}" for i in range(len(project_flags))]
    rows = rows.with_columns(f.alias(c) for f, c in zip(project_flags, flag_columns, strict=True))
    projects = rows.select(
        pl.coalesce(pl.col("__qid"), pl.col("Operation_Unique_Identifier")).alias("reference"),
        pl.col("__title").alias("title"),
        pl.col("__lead").alias("lead_organisation"),
        pl.col("__lead_key").alias("lead_organisation_key"),
        pl.when(pl.col("__lead").is_not_null())
        .then(pl.col("__country"))
        .alias("lead_organisation_country"),
        pl.col("Programme_Name").alias("programme"),
        _one_list(pl.col("Programme_Name")).alias("programmes"),
        _one_list(pl.coalesce(pl.col("Fund_Code"), pl.col("Fund_Name"))).alias("funds"),
        pl.col("__total").alias("total_eligible_eur"),
        pl.col("__eu").alias("eu_contribution_eur"),
        pl.col("__rate").alias("cofinancing_rate"),
        _kohesio_date("Operation_Start_Date").alias("start_date"),
        _kohesio_date("Operation_End_Date").alias("end_date"),
        non_null_list([pl.col(f"NUTS{n}_Label") for n in (1, 2, 3)]).alias("regions"),
        pl.coalesce(
            pl.col("Operation_Summary_English"), pl.col("Operation_Summary_Programme_Language")
        ).alias("description"),
        pl.col("__country").alias("country"),
        non_null_list([pl.col(f"NUTS{n}_Code") for n in (1, 2, 3)]).alias("nuts_codes"),
        _one_list(
            pl.when(has_category).then(
                pl.concat_str([code, label], separator=" ", ignore_nulls=True)
            )
        ).alias("categories"),
        pl.col("__cluster_support").alias("cluster_support"),
        non_null_list([pl.col(c) for c in flag_columns]).alias("quality_flags"),
    )
    participants = rows.filter(pl.col("Beneficiary_Name").is_not_null()).select(
        pl.coalesce(pl.col("__qid"), pl.col("Operation_Unique_Identifier")).alias(
            "project_reference"
        ),
        pl.col("__title").alias("project_title"),
        pl.col("Beneficiary_Name").alias("name_as_published"),
        pl.lit("beneficiary").alias("role"),
        pl.lit("Beneficiary").alias("role_as_published"),
        pl.col("__country").alias("country"),
        pl.when(~pl.col("__several")).then(pl.col("__beneficiary_qid")).alias("organisation_key"),
        non_null_list(
            [
                _flag(
                    beneficiary_id.is_not_null() & pl.col("__beneficiary_qid").is_null(),
                    "Beneficiary_Unique_Identifier is not one linkedopendata.eu entity URL; "
                    "no organisation key: ",
                    beneficiary_id,
                )
            ]
        ).alias("quality_flags"),
    )
    try:
        project_frame, participant_frame = pl.collect_all([projects, participants])
    except pl.exceptions.ComputeError as exc:
        raise BulkFileError(f"{path.name}: unreadable CSV: {exc}".splitlines()[0]) from exc
    # One chunk per column: the CSV reader's dozen chunks per column beside the provenance
    # columns' one made polars re-chunk every column of the 54 files' concatenated frames at the
    # clean layer's first with_columns (a copy of the whole raw frame: +600 MiB at 1.5 M rows).
    return {
        "projects": to_raw_frame("projects", project_frame, file_item).rechunk(),
        "participants": to_raw_frame("participants", participant_frame, file_item).rechunk(),
    }
