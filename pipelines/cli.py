"""The `clusterdata` command: sources, crawl, refresh, serve."""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.crawling import CrawlFailed, CrawlResult, crawl_sources, new_run_id
from pipelines.health import record_crawls
from pipelines.layout import DataLayout
from scrapers.registry import RegistryError, SourceSpec, load_registry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECORDINGS = REPO_ROOT / "tests" / "fixtures"

# `refresh` published, but some sources failed and are served from their last good run.
EXIT_PUBLISHED_WITH_FAILURES = 3

out = Console()
err = Console(stderr=True)


def error_line(message: str) -> None:
    """One unwrapped `error:` line on stderr, whatever the terminal width."""
    click.echo(f"error: {message}", err=True)


def _registry() -> dict[str, SourceSpec]:
    try:
        return load_registry()
    except RegistryError as exc:
        raise click.ClickException(str(exc)) from exc


def _check_sources(source_ids: tuple[str, ...], registry: dict[str, SourceSpec]) -> list[str]:
    unknown = [s for s in source_ids if s not in registry]
    if unknown:
        raise click.ClickException(
            f"unknown source {', '.join(unknown)}; `clusterdata sources` lists them"
        )
    return list(source_ids) or list(registry)


def _check_recordings(source_ids: list[str], recordings: Path) -> None:
    if not recordings.is_dir():
        raise click.ClickException(f"recordings directory {recordings} does not exist")
    missing = [s for s in source_ids if not (recordings / s / "index.json").is_file()]
    if missing:
        raise click.ClickException(
            f"no recordings for {', '.join(missing)} in {recordings} "
            "(expected <dir>/<source_id>/index.json)"
        )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


def _crawl_all(
    source_ids: list[str],
    layout: DataLayout,
    offline: bool,
    recordings: Path,
    record: Path | None,
    run_id: str | None = None,
) -> tuple[list[CrawlResult], dict[str, CrawlFailed]]:
    """Crawl the sources in one subprocess (pipelines.crawling.crawl_sources), with a progress
    bar advanced as each source ends."""
    run_id = run_id or new_run_id()
    with _progress() as progress:
        task = progress.add_task(f"crawling {len(source_ids)} sources", total=len(source_ids))

        def done(source_id: str) -> None:
            progress.update(task, description=f"crawled {source_id}", advance=1)

        results, failures = crawl_sources(
            source_ids,
            layout,
            offline=offline,
            recordings=recordings,
            record=record,
            run_id=run_id,
            on_done=done,
        )
        progress.update(task, description="crawled")
    results.sort(key=lambda r: r.source_id)
    return results, failures


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clusterdata")
def cli() -> None:
    """clusterdata: open data on Europe's industrial clusters, the calls aimed at them and the
    money they received.

    \b
    Quick start:
      clusterdata refresh --offline     # bundled recordings → data/clusterdata.db
      clusterdata serve                 # Datasette on http://127.0.0.1:8001
    """


@cli.command("sources")
def sources_cmd() -> None:
    """List the source registry, one line per source."""
    for spec in _registry().values():
        kinds = ",".join(spec.entity_kinds)
        click.echo(f"{spec.source_id:<22} {spec.cadence:<8} {kinds:<36} {spec.title}")


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Where raw runs, staging, the database and logs live.",
)
recordings_option = click.option(
    "--recordings",
    type=click.Path(path_type=Path),
    default=DEFAULT_RECORDINGS,
    show_default="tests/fixtures",
    help="Recorded responses to replay with --offline.",
)
offline_option = click.option(
    "--offline", is_flag=True, help="Replay recorded responses; never touch the network."
)


@cli.command("crawl")
@click.argument("source_ids", nargs=-1, required=True, metavar="SOURCE_ID...")
@offline_option
@recordings_option
@click.option(
    "--record",
    type=click.Path(file_okay=False, path_type=Path),
    help="Live only: also write every response to DIR/<source_id>/ for replay.",
)
@data_dir_option
def crawl_cmd(
    source_ids: tuple[str, ...],
    offline: bool,
    recordings: Path,
    record: Path | None,
    data_dir: Path,
) -> None:
    """Run spiders (one subprocess each) into DATA_DIR/raw/<source_id>/<run_id>.jsonl."""
    registry = _registry()
    ids = _check_sources(source_ids, registry)
    if offline:
        _check_recordings(ids, recordings)
        if record:
            raise click.ClickException("--record records live responses; drop --offline")
    results, failures = _crawl_all(ids, DataLayout(data_dir), offline, recordings, record)
    for r in results:
        out.print(f"{r.source_id}: {r.items} items from {r.pages} pages → {r.out}")
    if failures:
        for source_id, reason in failures.items():
            error_line(f"{source_id}: {reason}")
        sys.exit(1)


@cli.command("refresh")
@offline_option
@recordings_option
@data_dir_option
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="ID",
    help="Crawl only these sources (others keep their last crawl). Repeatable.",
)
@click.option(
    "--run-date",
    default="",
    metavar="YYYY-MM-DD",
    help="Clock for derived call statuses (default: today, UTC).",
)
@click.option(
    "--no-release", is_flag=True, help="Publish only; skip `clusterdata release` after it."
)
def refresh_cmd(
    offline: bool,
    recordings: Path,
    data_dir: Path,
    sources: tuple[str, ...],
    run_date: str,
    no_release: bool,
) -> None:
    """Crawl, run the Dagster assets (clean → validate → warehouse) and publish
    DATA_DIR/clusterdata.db atomically."""
    from pipelines import incremental
    from pipelines.run_report import (
        build_report,
        keep_previous,
        print_report,
        unchanged_report,
        write_report,
    )

    registry = _registry()
    ids = _check_sources(sources, registry)
    if offline:
        _check_recordings(ids, recordings)
    if run_date:
        try:
            dt.date.fromisoformat(run_date)
        except ValueError as exc:
            raise click.ClickException(f"--run-date {run_date!r} is not YYYY-MM-DD") from exc
    layout = DataLayout(data_dir)
    started, run_id = time.monotonic(), new_run_id()
    results, failures = _crawl_all(ids, layout, offline, recordings, None, run_id=run_id)
    record_crawls(layout, results, failures, run_id=run_id)
    # A failed crawl leaves no run file, so a source's latest run is its last good one: the
    # refresh goes on with it and the source is published as stale, never emptied.
    last_runs = {s: layout.latest_raw(s) for s in failures}
    kept = {s: run for s, run in last_runs.items() if run is not None}
    for source_id, exc in failures.items():
        tail = (
            f"keeping its last good run {kept[source_id].stem}"
            if source_id in kept
            else "no earlier run to keep: it has no rows"
        )
        # The crawl's reason already names the source.
        reason = str(exc).removeprefix(f"{source_id}: ")
        error_line(f"{source_id}: {reason}; {tail}")
    if failures and not results and not kept:
        error_line("nothing published; the served database is unchanged")
        sys.exit(1)
    built_from = incremental.fingerprint(layout, list(registry), run_date or _utc_today())
    current = (
        None
        if failures
        else incremental.unchanged_since_publish(layout, built_from, need_release=not no_release)
    )
    if current is not None:
        # Nothing changed upstream: the served release is what this run would build.
        report = unchanged_report(layout, run_id, current, time.monotonic() - started)
        print_report(out, report, write_report(layout, report))
        out.print(f"nothing changed upstream since refresh {current}: the published release stays")
        return
    incremental.forget_publish(layout)
    from pipelines.refresh import PipelineFailed, materialize_all  # Dagster: only when it runs

    # The served file before this publish replaces it: the run report compares with it.
    previous = keep_previous(layout, run_id)
    try:
        with _progress() as progress:
            task = progress.add_task("pipeline", total=None)
            try:
                pipeline = materialize_all(
                    layout, run_date, on_step=lambda step: progress.update(task, description=step)
                )
            except PipelineFailed as exc:
                progress.stop()
                error_line(f"{exc}; nothing published")
                sys.exit(1)
            progress.update(task, description="published", total=1, completed=1)
        _print_summary(layout)
        report = build_report(layout, run_id, pipeline.run_id, previous, time.monotonic() - started)
    finally:
        if previous is not None:
            previous.unlink(missing_ok=True)
    print_report(out, report, write_report(layout, report))
    if not no_release:
        from pipelines.release_cli import release_now

        out.print(release_now(data_dir))
    from pipelines.gate import gate_failures

    # A crawl that "succeeded" with broken rows failed the source gate: it counts the same.
    gated = gate_failures(layout)
    for source_id, reason in sorted(gated.items()):
        error_line(f"{source_id}: failed the source gate: {reason}")
    if failures or gated:
        failed = sorted(set(failures) | set(gated))
        error_line(
            f"published, but {len(failed)} source(s) failed and kept their last good data: "
            + ", ".join(failed)
        )
        sys.exit(EXIT_PUBLISHED_WITH_FAILURES)
    if incremental.fast_path_allowed(layout):
        incremental.remember_publish(layout, built_from, run_id, released=not no_release)


def _utc_today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def _print_summary(layout: DataLayout) -> None:
    table = Table("table", "rows", box=None)
    with sqlite3.connect(layout.published) as conn:
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '%_fts%' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ):
            (n,) = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            table.add_row(name, str(n))
    conn.close()
    out.print(table)
    # Per source status and rows: the run report printed after this.
    out.print(f"published {layout.published}; quarantine: {layout.quarantine_db}")


@cli.command("serve")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--sql-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also run a second Datasette with arbitrary SQL on, on this port (off on --port).",
)
@data_dir_option
def serve_cmd(port: int, host: str, sql_port: int | None, data_dir: Path) -> None:
    """Serve DATA_DIR/clusterdata.db with Datasette, the project's metadata and settings."""
    from warehouse.serve import serve

    if sql_port == port:
        raise click.UsageError("--sql-port must differ from --port")
    layout = DataLayout(data_dir)
    if not layout.published.is_file():
        raise click.ClickException(
            f"no published database at {layout.published}; "
            f"run `clusterdata refresh --offline --data-dir {data_dir}` first"
        )
    sys.exit(
        serve(
            layout.published,
            port=port,
            host=host,
            config_dir=layout.serve_config,
            sql_port=sql_port,
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage mistakes end with one `error:` line and exit 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="clusterdata", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # a command that ends with sys.exit(code)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except click.exceptions.Abort:
        error_line("aborted")
        return 130
    except click.UsageError as exc:
        error_line(f"{exc.format_message()} (see `clusterdata {_cmd(exc)}--help`)")
        return 2
    except click.ClickException as exc:
        error_line(exc.format_message())
        return exc.exit_code if exc.exit_code else 1
    return 0


def _cmd(exc: click.UsageError) -> str:
    ctx = exc.ctx
    return f"{ctx.info_name} " if ctx and ctx.parent is not None else ""


from pipelines.eval_cli import eval_cmd  # noqa: E402

cli.add_command(eval_cmd)

from pipelines.extract_cli import extract_command  # noqa: E402

cli.add_command(extract_command)

from pipelines.release_cli import release_cmd  # noqa: E402

cli.add_command(release_cmd)

if __name__ == "__main__":
    sys.exit(main())
