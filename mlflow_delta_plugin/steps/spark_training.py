"""Fitting a Spark ML model type on the executors, scoring it there and logging it as the run's
model: what ``train`` does for ``spark_*`` model types, without collecting the rows."""

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

import mlflow
import pyarrow as pa
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION
from mlflow_delta_plugin.models.logging import pinned_requirements
from mlflow_delta_plugin.models.spark_catalog import (
    INDEX_COLUMN,
    PREDICTION_COLUMN,
    label_index_expression,
)
from mlflow_delta_plugin.models.spark_metrics import score_spark_model
from mlflow_delta_plugin.steps.feature_table import (
    MAX_CLASSES_FOR_AUTO,
    FeatureTable,
    decide_task,
)
from mlflow_delta_plugin.steps.fitting import LoggedModel, log_and_register

__all__ = ["SPARK_REQUIREMENTS", "SparkLabels", "fit_and_log_spark_model", "spark_labels"]

SPARK_REQUIREMENTS = ("mlflow", "pyspark", "pandas", "numpy")
_MAX_CLASSES = 1000
_EXAMPLE_ROWS = 5
_SIGNATURE_ROWS = 200

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkLabels:
    """The resolved task and, for a classifier, its classes in natural order.

    Attributes:
        task: ``classification`` or ``regression``.
        classes: the label values (classification; empty for regression).
        sql_type: Spark SQL type of the label column.
    """

    task: str
    classes: tuple
    sql_type: str


def spark_labels(task: str, train: Any, features: FeatureTable) -> SparkLabels:
    """Resolve ``task`` from the train split's labels as ``infer_task`` does, on the executors
    (only up to ``1000`` distinct label values come back).

    Raises:
        InvalidInputError: as ``infer_task``; a classification label with more than 1000
            values.
    """
    from pyspark.sql import functions as F

    label = features.spec.label
    column = F.col(f"`{label}`")
    distinct = [row[0] for row in
                train.select(column).where(column.isNotNull()).distinct().limit(_MAX_CLASSES + 1)
                .collect()]
    whole = True
    if pa.types.is_floating(features.label_type):
        whole = train.where(column != F.floor(column)).limit(1).count() == 0
    resolved = decide_task(task, features.label_type, label,
                           few_values=len(distinct) <= MAX_CLASSES_FOR_AUTO, whole_values=whole)
    sql_type = train.schema[label].dataType.simpleString()
    if resolved != CLASSIFICATION:
        return SparkLabels(resolved, (), sql_type)
    if len(distinct) > _MAX_CLASSES:
        raise InvalidInputError(
            f"label '{label}' has more than {_MAX_CLASSES} values; use task=regression"
        )
    return SparkLabels(resolved, tuple(sorted(distinct)), sql_type)


def _with_index(frame: Any, features: FeatureTable, labels: SparkLabels) -> Any:
    from pyspark.sql import functions as F

    expression = label_index_expression(features.spec.label, labels.classes, labels.sql_type)
    return frame.withColumn(INDEX_COLUMN, F.expr(expression))


def _fit(pipeline: Any, model_type: str, train: Any) -> tuple[Any, float]:
    from pyspark.errors import PySparkException

    started = time.perf_counter()
    try:
        fitted = pipeline.fit(train)
    except (PySparkException, ValueError, TypeError) as exc:
        lines = str(exc).strip().splitlines()
        raise InvalidInputError(
            f"training {model_type} failed: {lines[0] if lines else type(exc).__name__}"
        ) from exc
    return fitted, time.perf_counter() - started


def _estimator_params(fitted: Any) -> dict:
    estimator = next(stage for stage in fitted.stages if stage.hasParam("featuresCol"))
    return {p.name: estimator.getOrDefault(p) for p in estimator.params
            if estimator.isDefined(p) and not p.name.endswith("Col")}


def _log_spark_pipeline(fitted: Any, train: Any, features: FeatureTable) -> ModelInfo:
    columns = [*features.numeric_features, *features.categorical_features]
    sample = train.select(*[f"`{c}`" for c in columns]).limit(_SIGNATURE_ROWS)
    predicted = fitted.transform(sample).select(PREDICTION_COLUMN).toPandas()[PREDICTION_COLUMN]
    head = sample.toPandas()
    signature = infer_signature(head, predicted)
    return mlflow.spark.log_model(
        fitted, "model", signature=signature, input_example=head.head(_EXAMPLE_ROWS),
        pip_requirements=pinned_requirements(SPARK_REQUIREMENTS),
    )


def fit_and_log_spark_model(
    pipeline: Any,
    model_type: str,
    labels: SparkLabels,
    splits: tuple[Any, Any],
    features: FeatureTable,
    registered_model: Optional[str] = None,
) -> LoggedModel:
    """Fit ``pipeline`` (of ``model_type``, see ``build_spark_pipeline``) on the train split's
    Spark DataFrame and log it to the active run; ``splits`` are the train and test DataFrames.

    Logs the estimator's params (``model.<name>``), the Delta tags, ``test_``/``train_``
    metrics computed on the executors and ``fit_seconds``, then the model (``mlflow.spark``
    flavor, with signature and input example); registers it last, as ``fit_and_log_model``.

    Raises:
        InvalidInputError: the fit failed on the data or a hyperparameter value.
    """
    train, test = splits
    pinned = features.pinned
    mlflow.set_tags({"delta.table": pinned.uri, "delta.version": str(pinned.version)})
    indexed_train = _with_index(train, features, labels)
    fitted, fit_seconds = _fit(pipeline, model_type, indexed_train)
    mlflow.log_params({f"model.{k}": v for k, v in _estimator_params(fitted).items()})
    n_classes = len(labels.classes)
    test_metrics = score_spark_model(fitted, labels.task, _with_index(test, features, labels),
                                     n_classes)
    train_metrics = score_spark_model(fitted, labels.task, indexed_train, n_classes)
    return log_and_register(LoggedModel("", None, test_metrics, train_metrics, fit_seconds),
                            lambda: _log_spark_pipeline(fitted, train, features), pinned,
                            registered_model)

