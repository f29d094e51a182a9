"""The tuning objective: fit one configuration, score it on a validation split of the train split.

The validation split is carved out of the *train* split, seeded (and stratified for
classification), so the test split stays untouched until the best configuration is retrained.
"""

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import HIGHER_IS_BETTER, score_model
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, REGRESSION, build_model
from mlflow_delta_plugin.steps.fitting import fit_pipeline
from mlflow_delta_plugin.tuning.base import TRIAL_FAILED, TRIAL_OK, TrialResult

__all__ = [
    "TASK_METRICS",
    "VALIDATION_PREFIX",
    "ValidationObjective",
    "ValidationSplit",
    "resolve_metric",
    "split_for_validation",
]

TASK_METRICS = {
    CLASSIFICATION: ("roc_auc", "accuracy", "f1", "log_loss"),
    REGRESSION: ("rmse", "mae", "r2"),
}
"""The metrics ``score_model`` computes per task (``roc_auc`` only for two classes)."""

VALIDATION_PREFIX = "val_"
"""Prefix of validation metric names in trial results (``val_roc_auc`` ...)."""

_ALL_METRICS = sorted({m for names in TASK_METRICS.values() for m in names})


def resolve_metric(metric: str, task: Optional[str] = None, n_classes: int = 0) -> str:
    """The metric to optimize: ``auto`` is ``roc_auc`` (binary), ``accuracy`` (multiclass) or
    ``rmse`` (regression). Without ``task``, only checks that ``metric`` is a known name.

    Raises:
        InvalidInputError: unknown metric, or one that does not apply to ``task``.
    """
    name = (metric or "auto").strip().lower()
    if name != "auto" and name not in _ALL_METRICS:
        raise InvalidInputError(
            f"metric '{metric}' is unknown; choose auto or one of {_ALL_METRICS}"
        )
    if task is None:
        return name
    if name == "auto":
        if task != CLASSIFICATION:
            return "rmse"
        return "roc_auc" if n_classes == 2 else "accuracy"
    allowed = [m for m in TASK_METRICS[task] if m != "roc_auc" or n_classes == 2]
    if name not in allowed:
        raise InvalidInputError(
            f"metric '{metric}' does not apply to {task}"
            f"{' with %d classes' % n_classes if task == CLASSIFICATION else ''}; "
            f"choose auto or one of {allowed}"
        )
    return name


@dataclass(frozen=True)
class ValidationSplit:
    """The train split divided into the part trials fit on and the part they are scored on."""

    fit_features: pd.DataFrame
    fit_labels: pd.Series
    validation_features: pd.DataFrame
    validation_labels: pd.Series


def split_for_validation(features: pd.DataFrame, labels: pd.Series, task: str,
                         fraction: float, seed: int) -> ValidationSplit:
    """Carve a seeded validation split out of the train split (stratified for classification
    when every class has at least two rows).

    Raises:
        InvalidInputError: ``fraction`` out of (0, 1), or too few rows to carve.
    """
    if not 0 < fraction < 1:
        raise InvalidInputError(f"validation_fraction {fraction} is out of range; pass 0 < f < 1")
    stratify = None
    if task == CLASSIFICATION and labels.value_counts().min() >= 2:
        stratify = labels
    try:
        x_fit, x_val, y_fit, y_val = train_test_split(
            features, labels, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise InvalidInputError(
            f"the train split ({len(labels)} rows) is too small to carve a validation split: "
            f"{str(exc).splitlines()[0]}; prepare more data"
        ) from exc
    return ValidationSplit(x_fit, y_fit, x_val, y_val)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return f"{type(exc).__name__}: {text}"[:1000]


@dataclass(frozen=True)
class ValidationObjective:
    """Fit ``model_type`` with a trial's hyperparameters; its loss is the validation metric
    (negated when higher is better). Picklable: worker processes get a copy with the data.

    A result's metrics are the validation scores (``val_<name>``) and ``fit_seconds``.

    Attributes:
        model_type, task: what to build (see :func:`~mlflow_delta_plugin.models.build_model`).
        metric: the metric to optimize, a name :func:`resolve_metric` returned.
        numeric_features, categorical_features: column roles for preprocessing.
        data: the fit / validation split.
        seed: the estimator's ``random_state`` unless a trial sets it.
    """

    model_type: str
    task: str
    metric: str
    numeric_features: tuple
    categorical_features: tuple
    data: ValidationSplit
    seed: int

    def __call__(self, number: int, params: dict) -> TrialResult:
        """Run one trial; a failure of any kind becomes a failed result, never an exception."""
        started = _now_ms()
        try:
            pipeline = build_model(self.model_type, self.task, self.numeric_features,
                                   self.categorical_features, params, self.seed)
            fit_seconds = fit_pipeline(pipeline, self.model_type, self.data.fit_features,
                                       self.data.fit_labels)
            scores = score_model(pipeline, self.task, self.data.validation_features,
                                 self.data.validation_labels)
            value = scores.get(self.metric)
            if value is None or not np.isfinite(value):
                raise InvalidInputError(
                    f"metric '{self.metric}' could not be computed on the validation split "
                    f"(got {value}); choose another metric"
                )
        except Exception as exc:  # noqa: BLE001  a bad configuration must not end the search
            return TrialResult(number, params, TRIAL_FAILED, error=_one_line(exc),
                               start_time_ms=started, end_time_ms=_now_ms())
        loss = -value if self.metric in HIGHER_IS_BETTER else value
        return TrialResult(number, params, TRIAL_OK, loss=float(loss),
                           metrics={**{f"{VALIDATION_PREFIX}{k}": v for k, v in scores.items()},
                                    "fit_seconds": fit_seconds},
                           start_time_ms=started, end_time_ms=_now_ms())

