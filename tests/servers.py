"""Helpers for tests that run the real Datasette server as a subprocess."""

from __future__ import annotations

import signal
import subprocess


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
