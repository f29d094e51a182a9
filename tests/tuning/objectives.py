"""Cheap objectives for tuner tests, importable by spawned worker processes."""

import os
import time
from dataclasses import dataclass
from typing import Optional

from mlflow_delta_plugin.tuning import TRIAL_FAILED, TRIAL_OK, TrialResult


@dataclass(frozen=True)
class Quadratic:
    """loss = (x - 0.3)^2; fails for x above ``fail_above``; a constant loss when given.

    The result's metrics record the process id and the wall-clock span of the trial.
    """

    fail_above: Optional[float] = None
    constant: Optional[float] = None
    sleep_seconds: float = 0.0

    def __call__(self, number: int, params: dict) -> TrialResult:
        started = time.time()
        if self.sleep_seconds:
            time.sleep(self.sleep_seconds)
        x = params["x"]
        span = {"pid": float(os.getpid()), "started": started, "ended": time.time()}
        if self.fail_above is not None and x > self.fail_above:
            return TrialResult(number, params, TRIAL_FAILED, error=f"x={x:.3f} is too large",
                               metrics=span)
        loss = self.constant if self.constant is not None else (x - 0.3) ** 2
        return TrialResult(number, params, TRIAL_OK, loss=loss, metrics=span)


@dataclass(frozen=True)
class DiesInWorkers:
    """The first trial that runs in a worker process kills that process (as a native crash or
    the OOM killer would); trials in the calling process wait until that has happened."""

    folder: str
    timeout: float = 120.0

    def __call__(self, number: int, params: dict) -> TrialResult:
        import multiprocessing

        marker = os.path.join(self.folder, "died")
        if multiprocessing.parent_process() is not None:
            if not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(3)
        else:
            deadline = time.time() + self.timeout
            while not os.path.exists(marker) and time.time() < deadline:
                time.sleep(0.02)
        return Quadratic()(number, params)


@dataclass(frozen=True)
class Rendezvous:
    """Each trial leaves a marker in ``folder`` and waits (up to ``timeout``) until a trial of
    another process has left one: only trials that really run at the same time both succeed."""

    folder: str
    timeout: float = 120.0

    def __call__(self, number: int, params: dict) -> TrialResult:
        started = time.time()
        mine = os.path.join(self.folder, f"{os.getpid()}-{number}")
        open(mine, "w").close()
        while time.time() - started < self.timeout:
            others = [n for n in os.listdir(self.folder) if not n.startswith(f"{os.getpid()}-")]
            if others:
                time.sleep(0.1)  # the other trial is running too
                span = {"pid": float(os.getpid()), "started": started, "ended": time.time()}
                return TrialResult(number, params, TRIAL_OK, loss=params["x"], metrics=span)
            time.sleep(0.02)
        return TrialResult(number, params, TRIAL_FAILED, error="no concurrent trial seen")
