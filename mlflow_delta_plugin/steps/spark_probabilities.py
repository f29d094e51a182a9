"""A classifier's class probabilities, computed on the Spark executors.

:func:`with_probabilities` adds a ``probabilities`` array column (one value per class) to a
scored Spark DataFrame, so that only the label, the prediction and the probabilities need to
come back to the driver:

* scikit-learn models (``mlflow.sklearn`` flavor, the project's scikit-learn and torch
  pipelines): a ``mapInPandas`` function loads the model once per task from a copy Spark ships
  to every executor (``SparkContext.addFile``) and calls ``predict_proba``; the columns follow
  the estimator's ``classes_``.
* Spark ML models (``mlflow.spark`` flavor, ``spark_lr`` / ``spark_gbt``): the pipeline's own
  ``probability`` vector, in class-index order (the label values' natural order).

Other models, and scikit-learn estimators without ``predict_proba``, have no probabilities.
"""

import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import pandas as pd

__all__ = ["PROBABILITIES_COLUMN", "ScoredProbabilities", "with_probabilities"]

PROBABILITIES_COLUMN = "probabilities"
_SCORED_COLUMN = "prediction__scored"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredProbabilities:
    """A Spark DataFrame with a ``probabilities`` column, and the classes its entries are for.

    Attributes:
        frame: the input rows plus ``probabilities`` (array of double).
        classes: the class of each entry (None: the label values in natural order, as for
            Spark ML models, whose classes the pipeline does not expose).
    """

    frame: Any
    classes: Optional[list]


def with_probabilities(spark: Any, model_uri: str, scored: Any, features: Sequence[str],
                       prediction_column: str) -> Optional[ScoredProbabilities]:
    """``scored`` (rows already holding ``prediction_column``) plus class probabilities of
    ``model_uri`` for the ``features`` columns, or None when the model gives none."""
    from mlflow.models import get_model_info

    flavors = get_model_info(model_uri).flavors
    if "sklearn" in flavors:
        return _sklearn_probabilities(spark, model_uri, scored, features)
    if "spark" in flavors:
        return _spark_ml_probabilities(model_uri, scored, prediction_column)
    _log.info("evaluate: model '%s' (flavors %s) gives no class probabilities", model_uri,
              sorted(flavors))
    return None


def _sklearn_probabilities(spark: Any, model_uri: str, scored: Any,
                           features: Sequence[str]) -> Optional[ScoredProbabilities]:
    import mlflow.sklearn
    from mlflow.artifacts import download_artifacts
    from pyspark import SparkFiles
    from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

    local_dir = download_artifacts(model_uri, dst_path=os.path.join(
        tempfile.mkdtemp(prefix="probabilities-"), f"model-{uuid.uuid4().hex}"))
    estimator = mlflow.sklearn.load_model(local_dir)
    if not hasattr(estimator, "predict_proba"):
        _log.info("evaluate: model '%s' (%s) has no predict_proba", model_uri,
                  type(estimator).__name__)
        return None
    classes = list(getattr(estimator, "classes_", []))
    spark.sparkContext.addFile(local_dir, recursive=True)
    shipped, columns = os.path.basename(local_dir), list(features)

    def predict_proba(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = mlflow.sklearn.load_model(SparkFiles.get(shipped))  # once per task
        for batch in batches:
            probabilities = model.predict_proba(batch[columns])
            yield batch.assign(**{PROBABILITIES_COLUMN: list(probabilities.astype(float))})

    schema = StructType(scored.schema.fields
                        + [StructField(PROBABILITIES_COLUMN, ArrayType(DoubleType()))])
    return ScoredProbabilities(frame=scored.mapInPandas(predict_proba, schema), classes=classes)


def _spark_ml_probabilities(model_uri: str, scored: Any,
                            prediction_column: str) -> Optional[ScoredProbabilities]:
    import mlflow.spark
    from pyspark.ml.functions import vector_to_array

    from mlflow_delta_plugin.models.spark_catalog import PROBABILITY_COLUMN

    pipeline = mlflow.spark.load_model(model_uri)
    renamed = scored.withColumnRenamed(prediction_column, _SCORED_COLUMN)
    transformed = pipeline.transform(renamed)
    if PROBABILITY_COLUMN not in transformed.columns:
        _log.info("evaluate: Spark ML model '%s' has no '%s' column", model_uri,
                  PROBABILITY_COLUMN)
        return None
    frame = transformed.select(
        *[f"`{c}`" for c in scored.columns if c != prediction_column],
        transformed[_SCORED_COLUMN].alias(prediction_column),
        vector_to_array(PROBABILITY_COLUMN).alias(PROBABILITIES_COLUMN))
    return ScoredProbabilities(frame=frame, classes=None)
