"""Helpers for tests that run the real Datasette server as a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGINT (the server's clean shutdown), then SIGKILL if it has not stopped in `timeout`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(data_dir: Path, port: int, log: Path, timeout: float = 30) -> subprocess.Popen:
    """`clusterdata serve --data-dir DATA_DIR --port PORT` as the CLI runs it, once it answers."""
    import time
    import urllib.error
    import urllib.request

    command = [sys.executable, "-m", "pipelines.cli", "serve", "--data-dir", str(data_dir)]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2):
                return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"serve did not answer within {timeout}s:\n{log.read_text()}")
