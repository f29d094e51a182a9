"""Fitting a model pipeline, scoring it and logging it as the run's model: shared by ``train``
and ``tune`` (which retrains its best configuration the same way ``train`` trains one)."""

import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import mlflow
import numpy as np
import pandas as pd

from mlflow.models.model import ModelInfo

from mlflow_delta_plugin.delta.table import PinnedVersion
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import score_model
from mlflow_delta_plugin.models.logging import log_pipeline
from mlflow_delta_plugin.tracking.registry import register_with_lineage

__all__ = ["LoggedModel", "check_registered_name", "fit_and_log_model", "fit_pipeline",
           "log_and_register"]

_log = logging.getLogger(__name__)
_TRAIN_SCORE_ROWS = 100_000


@dataclass(frozen=True)
class LoggedModel:
    """A fitted model logged to the active run (and maybe registered).

    Attributes:
        model_uri: URI of the logged model (``models:/m-...``).
        registered_version: registry version number as a string, when registered.
        test_metrics: metrics on the test split (without prefix).
        train_metrics: metrics on the data it was fitted on (without prefix; on a seeded sample
            of at most 100,000 rows of it, so scoring never costs a second fit).
        fit_seconds: wall time of the fit.
    """

    model_uri: str
    registered_version: Optional[str]
    test_metrics: dict
    train_metrics: dict
    fit_seconds: float


def check_registered_name(name: Optional[str]) -> None:
    """Reject a registered-model name the registry would refuse, before any work is done.

    Raises:
        InvalidInputError: ``name`` is blank or holds ``/``, ``:`` or ``@``.
    """
    if name is not None and ("/" in name or ":" in name or "@" in name or not name.strip()):
        raise InvalidInputError(
            f"registered_model '{name}' is not a valid model name; avoid '/', ':' and '@'"
        )


def fit_pipeline(pipeline: Any, model_type: str, features: pd.DataFrame,
                 labels: pd.Series) -> float:
    """Fit ``pipeline`` in place on ``features`` / ``labels``; returns the fit's wall time (s).

    Raises:
        InvalidInputError: the estimator refused the data or a hyperparameter value.
    """
    started = time.perf_counter()
    try:
        pipeline.fit(features, labels)
    except ValueError as exc:  # e.g. a hyperparameter value out of range, a single class
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"training {model_type} failed: {first_line}") from exc
    return time.perf_counter() - started


def _train_sample(features: pd.DataFrame, labels: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """At most ``_TRAIN_SCORE_ROWS`` training rows, the same ones for the same data.

    Scoring all of a large train split cost half as much as the fit (bench/bench_train.py);
    train metrics are a sanity check against over-fitting, a sample serves them.
    """
    if len(features) <= _TRAIN_SCORE_ROWS:
        return features, labels
    picked = np.random.default_rng(0).choice(len(features), _TRAIN_SCORE_ROWS, replace=False)
    picked.sort()
    return features.iloc[picked], labels.iloc[picked]


def fit_and_log_model(
    pipeline: Any,
    model_type: str,
    task: str,
    train_split: tuple[pd.DataFrame, pd.Series],
    test_split: tuple[pd.DataFrame, pd.Series],
    pinned: PinnedVersion,
    registered_model: Optional[str] = None,
) -> LoggedModel:
    """Fit ``pipeline`` on ``train_split`` and log it to the active run as its model.

    Logs the estimator's parameters (``model.<name>``), the Delta tags, ``test_``/``train_``
    metrics and ``fit_seconds``, then the model with signature and input example; registers it
    as ``registered_model`` when given, last, so a failure anywhere before leaves no version.

    Raises:
        InvalidInputError: the fit failed on the data or a hyperparameter value.
    """
    estimator_params = pipeline.named_steps["model"].get_params(deep=False)
    mlflow.log_params({f"model.{k}": v for k, v in estimator_params.items()})
    mlflow.set_tags({"delta.table": pinned.uri, "delta.version": str(pinned.version)})
    x_train, y_train = train_split
    fit_seconds = fit_pipeline(pipeline, model_type, x_train, y_train)
    test_metrics = score_model(pipeline, task, *test_split)
    train_metrics = score_model(pipeline, task, *_train_sample(x_train, y_train))
    return log_and_register(LoggedModel("", None, test_metrics, train_metrics, fit_seconds),
                            lambda: log_pipeline(pipeline, model_type, x_train), pinned,
                            registered_model)


def log_and_register(scored: LoggedModel, log_model: Callable[[], ModelInfo],
                     pinned: PinnedVersion, registered_model: Optional[str]) -> LoggedModel:
    """Log ``scored``'s metrics (``test_``/``train_`` prefixed, and ``fit_seconds``), then the
    model (``log_model``), then register it as ``registered_model`` when given: last, so a
    failure anywhere before leaves no registered version. Returns ``scored`` with the URIs."""
    run = mlflow.active_run()
    mlflow.log_metrics({**{f"test_{k}": v for k, v in scored.test_metrics.items()},
                        **{f"train_{k}": v for k, v in scored.train_metrics.items()},
                        "fit_seconds": scored.fit_seconds})
    model_info = log_model()
    registered = None
    if registered_model:
        registered = str(register_with_lineage(model_info.model_uri, registered_model, pinned,
                                               run.info.run_id if run else None).version)
    return replace(scored, model_uri=model_info.model_uri, registered_version=registered)
