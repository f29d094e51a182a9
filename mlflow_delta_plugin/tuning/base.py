"""The tuner interface and the types every tuner shares: settings, trial results, outcomes.

A :class:`Tuner` proposes hyperparameter configurations and hands each to an *objective*: a
picklable callable ``objective(number, params) -> TrialResult`` that never raises (a failing
configuration comes back as a failed :class:`TrialResult`). The tuner minimizes ``loss``.
Trials may run in worker processes, so the objective carries everything it needs.
"""

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Optional

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tuning.search_spaces import SearchSpace

__all__ = [
    "TRIAL_FAILED",
    "TRIAL_OK",
    "EarlyStopper",
    "Objective",
    "SearchOutcome",
    "SearchSettings",
    "TrialCallback",
    "TrialResult",
    "Tuner",
]

TRIAL_OK = "ok"
TRIAL_FAILED = "failed"


@dataclass(frozen=True)
class TrialResult:
    """What one trial (one configuration) gave.

    Attributes:
        number: trial number, from 0, in the order the tuner proposed them.
        params: the hyperparameters tried (estimator keyword arguments).
        status: ``ok`` or ``failed``.
        loss: the value minimized (None when failed).
        metrics: what the objective measured, named as they should be logged.
        error: one line saying why the trial failed (None when ok).
        start_time_ms, end_time_ms: wall-clock span, milliseconds since the epoch.
    """

    number: int
    params: dict
    status: str
    loss: Optional[float] = None
    metrics: dict = field(default_factory=dict)
    error: Optional[str] = None
    start_time_ms: int = 0
    end_time_ms: int = 0

    @property
    def ok(self) -> bool:
        """Whether the trial succeeded with a finite loss."""
        return self.status == TRIAL_OK and self.loss is not None and math.isfinite(self.loss)

    def renumbered(self, number: int) -> "TrialResult":
        """This result with another trial number."""
        return replace(self, number=number)


Objective = Callable[[int, dict], TrialResult]
"""``objective(number, params)``: evaluates one configuration; picklable; never raises."""

TrialCallback = Callable[[TrialResult], None]
"""Called in the calling process once per finished trial, in completion order."""


@dataclass(frozen=True)
class SearchSettings:
    """How long and how wide to search.

    Attributes:
        max_evals: the most trials to run (>= 1).
        parallelism: trials run at once (>= 1); capped at ``max_evals``.
        seed: seeds the tuner; with ``parallelism`` 1 the same seed gives the same trials.
        early_stop: stop after this many finished trials without a better loss (0 = never).
    """

    max_evals: int
    parallelism: int = 1
    seed: int = 42
    early_stop: int = 0

    def __post_init__(self) -> None:
        for name, low in (("max_evals", 1), ("parallelism", 1), ("early_stop", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.parallelism > self.max_evals:
            object.__setattr__(self, "parallelism", self.max_evals)


@dataclass(frozen=True)
class SearchOutcome:
    """All trials of one search, in completion order.

    Attributes:
        trials: every finished trial.
        stopped_early: the early-stop rule ended the search before ``max_evals``.
        executor: where trials ran (``inline``, ``processes`` or ``spark``).
    """

    trials: tuple
    stopped_early: bool
    executor: str

    @property
    def best(self) -> Optional[TrialResult]:
        """The successful trial with the lowest loss (the earliest on ties); None if none."""
        ok = [t for t in self.trials if t.ok]
        return min(ok, key=lambda t: (t.loss, t.number)) if ok else None

    @property
    def failed(self) -> list:
        """The trials that failed."""
        return [t for t in self.trials if not t.ok]


class EarlyStopper:
    """Counts finished trials since the loss last improved; says when to stop.

    Example:
        >>> stopper = EarlyStopper(patience=2)
        >>> losses = [3, 1, 2, 1]
        >>> [stopper.update(TrialResult(i, {}, TRIAL_OK, loss)) for i, loss in enumerate(losses)]
        [False, False, False, True]
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_loss = math.inf
        self.without_improvement = 0

    def update(self, result: TrialResult) -> bool:
        """Record a finished trial; True when the search should stop."""
        if result.ok and result.loss < self.best_loss:
            self.best_loss = result.loss
            self.without_improvement = 0
        else:
            self.without_improvement += 1
        return self.patience > 0 and self.without_improvement >= self.patience


class Tuner(ABC):
    """A hyperparameter search strategy. Subclasses set ``name`` and implement ``search``."""

    name: ClassVar[str]

    @abstractmethod
    def search(
        self,
        objective: Objective,
        space: SearchSpace,
        settings: SearchSettings,
        on_trial: Optional[TrialCallback] = None,
    ) -> SearchOutcome:
        """Run up to ``settings.max_evals`` trials of ``objective`` over ``space``.

        ``on_trial`` is called for each finished trial, in this process. A failed trial does
        not stop the search.
        """

    def describe(self) -> dict[str, Any]:
        """Settings of this tuner worth logging (beyond its name)."""
        return {}
