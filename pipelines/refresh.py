"""Run the Dagster graph in this process: raw partitions, then the rest, then publish."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.assets import REGISTRY, ClusterdataConfig, all_assets, checks, raw_records
from pipelines.layout import DataLayout

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PipelineFailed(RuntimeError):
    """A step of the graph failed; the message says which and why, on one line."""


@dataclass(frozen=True)
class MaterializeReport:
    sources: list[str]
    run_id: str


# Telemetry off: runs are offline-first and must not phone home.
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def _instance(layout: DataLayout) -> dg.DagsterInstance:
    """A persistent instance in DATA_DIR/dagster_home, which `dagster dev` can open too."""
    home = layout.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    return dg.DagsterInstance.local_temp(
        tempdir=str(home.resolve()), overrides={"telemetry": {"enabled": False}}
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            err = event.step_failure_data.error
            while err is not None and err.cause is not None:
                err = err.cause  # the user-code error, not Dagster's wrapper
            message = (err.message if err else "failed").strip().splitlines()[0]
            return f"{event.step_key}: {message}"
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            return f"check {check.check_name} on {check.asset_key.to_user_string()} failed"
    return "run failed"


def materialize_all(
    layout: DataLayout,
    run_date: str = "",
    on_step: Callable[[str], None] = lambda step: None,
) -> MaterializeReport:
    """Materialize every source with crawl output, then clean → publish, in one Dagster instance."""
    logging.getLogger("dagster").setLevel(logging.ERROR)
    resources = {
        "settings": ClusterdataConfig(data_dir=str(layout.root), crawl="none", run_date=run_date)
    }
    instance = _instance(layout)
    sources = [s for s in REGISTRY if layout.latest_raw(s) is not None]
    if not sources:
        raise PipelineFailed("no crawl output in " + str(layout.raw) + "; run a crawl first")

    def run(assets: list, **kwargs) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            assets,
            resources=resources,
            instance=instance,
            run_config=QUIET,
            raise_on_error=False,
            **kwargs,
        )
        if not result.success:
            raise PipelineFailed(_failure(result))
        return result

    for source_id in sources:
        on_step(f"raw/{source_id}")
        run([raw_records], partition_key=source_id)
    # Sources with no crawl output at all keep no stale staging from an earlier data dir.
    for source_id in set(REGISTRY) - set(sources):
        for stale in layout.staging.glob(f"raw/*/{source_id}.parquet"):
            stale.unlink()
    on_step("clean → validated → warehouse → published")
    downstream = dg.AssetSelection.all() - dg.AssetSelection.groups("raw")
    result = run([*all_assets, *checks], selection=downstream)
    return MaterializeReport(sources, result.run_id)


def published_path(data_dir: Path) -> Path:
    return DataLayout(data_dir).published
