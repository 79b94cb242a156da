"""Dagster assets `<layer>/<entity>`: raw (partitioned by source) → clean (polars) →
validated (pandera, quarantine) → warehouse (SQLite build) → published (atomic)."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from pipelines.clean import (
    Cleaned,
    clean_calls,
    clean_clusters,
    clean_documents,
    clean_participants,
    clean_projects,
    clean_recognitions,
    derive_organisations,
)
from pipelines.crawling import CrawlFailed, crawl_source
from pipelines.gate import (
    load_snapshot,
    promote_snapshots,
    read_verdicts,
    run_gate,
    stage_outcome,
)
from pipelines.health import finalize_run, read_health, read_history
from pipelines.history import commit_pending, prepare_history
from pipelines.layout import DataLayout
from pipelines.quarantine import (
    QUARANTINE_SCHEMA,
    read_quarantine,
    write_quarantine,
)
from pipelines.raw import ROW_ENTITIES, RawDataError, empty_raw, read_run
from pipelines.validate import PARENTS, drop_orphans, validate_entity
from schemas import ENTITY_MODELS, TABLE_MODELS, load_order
from schemas.history import HISTORY_TABLES
from scrapers.registry import load_registry

REGISTRY = load_registry()
SOURCE_PARTITIONS = dg.StaticPartitionsDefinition(list(REGISTRY))
RAW_ENTITIES = ROW_ENTITIES  # clusters, calls, projects, participants, documents
# Parents before children, so orphan checks see their parents validated (sources come from the
# registry and source_health from the refreshes' health history, not from crawls).
BOOKKEEPING_TABLES = ("sources", "source_health")
# The history tables (pipelines/history.py) are built from the history store, not crawled.
VALIDATED_ENTITIES = [
    t for t in load_order() if t not in BOOKKEEPING_TABLES and t not in HISTORY_TABLES
]


class ClusterdataConfig(dg.ConfigurableResource):
    """Paths and run settings; every asset reads them from here, never from literals."""

    data_dir: str = "data"
    # none: read the latest crawl output; offline: replay recordings; live: the real sites.
    crawl: str = "none"
    recordings_dir: str = "tests/fixtures"
    # The run's clock for derived statuses (ISO date); empty means today (UTC).
    run_date: str = ""

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    @property
    def today(self) -> dt.date:
        return (
            dt.date.fromisoformat(self.run_date)
            if self.run_date
            else dt.datetime.now(dt.UTC).date()
        )


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.write_parquet(tmp)
    tmp.replace(path)


def _per_source_counts(frame: pl.DataFrame) -> dict[str, int]:
    if frame.height == 0:
        return {}
    return dict(frame.group_by("source_id").len().sort("source_id").iter_rows())


# --- raw --------------------------------------------------------------------------------------


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["raw", e],
            group_name="raw",
            description=f"Raw {e} rows of one source's latest crawl (JSON Lines → parquet)",
        )
        for e in RAW_ENTITIES
    ],
    partitions_def=SOURCE_PARTITIONS,
    # Only the live crawl is worth retrying: a site that was down may be back in a few minutes.
    # Deferred sources, replay errors and parse errors fail with allow_retries=False.
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=300, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
)
def raw_records(
    context: dg.AssetExecutionContext, settings: ClusterdataConfig
) -> Iterator[dg.MaterializeResult]:
    """Read (after crawling, when configured) one source's latest run file."""
    source_id = context.partition_key
    layout = settings.layout
    if settings.crawl in ("offline", "live"):
        try:
            crawl_source(
                source_id,
                layout,
                offline=settings.crawl == "offline",
                recordings=Path(settings.recordings_dir),
            )
        except CrawlFailed as exc:
            retry = settings.crawl == "live" and not exc.deferred
            raise dg.Failure(f"{source_id}: {exc}", allow_retries=retry) from exc
    path = layout.latest_raw(source_id)
    if path is None:
        raise dg.Failure(
            f"{source_id}: no crawl output; run `clusterdata crawl {source_id}`",
            allow_retries=False,
        )
    try:
        frames = read_run(source_id, path)
    except (RawDataError, pl.exceptions.PolarsError) as exc:  # it will not parse on a retry either
        raise dg.Failure(f"{source_id}: {path.name}: {exc}", allow_retries=False) from exc
    for entity in RAW_ENTITIES:
        _write(frames[entity], layout.staged("raw", entity, source_id))
        yield dg.MaterializeResult(
            asset_key=["raw", entity],
            metadata={"rows": frames[entity].height, "run_file": str(path)},
        )


def _read_raw_all(layout: DataLayout, entity: str) -> pl.DataFrame:
    paths = [layout.staged("raw", entity, s) for s in REGISTRY]
    frames = [pl.read_parquet(p) for p in paths if p.exists()]
    return pl.concat(frames) if frames else empty_raw(entity)


# --- clean ------------------------------------------------------------------------------------


def _clean_asset(entity: str, fn):
    @dg.asset(
        key=["clean", entity],
        deps=[dg.AssetKey(["raw", entity])],
        group_name="clean",
        description=f"{entity}: ids, lookups and strict types (polars)",
    )
    def _asset(settings: ClusterdataConfig) -> dg.MaterializeResult:
        layout = settings.layout
        cleaned: Cleaned = fn(_read_raw_all(layout, entity), settings)
        _write(cleaned.frame, layout.staged("clean", entity))
        _write(cleaned.rejected, layout.staged("rejected", entity))
        return dg.MaterializeResult(
            metadata={"rows": cleaned.frame.height, "rejected": cleaned.rejected.height}
        )

    return _asset


clean_assets = [
    _clean_asset("clusters", lambda raw, c: clean_clusters(raw, REGISTRY)),
    _clean_asset("recognitions", lambda raw, c: clean_recognitions(raw, REGISTRY)),
    _clean_asset("projects", lambda raw, c: clean_projects(raw, REGISTRY)),
    _clean_asset("participants", lambda raw, c: clean_participants(raw, REGISTRY)),
    _clean_asset("calls", lambda raw, c: clean_calls(raw, REGISTRY, c.today)),
    _clean_asset("documents", lambda raw, c: clean_documents(raw)),
]


@dg.asset(
    key=["clean", "organisations"],
    deps=[
        dg.AssetKey(["raw", "projects"]),
        dg.AssetKey(["raw", "participants"]),
        dg.AssetKey(["clean", "clusters"]),
    ],
    group_name="clean",
    description="organisations named by projects and participants, linked to clusters",
)
def clean_organisations(settings: ClusterdataConfig) -> dg.MaterializeResult:
    layout = settings.layout
    cleaned = derive_organisations(
        _read_raw_all(layout, "projects"),
        _read_raw_all(layout, "participants"),
        pl.read_parquet(layout.staged("clean", "clusters")),
        REGISTRY,
    )
    _write(cleaned.frame, layout.staged("clean", "organisations"))
    _write(cleaned.rejected, layout.staged("rejected", "organisations"))
    linked = cleaned.frame["cluster_id"].is_not_null().sum()
    return dg.MaterializeResult(
        metadata={"rows": cleaned.frame.height, "linked_to_clusters": linked}
    )


# --- validated --------------------------------------------------------------------------------


def input_counts(layout: DataLayout, entity: str) -> dict[str, int]:
    """Rows that entered the pipeline per source: raw rows, distinct documents, or (for the
    derived organisations) the rows derived."""
    if entity == "organisations":
        return _per_source_counts(pl.read_parquet(layout.staged("clean", entity)))
    raw = _read_raw_all(layout, entity)
    if entity == "documents":
        raw = raw.unique("document_sha256")
    return _per_source_counts(raw)


def _validated_asset(entity: str):
    parents = sorted({p for _, p in PARENTS[entity]})

    @dg.asset(
        key=["validated", entity],
        deps=[dg.AssetKey(["clean", entity])] + [dg.AssetKey(["validated", p]) for p in parents],
        group_name="validated",
        description=f"{entity} that pass the pandera model; the rest quarantined with reasons",
    )
    def _asset(
        context: dg.AssetExecutionContext, settings: ClusterdataConfig
    ) -> dg.MaterializeResult:
        layout = settings.layout
        frame = pl.read_parquet(layout.staged("clean", entity))
        result = validate_entity(entity, frame)
        valid_parents = {p: pl.read_parquet(layout.staged("validated", p)) for p in parents}
        orphans = drop_orphans(entity, result.valid, valid_parents)
        quarantined = pl.concat(
            [
                pl.read_parquet(layout.staged("rejected", entity)).select(list(QUARANTINE_SCHEMA)),
                result.quarantined,
                orphans.quarantined,
            ]
        )
        _write(orphans.valid, layout.staged("validated", entity))
        write_quarantine(layout.quarantine_db, context.run_id, entity, quarantined)
        return dg.MaterializeResult(
            metadata={
                "valid": orphans.valid.height,
                "quarantined_rows": quarantined.select(pl.col("record_key")).n_unique()
                if quarantined.height
                else 0,
                "failures": quarantined.height,
            }
        )

    return _asset


validated_assets = [_validated_asset(e) for e in VALIDATED_ENTITIES]


def conservation(layout: DataLayout, run_id: str, entity: str) -> dict[str, dict[str, int]]:
    """Per source: input rows, valid rows, quarantined rows (distinct rows, not failures)."""
    valid = _per_source_counts(pl.read_parquet(layout.staged("validated", entity)))
    q = read_quarantine(layout.quarantine_db, run_id).filter(pl.col("entity") == entity)
    q = q.unique(["source_id", "record_key", "row_json"])
    quarantined = _per_source_counts(q)
    inputs = input_counts(layout, entity)
    return {
        s: {
            "input": inputs.get(s, 0),
            "valid": valid.get(s, 0),
            "quarantined": quarantined.get(s, 0),
        }
        for s in sorted(set(inputs) | set(valid) | set(quarantined))
    }


def _conservation_check(entity: str):
    @dg.asset_check(
        asset=dg.AssetKey(["validated", entity]),
        blocking=True,
        name="rows_conserved",
        description="For every source: input rows = valid rows + quarantined rows",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, settings: ClusterdataConfig
    ) -> dg.AssetCheckResult:
        counts = conservation(settings.layout, context.run.run_id, entity)
        broken = {s: c for s, c in counts.items() if c["input"] != c["valid"] + c["quarantined"]}
        return dg.AssetCheckResult(
            passed=not broken,
            metadata={"counts": json.dumps(counts), "broken": json.dumps(broken)},
        )

    return _check


def _bounds_check(entity: str):
    @dg.asset_check(
        asset=dg.AssetKey(["validated", entity]),
        name="rows_within_source_bounds",
        description="Valid rows per source inside the expected_rows bounds of its YAML",
    )
    def _check(settings: ClusterdataConfig) -> dg.AssetCheckResult:
        valid = _per_source_counts(pl.read_parquet(settings.layout.staged("validated", entity)))
        outside = {}
        for source_id, spec in REGISTRY.items():
            bounds = spec.expected_rows.get(entity)
            n = valid.get(source_id, 0)
            if bounds and (n < bounds.min or (bounds.max is not None and n > bounds.max)):
                outside[source_id] = f"{n} not in [{bounds.min}, {bounds.max}]"
        return dg.AssetCheckResult(
            passed=not outside,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"outside": json.dumps(outside)},
        )

    return _check


checks = [_conservation_check(e) for e in VALIDATED_ENTITIES] + [
    _bounds_check(e) for e in ENTITY_MODELS
]


# --- gated ------------------------------------------------------------------------------------


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["gated", e],
            group_name="gated",
            deps=[dg.AssetKey(["validated", v]) for v in VALIDATED_ENTITIES],
            description=f"{e} to publish: each source's rows if it passes the source gate, its "
            "last good snapshot if it fails; absent records kept for one run",
        )
        for e in VALIDATED_ENTITIES
    ],
)
def gated_records(
    context: dg.AssetExecutionContext, settings: ClusterdataConfig
) -> Iterator[dg.MaterializeResult]:
    """The source gate (pipelines/gate.py) over every source at once: one source's verdict
    decides its rows in every entity, and carried rows must resolve against all the others."""
    layout = settings.layout
    result = run_gate(
        REGISTRY,
        {e: pl.read_parquet(layout.staged("validated", e)) for e in VALIDATED_ENTITIES},
        read_quarantine(layout.quarantine_db, context.run_id),
        read_health(layout),
        {s: p.stem if (p := layout.latest_raw(s)) else None for s in REGISTRY},
        {s: load_snapshot(layout, s) for s in REGISTRY},
    )
    for entity, rows in result.dropped.items():
        write_quarantine(layout.quarantine_db, context.run_id, f"gated/{entity}", rows)
    stage_outcome(layout, result)
    failed = {s: v.reason for s, v in result.verdicts.items() if not v.passed}
    for source_id, reason in failed.items():
        context.log.warning(f"{source_id} failed the source gate: {reason}")
    for entity in VALIDATED_ENTITIES:
        _write(result.tables[entity], layout.staged("gated", entity))
        carried = {
            s: v.carried[entity] for s, v in result.verdicts.items() if v.carried.get(entity)
        }
        yield dg.MaterializeResult(
            asset_key=["gated", entity],
            metadata={
                "rows": result.tables[entity].height,
                "carried_from_snapshots": json.dumps(carried),
                "failed_sources": json.dumps(failed),
                "unlinked": json.dumps(result.unlinked),
            },
        )


# --- warehouse and publish ---------------------------------------------------------------------


def sources_frame(layout: DataLayout, run_id: str, built_at: str) -> pl.DataFrame:
    """The sources table: the registry plus how each source's last run went."""
    valid: dict[str, int] = {}
    for entity in ENTITY_MODELS:
        for s, n in _per_source_counts(pl.read_parquet(layout.staged("gated", entity))).items():
            valid[s] = valid.get(s, 0) + n
    q = read_quarantine(layout.quarantine_db, run_id)
    q = q.filter(pl.col("entity") != "documents").unique(["entity", "source_id", "record_key"])
    quarantined = _per_source_counts(q)
    health = read_health(layout)
    verdicts = read_verdicts(layout)
    rows = []
    for s, spec in REGISTRY.items():
        raw = layout.latest_raw(s)
        n_valid, n_q = valid.get(s, 0), quarantined.get(s, 0)
        status = "failed" if n_valid == 0 else ("partial" if n_q else "ok")
        crawl = health.get(s, {})
        reason = crawl.get("reason")
        last_success = built_at if status != "failed" else None
        if crawl.get("status") in ("failed", "deferred"):
            # The crawl broke; the rows (if any) are those of the last good run, carried forward.
            status = "stale" if n_valid else crawl["status"]
            reason = f"{crawl['status']} at {crawl['checked_at']}: {reason}"
            last_success = _last_good(verdicts.get(s)) if n_valid else None
        elif s in verdicts and not verdicts[s].passed:
            # The crawl ran but its rows broke the source gate: its last good snapshot is served.
            snapshot = verdicts[s].snapshot_run_id
            status = "stale" if n_valid else "failed"
            tail = (
                f"keeping its last good run {snapshot}"
                if n_valid
                else "no last good snapshot: nothing published"
            )
            reason = f"gate failed: {verdicts[s].reason}; {tail}"
            last_success = _last_good(verdicts[s]) if n_valid else None
        rows.append(
            {
                "source_id": s,
                "title": spec.title,
                "publisher": spec.publisher,
                "homepage": spec.homepage,
                "licence": spec.licence,
                "entity_kinds": list(spec.entity_kinds),
                "cadence": spec.cadence,
                "notes": spec.notes,
                "last_run_at": _run_time(raw) if raw else None,
                "last_success": last_success,
                "last_status": status if raw or crawl else None,
                "last_reason": reason,
                "rows_valid": n_valid,
                "rows_quarantined": n_q,
            }
        )
    columns = TABLE_MODELS["sources"].to_schema().columns
    return pl.DataFrame(rows, schema={c: col.dtype.type for c, col in columns.items()})


def source_health_frame(layout: DataLayout, sources: pl.DataFrame) -> pl.DataFrame:
    """The source_health table: one row per source crawled in each of the last refreshes.

    The latest refresh's rows take their final status, reason and row counts from this build's
    sources table (so ok can become partial, failed can become stale), and are stored back in
    its history file: earlier refreshes are published as their own build saw them."""
    history = read_history(layout)
    newest_raw = max((p.stem for s in REGISTRY if (p := layout.latest_raw(s))), default="")
    # A crawl newer than the last refresh (a Dagster run that crawled itself) is not that
    # refresh: its history keeps what its own build said.
    if history and newest_raw <= history[-1]["run_id"]:
        latest = history[-1]
        outcomes = {
            row["source_id"]: {
                "status": row["last_status"],
                "reason": row["last_reason"],
                "rows_valid": row["rows_valid"],
                "rows_quarantined": row["rows_quarantined"],
            }
            for row in sources.iter_rows(named=True)
            if row["source_id"] in latest["sources"] and row["last_status"]
        }
        finalize_run(layout, latest["run_id"], outcomes)
        for source_id, outcome in outcomes.items():
            latest["sources"][source_id].update(outcome)
    rows = [
        {
            "health_id": f"{run['run_id']}/{source_id}",
            "run_id": run["run_id"],
            "checked_at": outcome["checked_at"],
            "source_id": source_id,
            "status": outcome["status"],
            "reason": outcome.get("reason"),
            "items": outcome.get("items"),
            "pages": outcome.get("pages"),
            "rows_valid": outcome.get("rows_valid"),
            "rows_quarantined": outcome.get("rows_quarantined"),
            "duration_s": outcome.get("duration_s"),
        }
        for run in history
        for source_id, outcome in sorted(run["sources"].items())
        # A source dropped from the registry has no sources row to refer to.
        if source_id in REGISTRY
    ]
    columns = TABLE_MODELS["source_health"].to_schema().columns
    return pl.DataFrame(rows, schema={c: col.dtype.type for c, col in columns.items()})


def _last_good(verdict) -> str | None:
    """When the rows a failing source keeps were crawled (its snapshot's run)."""
    run_id = verdict.snapshot_run_id if verdict else None
    return _run_time(Path(run_id)) if run_id else None


def _run_time(raw: Path) -> str:
    stamp = raw.stem  # 20261123T071502123456Z
    parsed = dt.datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S")
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


@dg.asset(
    key=["warehouse", "clusterdata"],
    deps=[dg.AssetKey(["gated", e]) for e in VALIDATED_ENTITIES],
    group_name="warehouse",
    description="A new SQLite file: tables, FTS5, indexes; integrity-checked",
)
def warehouse_database(
    context: dg.AssetExecutionContext, settings: ClusterdataConfig
) -> dg.MaterializeResult:
    from warehouse.build import build_database

    layout = settings.layout
    built_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tables = {e: pl.read_parquet(layout.staged("gated", e)) for e in VALIDATED_ENTITIES}
    tables["sources"] = sources_frame(layout, context.run_id, built_at)
    tables["source_health"] = source_health_frame(layout, tables["sources"])
    for table in BOOKKEEPING_TABLES:
        checked = validate_entity(table, tables[table])
        if checked.quarantined.height:
            raise dg.Failure(
                f"the {table} table fails its schema: "
                + checked.quarantined["check"].unique().str.join(", ").item()
            )
    layout.build_dir.mkdir(parents=True, exist_ok=True)
    for old in layout.build_dir.glob("clusterdata-*.db"):
        old.unlink()
    path = layout.build_dir / f"clusterdata-{context.run_id}.db"
    # Field-level changes and record versions since the last publish; the history store itself
    # advances only once this build is published (published_database). Copied from the
    # prepared state in SQL: the versions hold every record as JSON (gigabytes at full size).
    history = prepare_history(layout.root, tables, built_at, frames=False)
    report = build_database(tables, path, history.copies)
    return dg.MaterializeResult(
        metadata={"path": str(path), "report": json.dumps(report, default=str)}
    )


@dg.asset(
    key=["published", "clusterdata"],
    deps=[dg.AssetKey(["warehouse", "clusterdata"])],
    group_name="published",
    description="The served database, replaced atomically by the new build",
)
def published_database(settings: ClusterdataConfig) -> dg.MaterializeResult:
    from warehouse.publish import PublishError, publish_checked

    layout = settings.layout
    builds = sorted(layout.build_dir.glob("clusterdata-*.db"), key=lambda p: p.stat().st_mtime)
    if not builds:
        raise dg.Failure("no built database to publish")
    try:
        # One publish at a time, smoke-checked after the switch, rolled back if that fails.
        target = publish_checked(builds[-1], layout.published, layout.root)
    except PublishError as exc:
        raise dg.Failure(str(exc)) from None
    # The release is served: this run's passing sources become their last good snapshots, and
    # the history it was built with becomes the store.
    promote_snapshots(layout)
    commit_pending(layout.root)
    return dg.MaterializeResult(metadata={"path": str(target)})


all_assets = [
    raw_records,
    *clean_assets,
    clean_organisations,
    *validated_assets,
    gated_records,
    warehouse_database,
    published_database,
]
