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
