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
from pipelines.operations import (
    AlertHook,
    alert_on_failed_run,
    freshness_job,
    freshness_schedule,
    published_is_fresh,
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
    asset_checks=[*checks, published_is_fresh],
    jobs=[refresh_job, freshness_job],
    schedules=[*schedules, freshness_schedule],
    sensors=[alert_on_failed_run],
    resources={
        "settings": ClusterdataConfig(
            data_dir=os.environ.get("CLUSTERDATA_DATA_DIR", "data"),
            crawl=os.environ.get("CLUSTERDATA_CRAWL", "none"),
        ),
        # A failed scheduled run calls CLUSTERDATA_ALERT_COMMAND (message as last argument) or
        # POSTs to CLUSTERDATA_ALERT_WEBHOOK; with neither, it logs an ERROR line.
        "alerts": AlertHook(
            command=os.environ.get("CLUSTERDATA_ALERT_COMMAND", ""),
            webhook=os.environ.get("CLUSTERDATA_ALERT_WEBHOOK", ""),
        ),
    },
)
