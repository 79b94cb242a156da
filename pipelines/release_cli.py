"""The `clusterdata release` command: a dated, immutable release of the published database as
downloads (see warehouse/release.py), or a rollback to the previous one."""

from __future__ import annotations

import os
from pathlib import Path

import click

# warehouse.release (polars, the models) is imported by the commands, not here: every
# `clusterdata` invocation imports this module.
from warehouse import DEFAULT_BASE_URL

BASE_URL_ENV = "CLUSTERDATA_BASE_URL"


def default_base_url() -> str:
    """Where the server is reached, for the download links (env CLUSTERDATA_BASE_URL)."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def release_now(data_dir: Path, base_url: str | None = None) -> str:
    """Make a release of DATA_DIR/clusterdata.db and return the line to print; refresh calls
    this after it publishes. Raises click.ClickException (one `error:` line) on failure."""
    base_url = (base_url or default_base_url()).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise click.ClickException(f"--base-url {base_url!r} is not an http(s) URL")
    from warehouse.publish import PublishError
    from warehouse.release import ReleaseError, make_release

    try:
        result = make_release(data_dir, base_url)
    except (ReleaseError, PublishError) as exc:
        raise click.ClickException(f"release: {exc}") from exc
    line = f"{result.message} → {result.path}"
    if result.removed:
        line += f" (removed older: {', '.join(result.removed)})"
    return line


@click.command("release")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="The data directory holding clusterdata.db; releases go to DATA_DIR/releases/.",
)
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help=f"Server URL for the download links in catalog.ttl and datapackage.json "
    f"(default: ${BASE_URL_ENV} or {DEFAULT_BASE_URL}).",
)
@click.option(
    "--rollback",
    "do_rollback",
    is_flag=True,
    help="Make the previous release current again instead of writing a new one.",
)
def release_cmd(data_dir: Path, base_url: str | None, do_rollback: bool) -> None:
    """Write DATA_DIR/releases/<YYYY-MM-DD-hash>/ from the published database: the SQLite
    file, CSV + Parquet per table, one XLSX workbook, datapackage.json, catalog.ttl (DCAT-AP),
    DATA_DICTIONARY.md and CHANGELOG.md; make it current and keep the last five.

    The same data twice is one release: nothing is rewritten."""
    from warehouse.publish import PublishError
    from warehouse.release import ReleaseError, rollback

    if do_rollback:
        if base_url:
            raise click.UsageError("--base-url applies to a new release, not to --rollback")
        try:
            result = rollback(data_dir)
        except (ReleaseError, PublishError) as exc:
            raise click.ClickException(f"rollback: {exc}") from exc
        click.echo(result.message)
        return
    if not (data_dir / "clusterdata.db").is_file():
        raise click.ClickException(
            f"no published database at {data_dir / 'clusterdata.db'}; "
            f"run `clusterdata refresh --offline --data-dir {data_dir}` first"
        )
    click.echo(release_now(data_dir, base_url))
