"""Tree-structured Parzen Estimator search with hyperopt, serial, in local processes or on Spark.

Locally the tuner drives hyperopt's ``tpe.suggest`` itself, exactly as ``hyperopt.fmin`` does
(one suggestion at a time from ``np.random.default_rng(seed)``), so a serial search proposes the
same configurations as ``fmin(..., rstate=np.random.default_rng(seed))``. With ``parallelism``
> 1 it keeps up to that many trials in flight (in this process and spawned workers, see
:mod:`~mlflow_delta_plugin.tuning.executors`) and asks TPE for a new configuration whenever one
finishes; trials still running count as unpromising, as in hyperopt's own asynchronous trials.
When a Spark session is active, ``hyperopt.SparkTrials`` runs the trials as Spark tasks instead.
"""

import math
import sys
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict
from typing import Any, Optional

import numpy as np

from mlflow_delta_plugin.tuning.base import (
    TRIAL_FAILED,
    EarlyStopper,
    Objective,
    SearchOutcome,
    SearchSettings,
    TrialCallback,
    TrialResult,
    Tuner,
)
from mlflow_delta_plugin.tuning.executors import open_executor
from mlflow_delta_plugin.tuning.search_spaces import (
    Choice,
    Distribution,
    Fixed,
    IntUniform,
    LogUniform,
    SearchSpace,
    Uniform,
)

__all__ = ["SPARK", "HyperoptTuner", "active_spark_session", "to_hyperopt_space"]

SPARK = "spark"
_SEED_BOUND = 2**31 - 1  # what hyperopt.fmin draws each suggestion's seed below


def _hyperopt_expression(name: str, dist: Distribution) -> Any:
    from hyperopt import hp
    from hyperopt.pyll import scope

    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Uniform):
        return hp.uniform(name, dist.low, dist.high)
    if isinstance(dist, LogUniform):
        return hp.loguniform(name, math.log(dist.low), math.log(dist.high))
    if isinstance(dist, IntUniform):
        # An index 0..n drawn with equal weights (quniform alone halves the end points).
        steps = (dist.high - dist.low) // dist.step
        index = scope.int(hp.quniform(name, -0.499, steps + 0.499, 1))
        return dist.low + dist.step * index
    if isinstance(dist, Choice):
        return hp.choice(name, list(dist.options))
    raise TypeError(f"unsupported distribution {dist!r} for '{name}'")


def to_hyperopt_space(space: SearchSpace) -> dict:
    """The hyperopt (pyll) form of a tuner-neutral search space."""
    return {name: _hyperopt_expression(name, dist) for name, dist in space.items()}


def _plain(value: Any) -> Any:
    """Python scalars and tuples instead of numpy scalars and lists (picklable, loggable)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def active_spark_session() -> Optional[Any]:
    """The active Spark session, if pyspark is loaded and one is running (never starts one)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _hyperopt_result(result: TrialResult) -> dict:
    from hyperopt import STATUS_FAIL, STATUS_OK

    if result.ok:
        return {"status": STATUS_OK, "loss": result.loss}
    return {"status": STATUS_FAIL, "failure": result.error}


class _LocalSearch:
    """One local TPE search: the hyperopt ``Trials`` and the suggestion random state."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        from hyperopt import Trials
        from hyperopt.base import Domain

        self.expression = to_hyperopt_space(space)
        self.trials = Trials()
        self.domain = Domain(_never_called, self.expression)
        self.rng = np.random.default_rng(seed)
        self._docs: dict[int, dict] = {}

    def suggest(self) -> tuple[int, dict]:
        """The next trial number and configuration TPE proposes."""
        from hyperopt import space_eval, tpe
        from hyperopt.base import spec_from_misc

        [number] = self.trials.new_trial_ids(1)
        self.trials.refresh()
        [doc] = tpe.suggest([number], self.domain, self.trials, self.rng.integers(_SEED_BOUND))
        self.trials.insert_trial_docs([doc])
        # hyperopt stores a copy; results are written into that copy, as fmin's own loop does.
        self._docs[number] = self.trials._dynamic_trials[-1]
        self.trials.refresh()
        params = space_eval(self.expression, spec_from_misc(doc["misc"]))
        return number, {name: _plain(value) for name, value in params.items()}

    def complete(self, result: TrialResult) -> None:
        """Hand a finished trial's result back to hyperopt."""
        from hyperopt import JOB_STATE_DONE
        from hyperopt.utils import coarse_utcnow

        doc = self._docs.pop(result.number)
        doc["result"] = _hyperopt_result(result)
        doc["state"] = JOB_STATE_DONE
        doc["refresh_time"] = coarse_utcnow()
        self.trials.refresh()


def _result_of(future: Future, number: int, params: dict) -> TrialResult:
    """The trial's result; a failed trial when its worker died or the objective raised."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001  e.g. BrokenProcessPool: one trial lost, not the search
        text = " ".join(str(exc).split()) or "no message"
        error = f"{type(exc).__name__}: {text}"[:1000]
        return TrialResult(number, params, TRIAL_FAILED, error=error)


def _never_called(params: dict) -> None:  # the Domain's function; trials run elsewhere
    raise AssertionError("trials are evaluated by the tuner's executor")


class _SparkFunction:
    """The hyperopt objective shipped to Spark tasks: runs the trial, returns its result doc."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective

    def __call__(self, params: dict) -> dict:
        result = self.objective(-1, {name: _plain(value) for name, value in params.items()})
        return {**_hyperopt_result(result), "trial": asdict(result)}


class _SparkRecorder:
    """hyperopt's ``early_stop_fn`` hook: reports newly finished trials, applies early stop."""

    def __init__(self, expression: dict, settings: SearchSettings,
                 on_trial: Optional[TrialCallback]) -> None:
        self.expression = expression
        self.stopper = EarlyStopper(settings.early_stop)
        self.on_trial = on_trial
        self.results: list = []
        self.stopped = False
        self._seen: set = set()

    def record(self, trials: Any) -> None:
        """Report every trial of ``trials`` that finished since the last call."""
        from hyperopt import JOB_STATE_DONE, JOB_STATE_ERROR, space_eval
        from hyperopt.base import spec_from_misc

        # ``trials.trials`` hides errored trials; the full list is hyperopt's ``_dynamic_trials``.
        for doc in sorted(trials._dynamic_trials, key=lambda d: d["tid"]):
            if doc["tid"] in self._seen or doc["state"] not in (JOB_STATE_DONE, JOB_STATE_ERROR):
                continue
            self._seen.add(doc["tid"])
            fields = doc["result"].get("trial")
            if fields:  # the stored copy has lists where the objective had tuples
                params = {k: _plain(v) for k, v in fields["params"].items()}
                result = TrialResult(**{**fields, "params": params})
            else:  # the task itself failed (e.g. lost executor)
                params = space_eval(self.expression, spec_from_misc(doc["misc"]))
                error = (doc["misc"].get("error") or ("", ""))[1]
                result = TrialResult(-1, {k: _plain(v) for k, v in params.items()}, TRIAL_FAILED,
                                     error=" ".join(str(error).split()) or "the Spark task failed")
            result = result.renumbered(doc["tid"])
            self.results.append(result)
            if self.on_trial:
                self.on_trial(result)
            self.stopped = self.stopper.update(result) or self.stopped

    def __call__(self, trials: Any, *args: Any) -> tuple[bool, list]:
        self.record(trials)
        return self.stopped, []


class HyperoptTuner(Tuner):
    """TPE search (hyperopt), run serially, in spawned processes, or with ``SparkTrials``.

    Example:
        >>> from mlflow_delta_plugin.tuning import SearchSettings, TrialResult, Uniform
        >>> def objective(number, params):
        ...     return TrialResult(number, params, "ok", loss=(params["x"] - 0.3) ** 2)
        >>> outcome = HyperoptTuner().search(objective, {"x": Uniform(0, 1)},
        ...                                  SearchSettings(max_evals=10, seed=1))
        >>> len(outcome.trials), outcome.executor
        (10, 'inline')
    """

    name = "hyperopt-tpe"

    def search(
        self,
        objective: Objective,
        space: SearchSpace,
        settings: SearchSettings,
        on_trial: Optional[TrialCallback] = None,
    ) -> SearchOutcome:
        """Run up to ``settings.max_evals`` trials; see :meth:`Tuner.search`."""
        if settings.parallelism > 1 and active_spark_session() is not None:
            return self._search_on_spark(objective, space, settings, on_trial)
        return self._search_locally(objective, space, settings, on_trial)

    def _search_locally(self, objective: Objective, space: SearchSpace, settings: SearchSettings,
                        on_trial: Optional[TrialCallback]) -> SearchOutcome:
        search = _LocalSearch(space, settings.seed)
        stopper = EarlyStopper(settings.early_stop)
        results: list = []
        running: dict[Future, tuple] = {}
        proposed = 0
        stopped = False
        with open_executor(objective, settings.parallelism) as executor:
            while running or (proposed < settings.max_evals and not stopped):
                while (len(running) < executor.capacity() and proposed < settings.max_evals
                       and not stopped):
                    number, params = search.suggest()
                    running[executor.submit(number, params)] = (number, params)
                    proposed += 1
                finished, _ = wait([*running, *executor.wakeups()], return_when=FIRST_COMPLETED)
                for future in sorted(finished & running.keys(), key=lambda f: running[f][0]):
                    result = _result_of(future, *running.pop(future))
                    search.complete(result)
                    results.append(result)
                    if on_trial:
                        on_trial(result)
                    stopped = stopper.update(result) or stopped
            kind = executor.kind
        return SearchOutcome(trials=tuple(results), executor=kind,
                             stopped_early=stopped and proposed < settings.max_evals)

    def _search_on_spark(self, objective: Objective, space: SearchSpace, settings: SearchSettings,
                         on_trial: Optional[TrialCallback]) -> SearchOutcome:
        from hyperopt import SparkTrials, fmin, tpe

        trials = SparkTrials(parallelism=settings.parallelism, spark_session=active_spark_session())
        expression = to_hyperopt_space(space)
        recorder = _SparkRecorder(expression, settings, on_trial)
        fmin(_SparkFunction(objective), expression, algo=tpe.suggest,
             max_evals=settings.max_evals, trials=trials,
             rstate=np.random.default_rng(settings.seed), early_stop_fn=recorder,
             show_progressbar=False, return_argmin=False)
        recorder.record(trials)
        finished = len(recorder.results)
        return SearchOutcome(trials=tuple(recorder.results), executor=SPARK,
                             stopped_early=recorder.stopped and finished < settings.max_evals)
