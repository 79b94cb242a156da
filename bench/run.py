"""`make bench`: the project's throughput at EU scale against plain-library baselines.

Every figure is the median of BENCH_RUNS (default 3) runs with min and max; every ratio is taken
within one run (project and baseline measured back to back) and then summarised. Each run is a
fresh child process, so peak RSS is that run's own. Results go to bench/results.json.

    make bench          # full sizes (1.5 M operations, 3 M participants, 2,000 pages)
    make bench-smoke    # tiny sizes, a few seconds (BENCH_SIZE=smoke), what CI runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import machine, run_stage, summarise, summarise_runs

ROOT = Path(__file__).resolve().parent.parent
SERVE_REQUESTS = {
    "full": {"requests": 80, "csv_requests": 8},
    "medium": {"requests": 40, "csv_requests": 4},
    "smoke": {"requests": 8, "csv_requests": 2},
}
SIZES: dict[str, dict[str, int]] = {
    "full": {"operations": 1_500_000, "participants": 3_000_000, "pages": 2_000, "countries": 27},
    # A tenth of the full size, for a shared or small machine (BENCH_SIZE=medium).
    "medium": {"operations": 150_000, "participants": 300_000, "pages": 300, "countries": 27},
    "smoke": {"operations": 3_000, "participants": 6_000, "pages": 12, "countries": 2},
}
# What each section promises (the brief of issue 8); `check` says whether a summary meets it.
TARGETS: dict[str, list[tuple[str, str, Callable[[dict], bool]]]] = {
    "clean_validate": [
        (
            "clean + validate >= 1,000,000 rows/s",
            "clean_validate_rows_per_s",
            lambda f: f["clean_validate_rows_per_s"]["median"] >= 1_000_000,
        ),
        ("peak RSS <= 4 GiB", "peak_rss_mib", lambda f: f["peak_rss_mib"]["max"] <= 4096),
    ],
    "load": [
        (
            "inserts >= 0.6x raw executemany",
            "insert_vs_raw",
            lambda f: f["insert_vs_raw"]["median"] >= 0.6,
        ),
        (
            "full rebuild <= 60 s per million projects",
            "build_s_per_million_projects",
            lambda f: f["build_s_per_million_projects"]["median"] <= 60,
        ),
    ],
    "parse": [
        (
            "extractor >= 0.8x lxml + XPath",
            "parse_vs_lxml",
            lambda f: f["parse_vs_lxml"]["median"] >= 0.8,
        ),
    ],
    # Opt-in section 7 (bench/end_to_end.py): the ratio is taken within each run.
    "end_to_end": [
        (
            "no-change refresh <= 0.2x full",
            "no_change_vs_full",
            lambda f: f["no_change_vs_full"]["median"] <= 0.2,
        ),
    ],
    "serve": [
        (
            "table page p95 <= 100 ms at 8 connections",
            "table_json_50.p95_ms",
            lambda f: f["table_json_50.p95_ms"]["median"] <= 100,
        ),
        (
            "p95 <= 300 ms for every request but the CSV export",
            "row_json.p95_ms",
            lambda f: all(
                v["median"] <= 300
                for k, v in f.items()
                if k.endswith(".p95_ms") and not k.startswith(("csv", "noindex"))
            ),
        ),
        (
            "no errors",
            "row_json.errors",
            lambda f: all(
                v["max"] == 0
                for k, v in f.items()
                if k.endswith(".errors") and not k.startswith("noindex")
            ),
        ),
    ],
}
SECTIONS = ("clean_validate", "load", "parse", "crawl", "serve")
# Opt-in (BENCH_SECTIONS=parallel): minutes per run on a shared 2-core machine, so not in the
# default run nor the smoke test; its inputs are the bundled recordings, whatever the size.
# end_to_end (opt-in too: a full refresh of the generated Kohesio exports per run) has its own
# smoke test, tests/test_bench_end_to_end.py.
ALL_SECTIONS = (*SECTIONS, "parallel", "end_to_end")


def paired(
    stage: str,
    baseline: str,
    params: dict[str, Any],
    runs: int,
    ratio: tuple[str, str, str],
    first_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`runs` × (project stage, then its baseline): both figure sets and the per-run ratio
    `name = project[a] / baseline[b]` (a throughput ratio: above 1 means the project is faster)."""
    project_runs, baseline_runs, ratios = [], [], []
    name, a, b = ratio
    for i in range(runs):
        p = run_stage(stage, {**params, **(first_params or {})} if i == 0 else params)
        q = run_stage(baseline, params)
        project_runs.append(p)
        baseline_runs.append(q)
        ratios.append(p[a] / q[b])
        print(f"  run {i + 1}/{runs}: {name} = {ratios[-1]:.3f}", flush=True)
    figures = summarise_runs(project_runs)
    figures.update({f"baseline_{k}": v for k, v in summarise_runs(baseline_runs).items()})
    figures[name] = summarise(ratios)
    return figures


def section_clean(data: Path, size: dict[str, int], runs: int, inputs: dict) -> dict[str, Any]:
    """1. Kohesio parse_file → clean → validate against plain polars parsing."""
    params = {"folder": inputs["kohesio"], "participants": size["participants"]}
    valid = data / f"valid-{size['operations']}"
    figures = paired(
        "clean",
        "clean_plain",
        params,
        runs,
        ("end_to_end_vs_plain_polars", "parse_clean_validate_rows_per_s", "plain_rows_per_s"),
        first_params={"save": str(valid)},
    )
    return {"figures": figures, "valid": str(valid)}


def section_load(data: Path, size: dict[str, int], runs: int, valid: str) -> dict[str, Any]:
    """2. warehouse/build.py against raw sqlite3.executemany."""
    params = {"valid": valid, "db": str(data / "bench-build.db")}
    figures = paired(
        "load",
        "load_raw",
        params,
        runs,
        ("insert_vs_raw", "insert_rows_per_s", "raw_insert_rows_per_s"),
    )
    return {"figures": figures, "db": str(data / "bench-build.db")}


def section_parse(data: Path, size: dict[str, int], runs: int, inputs: dict) -> dict[str, Any]:
    """3. parse_project_sheet against lxml.html + XPath on the same pages."""
    pages = inputs["pages"]
    figures = paired(
        "parse",
        "parse_lxml",
        {"pages": str(pages)},
        runs,
        ("parse_vs_lxml", "pages_per_s", "lxml_pages_per_s"),
    )
    return {"figures": figures, "pages": str(pages)}


def section_crawl(data: Path, size: dict[str, int], runs: int, inputs: dict) -> dict[str, Any]:
    """4. A full offline Scrapy crawl (replay layer) and one against a loopback static server;
    an extra offline run under cProfile says where the time goes."""
    params = {
        "pages": inputs["pages"],
        "out": str(data / "crawl.jsonl"),
        "log": str(data / "crawl.log"),
    }
    offline_runs, http_runs, ratios = [], [], []
    for i in range(runs):
        p = run_stage("crawl", {**params, "mode": "offline"})
        q = run_stage("crawl", {**params, "mode": "http"})
        offline_runs.append(p)
        http_runs.append(q)
        ratios.append(q["pages_per_s"] / p["pages_per_s"])
        print(f"  run {i + 1}/{runs}: http_vs_offline = {ratios[-1]:.3f}", flush=True)
    # One more offline run under cProfile, for where the time goes only (the profiler slows
    # it, so its figures are not among the runs above).
    profiled = run_stage(
        "crawl", {**params, "mode": "offline", "profile": str(data / "crawl.prof")}
    )
    profile = profiled["profile"]
    figures = {f"offline_{k}": v for k, v in summarise_runs(offline_runs).items()}
    figures.update({f"http_{k}": v for k, v in summarise_runs(http_runs).items()})
    figures["http_vs_offline"] = summarise(ratios)
    return {"figures": figures, "profile_offline_run": profile}


def section_serve(data: Path, size: dict[str, int], runs: int, db: str) -> dict[str, Any]:
    """5. The real Datasette on the built database and on a copy without the project's
    indexes, the same requests at 8 connections."""
    import shutil
    import sqlite3

    served = data / "serve" / "clusterdata.db"
    bare = data / "serve-noindex" / "clusterdata.db"
    for path in (served, bare):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    shutil.copyfile(db, served)
    shutil.copyfile(db, bare)
    conn = sqlite3.connect(bare)
    names = [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'index' and name like 'idx_%'"
        )
    ]
    for name in names:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    conn.close()
    params = {"connections": 8, **SERVE_REQUESTS[size["name"]]}
    with_runs, bare_runs = [], []
    for i in range(runs):
        with_runs.append(run_stage("serve", {**params, "db": str(served)}))
        bare_runs.append(run_stage("serve", {**params, "db": str(bare)}))
        print(
            f"  run {i + 1}/{runs}: table p95 {with_runs[-1]['table_json_50.p95_ms']:.0f} ms "
            f"(no indexes: {bare_runs[-1]['table_json_50.p95_ms']:.0f} ms)",
            flush=True,
        )
    figures = summarise_runs(with_runs)
    figures.update({f"noindex_{k}": v for k, v in summarise_runs(bare_runs).items()})
    return {"figures": figures, "indexes_dropped_in_copy": len(names)}


def section_parallel(data: Path, size: dict[str, int], runs: int) -> dict[str, Any]:
    """6. A full offline refresh of the bundled recordings: the project's in-process
    materialize_all against Dagster's multiprocess executor (bench/parallel.py)."""
    crawled = data / "parallel-crawled"
    crawl = run_stage("parallel_crawl", {"data": str(crawled)})
    params = {"crawled": str(crawled), "max_concurrent": 2}
    serial_runs, parallel_runs, ratios = [], [], []
    for i in range(runs):
        p = run_stage("parallel", {**params, "mode": "in_process", "work": str(data / "par-in")})
        q = run_stage("parallel", {**params, "mode": "multiprocess", "work": str(data / "par-mp")})
        if p["published_rows"] != q["published_rows"]:
            raise RuntimeError(
                f"parallel: {p['published_rows']} rows in-process, {q['published_rows']} multi"
            )
        serial_runs.append(p)
        parallel_runs.append(q)
        ratios.append(p["refresh_s"] / q["refresh_s"])
        print(f"  run {i + 1}/{runs}: multiprocess speed-up = {ratios[-1]:.3f}", flush=True)
    figures = {f"in_process_{k}": v for k, v in summarise_runs(serial_runs).items()}
    figures.update({f"multiprocess_{k}": v for k, v in summarise_runs(parallel_runs).items()})
    figures["multiprocess_speedup"] = summarise(ratios)
    return {"figures": figures, "sources_crawled": crawl["sources"], "max_concurrent": 2}


def verdicts(name: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"target": text, "figure": key, "met": bool(check(figures))}
        for text, key, check in TARGETS.get(name, [])
        if key in figures
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", choices=sorted(SIZES), default=os.environ.get("BENCH_SIZE", "full")
    )
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--sections",
        default=os.environ.get("BENCH_SECTIONS", ",".join(SECTIONS)),
        help="comma-separated sections to run (default: all)",
    )
    args = parser.parse_args(argv)
    if args.runs < 3:
        print(
            "error: --runs must be at least 3 (figures are medians of >= 3 runs)", file=sys.stderr
        )
        return 2
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(ALL_SECTIONS)
    if unknown:
        print(f"error: unknown sections {sorted(unknown)}", file=sys.stderr)
        return 2
    size = {**SIZES[args.size], "name": args.size}
    data = args.data / args.size if args.size != "full" else args.data
    data.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "size": args.size,
        "sizes": size,
        "runs": args.runs,
        "machine": machine(),
        "sections": earlier_sections(args.out, args.size, wanted),
    }
    started = time.perf_counter()
    print(f"[bench] generating inputs under {data} (reused when present)", flush=True)
    inputs = run_stage("generate", {"data": str(data), **size})
    results["inputs"] = inputs
    valid = None
    for name in wanted:
        print(f"[bench] {name} ({args.size}, {args.runs} runs)", flush=True)
        t = time.perf_counter()
        if name == "clean_validate":
            out = section_clean(data, size, args.runs, inputs)
            valid = out.pop("valid")
        elif name == "load":
            if valid is None:
                valid = str(data / f"valid-{size['operations']}")
                if not Path(valid, "projects.parquet").exists():
                    print(
                        "error: the load section needs the clean_validate section's output "
                        "(run it first)",
                        file=sys.stderr,
                    )
                    return 2
            out = section_load(data, size, args.runs, valid)
        elif name == "parse":
            out = section_parse(data, size, args.runs, inputs)
        elif name == "crawl":
            out = section_crawl(data, size, args.runs, inputs)
        elif name == "parallel":
            out = section_parallel(data, size, args.runs)
        elif name == "end_to_end":
            from bench.end_to_end import section_end_to_end

            out = section_end_to_end(data, size, args.runs, inputs)
        else:
            db = data / "bench-build.db"
            if not db.exists():
                print(
                    "error: the serve section needs the load section's database (run it first)",
                    file=sys.stderr,
                )
                return 2
            out = section_serve(data, size, args.runs, str(db))
        out["verdicts"] = verdicts(name, out["figures"])
        out["seconds"] = round(time.perf_counter() - t, 1)
        out["measured_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results["sections"][name] = out
        # Written after every section: a long run that is stopped keeps what it measured.
        write_results(args.out, results)
    sections = results["sections"]
    if "crawl" in sections and "parse" in sections:
        # Across sections (not within one run): the crawl's pages/s over the bare parse's.
        crawl = sections["crawl"]["figures"]["offline_pages_per_s"]["median"]
        parse = sections["parse"]["figures"]["pages_per_s"]["median"]
        sections["crawl"]["offline_crawl_vs_parse_medians"] = round(crawl / parse, 3)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results(args.out, results)
    print(render(results))
    print(f"[bench] wrote {args.out} in {results['seconds']} s")
    return 0


def write_results(out: Path, results: dict[str, Any]) -> None:
    """results.json and its Markdown table (results.md) beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = results["sections"]
    results["sections"] = {k: sections[k] for k in ALL_SECTIONS if k in sections}
    out.write_text(json.dumps(results, indent=1) + "\n")
    out.with_suffix(".md").write_text(render_markdown(results) + "\n")


def earlier_sections(out: Path, size: str, wanted: list[str]) -> dict[str, Any]:
    """Sections of an earlier run at the same size that this run does not repeat (so
    `--sections serve` updates one section of results.json and keeps the others)."""
    try:
        earlier = json.loads(out.read_text())
    except (OSError, ValueError):
        return {}
    if earlier.get("size") != size:
        return {}
    return {k: v for k, v in earlier.get("sections", {}).items() if k not in wanted}


def render_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown tables (median, min–max), with the machine and the verdicts."""
    m = results["machine"]
    lines = [
        f"Last run {results['started_at']}, size `{results['size']}` {results['sizes']}, "
        f"{results['runs']} runs per figure, {results.get('seconds', '(running)')} s in all.",
        f"Machine: {m.get('cpu', '?')}, {m['cpus']} CPUs, {m.get('memory_gib', '?')} GiB, "
        f"Python {m['python']}, polars {m['polars']}, SQLite {m['sqlite']}; load average "
        f"{m['load_average_at_start']} at start, {m.get('load_average_at_end')} at end.",
        "",
    ]
    for name, section in results["sections"].items():
        when = section.get("measured_at", results["started_at"])
        lines += [f"#### {name}", "", f"Measured {when}, {section.get('seconds', '?')} s.", ""]
        lines += ["| figure | median | min – max |", "|---|---:|---:|"]
        for key, fig in section["figures"].items():
            lines.append(
                f"| {key} | {fig['median']:,.3f} | {fig['min']:,.3f} – {fig['max']:,.3f} |"
            )
        lines.append("")
        for v in section["verdicts"]:
            lines.append(f"- target {v['target']}: **{'met' if v['met'] else 'missed'}**")
        lines.append("")
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The results as a plain-text table (median [min–max])."""
    lines = []
    for name, section in results["sections"].items():
        lines.append(f"== {name}")
        for key, fig in section["figures"].items():
            lines.append(
                f"  {key:42s} {fig['median']:>14,.3f}  [{fig['min']:,.3f} – {fig['max']:,.3f}]"
            )
        for v in section["verdicts"]:
            lines.append(f"  target: {v['target']}: {'met' if v['met'] else 'MISSED'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
