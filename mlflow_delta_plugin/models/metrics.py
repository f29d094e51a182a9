"""Metrics for fitted models, and which direction of each is better.

Names are short and stable (``accuracy``, ``f1``, ``roc_auc``, ``log_loss``, ``rmse``, ``mae``,
``r2``); steps log them with a ``test_`` or ``train_`` prefix.
"""

from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION

__all__ = ["DIRECTIONS", "HIGHER_IS_BETTER", "LOWER_IS_BETTER", "metric_direction",
           "prediction_metrics", "score_model"]

HIGHER_IS_BETTER = frozenset({"accuracy", "f1", "roc_auc", "r2", "precision", "recall"})
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "mse"})


def score_model(model: Any, task: str, features, labels) -> dict[str, float]:
    """Metrics of a fitted ``model`` on ``features`` / ``labels`` for ``task``.

    Classifiers with ``predict_proba`` are run once: the predicted class is the most probable
    one (what scikit-learn's ``predict`` computes from the same probabilities), which halves
    the cost for tree ensembles.
    """
    if task != CLASSIFICATION:
        return prediction_metrics(task, labels, model.predict(features))
    probabilities = model.predict_proba(features) if hasattr(model, "predict_proba") else None
    classes = getattr(model, "classes_", None)
    if probabilities is not None and classes is not None:
        predicted = np.asarray(classes)[np.argmax(probabilities, axis=1)]
    else:
        predicted = model.predict(features)
        classes = np.unique(labels) if classes is None else classes
    binary = len(classes) == 2
    scores = prediction_metrics(task, labels, predicted, classes)
    if probabilities is not None:
        scores["log_loss"] = float(skm.log_loss(labels, probabilities, labels=classes))
        if binary and len(np.unique(labels)) == 2:
            scores["roc_auc"] = float(skm.roc_auc_score(labels, probabilities[:, 1]))
    return scores


def prediction_metrics(task: str, labels, predicted, classes=None) -> dict[str, float]:
    """The metrics computable from predicted values alone: ``accuracy`` and ``f1`` for
    classification (``classes``: the model's, in order; default the values seen), ``rmse``,
    ``mae`` and ``r2`` for regression. ``score_model`` and ``monitor`` share these definitions.
    """
    if task != CLASSIFICATION:
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(labels, predicted))),
            "mae": float(skm.mean_absolute_error(labels, predicted)),
            "r2": float(skm.r2_score(labels, predicted)),
        }
    if classes is None:
        classes = np.unique(np.concatenate([np.asarray(labels), np.asarray(predicted)]))
    binary = len(classes) == 2
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "f1": float(skm.f1_score(labels, predicted, average="binary" if binary else "weighted",
                                 pos_label=classes[-1] if binary else 1)),
    }


DIRECTIONS = ("auto", "higher", "lower")
"""Values of a ``direction`` parameter: ``auto`` looks the metric up, the others say it."""


def metric_direction(name: str, explicit: str = "auto") -> str:
    """Whether a larger value of metric ``name`` is better: ``"higher"`` or ``"lower"``.

    Args:
        name: metric name, e.g. ``roc_auc`` or ``rmse``.
        explicit: ``higher`` or ``lower`` to say it outright; ``auto`` to look ``name`` up.

    Raises:
        InvalidInputError: ``explicit`` is not a direction, or it is ``auto`` and the
            direction of ``name`` is not known.

    Example:
        >>> metric_direction("rmse")
        'lower'
        >>> metric_direction("my_score", "higher")
        'higher'
    """
    choice = (explicit or "auto").strip().lower()
    if choice not in DIRECTIONS:
        raise InvalidInputError(f"direction '{explicit}' is not one of {list(DIRECTIONS)}")
    if choice != "auto":
        return choice
    if name in HIGHER_IS_BETTER:
        return "higher"
    if name in LOWER_IS_BETTER:
        return "lower"
    raise InvalidInputError(
        f"the direction of metric '{name}' is not known; pass direction=higher or direction=lower"
    )
