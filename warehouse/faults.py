"""Fault points: a test hook for the kill -9 drill (tests/test_kill_drill.py).

`fault_point(name)` SIGKILLs its own process when the environment variable CLUSTERDATA_KILL_AT
equals `name`, so a test can kill a refresh at an exact step (between the switch and the reload,
inside the release snapshot...) and check that the served file is still a whole release. With
the variable unset (always, outside tests) it does nothing."""

from __future__ import annotations

import os
import signal

KILL_AT_ENV = "CLUSTERDATA_KILL_AT"


def fault_point(name: str) -> None:
    """Die here, as kill -9 would, if CLUSTERDATA_KILL_AT names this point."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
