"""Run one benchmark stage in a child process and read back its figures and its peak RSS.

Why a child per run: peak RSS (ru_maxrss) is per process and never goes down, so each run gets a
fresh interpreter and `os.wait4` reports that child's own peak, not the bench's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_stage(stage: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run `python -m bench.stages STAGE PARAMS_JSON`; its last stdout line is a JSON object of
    figures, to which `peak_rss_mib` (the child's own peak) is added."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.stages", stage, json.dumps(params)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate()
    # The child reports its own peak (peak_rss_mib) before it exits.
    if proc.returncode != 0:
        tail = "\n".join(err.strip().splitlines()[-15:])
        raise RuntimeError(f"bench stage {stage} failed (exit {proc.returncode}):\n{tail}")
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench stage {stage} printed no figures:\n{out[-2000:]}")
    return json.loads(lines[-1])


def summarise(values: list[float]) -> dict[str, float]:
    """Median of the runs with their min and max."""
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
        "runs": len(values),
    }


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Every numeric figure the runs share, summarised across runs."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    return {k: summarise([float(r[k]) for r in runs]) for k in keys if all(k in r for r in runs)}


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB.

    VmHWM, not getrusage: Linux carries the parent's high-water mark into ru_maxrss across
    fork + exec, so a child of a big parent would report the parent's peak; VmHWM belongs to
    the process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
    except OSError:
        pass
    import sqlite3

    import polars

    info["polars"] = polars.__version__
    info["sqlite"] = sqlite3.sqlite_version
    return info
