"""The Dagster code location: `dagster dev -m pipelines.definitions` shows the graph.

Loads with no environment variables: paths come from the ClusterdataConfig resource, whose
defaults can be overridden with CLUSTERDATA_DATA_DIR / CLUSTERDATA_CRAWL when set.
"""

from __future__ import annotations

import os

import dagster as dg

from pipelines.assets import (
    REGISTRY,
    SOURCE_PARTITIONS,
    ClusterdataConfig,
    all_assets,
    checks,
)
from schemas.vocab import CADENCES

# When each cadence's schedule fires (UTC): nights, spread out so runs do not overlap.
CRON = {"daily": "0 2 * * *", "weekly": "0 3 * * 1", "monthly": "0 4 1 * *", "yearly": "0 5 1 1 *"}

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    partitions_def=SOURCE_PARTITIONS,
    description="Crawl one source (the partition), then rebuild and publish the database",
)


def _cadence_schedule(cadence: str) -> dg.ScheduleDefinition:
    source_ids = [s for s, spec in REGISTRY.items() if spec.cadence == cadence]

    @dg.schedule(
        name=f"refresh_{cadence}",
        cron_schedule=CRON[cadence],
        job=refresh_job,
        execution_timezone="UTC",
        description=f"Refresh the {cadence} sources: {', '.join(source_ids) or 'none'}",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        for source_id in source_ids:
            yield dg.RunRequest(
                run_key=f"{source_id}-{stamp}",
                partition_key=source_id,
                run_config={"resources": {"settings": {"config": {"crawl": "live"}}}},
            )

    return _schedule


schedules = [_cadence_schedule(c) for c in CADENCES]

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=checks,
    jobs=[refresh_job],
    schedules=schedules,
    resources={
        "settings": ClusterdataConfig(
            data_dir=os.environ.get("CLUSTERDATA_DATA_DIR", "data"),
            crawl=os.environ.get("CLUSTERDATA_CRAWL", "none"),
        )
    },
)
