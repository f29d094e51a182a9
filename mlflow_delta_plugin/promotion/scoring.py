"""Scoring a registered model version on the test split with :func:`metrics.score_model`.

sklearn-flavor models are loaded with ``mlflow.sklearn.load_model`` so ``predict_proba`` (hence
``roc_auc`` and ``log_loss``) is available; anything else is loaded as pyfunc, which only
predicts, so only prediction-based metrics exist for it.
"""

from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import score_model
from mlflow_delta_plugin.models.catalog import CLASSIFICATION
from mlflow_delta_plugin.promotion.evaluation_data import TestSplit

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "ScoredModel",
    "check_metric",
    "load_for_scoring",
    "score_uri",
]

CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
AUTO = "auto"


@dataclass(frozen=True)
class ScoredModel:
    """A model's metrics on a test split.

    Attributes:
        uri: the model URI scored.
        flavor: ``sklearn`` or ``pyfunc`` (how it was loaded).
        metrics: metric name -> value.
    """

    uri: str
    flavor: str
    metrics: dict

    def value(self, metric: str) -> float:
        """The value of ``metric``.

        Raises:
            InvalidInputError: the metric could not be computed for this model.
        """
        if metric in self.metrics:
            return self.metrics[metric]
        why = ("it loads only as pyfunc, which has no predict_proba"
               if self.flavor == "pyfunc" else "the test labels do not allow it")
        raise InvalidInputError(
            f"metric '{metric}' is not available for {self.uri}: {why}; choose one of "
            f"{sorted(self.metrics)}"
        )


def check_metric(metric: str, split: TestSplit) -> str:
    """Resolve ``metric`` (``auto`` or a name) for the split's task and check it applies.

    ``auto`` is ``roc_auc`` for binary classification, ``accuracy`` for multiclass and
    ``rmse`` for regression.

    Raises:
        InvalidInputError: unknown metric, or one that does not fit the task.
    """
    name = (metric or AUTO).strip().lower()
    classification = split.task == CLASSIFICATION
    if name == AUTO:
        if not classification:
            return "rmse"
        return "roc_auc" if split.y.nunique() == 2 else "accuracy"
    fitting = CLASSIFICATION_METRICS if classification else REGRESSION_METRICS
    if name not in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS):
        raise InvalidInputError(
            f"metric '{metric}' is not available; choose auto or one of {list(fitting)}"
        )
    if name not in fitting:
        raise InvalidInputError(
            f"metric '{metric}' does not apply to {split.task}; choose auto or one of "
            f"{list(fitting)}"
        )
    return name


def load_for_scoring(uri: str) -> tuple[Any, str]:
    """Load the model at ``uri`` as sklearn when it has that flavor, else as pyfunc.

    Returns:
        ``(model, flavor)``.

    Raises:
        InvalidInputError: nothing loadable at ``uri``.
    """
    try:
        flavors = mlflow.models.get_model_info(uri).flavors
        if "sklearn" in flavors:
            try:
                return mlflow.sklearn.load_model(uri), "sklearn"
            except (MlflowException, ImportError, AttributeError, TypeError):
                pass
        return mlflow.pyfunc.load_model(uri), "pyfunc"
    except (MlflowException, OSError) as exc:
        message = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        raise InvalidInputError(f"model '{uri}' does not load: {message}") from exc


def score_uri(uri: str, split: TestSplit) -> ScoredModel:
    """Load the model at ``uri`` and score it on ``split``."""
    model, flavor = load_for_scoring(uri)
    try:
        scores = score_model(model, split.task, split.x, split.y)
    except (ValueError, KeyError, MlflowException) as exc:
        message = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        raise InvalidInputError(
            f"model '{uri}' cannot score the test split of '{split.table}' version "
            f"{split.version}: {message}"
        ) from exc
    return ScoredModel(uri=uri, flavor=flavor, metrics=scores)
