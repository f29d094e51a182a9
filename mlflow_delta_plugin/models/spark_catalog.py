"""Spark ML model types (``spark_lr``, ``spark_gbt``): pipelines fitted on Spark DataFrames.

For data that does not fit on the driver, ``train`` with ``engine=spark`` fits a
``pyspark.ml.Pipeline`` on the executors: every feature cast to double where it is numeric or
boolean, median imputation, string features indexed (``alphabetAsc``, unseen and null values
kept as their own index) and one-hot encoded, one assembled vector, then the estimator. A
classifier's label is mapped to class indices 0..k-1 in the label values' natural order (the
order scikit-learn's ``classes_`` has), and its last stage maps the predicted index back to the
label value, so the model's ``prediction`` column holds labels like the scikit-learn models'.

Hyperparameters are the estimator's own Spark ML params (``maxIter``, ``regParam``,
``maxDepth`` ...); unknown names and values of the wrong type are rejected before any training.
"""

import importlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION

__all__ = ["INDEX_COLUMN", "PREDICTED_INDEX_COLUMN", "PREDICTION_COLUMN", "PROBABILITY_COLUMN",
           "SPARK_MODEL_TYPES", "SparkModelType", "build_spark_pipeline", "label_index_expression"]

INDEX_COLUMN = "label__index"
"""Training column: the class index (classification) or the label as double (regression)."""
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
"""A classifier's class probabilities (a vector, in class index order)."""
_VECTOR_COLUMN = "features__vector"
PREDICTED_INDEX_COLUMN = "prediction__index"
"""A classifier's predicted class index (its ``prediction`` column holds the label value)."""
_WIRED_PARAMS = frozenset({"featuresCol", "labelCol", "predictionCol", "probabilityCol",
                           "rawPredictionCol", "weightCol", "leafCol"})


@dataclass(frozen=True)
class SparkModelType:
    """One Spark ML ``model_type``: its estimator class per task.

    Attributes:
        name: the ``model_type`` parameter value.
        regressor: ``module.Class`` of the regression estimator.
        classifier: ``module.Class`` of the classification estimator.
        max_classes: the most classes the classifier handles (None: any number).
    """

    name: str
    regressor: str
    classifier: str
    max_classes: Optional[int] = None

    def estimator(self, task: str, hyperparams: Optional[dict] = None,
                  seed: Optional[int] = None) -> Any:
        """A new estimator for ``task`` with ``hyperparams`` applied (validated).

        Raises:
            InvalidInputError: an unknown hyperparameter name or a value of the wrong type.
        """
        module, _, name = (self.classifier if task == CLASSIFICATION else self.regressor) \
            .rpartition(".")
        estimator = getattr(importlib.import_module(module), name)()
        params = dict(hyperparams or {})
        valid = sorted(p.name for p in estimator.params if p.name not in _WIRED_PARAMS)
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise InvalidInputError(
                f"hyperparameters {unknown} are not valid for model_type '{self.name}' "
                f"({task}); valid names: {valid}"
            )
        if seed is not None and estimator.hasParam("seed") and "seed" not in params:
            params["seed"] = int(seed)
        try:
            estimator._set(**params)
        except (TypeError, ValueError) as exc:
            message = " ".join(str(exc).split())
            raise InvalidInputError(f"hyperparameters for '{self.name}' rejected: {message}") \
                from exc
        return estimator


SPARK_MODEL_TYPES: dict[str, SparkModelType] = {
    spec.name: spec
    for spec in (
        SparkModelType("spark_lr", "pyspark.ml.regression.LinearRegression",
                       "pyspark.ml.classification.LogisticRegression"),
        SparkModelType("spark_gbt", "pyspark.ml.regression.GBTRegressor",
                       "pyspark.ml.classification.GBTClassifier", max_classes=2),
    )
}


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(value: Any, sql_type: str) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "CAST('" + text.replace("\\", "\\\\").replace("'", "\\'") + f"' AS {sql_type})"


def label_index_expression(label: str, classes: Sequence[Any], sql_type: str) -> str:
    """SQL mapping the label to its class index (a double) for a classifier, or casting it to
    double for a regressor (``classes`` empty)."""
    if not classes:
        return f"CAST({_quoted(label)} AS DOUBLE)"
    cases = " ".join(f"WHEN {_literal(value, sql_type)} THEN {float(index)}"
                     for index, value in enumerate(classes))
    return f"CASE {_quoted(label)} {cases} END"


def _prediction_to_label(classes: Sequence[Any], sql_type: str) -> str:
    cases = " ".join(f"WHEN {index} THEN {_literal(value, sql_type)}"
                     for index, value in enumerate(classes))
    return (f"SELECT *, CASE CAST({PREDICTED_INDEX_COLUMN} AS INT) {cases} END "
            f"AS {PREDICTION_COLUMN} FROM __THIS__")


def build_spark_pipeline(
    model_type: str,
    task: str,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    classes: Sequence[Any] = (),
    label_sql_type: str = "double",
    hyperparams: Optional[dict] = None,
    seed: Optional[int] = None,
) -> Any:
    """An unfitted ``pyspark.ml.Pipeline`` for ``model_type`` and ``task``.

    The pipeline trains on the feature columns plus ``INDEX_COLUMN`` (see
    :func:`label_index_expression`) and predicts into ``prediction``.

    Args:
        classes: the label values in index order (classification only).
        label_sql_type: Spark SQL type of the label (``bigint``, ``string`` ...), for mapping
            predicted indices back to label values.

    Raises:
        InvalidInputError: unknown model type or hyperparameter, or more classes than the
            estimator handles.
    """
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Imputer, OneHotEncoder, SQLTransformer, StringIndexer, \
        VectorAssembler

    if model_type not in SPARK_MODEL_TYPES:
        raise InvalidInputError(
            f"model_type '{model_type}' is not a Spark ML type; choose one of "
            f"{sorted(SPARK_MODEL_TYPES)}"
        )
    spec = SPARK_MODEL_TYPES[model_type]
    if task == CLASSIFICATION and spec.max_classes and len(classes) > spec.max_classes:
        raise InvalidInputError(
            f"model_type '{model_type}' classifies at most {spec.max_classes} classes and the "
            f"label has {len(classes)}; use model_type=spark_lr"
        )
    estimator = spec.estimator(task, hyperparams, seed)
    predicted = PREDICTED_INDEX_COLUMN if task == CLASSIFICATION else PREDICTION_COLUMN
    estimator._set(featuresCol=_VECTOR_COLUMN, labelCol=INDEX_COLUMN, predictionCol=predicted)
    stages: list = []
    vector_inputs: list = []
    if numeric_features:
        as_double = [f"{n}__double" for n in numeric_features]
        casts = ", ".join(f"CAST({_quoted(n)} AS DOUBLE) AS {_quoted(d)}"
                          for n, d in zip(numeric_features, as_double))
        imputed = [f"{n}__imputed" for n in numeric_features]
        stages += [SQLTransformer(statement=f"SELECT *, {casts} FROM __THIS__"),
                   Imputer(inputCols=as_double, outputCols=imputed, strategy="median")]
        vector_inputs += imputed
    if categorical_features:
        indexed = [f"{n}__index" for n in categorical_features]
        encoded = [f"{n}__onehot" for n in categorical_features]
        stages += [StringIndexer(inputCols=list(categorical_features), outputCols=indexed,
                                 handleInvalid="keep", stringOrderType="alphabetAsc"),
                   OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep")]
        vector_inputs += encoded
    stages += [VectorAssembler(inputCols=vector_inputs, outputCol=_VECTOR_COLUMN), estimator]
    if task == CLASSIFICATION:
        stages.append(SQLTransformer(statement=_prediction_to_label(classes, label_sql_type)))
    return Pipeline(stages=stages)
