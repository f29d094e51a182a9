"""Metrics of a fitted Spark ML pipeline, computed on the executors.

The names and definitions are those of :func:`mlflow_delta_plugin.models.metrics.score_model`:
``accuracy``, ``f1`` (of the last class for two classes, weighted otherwise), ``log_loss`` and,
for two classes, ``roc_auc`` for classifiers; ``rmse``, ``mae`` and ``r2`` for regressors.
"""

from typing import Any

from mlflow_delta_plugin.models.catalog import CLASSIFICATION
from mlflow_delta_plugin.models.spark_catalog import (
    INDEX_COLUMN,
    PREDICTED_INDEX_COLUMN,
    PREDICTION_COLUMN,
    PROBABILITY_COLUMN,
)

__all__ = ["score_spark_model"]

_REGRESSION = (("rmse", "rmse"), ("mae", "mae"), ("r2", "r2"))


def score_spark_model(model: Any, task: str, frame: Any, n_classes: int = 0) -> dict[str, float]:
    """Metrics of the fitted pipeline ``model`` on ``frame`` (features plus ``INDEX_COLUMN``).

    Args:
        n_classes: number of classes (classification).
    """
    from pyspark.ml.evaluation import (
        BinaryClassificationEvaluator,
        MulticlassClassificationEvaluator,
        RegressionEvaluator,
    )

    scored = model.transform(frame).cache()
    try:
        if task != CLASSIFICATION:
            return {name: float(RegressionEvaluator(labelCol=INDEX_COLUMN,
                                                    predictionCol=PREDICTION_COLUMN,
                                                    metricName=metric).evaluate(scored))
                    for name, metric in _REGRESSION}

        def multiclass(metric: str, **extra: Any) -> float:
            return float(MulticlassClassificationEvaluator(
                labelCol=INDEX_COLUMN, predictionCol=PREDICTED_INDEX_COLUMN,
                probabilityCol=PROBABILITY_COLUMN, metricName=metric, **extra).evaluate(scored))

        binary = n_classes == 2
        scores = {
            "accuracy": multiclass("accuracy"),
            "f1": multiclass("fMeasureByLabel", metricLabel=1.0) if binary
            else multiclass("weightedFMeasure"),
            "log_loss": multiclass("logLoss"),
        }
        if binary and scored.select(INDEX_COLUMN).distinct().count() == 2:
            scores["roc_auc"] = float(BinaryClassificationEvaluator(
                labelCol=INDEX_COLUMN, rawPredictionCol=PROBABILITY_COLUMN,
                metricName="areaUnderROC").evaluate(scored))
        return scores
    finally:
        scored.unpersist()
