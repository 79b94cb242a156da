"""Run the real `datasette serve` on the published database, with the generated metadata and
settings, in the foreground."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from warehouse.metadata import DATABASE_NAME, datasette_settings, write_datasette_config
from warehouse.metadata import SOURCE_KEYS as _SOURCE_KEYS

TEMPLATES_DIR = Path(__file__).with_name("templates")


def default_config_dir(db_path: Path) -> Path:
    """Where the generated Datasette config lives when none is given: beside the database."""
    return Path(db_path).parent / "datasette"


def datasette_command(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    config_dir: Path | None = None,
) -> list[str]:
    """The argv of `datasette serve` for the published database (config written beforehand by
    write_datasette_config into `config_dir`)."""
    db_path = Path(db_path)
    # Datasette names a database after its file; URLs and canned queries use /clusterdata/.
    if db_path.stem != DATABASE_NAME:
        raise ValueError(f"{db_path.name}: the served file must be named {DATABASE_NAME}.db")
    config_dir = Path(config_dir) if config_dir else default_config_dir(db_path)
    argv = [
        sys.executable,
        "-m",
        "datasette",
        "serve",
        # A plain (not --immutable) file: publish replaces it, and immutable mode would also
        # count every table on start-up.
        str(db_path),
        "--host",
        host,
        "--port",
        str(port),
        "--metadata",
        str(config_dir / "metadata.json"),
        # Open data: let browser apps on other origins call the JSON API.
        "--cors",
    ]
    for name, value in datasette_settings().items():
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        argv += ["--setting", name, text]
    if any(TEMPLATES_DIR.glob("*.html")):
        argv += ["--template-dir", str(TEMPLATES_DIR)]
    return argv


def read_sources(db_path: Path) -> list[dict]:
    """The sources table of a database, as write_datasette_config wants it."""
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        columns = ", ".join(_SOURCE_KEYS)
        return [
            dict(row) for row in conn.execute(f"SELECT {columns} FROM sources ORDER BY source_id")
        ]


def _release_id(db_path: Path) -> tuple[int, int, int] | None:
    # os.replace gives the published path a new inode; mtime and size catch an in-place copy.
    try:
        stat = db_path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Terminated(Exception):
    """SIGTERM arrived: stop the server as Ctrl-C would."""


@contextlib.contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    # Without this, SIGTERM would kill this process and leave Datasette running as an orphan.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    config_dir: Path | None = None,
    *,
    restart_on_publish: bool = True,
    poll_seconds: float = 1.0,
) -> None:
    """Serve the database with Datasette in the foreground until Ctrl-C (or SIGTERM).

    Datasette keeps its SQLite connections open, so after publish_database swaps the file it
    would go on serving the old release; with restart_on_publish the server is restarted (with
    fresh metadata) when the file is replaced. A non-zero exit of Datasette ends this with
    SystemExit(<its exit code>)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"{db_path}: no published database; run the refresh first")
    config_dir = Path(config_dir) if config_dir else default_config_dir(db_path)
    argv = datasette_command(db_path, port, host, config_dir)
    print(f"Serving {DATABASE_NAME} on http://{host}:{port}/", flush=True)
    with _sigterm_as_exception():
        while True:
            release = _release_id(db_path)
            write_datasette_config(config_dir, read_sources(db_path))
            process = subprocess.Popen(argv)
            republished = False
            try:
                while True:
                    try:
                        returncode = process.wait(timeout=poll_seconds)
                        break
                    except subprocess.TimeoutExpired:
                        current = _release_id(db_path)
                        if restart_on_publish and current is not None and current != release:
                            republished = True
                            break
            except (KeyboardInterrupt, _Terminated):
                return
            finally:
                _stop(process)
            if republished:
                print("A new release was published: restarting Datasette", flush=True)
                continue
            if returncode != 0:
                raise SystemExit(returncode)
            return
