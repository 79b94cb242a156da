"""Generate the benchmark's input data with a fixed seed: Kohesio-shaped export CSVs, extra
participant rows, and project-sheet HTML pages. Nothing here is a fact: every name, amount and
identifier is synthetic (the Q-ids start at 900000000 so they cannot collide with real ones).

Why generated and not recorded: the bench needs EU scale (1.5 M operations), and the recordings
in tests/fixtures are a few rows. The shape (columns, date and number formats, NUTS codes, long
summaries, quoted commas and line breaks) follows tests/fixtures/eu_kohesio_projects and the
export header lists in scrapers/sources/eu_kohesio_projects.yml.

Output goes under data/bench/ (git-ignored), keyed by size and seed, and is reused when present.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl

from scrapers.bulk import raw_schema
from scrapers.spiders.eu_kohesio_projects import load_config

SOURCE_ID = "eu_kohesio_projects"
FETCHED_AT = "2026-11-23T00:00:00Z"
SEED = 20261201

# Country name as the 2014-2020 export writes it, the NUTS prefix, and a relative weight (bigger
# cohesion-policy recipients publish more operations).
COUNTRIES: dict[str, tuple[str, str, int]] = {
    "PL": ("Poland", "PL", 14),
    "IT": ("Italy", "IT", 14),
    "ES": ("Spain", "ES", 12),
    "PT": ("Portugal", "PT", 10),
    "FR": ("France", "FR", 8),
    "DE": ("Germany", "DE", 8),
    "CZ": ("Czechia", "CZ", 6),
    "HU": ("Hungary", "HU", 5),
    "RO": ("Romania", "RO", 5),
    "GR": ("Greece", "EL", 4),
    "SK": ("Slovakia", "SK", 3),
    "BG": ("Bulgaria", "BG", 2),
    "HR": ("Croatia", "HR", 2),
    "LT": ("Lithuania", "LT", 2),
    "LV": ("Latvia", "LV", 1),
    "EE": ("Estonia", "EE", 1),
    "SI": ("Slovenia", "SI", 1),
    "BE": ("Belgium", "BE", 1),
    "NL": ("Netherlands", "NL", 1),
    "AT": ("Austria", "AT", 1),
    "SE": ("Sweden", "SE", 1),
    "FI": ("Finland", "FI", 1),
    "DK": ("Denmark", "DK", 1),
    "IE": ("Ireland", "IE", 1),
    "CY": ("Cyprus", "CY", 1),
    "MT": ("Malta", "MT", 1),
    "LU": ("Luxembourg", "LU", 1),
}

WORDS = (
    "support development innovation regional enterprise digital cluster network energy "
    "efficiency investment research infrastructure sustainable competitiveness training "
    "employment social inclusion transport rail broadband health education urban rural tourism "
    "heritage water waste circular economy industrial modernisation small medium enterprises "
    "internationalisation export markets technology transfer laboratory equipment renewable "
    "solar photovoltaic biomass building renovation municipality school hospital road bridge "
    "innovação desenvolvimento regional empresas competitividade formação inovación empresa "
    "desarrollo sviluppo impresa innovazione rozwój przedsiębiorstw innowacji województwa "
    "modernizace podniků fejlesztés vállalkozás dezvoltare întreprinderi ανάπτυξη επιχειρήσεων "
    "Entwicklung Unternehmen Förderung développement entreprises numérique Açores Alentejo "
    "Łódź Kraków Île-de-France Sicilia Andalucía Moravskoslezský"
).split()
ORG_SUFFIXES = [
    "Lda",
    "S.A.",
    "S.L.",
    "S.r.l.",
    "Sp. z o.o.",
    "GmbH",
    "s.r.o.",
    "Kft.",
    "SRL",
    "SAS",
    "B.V.",
    "AB",
    "Oy",
    "ApS",
    "Ltd",
    "Municipality",
    "University",
    "Institute",
]
FUNDS = [
    ("ERDF", "European Regional Development Fund", 60),
    ("ESF", "European Social Fund", 20),
    ("CF", "Cohesion Fund", 10),
    ("", "European Social Fund Plus", 6),
    ("JTF", "Just Transition Fund", 4),
]
PERIODS = ["2014-2020", "2021-2027"]


def _pool(rng: np.random.Generator, size: int, low: int, high: int) -> list[str]:
    """`size` random phrases of low..high words (Python, but pool-sized, not row-sized)."""
    lengths = rng.integers(low, high + 1, size)
    picks = rng.integers(0, len(WORDS), lengths.sum())
    out, at = [], 0
    for n in lengths:
        words = [WORDS[i] for i in picks[at : at + n]]
        at += n
        out.append(" ".join(words).capitalize())
    return out


def _summaries(rng: np.random.Generator, size: int) -> list[str]:
    """Long summaries: several sentences, some with commas, quotes and a line break."""
    sentences = _pool(rng, 4000, 6, 20)
    out = []
    for i in range(size):
        n = int(rng.integers(1, 7))
        picks = rng.integers(0, len(sentences), n)
        text = ". ".join(sentences[j] for j in picks) + "."
        if i % 7 == 0:
            text = text.replace(". ", ', "quoted" here.\n', 1)
        out.append(text)
    return out


def kohesio_frame(operations: int, seed: int = SEED, countries: int = 27) -> pl.DataFrame:
    """One frame of `operations` export rows with every column of both periods' headers, plus
    the `__country` and `__period` of the file each row goes to."""
    rng = np.random.default_rng(seed)
    n = operations
    # The `countries` biggest recipients (the smoke size uses two: four files, not 54).
    codes = list(COUNTRIES)[:countries]
    weights = np.array([COUNTRIES[c][2] for c in codes], dtype=float)
    country_idx = rng.choice(len(codes), n, p=weights / weights.sum())
    period_idx = (rng.random(n) < 0.35).astype(np.int64)  # 35 % 2021-2027
    s = pl.Series

    titles = s(_pool(rng, 50_000, 4, 16))
    summaries = s(_summaries(rng, 30_000))
    org_names = s(
        [
            f"{name} {ORG_SUFFIXES[i % len(ORG_SUFFIXES)]}"
            for i, name in enumerate(_pool(rng, 200_000, 1, 4))
        ]
    )
    # A few names hold a comma ("Example Company, Lda"): the CSV must quote them.
    org_names = org_names.str.replace(r" (Lda|S\.A\.)$", ", $1")
    org_count = len(org_names)
    programmes = s([f"{w} Operational Programme" for w in _pool(rng, 300, 1, 3)])
    labels = s(_pool(rng, 120, 3, 9))

    total = np.round(np.exp(rng.normal(11.5, 1.6, n)), 2)
    rate = rng.choice([50.0, 60.0, 70.0, 75.0, 79.71, 80.0, 85.0, 100.0], n)
    eu = np.round(total * rate / 100.0, 2)
    start = rng.integers(0, 4000, n)
    length = rng.integers(30, 2000, n)
    category = rng.integers(1, 121, n)
    category[rng.random(n) < 0.02] = 63  # cluster support
    fund_idx = rng.choice(len(FUNDS), n, p=np.array([f[2] for f in FUNDS]) / 100.0)
    org_idx = rng.integers(0, org_count, n)
    has_org = rng.random(n) >= 0.02
    nuts_a = rng.integers(1, 4, n)
    nuts_b = rng.integers(1, 6, n)
    nuts_c = rng.integers(1, 9, n)

    frame = pl.DataFrame(
        {
            "__i": np.arange(n),
            "__country": s(codes).gather(country_idx),
            "__period": s(PERIODS).gather(period_idx),
            "__title": titles.gather(rng.integers(0, len(titles), n)),
            "__title_pl": titles.gather(rng.integers(0, len(titles), n)),
            "__sum_en": summaries.gather(rng.integers(0, len(summaries), n)),
            "__sum_pl": summaries.gather(rng.integers(0, len(summaries), n)),
            "__org": org_names.gather(org_idx),
            "__org_q": org_idx + 900_100_000,
            "__has_org": has_org,
            "__programme": programmes.gather(rng.integers(0, len(programmes), n)),
            "__label": labels.gather(category % len(labels)),
            "__category": category,
            "__fund_code": s([f[0] for f in FUNDS]).gather(fund_idx),
            "__fund_name": s([f[1] for f in FUNDS]).gather(fund_idx),
            "__total": total,
            "__eu": eu,
            "__rate": rate,
            "__start": start,
            "__length": length,
            "__na": nuts_a,
            "__nb": nuts_b,
            "__nc": nuts_c,
            "__u": rng.random(n),
            "__v": rng.random(n),
        }
    )
    prefix = pl.col("__country").replace({c: v[1] for c, v in COUNTRIES.items()})
    start_date = pl.date(2014, 1, 1) + pl.duration(days=pl.col("__start"))
    end_date = start_date + pl.duration(days=pl.col("__length"))
    u, v = pl.col("__u"), pl.col("__v")
    amount_text = pl.col("__total").cast(pl.Utf8)
    # About 1 % of amounts are in a European format (1.234.567,89), which the export's parser
    # must refuse (flag, NULL) rather than guess.
    euro_amount = pl.concat_str(
        [
            (pl.col("__total") // 1000).cast(pl.Int64).cast(pl.Utf8),
            pl.lit("."),
            (pl.col("__total") % 1000).floor().cast(pl.Int64).cast(pl.Utf8).str.zfill(3),
            pl.lit(","),
            ((pl.col("__total") * 100).round(0).cast(pl.Int64) % 100).cast(pl.Utf8).str.zfill(2),
        ]
    )
    date_text = start_date.dt.strftime("%d/%m/%Y")
    nuts1 = pl.concat_str([prefix, pl.col("__na").cast(pl.Utf8)])
    nuts2 = pl.concat_str([nuts1, pl.col("__nb").cast(pl.Utf8)])
    nuts3 = pl.concat_str([nuts2, pl.col("__nc").cast(pl.Utf8)])
    org = pl.col("__has_org")
    out = frame.select(
        "__country",
        "__period",
        pl.concat_str(
            [pl.lit("https://linkedopendata.eu/entity/Q"), (pl.col("__i") + 900_000_000)]
        ).alias("Operation_Unique_Identifier"),
        pl.concat_str([pl.lit("OP-"), pl.col("__i").cast(pl.Utf8)]).alias(
            "Operation_Local_Identifier"
        ),
        pl.col("__title").alias("Operation_Name_English"),
        pl.when(pl.col("__country") != "IE")
        .then(pl.col("__title_pl"))
        .alias("Operation_Name_Programme_Language"),
        pl.col("__country").replace({c: v[0] for c, v in COUNTRIES.items()}).alias("Country"),
        # 0.1 % impossible dates (31/02/YYYY): the clean layer quarantines them.
        pl.when(u < 0.001)
        .then(pl.lit("31/02/2017"))
        .otherwise(date_text)
        .alias("Operation_Start_Date"),
        # 0.05 % end before start: the schema's start_not_after_end check quarantines them.
        pl.when((u >= 0.001) & (u < 0.0015))
        .then(pl.date(2013, 6, 30).dt.strftime("%d/%m/%Y"))
        .otherwise(end_date.dt.strftime("%d/%m/%Y"))
        .alias("Operation_End_Date"),
        pl.col("__rate").round(2).cast(pl.Utf8).alias("Cofinancing_Rate"),
        pl.when(v < 0.01)
        .then(euro_amount)
        .otherwise(amount_text)
        .alias("Total_Eligible_Expenditure_amount"),
        pl.when((v >= 0.01) & (v < 0.011))
        .then(pl.lit("PLN"))
        .otherwise(pl.lit("EUR"))
        .alias("Total_Eligible_Expenditure_Currency"),
        pl.col("__eu").cast(pl.Utf8).alias("Project_EU_Budget"),
        pl.when(org)
        .then(
            pl.when((v >= 0.02) & (v < 0.022))
            .then(
                pl.format(
                    "https://linkedopendata.eu/entity/Q{}; https://linkedopendata.eu/entity/Q{}",
                    pl.col("__org_q"),
                    pl.col("__org_q") + 1,
                )
            )
            .otherwise(
                pl.concat_str([pl.lit("https://linkedopendata.eu/entity/Q"), pl.col("__org_q")])
            )
        )
        .alias("Beneficiary_Unique_Identifier"),
        pl.when(org).then(pl.col("__org")).alias("Beneficiary_Name"),
        pl.lit(None, pl.Utf8).alias("Beneficiary_Local_Identifier"),
        pl.col("__category").cast(pl.Utf8).str.zfill(3).alias("Category_Of_Intervention"),
        pl.when(pl.col("__category") == 63)
        .then(pl.lit("Cluster support and business networks primarily benefiting SMEs"))
        .otherwise(pl.col("__label"))
        .alias("Category_Label"),
        pl.lit(None, pl.Utf8).alias("Thematic_Objective_ID"),
        pl.lit(None, pl.Utf8).alias("Thematic_Objective_Label"),
        pl.lit(None, pl.Utf8).alias("Policy_Objective_ID"),
        pl.lit(None, pl.Utf8).alias("Policy_Objective_Label"),
        pl.lit(None, pl.Utf8).alias("Specific_Objective_ID"),
        pl.lit(None, pl.Utf8).alias("Specific_Objective_Label"),
        pl.when(pl.col("__fund_code") != "").then(pl.col("__fund_code")).alias("Fund_Code"),
        pl.col("__fund_name").alias("Fund_Name"),
        pl.concat_str([pl.lit("2014"), pl.col("__country"), pl.lit("16RFOP001")]).alias(
            "Programme_Code"
        ),
        pl.col("__programme").alias("Programme_Name"),
        pl.format("{},{}", (u * 20 + 38).round(6), (v * 30 - 8).round(6)).alias("Coordinates"),
        pl.lit(None, pl.Utf8).alias("Location_Indicator_latitude_longitude"),
        pl.lit(None, pl.Utf8).alias("Postal_Code"),
        pl.lit(None, pl.Utf8).alias("LAU_IDs"),
        pl.lit(None, pl.Utf8).alias("LAU_Labels"),
        pl.concat_str([pl.lit("Macroregion "), nuts1]).alias("NUTS1_Label"),
        pl.concat_str([pl.lit("Region "), nuts2]).alias("NUTS2_Label"),
        pl.concat_str([pl.lit("Subregion "), nuts3]).alias("NUTS3_Label"),
        nuts1.alias("NUTS1_Code"),
        nuts2.alias("NUTS2_Code"),
        nuts3.alias("NUTS3_Code"),
        pl.col("__period").alias("Programming_Period"),
        pl.col("__sum_en").alias("Operation_Summary_English"),
        pl.when((pl.col("__country") != "IE") & (u > 0.6))
        .then(pl.col("__sum_pl"))
        .alias("Operation_Summary_Programme_Language"),
        pl.lit(None, pl.Utf8).alias("ManagingAuthority"),
        pl.lit(None, pl.Utf8).alias("Image_URL"),
        pl.lit(None, pl.Utf8).alias("InfoRegio_ID"),
        pl.lit(None, pl.Utf8).alias("InfoRegio_URL"),
        pl.col("__country").replace({"GR": "EL"}).alias("CountryCode"),
    )
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_kohesio(out: Path, operations: int, seed: int = SEED, countries: int = 27) -> list[dict]:
    """Write one export CSV per country × period and return their file items (as the spider
    yields them: source_id, url, fetched_at, document_sha256, path, meta)."""
    config = load_config()
    out.mkdir(parents=True, exist_ok=True)
    frame = kohesio_frame(operations, seed, countries)
    items = []
    for (country, period), part in frame.group_by(["__country", "__period"], maintain_order=True):
        columns = list(config["exports"][period]["columns"])
        path = out / f"{country}-{period}.csv"
        part.select(columns).write_csv(path)
        items.append(
            {
                "source_id": SOURCE_ID,
                "url": config["exports"][period]["url_template"].format(country=country),
                "fetched_at": FETCHED_AT,
                "document_sha256": _sha256(path),
                "path": path.name,
                "meta": {"country": country, "period": period},
                "size_bytes": path.stat().st_size,
            }
        )
    return items


def co_beneficiaries(beneficiaries: pl.DataFrame, total: int, seed: int = SEED) -> pl.DataFrame:
    """Extra participant rows in the raw contract, so participants reach `total` rows: a second
    beneficiary for operations (the export has one row per operation, so the generated CSV alone
    gives at most one participant per operation). Same provenance as the row they extend."""
    rng = np.random.default_rng(seed + 1)
    extra = total - beneficiaries.height
    if extra <= 0:
        return beneficiaries.head(0)
    picks = rng.integers(0, beneficiaries.height, extra)
    keys = rng.integers(800_000_000, 800_000_000 + max(extra // 3, 1), extra)
    # Two picks of one operation with one key would repeat a participant id: keep the first.
    # Decided on the two key columns before the rows are copied, so that the bench's peak
    # memory is the pipeline's and not two copies of 1.5 M generated rows.
    first = (
        pl.DataFrame({"reference": beneficiaries["project_reference"].gather(picks), "key": keys})
        .with_row_index("pick")
        .unique(["reference", "key"], keep="first", maintain_order=True)["pick"]
    )
    picks, keys = picks[first.to_numpy()], keys[first.to_numpy()]
    # From one chunk: a gather across chunks copies every string it picks (URLs, titles), from
    # one chunk it copies only the 16-byte views (about 300 MiB less at 1.5 M rows).
    frame = (
        beneficiaries.rechunk()
        .select(pl.all().gather(picks))
        .with_columns(
            pl.concat_str([pl.lit("Q"), pl.Series(keys)]).alias("organisation_key"),
            pl.concat_str([pl.lit("Co-beneficiary "), pl.Series(keys).cast(pl.Utf8)]).alias(
                "name_as_published"
            ),
            pl.lit(None, pl.List(pl.Utf8)).alias("quality_flags"),
        )
    )
    return frame.select(list(raw_schema("participants")))


def ensure_kohesio(
    root: Path, operations: int, seed: int = SEED, countries: int = 27
) -> tuple[Path, list[dict]]:
    """The export CSVs for this size and seed, generated once and reused."""
    name = f"kohesio-{operations}-{seed}" + (f"-{countries}c" if countries != 27 else "")
    folder = root / name
    manifest = folder / "files.json"
    if manifest.exists():
        return folder, json.loads(manifest.read_text())
    items = write_kohesio(folder, operations, seed, countries)
    manifest.write_text(json.dumps(items, indent=1))
    return folder, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1_500_000)
    parser.add_argument("--pages", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=Path("data/bench"))
    args = parser.parse_args()
    folder, items = ensure_kohesio(args.out, args.operations)
    size = sum(i["size_bytes"] for i in items)
    print(f"{folder}: {len(items)} files, {size / 1e6:.0f} MB")
    from bench.pages import ensure_pages

    pages = ensure_pages(args.out, args.pages)
    print(f"{pages}: {args.pages} pages")


if __name__ == "__main__":
    main()
