"""``evaluate``: ``mlflow.models.evaluate`` on the test split of a pinned feature-table version.

The model is evaluated with MLflow's default evaluator (metrics, plus its plots as artifacts);
the test split is logged as a dataset input with context ``evaluation``. When the registered
model has a ``champion``, the champion is evaluated on the same rows in the same run, its
metrics logged with a ``champion_`` prefix and both sets side by side in
``evaluation/champion_comparison.json``.
"""

import logging
from dataclasses import dataclass
from typing import Any, Optional, Union

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.config import DEFAULT_TABLE
from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine, spark_session
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION
from mlflow_delta_plugin.promotion.aliases import CHAMPION
from mlflow_delta_plugin.promotion.model_refs import (
    require_registered_model,
    resolve_model_uri,
    training_params,
    version_by_alias,
)
from mlflow_delta_plugin.promotion.evaluation_data import TestSplit, load_test_split
from mlflow_delta_plugin.tracking.runs import log_step_params
from mlflow_delta_plugin.steps.spark_evaluation import (
    SparkTestSplit,
    load_spark_test_split,
    spark_predictions,
)

__all__ = ["CHAMPION_PREFIX", "COMPARISON_ARTIFACT", "EvaluateResult", "evaluate"]

CHAMPION_PREFIX = "champion_"
COMPARISON_ARTIFACT = "evaluation/champion_comparison.json"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateResult:
    """What ``evaluate`` measured.

    Attributes:
        run_id: the MLflow run ("" without an active run).
        model_uri: the model evaluated.
        model_name: registered model whose champion was looked up (None: none).
        table: feature table URI; version: the Delta version whose test split was used.
        task: ``classification`` or ``regression``.
        metrics: the evaluator's metrics of the model (e.g. ``roc_auc``, ``accuracy_score``).
        champion_version: the champion evaluated alongside (None: no champion).
        champion_metrics: the champion's metrics, without prefix (None: no champion).
    """

    run_id: str
    model_uri: str
    model_name: Optional[str]
    table: str
    version: int
    task: str
    metrics: dict
    champion_version: Optional[str]
    champion_metrics: Optional[dict]


def _evaluator_config(task: str, labels: pd.Series, prefix: Optional[str] = None) -> dict:
    config: dict = {"log_model_explainability": False}
    if task == CLASSIFICATION:
        classes = sorted(labels.unique())
        if len(classes) == 2:
            config["pos_label"] = classes[-1]  # as metrics.score_model does
    if prefix:
        config["metric_prefix"] = prefix
    return config


def _run_evaluator(model_uri: str, split: Union[TestSplit, SparkTestSplit],
                   prefix: Optional[str] = None, spark: Any = None) -> dict:
    """The default evaluator's metrics of ``model_uri`` on ``split``: the model predicts here
    (embedded), or its predictions come from Spark (``spark`` given, a ``SparkTestSplit``)."""
    model_type = "classifier" if split.task == CLASSIFICATION else "regressor"
    predicted = None
    try:
        if spark is None:
            model, data, labels = model_uri, split.dataset, split.y
        else:  # the dataset carries the predictions, `predicted` the class probabilities
            predicted = spark_predictions(spark, model_uri, split)
            model, data = None, predicted.dataset
            labels = data.df[data.targets]
        config = _evaluator_config(split.task, labels, prefix)
        result = mlflow.models.evaluate(model, data=data, model_type=model_type,
                                        evaluators="default", evaluator_config=config)
    except MlflowException as exc:
        message = " ".join(str(exc.message).split())[:300]
        raise InvalidInputError(
            f"model '{model_uri}' cannot be evaluated on the test split of '{split.table}' "
            f"version {split.version}: {message}"
        ) from exc
    metrics = {k: float(v) for k, v in result.metrics.items()}
    if predicted is not None:
        metrics.update(predicted.log_probability_metrics(config))
    if prefix:
        metrics = {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}
    return metrics


def _comparison(metrics: dict, champion_metrics: dict) -> pd.DataFrame:
    names = sorted(set(metrics) & set(champion_metrics))
    return pd.DataFrame({
        "metric": names,
        "model": [metrics[n] for n in names],
        "champion": [champion_metrics[n] for n in names],
        "difference": [metrics[n] - champion_metrics[n] for n in names],
    })


def evaluate(
    model_uri: str,
    table: str = DEFAULT_TABLE,
    version: Optional[int] = None,
    model_name: Optional[str] = None,
    engine: str = EMBEDDED,
) -> EvaluateResult:
    """Evaluate ``model_uri`` on the test split of ``table`` at ``version`` in the active run.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``,
            ``models:/<name>@<alias>`` or a logged model's ``models:/m-<id>``.
        table: feature table URI written by ``prepare``.
        version: Delta version (None = latest), pinned once for model and champion.
        model_name: registered model whose ``champion`` to compare with; defaults to the name
            in a ``models:/`` URI.
        engine: ``embedded`` (the model predicts in this process), or ``spark``: the test
            split is read through Spark and scored there with ``spark_udf``; see
            :mod:`~mlflow_delta_plugin.steps.spark_evaluation` for the metrics then.

    Returns:
        Both metric sets and where they came from.

    Raises:
        InvalidInputError: malformed or unknown model URI, unknown model name, a table without
            a ``test`` split, a model that cannot predict on it.

    Example:
        >>> with mlflow.start_run():  # doctest: +SKIP
        ...     result = evaluate("models:/my_model/3", table="data/features", version=0)
        >>> result.metrics["roc_auc"], result.champion_metrics  # doctest: +SKIP
    """
    check_engine(engine)
    client = MlflowClient()
    model = resolve_model_uri(client, model_uri)
    name = (model_name or "").strip() or model.model_name
    if name:
        require_registered_model(client, name)
    trained_with = training_params(client, model.run_id)
    label, task = trained_with.get("label") or None, trained_with.get("task")
    session = spark_session() if engine == SPARK else None
    split = load_test_split(table, version, label, task) if session is None \
        else load_spark_test_split(session, table, version, label, task)
    champion = version_by_alias(client, name, CHAMPION) if name else None
    champion_version = str(champion.version) if champion is not None else None

    run = mlflow.active_run()
    mlflow.log_input(split.dataset, context="evaluation")  # evaluate() then reuses this input
    log_step_params({
        "model_uri": model.uri, "table": split.table, "delta_version": split.version,
        "task": split.task, "model_name": name or "", "champion_version": champion_version or "",
        "engine": engine,
    })
    mlflow.set_tags({"delta.table": split.table, "delta.version": str(split.version)})
    _log.info("evaluate: %s on the test split of '%s' version %d (engine=%s)", model.uri,
              split.table, split.version, engine)
    metrics = _run_evaluator(model.uri, split, spark=session)

    champion_metrics = None
    if champion_version is not None:
        if model.model_name == name and model.version == champion_version:
            champion_metrics = dict(metrics)  # the model is the champion: same numbers
            mlflow.log_metrics({CHAMPION_PREFIX + k: v for k, v in metrics.items()})
        else:
            _log.info("evaluate: champion version %s of '%s' on the same rows", champion_version,
                      name)
            champion_metrics = _run_evaluator(f"models:/{name}/{champion_version}", split,
                                              CHAMPION_PREFIX, session)
        mlflow.log_table(_comparison(metrics, champion_metrics), COMPARISON_ARTIFACT)
    return EvaluateResult(
        run_id=run.info.run_id if run else "", model_uri=model.uri, model_name=name,
        table=split.table, version=split.version, task=split.task, metrics=metrics,
        champion_version=champion_version, champion_metrics=champion_metrics,
    )
