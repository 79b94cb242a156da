"""Dagster operations for unattended refreshes: an alert once per failed run, and a freshness
check that fails when a source's published data is older than twice its cadence."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shlex
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import dagster as dg

from pipelines.assets import ClusterdataConfig, published_database

# The age past which a source counts as stale is twice its cadence.
CADENCE_DAYS = {"daily": 1, "weekly": 7, "monthly": 31, "yearly": 366}
STALE_FACTOR = 2

log = logging.getLogger(__name__)


class AlertHook(dg.ConfigurableResource):
    """Where alerts go: a command (the message is its last argument), a webhook (POSTed as
    JSON {"text": message}), or, when neither is configured, an ERROR line in the log."""

    command: str = ""
    webhook: str = ""

    def send(self, message: str) -> str:
        """Deliver one alert; returns the channel used. A broken channel falls back to the
        log line, so an alert is never lost silently."""
        try:
            if self.command:
                subprocess.run(
                    [*shlex.split(self.command), message], check=True, timeout=30,
                    capture_output=True,
                )
                return "command"
            if self.webhook:
                request = urllib.request.Request(
                    self.webhook,
                    data=json.dumps({"text": message}).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                with urllib.request.urlopen(request, timeout=10):
                    return "webhook"
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("alert channel failed (%s); alert follows", exc)
        log.error("ALERT: %s", message)
        return "log"


def failed_run_message(run: dg.DagsterRun, reason: str) -> str:
    partition = run.tags.get("dagster/partition", "-")
    return f"clusterdata: run {run.run_id} of {run.job_name} (source {partition}) failed: {reason}"


@dg.run_failure_sensor(
    name="alert_on_failed_run",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Calls the alert hook once per failed run (a log line unless configured)",
)
def alert_on_failed_run(context: dg.RunFailureSensorContext, alerts: AlertHook) -> None:
    reason = context.failure_event.message or "failed"
    alerts.send(failed_run_message(context.dagster_run, reason.strip().splitlines()[0]))


def stale_sources(db_path: Path, now: dt.datetime) -> list[str]:
    """Sources whose last crawl in the published database is older than twice their cadence
    (or that were never crawled), one line each."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        rows = conn.execute(
            "SELECT source_id, cadence, last_run_at FROM sources ORDER BY source_id"
        ).fetchall()
    stale = []
    for source_id, cadence, last_run_at in rows:
        limit = dt.timedelta(days=STALE_FACTOR * CADENCE_DAYS[cadence])
        if last_run_at is None:
            stale.append(f"{source_id}: never crawled")
            continue
        age = now - dt.datetime.fromisoformat(last_run_at.replace("Z", "+00:00"))
        if age > limit:
            stale.append(f"{source_id}: last crawled {age.days} days ago ({cadence} source)")
    return stale


@dg.asset_check(
    asset=published_database,
    name="fresh",
    description="Every source's published data is younger than twice its cadence",
)
def published_is_fresh(settings: ClusterdataConfig) -> dg.AssetCheckResult:
    db = settings.layout.published
    if not db.exists():
        return dg.AssetCheckResult(passed=False, metadata={"reason": f"{db} is not published"})
    now = dt.datetime.combine(settings.today, dt.time(23, 59, 59), tzinfo=dt.UTC)
    stale = stale_sources(db, now)
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"stale": "; ".join(stale) or "none"},
    )


freshness_job = dg.define_asset_job(
    "freshness",
    selection=dg.AssetSelection.checks(published_is_fresh),
    description="Check that the published data is fresh (no crawl, no rebuild)",
)
freshness_schedule = dg.ScheduleDefinition(
    name="check_freshness",
    cron_schedule="0 7 * * *",
    job=freshness_job,
    execution_timezone="UTC",
    description="Every morning, after the nightly refreshes",
)
