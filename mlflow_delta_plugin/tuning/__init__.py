"""Hyperparameter tuning behind a small tuner interface.

- :mod:`~mlflow_delta_plugin.tuning.base`: the :class:`Tuner` interface, settings and results.
- :mod:`~mlflow_delta_plugin.tuning.search_spaces`: tuner-neutral distributions, defaults, JSON.
- :mod:`~mlflow_delta_plugin.tuning.hyperopt_tuner`: TPE with hyperopt (serial, processes, Spark).
- :mod:`~mlflow_delta_plugin.tuning.executors`: inline or spawned-process trial execution.
- :mod:`~mlflow_delta_plugin.tuning.objective`: one configuration scored on a validation split.
- :mod:`~mlflow_delta_plugin.tuning.tracking`: each trial recorded as an MLflow child run.

Adding a tuner (say Optuna) means one module with a :class:`Tuner` subclass and one line in
:data:`TUNERS`; the ``tune`` step and entry point stay as they are.
"""

from typing import Callable

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tuning.base import (
    TRIAL_FAILED,
    TRIAL_OK,
    EarlyStopper,
    Objective,
    SearchOutcome,
    SearchSettings,
    TrialCallback,
    TrialResult,
    Tuner,
)
from mlflow_delta_plugin.tuning.hyperopt_tuner import HyperoptTuner
from mlflow_delta_plugin.tuning.search_spaces import (
    Choice,
    Distribution,
    Fixed,
    IntUniform,
    LogUniform,
    SearchSpace,
    Uniform,
    default_search_space,
    parse_search_space,
    search_space_to_json,
)

__all__ = [
    "TRIAL_FAILED",
    "TRIAL_OK",
    "TUNERS",
    "Choice",
    "Distribution",
    "EarlyStopper",
    "Fixed",
    "HyperoptTuner",
    "IntUniform",
    "LogUniform",
    "Objective",
    "SearchOutcome",
    "SearchSettings",
    "SearchSpace",
    "TrialCallback",
    "TrialResult",
    "Tuner",
    "Uniform",
    "default_search_space",
    "make_tuner",
    "parse_search_space",
    "search_space_to_json",
]

TUNERS: dict[str, Callable[[], Tuner]] = {
    "hyperopt": HyperoptTuner,
}
"""Tuner name -> factory. The first entry is the default."""


def make_tuner(name: str = "hyperopt") -> Tuner:
    """A new tuner by name.

    Raises:
        InvalidInputError: no tuner has that name.
    """
    if name not in TUNERS:
        raise InvalidInputError(f"tuner '{name}' is unknown; choose one of {sorted(TUNERS)}")
    return TUNERS[name]()
