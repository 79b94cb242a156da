"""The EU Financial Transparency System's yearly commitment workbooks (XLSX, one per year)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import scrapy
from babel import Locale
from scrapy.http import Response
from twisted.python.failure import Failure

from schemas.vocab import COUNTRIES
from scrapers.base import SourceSpider
from scrapers.bulk import BulkFileError, non_null_list, sniff, to_raw_frame
from scrapers.registry import source_config

SOURCE_ID = "eu_fts_commitments"

# Amounts: plain `1234567.89` or with thousands commas `1,234,567.89`; nothing else is guessed.
PLAIN_AMOUNT = r"^-?\d+(\.\d+)?$"
GROUPED_AMOUNT = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
# "1.0.23 - Digital Europe Programme" -> "Digital Europe Programme".
PROGRAMME_PREFIX = r"^\d+(\.\d+)*\s*[-–]\s*"


@cache
def fts_config() -> dict[str, Any]:
    """The source YAML, with the keys only this source reads (templates, columns, keywords)."""
    return source_config(SOURCE_ID)


def year_of(url: str, template: str) -> int:
    """The year a download URL names, read through the YAML's URL template."""
    pattern = re.escape(template).replace(re.escape("{YEAR}"), r"(\d{4})")
    match = re.fullmatch(pattern, url)
    if match is None:
        raise ValueError(f"{SOURCE_ID}: start URL {url} does not follow {template}")
    return int(match.group(1))


class FtsCommitmentsSpider(SourceSpider):
    """Downloads the FTS yearly dataset workbooks ({YEAR}_FTS_dataset_en.xlsx)."""

    name = SOURCE_ID
    custom_settings = {
        "DOWNLOAD_MAXSIZE": 256 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 64 * 1024 * 1024,
        # About 20 MB per year, served chunked.
        "DOWNLOAD_TIMEOUT": 300,
    }

    async def start(self) -> AsyncIterator[scrapy.Request]:
        config = fts_config()
        for url in self.source.start_urls:
            yield self.year_request(url, year_of(url, config["url_template"]), fallback=False)

    def year_request(self, url: str, year: int, *, fallback: bool) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.on_failure,
            # The server may answer an HTML page to clients that do not look like a browser
            # coming from the FTS page; our User-Agent stays identifiable.
            headers={"Referer": fts_config()["referer"]},
            meta={"year": year, "fallback": fallback},
            dont_filter=True,
        )

    def parse(self, response: Response) -> Iterator[Any]:
        """One year's FTS workbook: kept beside the run for parse_file, or refused when it is
        not a workbook (an HTML page served with 200)."""
        year = response.meta["year"]
        with tempfile.TemporaryDirectory() as tmp:
            body = Path(tmp) / f"{year}.xlsx"
            body.write_bytes(response.body)
            try:
                sniff(body, "xlsx")
            except BulkFileError as exc:
                yield from self.give_up_or_fall_back(response.meta, f"{response.url}: {exc}")
                return
        yield self.document(response)
        yield self.save_file(response, f"{year}.xlsx", {"year": year})

    def on_failure(self, failure: Failure) -> Iterator[scrapy.Request]:
        request = failure.request
        yield from self.give_up_or_fall_back(
            request.meta, f"{request.url}: {failure.getErrorMessage()}"
        )

    def give_up_or_fall_back(self, meta: dict[str, Any], reason: str) -> Iterator[scrapy.Request]:
        """Try the year's fallback URL once; after that, a logged ERROR fails the crawl."""
        year = meta["year"]
        if meta["fallback"]:
            self.logger.error("FTS %s: no workbook from either URL (%s)", year, reason)
            return
        fallback = fts_config()["fallback_url_template"].replace("{YEAR}", str(year))
        self.logger.warning("FTS %s: %s; trying %s", year, reason, fallback)
        yield self.year_request(fallback, year, fallback=True)


# --- parse_file: the workbook to raw frames ---------------------------------------------------


def _normalise_header(cell: str) -> str:
    # Header cells are matched trimmed and with one apostrophe (’), as SOURCES.md writes them.
    return cell.strip().replace("'", "’")


def read_commitment_rows(path: Path, year: int | None) -> pl.DataFrame:
    """The first sheet, all text, renamed to our column names; refuse a changed header."""
    sniff(path, "xlsx")
    columns: dict[str, str] = fts_config()["columns"]
    sheet = pl.read_excel(path, engine="calamine", infer_schema_length=0)
    headers = {_normalise_header(c): c for c in sheet.columns}
    missing = [h for h in columns.values() if _normalise_header(h) not in headers]
    if missing:
        raise BulkFileError(f"{path.name}: header lacks {', '.join(missing)}")
    stripped = pl.col(pl.Utf8).str.strip_chars()
    rows = sheet.select(
        pl.col(headers[_normalise_header(h)]).alias(ours) for ours, h in columns.items()
    ).with_columns(pl.when(stripped.str.len_chars() > 0).then(stripped).name.keep())
    if rows.height == 0:
        return rows
    if rows["position_key"][0] is None:
        raise BulkFileError(f"{path.name}: the first row continues a commitment it does not name")
    if year is not None:
        # Sub-rows may leave the year empty.
        years = rows.select(pl.col("year").str.replace(r"\.0+$", "").drop_nulls().unique())
        years = years.to_series()
        other = sorted(str(y) for y in years.to_list() if y != str(year))
        if other:
            raise BulkFileError(f"{path.name}: rows of year(s) {', '.join(other)}, not {year}")
    return rows


def amount(col: str) -> pl.Expr:
    """An amount cell as a number, or NULL when it is neither plain nor comma-grouped."""
    cell = pl.col(col)
    readable = cell.str.contains(PLAIN_AMOUNT) | cell.str.contains(GROUPED_AMOUNT)
    return pl.when(readable).then(cell.str.replace_all(",", "", literal=True).cast(pl.Float64))


def amount_flag(col: str) -> pl.Expr:
    """A quality flag naming the header and the value of an amount that could not be read."""
    header = fts_config()["columns"][col]
    return pl.when(pl.col(col).is_not_null() & amount(col).is_null()).then(
        pl.format("{}: '{}' is not an amount; left empty", pl.lit(header), pl.col(col))
    )


def cofinancing_rate() -> pl.Expr:
    """`75%`, `75.5 %` or a fraction 0..1; anything else NULL (flagged by rate_flag)."""
    cell = pl.col("cofinancing_rate")
    percent = cell.str.extract(r"^(\d+(?:\.\d+)?)\s*%$", 1).cast(pl.Float64) / 100
    fraction = pl.when(cell.str.contains(r"^(0(\.\d+)?|1(\.0+)?)$")).then(cell.cast(pl.Float64))
    rate = pl.coalesce(percent, fraction)
    return pl.when(rate <= 1).then(rate)


def rate_flag() -> pl.Expr:
    return pl.when(pl.col("cofinancing_rate").is_not_null() & cofinancing_rate().is_null()).then(
        pl.format("Co-financing rate: '{}' is not a rate; left empty", pl.col("cofinancing_rate"))
    )


@cache
def country_codes() -> dict[str, str]:
    """English country names (CLDR, via babel) and the YAML's extra spellings -> ISO alpha-2."""
    names = {name: code for code, name in Locale("en").territories.items() if code in COUNTRIES}
    return names | fts_config()["lookups"]["countries"]


def flags(*parts: pl.Expr) -> pl.Expr:
    """The non-NULL flags of a row as a list; NULL when there are none."""
    return non_null_list(list(parts))


def tag_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Each row with its commitment (the key forward-filled over sub-rows), role, ISO country,
    parsed amounts and row-level flags."""
    config = fts_config()
    roles = config["lookups"]["coordinator_flags"]
    country = pl.col("country").replace_strict(country_codes(), default=None, return_dtype=pl.Utf8)
    role = (
        pl.when(pl.col("coordinator").is_null())
        .then(pl.lit("beneficiary"))
        .otherwise(
            pl.col("coordinator")
            .str.to_lowercase()
            .replace_strict(roles, default=None, return_dtype=pl.Utf8)
        )
    )
    country_flag = pl.when(pl.col("country").is_not_null() & country.is_null()).then(
        pl.format("Country / Territory: '{}' is not a known country", pl.col("country"))
    )
    keywords = "|".join(re.escape(k) for k in config["cluster_keywords"])
    about = pl.concat_str(
        [pl.col("subject"), pl.col("programme"), pl.col("budget_line")],
        separator=" ",
        ignore_nulls=True,
    )
    return rows.with_columns(
        pl.col("position_key").is_not_null().alias("is_head"),
        pl.col("position_key").forward_fill().alias("reference"),
        pl.col("name").str.contains(config["masked_name_pattern"]).fill_null(False).alias("masked"),
        role.alias("role"),
        pl.when(pl.col("coordinator").is_not_null())
        .then(pl.format("Coordinator: {}", pl.col("coordinator")))
        .alias("role_as_published"),
        country.alias("iso"),
        amount("beneficiary_amount").alias("beneficiary_eur"),
        amount("amount").alias("amount_eur"),
        amount("total_amount").alias("total_eur"),
        cofinancing_rate().alias("rate"),
        pl.col("programme").str.replace(PROGRAMME_PREFIX, "").alias("programme_name"),
        pl.when(about.str.contains(f"(?i){keywords}")).then(True).alias("cluster_support"),
        country_flag.alias("country_flag"),
        flags(
            amount_flag("beneficiary_amount"),
            country_flag,
            pl.when(pl.col("coordinator").is_not_null() & role.is_null()).then(
                pl.format("Coordinator: '{}' is not a known flag", pl.col("coordinator"))
            ),
        ).alias("row_flags"),
        flags(amount_flag("amount"), amount_flag("total_amount"), rate_flag()).alias(
            "commitment_flags"
        ),
    )


def commitments(tagged: pl.DataFrame) -> pl.DataFrame:
    """One row per commitment: the head row's fields, the lead and the merged sub-rows' counts."""
    is_coord = pl.col("role") == "coordinator"
    # The lead is the coordinator; a commitment with one beneficiary row is led by it.
    lead_row = is_coord | (pl.len() == 1)
    blocks = tagged.group_by("reference", maintain_order=True).agg(
        pl.col("masked").sum().alias("n_masked"),
        pl.col("is_head").sum().alias("n_heads"),
        is_coord.sum().alias("n_coordinators"),
        pl.col("name").filter(lead_row & ~pl.col("masked")).first().alias("lead_organisation"),
        pl.col("iso").filter(lead_row).first().alias("lead_country"),
        pl.col("country_flag").filter(lead_row).first().alias("lead_country_flag"),
    )
    heads = tagged.filter(pl.col("is_head")).unique("reference", keep="first", maintain_order=True)
    persons = pl.col("n_masked")
    return heads.join(blocks, on="reference", how="left", maintain_order="left").with_columns(
        pl.concat_list(
            pl.col("commitment_flags").fill_null([]),
            pl.concat_list(
                pl.col("lead_country_flag"),
                pl.when(persons > 0).then(
                    pl.format(
                        "participants: {} natural person{} masked by the source",
                        persons,
                        pl.when(persons == 1).then(pl.lit("")).otherwise(pl.lit("s")),
                    )
                ),
                pl.when(pl.col("n_heads") > 1).then(
                    pl.format(
                        "Commitment position key heads {} row blocks; merged, amounts from the "
                        "first",
                        pl.col("n_heads"),
                    )
                ),
                pl.when(pl.col("n_coordinators") > 1).then(
                    pl.format(
                        "{} rows marked coordinator; the first is the lead",
                        pl.col("n_coordinators"),
                    )
                ),
            ).list.drop_nulls(),
        ).alias("quality_flags")
    )


def parse_file(path: Path, file_item: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """One FTS year workbook: each commitment (with its sub-rows) a project, each beneficiary
    row a participant; masked natural persons only counted."""
    year = (file_item.get("meta") or {}).get("year")
    tagged = tag_rows(read_commitment_rows(path, year))
    projects = commitments(tagged)
    project_frame = projects.select(
        "reference",
        pl.col("subject").alias("title"),
        "lead_organisation",
        pl.col("lead_country").alias("lead_organisation_country"),
        pl.col("programme_name").alias("programme"),
        pl.col("action_type").alias("operation_type"),
        pl.col("total_eur").alias("total_eligible_eur"),
        pl.col("amount_eur").alias("eu_contribution_eur"),
        pl.col("rate").alias("cofinancing_rate"),
        pl.col("lead_country").alias("country"),
        "cluster_support",
        pl.when(pl.col("quality_flags").list.len() > 0)
        .then(pl.col("quality_flags"))
        .alias("quality_flags"),
    )
    participants = (
        tagged.filter(~pl.col("masked"))
        .join(project_frame.select("reference", "title"), on="reference", how="left")
        .select(
            pl.col("reference").alias("project_reference"),
            pl.col("title").alias("project_title"),
            pl.col("name").alias("name_as_published"),
            "role",
            "role_as_published",
            pl.col("iso").alias("country"),
            "vat",
            pl.col("beneficiary_eur").alias("eu_contribution_eur"),
            pl.col("row_flags").alias("quality_flags"),
        )
    )
    return {
        "projects": to_raw_frame("projects", project_frame, file_item),
        "participants": to_raw_frame("participants", participants, file_item),
    }
