"""Dagster operations: the alert hook, the failed-run sensor, freshness, and what is retried."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shlex
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg

from pipelines.assets import ClusterdataConfig, raw_records
from pipelines.operations import AlertHook, alert_on_failed_run, stale_sources

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_alert_command_gets_the_message(tmp_path):
    out = tmp_path / "alerts.txt"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.argv[-1] + '\\n')"
    hook = AlertHook(command=f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    assert hook.send("refresh failed: eu_sedia_calls") == "command"
    assert out.read_text() == "refresh failed: eu_sedia_calls\n"


def test_alert_webhook_gets_json():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    hook = AlertHook(webhook=f"http://127.0.0.1:{server.server_address[1]}/hook")
    assert hook.send("run failed") == "webhook"
    thread.join(5)
    server.server_close()
    assert received == [{"text": "run failed"}]


def test_a_broken_alert_channel_still_logs_the_alert(caplog):
    hook = AlertHook(command="/nonexistent/alert-tool")
    with caplog.at_level(logging.ERROR, logger="pipelines.operations"):
        assert hook.send("run failed") == "log"
    assert "ALERT: run failed" in caplog.text


def test_failed_run_sensor_alerts_once_with_the_reason(tmp_path):
    @dg.op
    def crawl_fails():
        raise dg.Failure("eu_sedia_calls: 0 items")

    @dg.job
    def broken():
        crawl_fails()

    out = tmp_path / "alerts.txt"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.argv[-1] + '\\n')"
    hook = AlertHook(command=f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}")
    with dg.instance_for_test() as instance:
        result = broken.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_failed_run",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
        ).for_run_failure()
        alert_on_failed_run(context, alerts=hook)
    (line,) = out.read_text().splitlines()
    assert result.run_id in line and "broken" in line


def _sources_db(path, rows):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sources (source_id TEXT, cadence TEXT, last_run_at TEXT)")
    conn.executemany("INSERT INTO sources VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()


def test_stale_sources_are_those_older_than_twice_their_cadence(tmp_path):
    db = tmp_path / "clusterdata.db"
    _sources_db(db, [
        ("a_daily_stale", "daily", "2026-11-28T02:00:00Z"),  # 3.4 days > 2
        ("b_daily_fresh", "daily", "2026-11-30T02:00:00Z"),
        ("c_weekly_fresh", "weekly", "2026-11-20T03:00:00Z"),  # 11 days < 14
        ("d_monthly_stale", "monthly", "2026-09-01T04:00:00Z"),
        ("e_never", "yearly", None),
    ])
    stale = stale_sources(db, NOW)
    assert [line.split(":")[0] for line in stale] == ["a_daily_stale", "d_monthly_stale",
                                                      "e_never"]


def test_a_missing_crawl_fails_once_without_retries(tmp_path):
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [raw_records],
            partition_key="pt_ticept_projects",
            resources={"settings": ClusterdataConfig(data_dir=str(tmp_path), crawl="none")},
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert restarts == []
    assert raw_records.op.retry_policy.max_retries == 2  # live crawls do get retried
