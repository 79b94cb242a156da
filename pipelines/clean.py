"""The clean layer: raw frames to entity frames with ids, lookups applied and values typed.

Vectorised polars only. A value that cannot be typed strictly (a date that is not ISO) sends its
row to quarantine with the reason; it is never coerced to NULL silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from pipelines.geocode import add_city_coordinates
from pipelines.quarantine import empty_quarantine, reject
from schemas import TABLE_MODELS
from scrapers.registry import SourceSpec

ISO_DATE = "%Y-%m-%d"


@dataclass
class Cleaned:
    """A clean frame and the rows refused while cleaning it."""

    frame: pl.DataFrame
    rejected: pl.DataFrame


def model_columns(entity: str) -> list[str]:
    return list(TABLE_MODELS[entity].to_schema().columns)


# A value that starts or ends with whitespace: `\s` is the White_Space set that strip_chars()
# removes, and each anchored test reads a character or two, not the whole string.
PADDED = (r"^\s", r"\s$")


def _padded(values: pl.Expr) -> pl.Expr:
    return (values.str.contains(PADDED[0]) | values.str.contains(PADDED[1])).any()


def tidy_text(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """Text columns trimmed; blank becomes NULL (a blank is not a value).

    Only the columns that need it are rewritten: a trim copies every string of its column
    (descriptions, titles), time and memory for nothing where no value is padded, which is the
    usual case (spiders trim as they read). The trim is a pass of its own: inside one
    `when(trimmed is not blank).then(trimmed)` polars trims twice."""
    columns = list(columns)
    stats = frame.select(
        *[_padded(pl.col(c)).alias(f"pad:{c}") for c in columns],
        *[(pl.col(c).str.len_bytes() == 0).any().alias(f"empty:{c}") for c in columns],
    ).row(0, named=True)
    padded = [c for c in columns if stats[f"pad:{c}"]]
    trimmed = frame.with_columns(pl.col(c).str.strip_chars() for c in padded)
    # Bytes, not characters: the same test (empty or not) without decoding every string.
    return trimmed.with_columns(
        pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c)
        for c in columns
        if c in padded or stats[f"empty:{c}"]
    )


def tidy_lists(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    """List columns as lists of trimmed, non-blank values, deduplicated in order; an empty list
    becomes NULL. As in `tidy_text`, each step runs only on the columns that need it (a new
    list column is a copy of all its values): the trim where a value is padded, the filter
    where a value is NULL or blank, the deduplication where a list repeats a value. Padding and
    blanks are looked for among the distinct values (a few thousand for millions of lists)."""
    columns = list(columns)
    stats = frame.select(
        *[
            pl.col(c).list.eval(pl.element().is_null()).list.any().any().alias(f"null:{c}")
            for c in columns
        ],
        *[(pl.col(c).list.len() == 0).any().alias(f"empty:{c}") for c in columns],
        *[pl.col(c).list.len().max().alias(f"longest:{c}") for c in columns],
    ).row(0, named=True)
    for c in columns:
        values = frame.get_column(c).explode().unique()
        stats[f"pad:{c}"] = bool(values.str.contains(PADDED[0]).any()) or bool(
            values.str.contains(PADDED[1]).any()
        )
        stats[f"blank:{c}"] = bool((values.str.len_bytes() == 0).any())
    multi = [c for c in columns if (stats[f"longest:{c}"] or 0) > 1]
    stats.update(
        frame.select(
            (pl.col(c).list.n_unique() < pl.col(c).list.len()).any().alias(f"dup:{c}")
            for c in multi
        ).row(0, named=True)
        if multi
        else {}
    )
    steps: dict[str, pl.Expr] = {}
    for c in columns:
        padded, dropped = stats[f"pad:{c}"], stats[f"null:{c}"] or stats[f"blank:{c}"]
        step = pl.col(c)
        if padded:  # element-wise: list.eval's fast path over the flat values
            step = step.list.eval(pl.element().str.strip_chars())
        if padded or dropped:
            step = step.list.filter(pl.element().str.len_bytes() > 0)  # drops NULL values too
        duplicated = stats.get(f"dup:{c}", False)
        if padded or duplicated:  # a trim can make two values equal
            step = step.list.unique(maintain_order=True)
        if padded or dropped or duplicated:
            steps[c] = step
    cleaned = frame.with_columns(step.alias(c) for c, step in steps.items())
    return cleaned.with_columns(
        pl.when(pl.col(c).list.len() > 0).then(pl.col(c)).alias(c)
        for c in columns
        if c in steps or stats[f"empty:{c}"]
    )


def slug(expr: pl.Expr) -> pl.Expr:
    """Lower-case letters and digits joined by '-' (Unicode letters kept)."""
    return expr.str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}]+", "-").str.strip_chars("-")


def make_id(prefix: pl.Expr, key: pl.Expr) -> pl.Expr:
    return pl.concat_str([prefix, pl.lit(":"), key])


def key_or_slug(key: pl.Expr, name: pl.Expr) -> pl.Expr:
    """The source's own key, else the slug of the name. polars evaluates both sides of a
    coalesce on every row, and the slug's Unicode regex is the costliest expression of the clean
    layer (bench/README.md): the name is slugged only on rows that have no key. Those rows get
    an empty string, not NULL: a NULL made by `when` keeps the string under its mask, and the
    string kernels still lower-case and regex it (the coalesce takes the key there anyway)."""
    return pl.coalesce(key, slug(pl.when(key.is_null()).then(name).otherwise(pl.lit(""))))


def _per_source(
    frame: pl.DataFrame, sources: dict[str, SourceSpec], table: str, build
) -> pl.Expr | None:
    """A when/then chain applying each source's lookup table `table` through `build(mapping)`."""
    chain = None
    present: set[str] | None = None
    for source_id, spec in sources.items():
        mapping = spec.lookup(table)
        if not mapping:
            continue
        if present is None:  # once, not once per source: a pass over every row
            present = set(frame["source_id"].unique().to_list())
        if source_id not in present:
            continue
        cond = pl.col("source_id") == source_id
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(build(mapping))
    return chain


def apply_lookup(
    frame: pl.DataFrame, sources: dict[str, SourceSpec], column: str, table: str
) -> pl.DataFrame:
    """Replace values of a text or list column with the sources' YAML lookups (`table`)."""
    is_list = isinstance(frame.schema[column], pl.List)

    def build(mapping: dict[str, str]) -> pl.Expr:
        if is_list:
            return pl.col(column).list.eval(pl.element().replace(mapping))
        return pl.col(column).replace(mapping)

    chain = _per_source(frame, sources, table, build)
    if chain is None:
        return frame
    return frame.with_columns(chain.otherwise(pl.col(column)).alias(column))


def parse_dates(frame: pl.DataFrame, columns: Iterable[str], *, entity: str, key: str) -> Cleaned:
    """Parse ISO date text strictly; a non-ISO value quarantines its row."""
    rejected = [empty_quarantine()]
    parsed = frame.with_columns(
        pl.col(c).str.to_date(ISO_DATE, strict=False).alias(f"__{c}") for c in columns
    )
    bad_any = pl.lit(False)
    any_bad = False
    for c in columns:
        bad = pl.col(c).is_not_null() & pl.col(f"__{c}").is_null()
        bad_any = bad_any | bad
        bad_rows = parsed.filter(bad).drop([f"__{x}" for x in columns])
        if bad_rows.height:
            any_bad = True
            rejected.append(
                reject(
                    bad_rows,
                    entity=entity,
                    key=key,
                    column=c,
                    check="iso_date",
                    failure_case=pl.col(c),
                )
            )
    # Filtering copies every column (lists, long text): only when a row is refused.
    good = (
        (parsed.filter(~bad_any) if any_bad else parsed)
        .with_columns(pl.col(f"__{c}").alias(c) for c in columns)
        .drop([f"__{c}" for c in columns])
    )
    return Cleaned(good, pl.concat(rejected))


def clean_projects(raw: pl.DataFrame, sources: dict[str, SourceSpec]) -> Cleaned:
    """Projects: ids, programme lookups, derived co-financing rate, strict dates."""
    frame = tidy_text(
        raw,
        (
            "reference",
            "title",
            "acronym",
            "lead_organisation",
            "lead_organisation_country",
            "programme",
            "operation_type",
            "description",
            "website",
            "country",
            "call_identifier",
            "lead_organisation_key",
        ),
    )
    frame = tidy_lists(
        frame, ("programmes", "funds", "regions", "quality_flags", "nuts_codes", "categories")
    )
    frame = apply_lookup(frame, sources, "programmes", "programmes")
    frame = apply_lookup(frame, sources, "programme", "programmes")
    frame = apply_lookup(frame, sources, "funds", "funds")
    eu, total = pl.col("eu_contribution_eur"), pl.col("total_eligible_eur")
    frame = frame.with_columns(
        make_id(pl.col("source_id"), key_or_slug(pl.col("reference"), pl.col("title"))).alias(
            "project_id"
        ),
        lead_organisation_id().alias("lead_organisation_id"),
        pl.coalesce(pl.col("programme"), pl.col("programmes").list.first()).alias("programme"),
        # Derived only where the source states both amounts; range-checked by the schema.
        pl.coalesce(
            pl.col("cofinancing_rate"),
            pl.when(eu.is_not_null() & (total > 0)).then((eu / total).round(6)),
        ).alias("cofinancing_rate"),
    )
    cleaned = parse_dates(frame, ["start_date", "end_date"], entity="projects", key="project_id")
    return Cleaned(cleaned.frame.select(model_columns("projects")), cleaned.rejected)


def clean_participants(raw: pl.DataFrame, sources: dict[str, SourceSpec]) -> Cleaned:
    """Participants: the same project key as the project row, organisation ids by the source's
    own key or the name."""
    frame = tidy_participants(raw, sources)
    return Cleaned(frame.select(model_columns("participants")), empty_quarantine())


# The participant columns that name the organisation: all derive_organisations reads.
ORGANISATION_TEXT = ("name_as_published", "country", "organisation_key", "pic", "vat")


def tidy_participants(raw: pl.DataFrame, sources: dict[str, SourceSpec]) -> pl.DataFrame:
    """Participants with text tidied, roles mapped by the YAML lookups, and their project,
    organisation and own ids (the participant id uses the mapped role)."""
    frame = tidy_text(
        raw, ("project_reference", "project_title", "role", "role_as_published", *ORGANISATION_TEXT)
    )
    frame = tidy_lists(frame, ("work_packages_led", "quality_flags"))
    frame = apply_lookup(frame, sources, "role", "roles")
    project_id = make_id(
        pl.col("source_id"), key_or_slug(pl.col("project_reference"), pl.col("project_title"))
    )
    # The organisation's key (its id, or its slugged name) is computed once for both ids.
    # One organisation can take part twice in a project (two roles): the participant id keys
    # on the organisation and the role.
    member = pl.concat_str(
        [pl.col("__member"), pl.col("role").fill_null("")], separator=":"
    ).str.strip_chars_end(":")
    return (
        frame.with_columns(
            project_id.alias("project_id"),
            key_or_slug(pl.col("organisation_key"), pl.col("name_as_published")).alias("__member"),
        )
        .with_columns(
            make_id(pl.col("source_id"), pl.col("__member")).alias("organisation_id"),
            make_id(pl.col("project_id"), member).alias("participant_id"),
        )
        .drop("__member")
    )


def participant_organisations(raw: pl.DataFrame) -> pl.DataFrame:
    """The organisation columns of participants, tidied as tidy_participants tidies them, with
    the same organisation id: without the project and participant ids, the role lookup and the
    project title, which derive_organisations does not read (a second tidy of every participant
    was most of its time, and a copy of every title)."""
    prov = ("source_id", "source_url", "fetched_at", "document_sha256")
    return tidy_text(raw.select(*ORGANISATION_TEXT, *prov), ORGANISATION_TEXT).with_columns(
        organisation_id("organisation_key", "name_as_published").alias("organisation_id")
    )


def organisation_id(key_col: str, name_col: str) -> pl.Expr:
    """<source_id>:<the source's own organisation id, else the slug of the name>."""
    return make_id(pl.col("source_id"), key_or_slug(pl.col(key_col), pl.col(name_col)))


def lead_organisation_id() -> pl.Expr:
    return pl.when(pl.col("lead_organisation").is_not_null()).then(
        organisation_id("lead_organisation_key", "lead_organisation")
    )


def clean_clusters(raw: pl.DataFrame, sources: dict[str, SourceSpec]) -> Cleaned:
    """Clusters: ids from the source and the name, lists tidied, vocabularies mapped by the
    YAML lookups (unknown values kept as published), the website's domain as a linking key,
    and the city's centroid where GeoNames names exactly one such place in the country."""
    frame = tidy_text(
        raw,
        (
            "name",
            "acronym",
            "country",
            "region",
            "city",
            "website",
            "eccp_url",
            "registry_id",
            "description",
        ),
    )
    frame = tidy_lists(
        frame,
        (
            "aliases",
            "sectors",
            "labels",
            "recognitions",
            "quality_flags",
            "technology_fields",
            "s3_priorities",
            "ecosystems",
            "partnerships",
        ),
    )
    for column in ("labels", "sectors", "ecosystems", "partnerships"):
        frame = apply_lookup(frame, sources, column, column)
    frame = frame.with_columns(
        cluster_id().alias("cluster_id"),
        pl.col("website")
        .str.extract(r"^https?://([^/:?#]+)", 1)
        .str.to_lowercase()
        .str.replace(r"^www\.", "")
        .alias("website_domain"),
    )
    frame = add_city_coordinates(frame)
    return Cleaned(frame.select(model_columns("clusters")), empty_quarantine())


def cluster_id(name_col: str = "name") -> pl.Expr:
    """<source_id>:<slug of the cluster's name as the source writes it>."""
    return make_id(pl.col("source_id"), slug(pl.col(name_col)))


def clean_recognitions(raw: pl.DataFrame, sources: dict[str, SourceSpec]) -> Cleaned:
    """Recognitions: linked to the same source's cluster row by its name; strict dates."""
    frame = tidy_text(
        raw, ("cluster_name", "kind", "name", "level", "awarded_by", "evidence", "evidence_url")
    )
    frame = tidy_lists(frame, ("quality_flags",))
    frame = apply_lookup(frame, sources, "level", "levels")
    first_date = pl.coalesce("valid_from", "as_of", pl.col("year").cast(pl.Utf8), "valid_to")
    frame = frame.with_columns(cluster_id("cluster_name").alias("cluster_id")).with_columns(
        make_id(
            pl.col("cluster_id"),
            slug(
                pl.concat_str(
                    ["kind", "name", pl.col("level").fill_null(""), first_date],
                    separator=" ",
                    ignore_nulls=True,
                )
            ),
        ).alias("recognition_id")
    )
    cleaned = parse_dates(
        frame, ["valid_from", "valid_to", "as_of"], entity="recognitions", key="recognition_id"
    )
    return Cleaned(cleaned.frame.select(model_columns("recognitions")), cleaned.rejected)


def next_deadline(today: dt.date) -> pl.Expr:
    """A multi-stage call exposes its next deadline (the first on or after the run's clock), or
    its last one once all have passed; a call with one deadline keeps it."""
    dates = pl.col("deadline_dates").list.eval(pl.element().str.to_date(ISO_DATE, strict=False))
    upcoming = dates.list.eval(pl.element().filter(pl.element() >= today)).list.min()
    return (
        pl.when(pl.col("deadline_dates").list.len() > 0)
        .then(pl.coalesce(upcoming, dates.list.max(), pl.col("deadline_date")))
        .otherwise(pl.col("deadline_date"))
        .alias("deadline_date")
    )


def call_status(today: dt.date) -> pl.Expr:
    """forthcoming / open / closed from the dates against the run's clock; NULL if unknown."""
    opening, deadline = pl.col("opening_date"), pl.col("deadline_date")
    return (
        pl.when(deadline.is_not_null() & (deadline < today))
        .then(pl.lit("closed"))
        .when(opening.is_not_null() & (opening > today))
        .then(pl.lit("forthcoming"))
        .when(deadline.is_not_null() & (deadline >= today))
        .then(pl.lit("open"))
        .otherwise(pl.lit(None, pl.Utf8))
        .alias("status")
    )


def clean_calls(raw: pl.DataFrame, sources: dict[str, SourceSpec], today: dt.date) -> Cleaned:
    """Calls: ids, programme lookups, strict dates, status derived from the run's clock."""
    frame = tidy_text(
        raw,
        (
            "identifier",
            "title",
            "programme",
            "publisher",
            "call_type",
            "description",
            "url",
            "country",
        ),
    )
    frame = tidy_lists(
        frame,
        (
            "deadline_dates",
            "eligible_applicants",
            "topics",
            "quality_flags",
            "document_urls",
        ),
    )
    frame = apply_lookup(frame, sources, "programme", "programmes")
    frame = apply_lookup(frame, sources, "call_type", "call_types")
    frame = frame.with_columns(
        make_id(pl.col("source_id"), key_or_slug(pl.col("identifier"), pl.col("title"))).alias(
            "call_id"
        )
    )
    cleaned = parse_dates(frame, ["opening_date", "deadline_date"], entity="calls", key="call_id")
    frame = cleaned.frame.with_columns(next_deadline(today)).with_columns(call_status(today))
    return Cleaned(frame.select(model_columns("calls")), cleaned.rejected)


def clean_documents(raw: pl.DataFrame) -> Cleaned:
    """Documents: one row per response body (the same body fetched twice is one document)."""
    frame = raw.sort("fetched_at").unique("document_sha256", keep="last", maintain_order=True)
    return Cleaned(frame.select(model_columns("documents")), empty_quarantine())


def cluster_match_key(expr: pl.Expr) -> pl.Expr:
    """Name key for exact organisation↔cluster matching: case, punctuation and the word
    'cluster' do not count ('TICE.PT Cluster' = 'TICE.PT'); anything else must be equal."""
    # Whitespace needs no pass of its own: it is never a letter, digit or '.', so every run of
    # it is inside a run that the second regex makes one space (a `\s+` -> " " pass after it
    # changed nothing, and cost as much as the lower-casing).
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"\bclusters?\b", " ")
        .str.replace_all(r"[^\p{L}\p{N}.]+", " ")
        .str.strip_chars(" .")
    )


def derive_organisations(
    raw_projects: pl.DataFrame,
    raw_participants: pl.DataFrame,
    clusters: pl.DataFrame,
    sources: dict[str, SourceSpec] | None = None,
) -> Cleaned:
    """Organisations named by projects (lead) and participants, one row per id, linked to the
    cluster whose name or acronym matches exactly and uniquely."""
    # Lead organisations come from the raw rows, which still carry the lead's country.
    prov = ["source_id", "source_url", "fetched_at", "document_sha256"]
    lead = ("lead_organisation", "lead_organisation_country", "lead_organisation_key")
    leads = (
        # Only the columns read here: the filter copies every column it is given.
        tidy_text(raw_projects.select(*lead, *prov), lead)
        .filter(pl.col("lead_organisation").is_not_null())
        .select(
            lead_organisation_id().alias("organisation_id"),
            pl.col("lead_organisation").alias("name"),
            pl.col("lead_organisation_country").alias("country"),
            pl.lit(None, pl.Utf8).alias("pic"),
            pl.lit(None, pl.Utf8).alias("vat"),
            *prov,
        )
    )
    named = participant_organisations(raw_participants).select(
        "organisation_id",
        pl.col("name_as_published").alias("name"),
        "country",
        "pic",
        "vat",
        *prov,
    )
    orgs = (
        pl.concat([named, leads])
        .group_by("organisation_id", maintain_order=True)
        .agg(
            pl.col("name").first(),
            *[pl.col(c).drop_nulls().first() for c in ("country", "pic", "vat")],
            *[pl.col(c).first() for c in prov],
        )
    )
    orgs = link_to_clusters(orgs, clusters, sources)
    orgs = orgs.with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("quality_flags"))
    return Cleaned(orgs.select(model_columns("organisations")), empty_quarantine())


def link_to_clusters(
    orgs: pl.DataFrame, clusters: pl.DataFrame, sources: dict[str, SourceSpec] | None = None
) -> pl.DataFrame:
    """`orgs` with `cluster_id` (re)set: the cluster whose name or acronym matches the
    organisation's name exactly (cluster_match_key) and uniquely, else NULL. Run on the cleaned
    rows, and again by the source gate against the clusters actually published (a failing
    cluster source's carried rows included)."""
    orgs = orgs.drop("cluster_id", strict=False)
    keys = pl.concat(
        [
            clusters.select(
                "cluster_id", "source_id", cluster_match_key(pl.col("name")).alias("key")
            ),
            clusters.filter(pl.col("acronym").is_not_null()).select(
                "cluster_id", "source_id", cluster_match_key(pl.col("acronym")).alias("key")
            ),
        ]
    ).unique()
    # A key shared by two clusters of ONE source is ambiguous: no link rather than a guess.
    # The same key in several sources is the same cluster seen by each: link to the row of the
    # preferred source (the YAML's link_priority, then source_id).
    priority = {s: spec.link_priority for s, spec in (sources or {}).items()}
    ambiguous = keys.filter(pl.col("cluster_id").n_unique().over("key", "source_id") > 1)["key"]
    unique_keys = (
        keys.filter(~pl.col("key").is_in(ambiguous.unique().to_list()))
        .with_columns(pl.col("source_id").replace_strict(priority, default=100).alias("rank"))
        .sort("rank", "source_id")
        .unique("key", keep="first", maintain_order=True)
        .select("cluster_id", "key")
    )
    if unique_keys.height:
        return (
            orgs.with_columns(cluster_match_key(pl.col("name")).alias("key"))
            .join(unique_keys, on="key", how="left", maintain_order="left")
            .drop("key")
        )
    # No cluster to link to: every name's match key would be computed for nothing.
    return orgs.with_columns(pl.lit(None, pl.Utf8).alias("cluster_id"))
