"""The source gate, between validated/* and the warehouse: a source that broke keeps its last
good rows, and a record leaves the release only after two consecutive absences.

A source fails the gate when, on its validated rows of this run:

- it has no rows at all (documents aside: they are pages, not records);
- an entity's rows fall outside the YAML `expected_rows` bounds, counted as the spider tests
  count them: rows valid on their own, so an orphan quarantined only because its parent failed a
  check (a data problem the quarantine reports) still counts;
- an entity has fewer than `min_row_ratio` (YAML, default 0.8) of the rows of its last good run;
- a field loses its fill rate: a column that was filled in at least 90% of an entity's rows in
  the last good run is filled in more than 20 points less now (e.g. 100% → 75%); a measured
  rule, not a YAML list, so that a source added tomorrow is covered without declaring anything;
- a row met an unknown category value: the clean layer keeps values outside the YAML lookups as
  published, so they reach pandera's vocabulary checks (`isin`, or a `*_known` list check such as
  `funds_known`) and are quarantined; one such row fails the source, since a new value in a
  vocabulary usually means the source changed its coding, not one bad row.

Its crawl failing or being deferred (health.json) fails it too. A failing source publishes its
last good snapshot instead, in every entity (nothing of the bad run), or nothing when it has none.

A passing source's rows become its new snapshot, DATA_DIR/snapshots/<source_id>/<entity>.parquet
with snapshot.json (the raw run gated, row counts, fill rates and per-record absence counters).
A record of the snapshot that the new run lacks is kept (carried from the snapshot) on its first
absence and dropped on its second; one that comes back starts again at zero. Gating the same raw
run again (a refresh that did not crawl the source) counts no new absence. Snapshots are staged by
the gate and promoted only after the warehouse build succeeds (`promote_snapshots`), so a build
that fails never moves a source's "last good" forward.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from pipelines.clean import link_to_clusters
from pipelines.layout import DataLayout
from pipelines.quarantine import empty_quarantine, reject
from pipelines.validate import PARENTS
from schemas import ENTITY_MODELS, TABLE_MODELS, table_meta
from scrapers.registry import SourceSpec

# A record absent from this many consecutive healthy runs of its source leaves the release.
ABSENCES_TO_DROP = 2
# Fill-rate rule: columns at least this filled in the last good run, and the drop that fails.
FILL_FLOOR = 0.9
FILL_DROP = 0.2
# Quarantine checks that mean "a value outside a vocabulary" (see the module docstring).
VOCABULARY_CHECK = re.compile(r"^isin\b|_known$")
SNAPSHOT_META = "snapshot.json"


@dataclass(frozen=True)
class Snapshot:
    """A source's last good rows, per entity, and what the gate remembers about them."""

    run_id: str
    frames: dict[str, pl.DataFrame]
    # entity -> {"rows": rows present in that run, "fill": {column: share filled}}
    stats: dict[str, dict] = field(default_factory=dict)
    # entity -> {record key: consecutive absences}, only for records carried while absent
    absences: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """How one source came through the gate."""

    source_id: str
    passed: bool
    # Why it failed, one line each; `crawl` when its crawl failed or was deferred.
    reasons: list[str]
    crawl: bool = False
    run_id: str | None = None
    # The snapshot published instead of this run (a failing source), if any.
    snapshot_run_id: str | None = None
    # Rows kept from the snapshot, per entity: absences (passing) or everything (failing).
    carried: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        return "; ".join(self.reasons) or None


def primary_key(entity: str) -> str:
    return table_meta(TABLE_MODELS[entity])["primary_key"]


# --- snapshots --------------------------------------------------------------------------------


def snapshots_dir(layout: DataLayout) -> Path:
    return layout.root / "snapshots"


def pending_dir(layout: DataLayout) -> Path:
    """Snapshots of this run, waiting for the warehouse build to succeed."""
    return layout.staging / "gate" / "snapshots"


def report_path(layout: DataLayout) -> Path:
    return layout.staging / "gate" / "verdicts.json"


def read_snapshot(directory: Path) -> Snapshot | None:
    meta_path = directory / SNAPSHOT_META
    if not meta_path.is_file():
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    frames = {e: pl.read_parquet(directory / f"{e}.parquet") for e in meta["entities"]}
    return Snapshot(meta["run_id"], frames, meta.get("stats", {}), meta.get("absences", {}))


def write_snapshot(directory: Path, snapshot: Snapshot) -> None:
    """Write a snapshot into a fresh temporary folder, then rename it into place."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for entity, frame in snapshot.frames.items():
        frame.write_parquet(tmp / f"{entity}.parquet")
    meta = {
        "run_id": snapshot.run_id,
        "entities": sorted(snapshot.frames),
        "stats": snapshot.stats,
        "absences": snapshot.absences,
    }
    (tmp / SNAPSHOT_META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    _swap(tmp, directory)


def _swap(new: Path, target: Path) -> None:
    """Replace folder `target` by `new`: two renames; a crash between them leaves `.old`,
    which `_recover` puts back."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _recover(target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    if not target.exists() and old.exists():
        os.replace(old, target)


def load_snapshot(layout: DataLayout, source_id: str) -> Snapshot | None:
    """A source's last good snapshot (promoted), or None."""
    target = snapshots_dir(layout) / source_id
    _recover(target)
    return read_snapshot(target)


def promote_snapshots(layout: DataLayout) -> list[str]:
    """Make this run's staged snapshots the sources' last good ones (after a good build)."""
    promoted = []
    pending = pending_dir(layout)
    for staged in sorted(p for p in pending.glob("*") if p.is_dir()) if pending.is_dir() else []:
        target = snapshots_dir(layout) / staged.name
        target.parent.mkdir(parents=True, exist_ok=True)
        _recover(target)
        _swap(staged, target)
        promoted.append(staged.name)
    return promoted


# --- rules ------------------------------------------------------------------------------------


def fill_rates(frame: pl.DataFrame) -> dict[str, float]:
    if frame.height == 0:
        return {}
    filled = frame.select(pl.all().is_not_null().mean())
    return {c: round(float(v), 6) for c, v in filled.row(0, named=True).items()}


def frame_stats(frames: Mapping[str, pl.DataFrame]) -> dict[str, dict]:
    return {e: {"rows": f.height, "fill": fill_rates(f)} for e, f in frames.items()}


def _bounds_text(lo: int, hi: int | None) -> str:
    return f"at least {lo}" if hi is None else f"{lo}–{hi}"


def rule_failures(
    spec: SourceSpec,
    frames: Mapping[str, pl.DataFrame],
    quarantined: pl.DataFrame,
    snapshot: Snapshot | None,
) -> list[str]:
    """One line per rule this run's rows of one source break (empty: it passes)."""
    entities = [e for e in ENTITY_MODELS if e in frames]
    if sum(frames[e].height for e in entities) == 0:
        return ["no rows at all this run"]
    reasons = []
    mine = quarantined.filter(pl.col("source_id") == spec.source_id)
    for entity, bounds in spec.expected_rows.items():
        orphans = mine.filter(
            (pl.col("entity") == entity) & pl.col("check").str.starts_with("parent_in_")
        ).unique(["record_key", "row_json"])
        n = (frames[entity].height if entity in frames else 0) + orphans.height
        if n < bounds.min or (bounds.max is not None and n > bounds.max):
            reasons.append(
                f"{entity}: {n} rows, outside the expected {_bounds_text(bounds.min, bounds.max)}"
            )
    last = snapshot.stats if snapshot else {}
    for entity in entities:
        n, before = frames[entity].height, last.get(entity, {})
        if before.get("rows") and n < spec.min_row_ratio * before["rows"]:
            reasons.append(
                f"{entity}: {n} rows, below {spec.min_row_ratio:.0%} of the last good "
                f"{before['rows']}"
            )
        now = fill_rates(frames[entity])
        for column, rate in sorted(before.get("fill", {}).items()):
            if column in now and rate >= FILL_FLOOR and now[column] < rate - FILL_DROP:
                reasons.append(
                    f"{entity}.{column}: filled in {now[column]:.0%} of rows, "
                    f"{rate:.0%} in the last good run"
                )
    reasons.extend(unknown_values(mine))
    return reasons


def unknown_values(quarantined: pl.DataFrame) -> list[str]:
    """'calls.call_type: 2 rows with values outside its vocabulary (e.g. 'grant')'."""
    vocab = quarantined.filter(pl.col("check").str.contains(VOCABULARY_CHECK.pattern))
    if vocab.height == 0:
        return []
    grouped = (
        vocab.group_by("entity", "column", maintain_order=True)
        .agg(pl.col("record_key").n_unique().alias("rows"), pl.col("failure_case").first())
        .sort("entity", "column")
    )
    return [
        f"{r['entity']}.{r['column']}: {r['rows']} rows with values outside its vocabulary "
        f"(e.g. {r['failure_case']!r})"
        for r in grouped.iter_rows(named=True)
    ]


# --- absences ---------------------------------------------------------------------------------


def carry_absent(
    entity: str,
    new: pl.DataFrame,
    snapshot: Snapshot | None,
    same_run: bool,
) -> tuple[pl.DataFrame, dict[str, int], int]:
    """(this run's rows plus the snapshot rows kept while absent, their absence counters, rows
    dropped). Gating the run the snapshot was taken from again counts no new absence."""
    if snapshot is None or entity not in snapshot.frames:
        return new, {}, 0
    key = primary_key(entity)
    old = snapshot.frames[entity]
    absent = old.join(new.select(key), on=key, how="anti")
    if absent.height == 0:
        return new, {}, 0
    before = snapshot.absences.get(entity, {})
    counts = {
        k: max(before.get(k, 0), 1) if same_run else before.get(k, 0) + 1
        for k in absent[key].cast(pl.Utf8).to_list()
    }
    kept_keys = [k for k, n in counts.items() if n < ABSENCES_TO_DROP]
    kept = absent.filter(pl.col(key).cast(pl.Utf8).is_in(kept_keys))
    merged = pl.concat([new, kept], how="diagonal_relaxed").select(new.columns)
    return merged, {k: counts[k] for k in kept_keys}, absent.height - kept.height


# --- the gate ---------------------------------------------------------------------------------


@dataclass
class GateResult:
    tables: dict[str, pl.DataFrame]
    verdicts: dict[str, Verdict]
    # Rows dropped because a carried reference no longer resolves (per entity, quarantine rows).
    dropped: dict[str, pl.DataFrame]
    # Links set to NULL because their target left the release: "organisations.cluster_id: 2".
    unlinked: dict[str, int]
    # Passing sources' new snapshots, to stage.
    snapshots: dict[str, Snapshot]


def run_gate(
    registry: Mapping[str, SourceSpec],
    validated: Mapping[str, pl.DataFrame],
    quarantined: pl.DataFrame,
    health: Mapping[str, dict],
    raw_runs: Mapping[str, str | None],
    snapshots: Mapping[str, Snapshot | None],
) -> GateResult:
    """Gate every source of the registry; returns the tables to build the warehouse from.

    `raw_runs`: each source's latest raw run id (None: never crawled); `snapshots`: each
    source's last good snapshot. Pure: reads and writes nothing."""
    fresh: dict[str, list[pl.DataFrame]] = {e: [] for e in validated}
    carried: dict[str, list[pl.DataFrame]] = {e: [] for e in validated}
    verdicts, new_snapshots = {}, {}
    for source_id, spec in registry.items():
        run_id, crawl, snapshot = raw_runs.get(source_id), health.get(source_id, {}), None
        snapshot = snapshots.get(source_id)
        if run_id is None and not crawl:
            continue  # never crawled: nothing to gate
        mine = {e: f.filter(pl.col("source_id") == source_id) for e, f in validated.items()}
        if crawl.get("status") in ("failed", "deferred"):
            reasons, is_crawl = [f"crawl {crawl['status']}: {crawl.get('reason')}"], True
        else:
            reasons, is_crawl = rule_failures(spec, mine, quarantined, snapshot), False
        if reasons:
            frames = snapshot.frames if snapshot else {}
            for entity in validated:
                if entity in frames:
                    carried[entity].append(frames[entity])
            verdicts[source_id] = Verdict(
                source_id,
                False,
                reasons,
                crawl=is_crawl,
                run_id=run_id,
                snapshot_run_id=snapshot.run_id if snapshot else None,
                carried={e: f.height for e, f in frames.items()},
            )
            continue
        same_run = snapshot is not None and snapshot.run_id == run_id
        out, absences, kept, dropped = {}, {}, {}, {}
        for entity, frame in mine.items():
            merged, counters, n_dropped = carry_absent(entity, frame, snapshot, same_run)
            out[entity] = merged
            if counters:
                absences[entity] = counters
                kept[entity] = len(counters)
            if n_dropped:
                dropped[entity] = n_dropped
            fresh[entity].append(merged)
        new_snapshots[source_id] = Snapshot(str(run_id), out, frame_stats(mine), absences)
        verdicts[source_id] = Verdict(
            source_id, True, [], run_id=run_id, carried=kept, dropped=dropped
        )
    tables = {}
    for entity, frame in validated.items():
        # Fresh rows first: a document fetched by two sources is kept once, as fetched now.
        parts = [frame.clear(), *fresh[entity], *carried[entity]]
        merged = pl.concat(parts, how="diagonal_relaxed").select(frame.columns)
        tables[entity] = merged.unique(primary_key(entity), keep="first", maintain_order=True)
    lost = relink_organisations(tables, registry)
    tables, dropped_rows, unlinked = resolve_references(tables)
    if lost:
        unlinked["organisations.cluster_id"] = unlinked.get("organisations.cluster_id", 0) + lost
    return GateResult(tables, verdicts, dropped_rows, unlinked, new_snapshots)


def relink_organisations(
    tables: dict[str, pl.DataFrame], registry: Mapping[str, SourceSpec]
) -> int:
    """Link organisations again, against the clusters this release publishes: clean linked them
    to this run's clusters, so while a cluster source fails (served from its snapshot) its
    carried clusters would get no link, and a link to one of its new clusters would dangle.
    Returns how many organisations lost a link."""
    if "organisations" not in tables or "clusters" not in tables:
        return 0
    orgs = tables["organisations"]
    relinked = link_to_clusters(orgs, tables["clusters"], dict(registry)).select(orgs.columns)
    tables["organisations"] = relinked
    return int((orgs["cluster_id"].is_not_null() & relinked["cluster_id"].is_null()).sum())


def resolve_references(
    tables: dict[str, pl.DataFrame],
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame], dict[str, int]]:
    """Carried rows were consistent with their own run; against this release a reference can
    dangle (an organisation's cluster link to a cluster source that failed or dropped it). A
    nullable reference (a derived link) becomes NULL; a row whose required parent is gone is
    dropped, with a quarantine row saying why. Parents are resolved before their children."""
    dropped: dict[str, pl.DataFrame] = {}
    unlinked: dict[str, int] = {}
    for entity in tables:  # VALIDATED_ENTITIES order: parents first
        frame = tables[entity]
        columns = TABLE_MODELS[entity].to_schema().columns
        rejected = [empty_quarantine()]
        for column, parent in PARENTS.get(entity, []):
            if parent not in tables or column not in frame.columns:
                continue
            known = tables[parent][primary_key(parent)].unique()
            dangling = pl.col(column).is_not_null() & ~pl.col(column).is_in(known.implode())
            n = frame.select(dangling.sum()).item()
            if not n:
                continue
            if columns[column].nullable:
                frame = frame.with_columns(
                    pl.when(dangling).then(None).otherwise(pl.col(column)).alias(column)
                )
                unlinked[f"{entity}.{column}"] = n
            else:
                orphans = frame.filter(dangling)
                rejected.append(
                    reject(
                        orphans,
                        entity=entity,
                        key=primary_key(entity),
                        column=column,
                        check=f"parent_in_{parent}",
                        failure_case=pl.col(column),
                    )
                )
                frame = frame.filter(~dangling)
        tables[entity] = frame
        if len(rejected) > 1:
            dropped[entity] = pl.concat(rejected)
    return tables, dropped, unlinked


# --- the gate's outcome, for the sources table and the CLI ------------------------------------


def stage_outcome(layout: DataLayout, result: GateResult) -> None:
    """Write this run's verdicts and pending snapshots under staging/gate/."""
    pending = pending_dir(layout)
    shutil.rmtree(pending, ignore_errors=True)
    for source_id, snapshot in result.snapshots.items():
        write_snapshot(pending / source_id, snapshot)
    path = report_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    report = {s: asdict(v) for s, v in result.verdicts.items()}
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def read_verdicts(layout: DataLayout) -> dict[str, Verdict]:
    """The last gate's verdicts (empty before any)."""
    try:
        raw = json.loads(report_path(layout).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {s: Verdict(**v) for s, v in raw.items()}


def gate_failures(layout: DataLayout) -> dict[str, str]:
    """{source_id: reason} of the sources the last gate failed on their rows (crawl failures
    are the crawl's to report)."""
    verdicts = read_verdicts(layout)
    return {s: v.reason or "" for s, v in verdicts.items() if not v.passed and not v.crawl}
