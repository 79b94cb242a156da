"""The kill -9 drill: a refresh killed at every fault point and at random moments, while a client
polls the API of the running server. Every answer is a 200 from one whole release (one actually
published), the served file stays sound after every kill, the next refresh is never blocked, and
a refresh that completes is served within 10 s."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port, start_serve, stop
from warehouse.publish import check_database

SOURCE = "pt_ticept_projects"
# Every fault point on the refresh's way to a served release (warehouse/faults.py).
FAULT_POINTS = (
    "publish:checked",  # built and checked, not yet switched
    "publish:switched",  # between the switch and the server's reload
    "publish:smoked",  # after the smoke check
    "snapshot:before",  # the release snapshot, before VACUUM INTO
    "snapshot:vacuumed",  # mid-snapshot: copied, not renamed into place
)
RANDOM_KILLS = 5
# A bound on a blocked refresh, not a timing: one takes ~5 s alone, far more on a loaded machine.
REFRESH_SECONDS = 120
SERVED_WITHIN_SECONDS = 10
# What a poller asks, and the same question asked of the file: the answer names its release.
SOURCES = "/clusterdata/sources.json?_shape=array"
ENDPOINTS = {
    SOURCES: "SELECT * FROM sources",
    "/clusterdata/source_health.json?_shape=array&_size=max": "SELECT * FROM source_health",
}


# Each refresh gets its own run date: with the same recordings and date, a refresh would find
# nothing changed upstream and publish nothing (pipelines/incremental.py), so no fault point
# after the build would be reached.
_RUN_DATES = (dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in itertools.count())


def _log(data_dir: Path, run_date: str) -> Path:
    return data_dir.parent / f"refresh-{run_date}.log"


def _refresh(data_dir: Path, kill_at: str | None = None) -> subprocess.Popen:
    """Start a refresh with the next run date; its output goes to _log (read back by _said when
    an assertion about it fails)."""
    run_date = next(_RUN_DATES).isoformat()
    env = dict(os.environ)
    env.pop("CLUSTERDATA_KILL_AT", None)
    if kill_at:
        env["CLUSTERDATA_KILL_AT"] = kill_at
    command = [sys.executable, "-m", "pipelines.cli", "refresh", "--offline"]
    with _log(data_dir, run_date).open("w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*command, "--data-dir", str(data_dir), "--source", SOURCE, "--run-date", run_date],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group: a kill takes the crawl subprocesses with it.
            start_new_session=True,
        )


def _said(process: subprocess.Popen, lines: int = 15) -> str:
    """The last lines a refresh printed, for an assertion message (its log, from its args)."""
    args = list(process.args)
    log = _log(Path(args[args.index("--data-dir") + 1]), args[args.index("--run-date") + 1])
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _key(rows: list[dict]) -> str:
    """Rows as one string, in no particular order: equal keys are the same release's rows."""
    return json.dumps(sorted(json.dumps(row, sort_keys=True) for row in rows))


def _release_key(served: Path, sql: str) -> str:
    """The key of what the server should answer from the file served now."""
    uri = f"{served.resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return _key([dict(row) for row in conn.execute(sql)])


class Poller(threading.Thread):
    """Asks every endpoint in turn until stopped; records (endpoint, status, key) per answer."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.answers: list[tuple[str, int, str | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for path in ENDPOINTS:
                try:
                    with urllib.request.urlopen(self.base + path, timeout=10) as response:
                        key = _key(json.loads(response.read()))
                        self.answers.append((path, response.status, key))
                except urllib.error.HTTPError as exc:
                    self.answers.append((path, exc.code, None))
                except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                    self.answers.append((path, 0, repr(exc)))

    def latest(self, path: str) -> str | None:
        keys = [key for p, _, key in self.answers if p == path]
        return keys[-1] if keys else None


def _serve_errors(log: Path) -> str:
    """The server's log lines about failed requests (tracebacks included), for an assertion."""
    lines = log.read_text(errors="replace").splitlines()
    keep = [i for i, line in enumerate(lines) if " 500 " in line or "Traceback" in line]
    return "\n".join(lines[max(0, keep[0] - 40) : keep[0] + 40]) if keep else "(nothing in the log)"


def _watcher_said(log: Path) -> str:
    """The hot_reload plugin's lines in the server's log (a refused file, a failed poll)."""
    lines = log.read_text(errors="replace").splitlines()
    said = [line for line in lines if line.startswith("hot_reload:")]
    return "\n".join(said[-20:]) or "(nothing)"


@pytest.mark.slow
def test_refresh_killed_anywhere_never_breaks_the_served_release(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _refresh(data)
    assert first.wait(timeout=REFRESH_SECONDS) == 0
    served = data / "clusterdata.db"
    published = {path: [_release_key(served, sql)] for path, sql in ENDPOINTS.items()}

    port = free_port()
    server = start_serve(data, port, tmp_path / "serve.log")
    poller = Poller(f"http://127.0.0.1:{port}")
    poller.start()
    rng = random.Random(20261202)
    plan = [(name, None) for name in FAULT_POINTS]
    plan += [(None, rng.uniform(1.0, 8.0)) for _ in range(RANDOM_KILLS)]
    rng.shuffle(plan)
    try:
        for kill_at, delay in plan:
            refresh = _refresh(data, kill_at)
            if kill_at:
                # The refresh kills itself at the fault point; the group goes with it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    refresh.wait(timeout=REFRESH_SECONDS)
                reached = refresh.returncode == -signal.SIGKILL
                _kill_group(refresh)
                assert reached, f"{kill_at} was never reached; the refresh said:\n{_said(refresh)}"
            else:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    refresh.wait(timeout=delay)
                _kill_group(refresh)
            check_database(served)
            for path, sql in ENDPOINTS.items():
                key = _release_key(served, sql)
                if key != published[path][-1]:
                    published[path].append(key)

        final = _refresh(data)
        with contextlib.suppress(subprocess.TimeoutExpired):
            final.wait(timeout=REFRESH_SECONDS)
        _kill_group(final)
        assert final.returncode == 0, f"a refresh after the kills was blocked:\n{_said(final)}"
        finished = time.monotonic()
        for path, sql in ENDPOINTS.items():
            key = _release_key(served, sql)
            if key != published[path][-1]:
                published[path].append(key)
        expected = {path: keys[-1] for path, keys in published.items()}
        while time.monotonic() - finished < SERVED_WITHIN_SECONDS and any(
            poller.latest(path) != key for path, key in expected.items()
        ):
            time.sleep(0.2)
        served_after = time.monotonic() - finished
    finally:
        poller.done.set()
        poller.join(timeout=20)
        stop(server)

    failed = [(p, s, k) for p, s, k in poller.answers if s != 200]
    assert failed == [], _serve_errors(tmp_path / "serve.log")
    assert served_after < SERVED_WITHIN_SECONDS, (
        f"the last release was not served within {SERVED_WITHIN_SECONDS} s"
        f" ({len(poller.answers)} answers); the watcher said:\n"
        + _watcher_said(tmp_path / "serve.log")
    )
    for path, keys in published.items():
        order = {key: i for i, key in enumerate(keys)}
        answered = [order.get(key) for p, _, key in poller.answers if p == path]
        # Each answer is one whole published release, and releases are seen in publish order.
        assert None not in answered, f"{path}: an answer matches no published release"
        assert answered == sorted(answered), f"{path}: an older release came back"
    assert len(published[SOURCES]) >= 2
    assert len(poller.answers) > 100
