"""Metrics for fitted models, and which direction of each is better.

Names are short and stable (``accuracy``, ``f1``, ``roc_auc``, ``log_loss``, ``rmse``, ``mae``,
``r2``); steps log them with a ``test_`` or ``train_`` prefix.
"""

from typing import Any

import numpy as np
from sklearn import metrics as skm

from mlflow_delta_plugin.models.catalog import CLASSIFICATION

__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "score_model"]

HIGHER_IS_BETTER = frozenset({"accuracy", "f1", "roc_auc", "r2", "precision", "recall"})
LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss", "mse"})


def score_model(model: Any, task: str, features, labels) -> dict[str, float]:
    """Metrics of a fitted ``model`` on ``features`` / ``labels`` for ``task``."""
    predicted = model.predict(features)
    if task != CLASSIFICATION:
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(labels, predicted))),
            "mae": float(skm.mean_absolute_error(labels, predicted)),
            "r2": float(skm.r2_score(labels, predicted)),
        }
    classes = getattr(model, "classes_", np.unique(labels))
    binary = len(classes) == 2
    scores = {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "f1": float(skm.f1_score(labels, predicted, average="binary" if binary else "weighted",
                                 pos_label=classes[-1] if binary else 1)),
    }
    if hasattr(model, "predict_proba"):
        probabilities = model.predict_proba(features)
        scores["log_loss"] = float(skm.log_loss(labels, probabilities, labels=classes))
        if binary and len(np.unique(labels)) == 2:
            scores["roc_auc"] = float(skm.roc_auc_score(labels, probabilities[:, 1]))
    return scores
