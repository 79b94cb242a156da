"""Section `parallel` (issue 8, section 6): a full offline refresh of the bundled recordings,
in-process against Dagster's multiprocess executor.

What runs in parallel where, in Dagster's model: a source is a partition, and one run
materializes one partition, so sources run side by side as *concurrent runs* (on a deployment,
the QueuedRunCoordinator's `max_concurrent_runs`, each run in its own pod: deploy/dagster.yaml);
inside a run, the multiprocess executor runs independent *steps* (clean/validated entities) in
parallel subprocesses. The `multiprocess` mode below does both with Dagster's own API
(`execute_job` of the project's `refresh` job, `execution: multiprocess`): the per-source runs
`max_concurrent` at a time, then the downstream run with `max_concurrent` step processes. The
thread pool that launches the partition runs stands in for the run coordinator; it queues
nothing of its own and retries nothing.

The `in_process` mode is the project's refresh (`pipelines.refresh.materialize_all`): every
partition, then everything downstream, one after the other in one process.

The crawl is done once beforehand (`clusterdata crawl --offline`, Scrapy subprocesses outside
Dagster) and copied fresh for every run, so both modes start from the same raw files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "tests" / "fixtures"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def refresh_job():
    """The project's `refresh` job, as Dagster's step subprocesses rebuild it (reconstructable
    needs a module-level target; the data dir comes from CLUSTERDATA_DATA_DIR, which the
    stage sets before the first import and the subprocesses inherit)."""
    from pipelines.definitions import defs

    return defs.resolve_job_def("refresh")


def stage_parallel_crawl(params: dict[str, Any]) -> dict[str, Any]:
    """Crawl every bundled recording once into params['data'] (reused when present)."""
    data = Path(params["data"])
    if (data / "raw").is_dir() and any((data / "raw").iterdir()):
        return {"sources": len(list((data / "raw").iterdir()))}
    sources = sorted(p.name for p in RECORDINGS.iterdir() if p.is_dir() and "_" in p.name)
    cli = Path(sys.executable).with_name("clusterdata")
    subprocess.run(
        [str(cli), "crawl", *sources, "--offline", "--data-dir", str(data)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return {"sources": len(list((data / "raw").iterdir()))}


def _fresh_copy(crawled: Path, work: Path) -> Path:
    """A data dir holding only the crawl output: no staging, database or Dagster history."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(crawled / "raw", work / "raw")
    return work


def stage_parallel(params: dict[str, Any]) -> dict[str, Any]:
    """One full refresh of the crawled recordings in `params['mode']`; seconds and row count."""
    work = _fresh_copy(Path(params["crawled"]), Path(params["work"]))
    os.environ["CLUSTERDATA_DATA_DIR"] = str(work)
    os.environ["CLUSTERDATA_CRAWL"] = "none"
    from pipelines.layout import DataLayout

    layout = DataLayout(work)
    started = time.perf_counter()
    if params["mode"] == "in_process":
        from pipelines.refresh import materialize_all

        figures: dict[str, float] = {"sources": len(materialize_all(layout).sources)}
    else:
        figures = _multiprocess(layout, int(params["max_concurrent"]))
    seconds = time.perf_counter() - started
    import sqlite3

    with sqlite3.connect(layout.published) as conn:
        rows = sum(
            conn.execute(f'select count(*) from "{t}"').fetchone()[0]
            for (t,) in conn.execute(
                "select name from sqlite_master where type = 'table' and name in "
                "('clusters', 'organisations', 'calls', 'projects', 'participants')"
            )
        )
    return {"refresh_s": seconds, **figures, "published_rows": rows}


def _instance(layout: Any):
    import dagster as dg

    home = layout.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.local_temp(
        tempdir=str(home.resolve()), overrides={"telemetry": {"enabled": False}}
    )


def _multiprocess(layout: Any, max_concurrent: int) -> dict[str, float]:
    """Per-source partition runs `max_concurrent` at a time (each its own process, as each run
    is its own pod under K8sRunLauncher), then the downstream run; every run under the
    multiprocess executor."""
    from pipelines.assets import REGISTRY

    _instance(layout)
    sources = [s for s in REGISTRY if layout.latest_raw(s) is not None]
    pending = list(sources)
    running: list[subprocess.Popen] = []
    command = [sys.executable, "-m", "bench.parallel", str(max_concurrent)]
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < max_concurrent:
            running.append(subprocess.Popen([*command, pending.pop(0)], cwd=ROOT))
        running[0].wait(timeout=600)
        for proc in [p for p in running if p.poll() is not None]:
            if proc.returncode != 0:
                raise RuntimeError(f"bench: partition run {proc.args[-1]} failed")
            running.remove(proc)
    partitions_s = time.perf_counter() - started
    run_one(layout, max_concurrent, None)
    return {"sources": len(sources), "partition_runs_s": partitions_s}


def _executor_config(max_concurrent: int) -> dict[str, Any]:
    """The multiprocess executor's config. Unless BENCH_PRELOAD=0, each step forks from a
    forkserver that has already imported the code location (about 2x faster here than Dagster's
    default, which starts every step from a bare interpreter)."""
    config: dict[str, Any] = {"max_concurrent": max_concurrent}
    if os.environ.get("BENCH_PRELOAD", "1") == "1":
        config["start_method"] = {"forkserver": {"preload_modules": ["pipelines.definitions"]}}
    return config


def run_one(layout: Any, max_concurrent: int, partition: str | None) -> None:
    """One run of the project's `refresh` job under the multiprocess executor: the raw assets of
    one partition, or (partition None) everything downstream of them."""
    import logging

    import dagster as dg

    logging.getLogger("dagster").setLevel(logging.ERROR)
    keys = refresh_job().asset_layer.asset_graph.get_all_asset_keys()
    selected = [k for k in keys if (k.path[0] == "raw") == (partition is not None)]
    result = dg.execute_job(
        dg.reconstructable(refresh_job),
        _instance(layout),
        run_config={
            **QUIET_LOGS,
            "execution": {"config": {"multiprocess": _executor_config(max_concurrent)}},
        },
        tags={"dagster/partition": partition} if partition else {},
        asset_selection=selected,
    )
    if not result.success:
        raise RuntimeError(f"bench: run {partition or 'downstream'} failed")


if __name__ == "__main__":
    from pipelines.layout import DataLayout

    run_one(DataLayout(Path(os.environ["CLUSTERDATA_DATA_DIR"])), int(sys.argv[1]), sys.argv[2])
