"""``evaluate`` on Spark: the pinned test split read through Spark and scored on the executors
with ``mlflow.pyfunc.spark_udf`` (the deployment scorer's
:func:`~mlflow_delta_plugin.deployment.scorer.score_frame`), then judged by MLflow's default
evaluator from the predictions.

Only the label, the prediction and (classifiers) the class probabilities come back to the
driver. MLflow's evaluator takes label and prediction as a static dataset (``predictions=``)
that carries the test split's name, digest and Delta source, so the run's ``evaluation`` input
is the same dataset the embedded engine logs; it logs the metrics and plots of predicted labels
(accuracy, precision, recall, F1, confusion counts, confusion matrix).

A static dataset carries no probabilities, so a classifier's are computed on the executors too
(:mod:`~mlflow_delta_plugin.steps.spark_probabilities`: ``predict_proba`` of scikit-learn
models, the ``probability`` column of Spark ML models) and
:mod:`~mlflow_delta_plugin.steps.probability_metrics` logs what the evaluator logs from them
for a model it can ask: ``log_loss``, ``roc_auc``, ``precision_recall_auc`` (binary) and
``roc_curve_plot.png``, ``precision_recall_curve_plot.png``, ``lift_curve_plot.png`` (binary),
``calibration_curve_plot.png``, with the same formulas and names (``champion_`` prefixed for
the champion), and for multiclass models the per-class ``roc_auc`` and
``precision_recall_auc`` columns of ``per_class_metrics.csv``. Not logged: ``score`` (the
scikit-learn estimator's own, which needs the estimator on the driver). A model
without probabilities (no ``predict_proba``, another flavor) gets the label metrics only, with
a log line saying so. Regressors get every metric but ``score``.
"""

import logging
from dataclasses import dataclass
from typing import Any, Optional

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.deployment.config import ScoringSpec
from mlflow_delta_plugin.deployment.scorer import resolve_model, score_frame
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, REGRESSION
from mlflow_delta_plugin.promotion.evaluation_data import PinnedSplit, test_split_dataset
from mlflow_delta_plugin.ingest.split import TEST
from mlflow_delta_plugin.steps.feature_table import FeatureTable, load_feature_table
from mlflow_delta_plugin.steps.probability_metrics import log_probability_metrics
from mlflow_delta_plugin.steps.spark_split import read_split
from mlflow_delta_plugin.steps.spark_probabilities import PROBABILITIES_COLUMN, with_probabilities
from mlflow_delta_plugin.steps.spark_training import spark_labels

__all__ = ["PREDICTION_COLUMN", "SparkPredictions", "SparkTestSplit", "load_spark_test_split",
           "spark_predictions"]

PREDICTION_COLUMN = "prediction"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparkTestSplit(PinnedSplit):
    """The test rows of a pinned version as a Spark DataFrame, and as a loggable dataset.

    Attributes:
        features: the pinned feature table.
        dataset: the test split as a :class:`DeltaVersionDataset` (what the run logs).
        rows: the test rows (features and label), read through Spark.
        task: ``classification`` or ``regression``.
    """

    features: FeatureTable
    dataset: DeltaVersionDataset
    rows: Any
    task: str


def load_spark_test_split(spark: Any, table: str, version: Optional[int] = None,
                          label: Optional[str] = None, task: Optional[str] = None
                          ) -> SparkTestSplit:
    """Pin ``version`` (None = latest) of ``table`` and read its ``test`` split through Spark.

    Args:
        task: the model's task when known (from its training run); inferred from the test
            labels on the executors otherwise.

    Raises:
        TableNotFoundError, VersionNotFoundError, InvalidInputError (not a feature table).
    """
    features = load_feature_table(table, version, label)
    rows = read_split(spark, features, TEST)
    if task not in (CLASSIFICATION, REGRESSION):
        task = spark_labels("auto", rows, features).task
    return SparkTestSplit(features=features, dataset=test_split_dataset(features), rows=rows,
                          task=task)


@dataclass(frozen=True)
class SparkPredictions:
    """What Spark scored on the test split, collected on the driver.

    Attributes:
        dataset: labels and predictions as a static dataset (what the evaluator judges).
        probabilities: a classifier's class probabilities, one row per dataset row and one
            column per entry of ``classes`` (None: the model gives none, or a regressor).
        classes: the class of each probability column, sorted.
    """

    dataset: PandasDataset
    probabilities: Optional[np.ndarray] = None
    classes: Optional[list] = None

    def log_probability_metrics(self, config: dict) -> dict:
        """Log ``log_loss``, ``roc_auc``, ``precision_recall_auc`` and the curve plots as
        the default evaluator would with ``config`` (its ``evaluator_config``); {} without
        probabilities."""
        if self.probabilities is None or self.classes is None:
            return {}
        labels = self.dataset.df[self.dataset.targets]
        return log_probability_metrics(labels.to_numpy(), self.probabilities, self.classes,
                                       config)


def spark_predictions(spark: Any, model_uri: str, split: SparkTestSplit) -> SparkPredictions:
    """The test split's labels, ``model_uri``'s predictions of them (scored by Spark) as a
    static dataset with the name, digest and source of ``split.dataset``, and for a classifier
    its class probabilities, computed on the executors.

    Raises:
        InvalidInputError: the split has no rows.
    """
    label = split.features.spec.label
    result_type = "double" if split.task == REGRESSION \
        else split.rows.schema[label].dataType.simpleString()
    pinned_uri, _ = resolve_model(model_uri)
    spec = ScoringSpec(input_table=split.table, output_table="", input_version=split.version,
                       prediction_column=PREDICTION_COLUMN, result_type=result_type)
    scored = score_frame(spark, pinned_uri, split.rows, spec)
    scored_probabilities = None
    if split.task == CLASSIFICATION:
        scored_probabilities = with_probabilities(spark, pinned_uri, scored,
                                                  split.features.features, PREDICTION_COLUMN)
    columns = [f"`{label}`", PREDICTION_COLUMN]
    if scored_probabilities is None:
        frame = scored.select(*columns).toPandas()
    else:
        frame = scored_probabilities.frame.select(*columns, PROBABILITIES_COLUMN).toPandas()
    if frame.empty:
        raise InvalidInputError(
            f"Delta table '{split.table}' version {split.version} has no '{TEST}' rows; run "
            "prepare with a test_fraction that leaves both splits non-empty"
        )
    probabilities, classes = None, None
    if split.task == CLASSIFICATION:
        frame[PREDICTION_COLUMN] = frame[PREDICTION_COLUMN].astype(frame[label].dtype)
        if scored_probabilities is None:
            _log.info("evaluate: model '%s' gives no class probabilities; logging the metrics "
                      "of its predicted labels only (no log_loss, roc_auc or curves)", model_uri)
        else:
            probabilities = np.vstack(frame.pop(PROBABILITIES_COLUMN).to_numpy())
            classes = _probability_classes(scored_probabilities.classes, frame[label],
                                           frame[PREDICTION_COLUMN], probabilities.shape[1],
                                           model_uri)
            probabilities = probabilities if classes is not None else None
    dataset = mlflow.data.from_pandas(frame, source=split.dataset.source, targets=label,
                                      name=split.dataset.name, digest=split.dataset.digest,
                                      predictions=PREDICTION_COLUMN)
    return SparkPredictions(dataset=dataset, probabilities=probabilities, classes=classes)


def _probability_classes(known: Optional[list], labels: pd.Series, predictions: pd.Series,
                         width: int, model_uri: str) -> Optional[list]:
    """The class of each probability column: the model's own, or (Spark ML, index order) the
    label values seen in their natural order when they are as many as the columns."""
    classes = list(known) if known else sorted(set(labels) | set(predictions))
    if len(classes) != width or classes != sorted(classes):
        _log.info("evaluate: model '%s' gives %d class probabilities for classes %s; logging "
                  "the metrics of its predicted labels only", model_uri, width, classes)
        return None
    return classes
