"""Watching processes from tests: is one still running, and waiting for a condition."""

import time
from typing import Callable


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended; Linux ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition: Callable[[], bool], seconds: float = 60.0, what: str = "") -> None:
    """Poll ``condition`` every 50 ms; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out{': ' + what if what else ''}"
        time.sleep(0.05)
