"""CORDIS bulk CSV exports (Horizon Europe, H2020): projects and their participating organisations.

Each zip holds `project.csv` and `organization.csv` (plus files we do not read), `;`-separated
with `"`-quoted fields (SOURCES.md §5). Both headers are checked; a missing column means the
export changed and the file is refused. Amounts are read strictly because the decimal separator
of the export is not verified (see `read_amount`).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import scrapy
from scrapy.http import Response

from scrapers.base import SourceSpider
from scrapers.bulk import BulkFileError, non_null_list, sniff, to_raw_frame
from scrapers.registry import get_source, source_config

SOURCE_ID = "eu_cordis_projects"

# Headers as SOURCES.md §5 documents them (SEEN in several codebases); `keywords` is optional
# there, and columns beyond these are tolerated (we read none of them).
PROJECT_COLUMNS = (
    "id", "acronym", "status", "title", "startDate", "endDate", "totalCost",
    "ecMaxContribution", "legalBasis", "topics", "ecSignatureDate", "frameworkProgramme",
    "masterCall", "subCall", "fundingScheme", "nature", "objective", "contentUpdateDate", "rcn",
    "grantDoi",
)  # fmt: skip
ORGANIZATION_COLUMNS = (
    "projectID", "projectAcronym", "organisationID", "vatNumber", "name", "shortName", "SME",
    "activityType", "street", "postCode", "city", "country", "nutsCode", "geolocation",
    "organizationURL", "contactForm", "contentUpdateDate", "rcn", "order", "role",
    "ecContribution", "netEcContribution", "totalCost", "endOfParticipation", "active",
)  # fmt: skip

# Amount grammar (the decimal separator is NOT VERIFIED, SOURCES.md §5): digits, optionally one
# '.' or ',' and more digits. No thousands separators, signs or spaces.
_AMOUNT = r"^\d+([.,]\d+)?$"
# One separator followed by exactly three digits, after one to three digits not led by 0: a
# decimal ("1.250" = 1.25) or a thousands group ("1.250" = 1250), a factor of 1000 apart and
# nothing in the value decides (the same rule as scrapers/extract/amounts.py).
_AMBIGUOUS = r"^[1-9]\d{0,2}[.,]\d{3}$"
_PIC = r"^\d{9}$"


def downloads() -> dict[str, dict[str, str]]:
    """The YAML's `downloads`: start URL -> {file, programme} (a key the registry ignores)."""
    return source_config(SOURCE_ID)["downloads"]


class CordisProjectsSpider(SourceSpider):
    """Downloads the CORDIS project/organization CSV zips of Horizon Europe and H2020."""

    name = SOURCE_ID
    # The zips can outgrow the project default (32 MiB): H2020 lists ~35,000 grants with their
    # objectives and ~180,000 participations (sizes INFERRED, not seen).
    custom_settings = {
        "DOWNLOAD_MAXSIZE": 512 * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 256 * 1024 * 1024,
        # The project default (30 s) is for pages, not for a file of this size.
        "DOWNLOAD_TIMEOUT": 600,
    }

    async def start(self) -> AsyncIterator[scrapy.Request]:
        files = downloads()
        missing = [url for url in self.source.start_urls if url not in files]
        if missing:
            raise ValueError(f"{SOURCE_ID}.yml: start URLs without a downloads entry: {missing}")
        for url in self.source.start_urls:
            yield scrapy.Request(url, callback=self.parse, cb_kwargs={"download": files[url]})

    def parse(self, response: Response, download: dict[str, str]) -> Iterator:
        """One CORDIS bulk zip (cordis-*projects-csv.zip): checked, kept for parse_file."""
        item = self.save_file(response, download["file"], {"programme": download["programme"]})
        # An HTML error page or a truncated zip fails the crawl here, not later in the raw layer.
        sniff(Path(self.settings.get("CLUSTERDATA_FILES_DIR")) / download["file"], "zip")
        yield self.document(response)
        yield item


def read_member(archive: zipfile.ZipFile, member: str, columns: tuple[str, ...]) -> pl.DataFrame:
    """One `;`-separated CSV member of the zip, every column as text, its header checked."""
    found = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == member]
    if len(found) != 1:
        where = "no" if not found else f"{len(found)} members named"
        raise BulkFileError(f"{archive.filename}: {where} {member} in the zip")
    try:
        frame = pl.read_csv(
            io.BytesIO(archive.read(found[0])),
            separator=";",
            quote_char='"',
            infer_schema=False,
            encoding="utf8",
        )
    except pl.exceptions.ComputeError as exc:
        raise BulkFileError(f"{archive.filename}: {member} is not a readable CSV ({exc})") from exc
    frame = frame.rename(lambda c: c.lstrip("\ufeff"))
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise BulkFileError(f"{archive.filename}: {member} lacks columns {absent} (export changed)")
    return frame


def read_amount(column: str, target: str) -> tuple[pl.Expr, pl.Expr]:
    """The amount in `column` as a float, and a flag (else NULL) where it cannot be read.

    Accepted: `123`, `123.45`, `123,45`, `1234.567` (a leading group of four or more digits is
    no thousands group). NULL with a flag: an ambiguous `1.250` / `900,000`, and anything off
    the grammar (`1.234.567,00`, `-5`, `1 000`, `12e3`). A blank is NULL without a flag."""
    raw = pl.col(column).str.strip_chars()
    readable = raw.str.contains(_AMOUNT) & ~raw.str.contains(_AMBIGUOUS)
    value = pl.when(readable).then(raw.str.replace(",", ".", literal=True).cast(pl.Float64))
    flag = (
        pl.when(raw.str.contains(_AMBIGUOUS))
        .then(
            pl.format(
                f"{target}: {column} '{{}}' is ambiguous (decimal or thousands "
                "separator), left NULL",
                raw,
            )
        )
        .when((raw.str.len_chars() > 0) & ~readable)
        .then(pl.format(f"{target}: {column} '{{}}' is not a plain amount, left NULL", raw))
    )
    return value.alias(target), flag


def _flags(*flags: pl.Expr) -> pl.Expr:
    return non_null_list(list(flags)).alias("quality_flags")


def _lead_organisations(orgs: pl.DataFrame) -> pl.DataFrame:
    """Per project: its coordinator (name, organisationID, country) when it has exactly one."""
    one = pl.col("coordinators") == 1
    return (
        orgs.filter(pl.col("role").str.strip_chars() == "coordinator")
        .group_by("projectID")
        .agg(
            pl.len().alias("coordinators"),
            pl.col("name").first(),
            pl.col("organisationID").first(),
            pl.col("country_iso").first(),
        )
        .select(
            pl.col("projectID").alias("id"),
            "coordinators",
            pl.when(one).then(pl.col("name")).alias("lead_organisation"),
            pl.when(one).then(pl.col("organisationID")).alias("lead_organisation_key"),
            pl.when(one).then(pl.col("country_iso")).alias("lead_organisation_country"),
        )
    )


def parse_file(path: Path, file_item: dict[str, Any]) -> dict[str, pl.DataFrame]:
    """A CORDIS zip: project.csv as projects, organization.csv as participants."""
    programme = file_item["meta"].get("programme")
    if not programme:
        raise BulkFileError(f"{path.name}: the file item names no programme")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BulkFileError(f"{path.name}: not a zip file") from exc
    with archive:
        projects = read_member(archive, "project.csv", PROJECT_COLUMNS)
        orgs = read_member(archive, "organization.csv", ORGANIZATION_COLUMNS)

    countries = get_source(SOURCE_ID).lookup("countries")
    orgs = orgs.with_columns(
        pl.col("country").str.strip_chars().replace(countries).alias("country_iso")
    )
    total, total_flag = read_amount("totalCost", "total_eligible_eur")
    eu, eu_flag = read_amount("ecMaxContribution", "eu_contribution_eur")
    coordinators = pl.col("coordinators")
    lead_flag = (
        pl.when(coordinators.is_null())
        .then(pl.lit("lead_organisation: no coordinator in organization.csv"))
        .when(coordinators > 1)
        .then(pl.format("lead_organisation: {} coordinators in organization.csv", coordinators))
    )
    project_rows = projects.join(_lead_organisations(orgs), on="id", how="left").select(
        pl.col("id").alias("reference"),
        "title",
        "acronym",
        "lead_organisation",
        "lead_organisation_key",
        "lead_organisation_country",
        pl.lit(programme).alias("programme"),
        pl.concat_list(pl.lit(programme)).alias("programmes"),
        pl.col("fundingScheme").alias("operation_type"),
        total,
        eu,
        pl.col("startDate").alias("start_date"),
        pl.col("endDate").alias("end_date"),
        pl.col("objective").alias("description"),
        pl.col("lead_organisation_country").alias("country"),
        pl.col("topics").alias("call_identifier"),
        _flags(total_flag, eu_flag, lead_flag),
    )

    contribution, contribution_flag = read_amount("ecContribution", "eu_contribution_eur")
    key = pl.col("organisationID").str.strip_chars()
    participant_rows = orgs.join(
        projects.select(pl.col("id").alias("projectID"), pl.col("title").alias("project_title")),
        on="projectID",
        how="left",
    ).select(
        pl.col("projectID").alias("project_reference"),
        "project_title",
        pl.col("name").alias("name_as_published"),
        "role",
        pl.col("role").alias("role_as_published"),
        pl.col("country_iso").alias("country"),
        key.alias("organisation_key"),
        pl.when(key.str.contains(_PIC)).then(key).alias("pic"),
        pl.col("vatNumber").alias("vat"),
        contribution,
        _flags(contribution_flag),
    )
    return {
        "projects": to_raw_frame("projects", project_rows, file_item),
        "participants": to_raw_frame("participants", participant_rows, file_item),
    }
