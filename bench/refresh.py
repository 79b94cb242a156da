"""`make bench-refresh`: a refresh in which nothing changed upstream, as a ratio of a full one.

Each run takes a fresh data directory, times a full `clusterdata refresh --offline` of the bundled
recordings (every source crawled, the Dagster assets, the publish and the release), then times
the same command again on that directory: nothing changed upstream, so the second takes the
no-change path (pipelines/incremental.py). The ratio is taken within each run and summarised
over the runs (median, min, max). Target: ≤ 0.2.

    python -m bench.refresh [--runs 3] [--recordings tests/fixtures] [--out data/bench/refresh.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.2
ROOT = Path(__file__).resolve().parent.parent


def _refresh(data_dir: Path, recordings: Path, extra: list[str]) -> tuple[float, str]:
    cmd = [
        str(Path(sys.executable).with_name("clusterdata")), "refresh", "--offline",
        "--recordings", str(recordings), "--data-dir", str(data_dir), *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise SystemExit(f"error: the refresh failed (exit {proc.returncode}): {tail}")
    return elapsed, proc.stdout


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def measure(runs: int, recordings: Path, extra: list[str]) -> dict:
    full, unchanged, ratios = [], [], []
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
            data_dir = Path(tmp) / "data"
            t_full, _ = _refresh(data_dir, recordings, extra)
            t_same, out = _refresh(data_dir, recordings, extra)
            if "nothing changed upstream" not in out:
                raise SystemExit("error: the second refresh did not take the no-change path")
        full.append(t_full)
        unchanged.append(t_same)
        ratios.append(t_same / t_full)
        print(
            f"run {run}/{runs}: full {t_full:.1f} s, no change {t_same:.1f} s, "
            f"ratio {t_same / t_full:.3f}",
            flush=True,
        )
    ratio = _summary(ratios)
    return {
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "runs": runs,
        "command": "clusterdata refresh --offline " + " ".join(extra),
        "full_refresh_s": _summary(full),
        "no_change_refresh_s": _summary(unchanged),
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": ratio["median"] <= TARGET_RATIO,
    }


def _cpus() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refresh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs (each: full, then no change)")
    parser.add_argument("--recordings", type=Path, default=ROOT / "tests" / "fixtures")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "refresh.json")
    parser.add_argument("--no-release", action="store_true", help="pass --no-release to both")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not args.recordings.is_dir():
        parser.error(f"--recordings {args.recordings} is not a folder")
    result = measure(args.runs, args.recordings, ["--no-release"] if args.no_release else [])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    verdict = "met" if result["target_met"] else "NOT met"
    print(
        f"no-change refresh / full refresh: median {result['ratio']['median']:.3f} "
        f"(min {result['ratio']['min']:.3f}, max {result['ratio']['max']:.3f}) over "
        f"{args.runs} runs; target ≤ {TARGET_RATIO}: {verdict}; written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
