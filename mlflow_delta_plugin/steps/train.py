"""``train``: fit one model on the train split of a pinned feature-table version."""

import json
import logging
from dataclasses import dataclass
from typing import Optional

import mlflow

from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine, spark_session
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import MODEL_TYPES, build_model
from mlflow_delta_plugin.models.spark_catalog import SPARK_MODEL_TYPES, build_spark_pipeline
from mlflow_delta_plugin.tracking.runs import log_step_params
from mlflow_delta_plugin.ingest.split import TEST, TRAIN
from mlflow_delta_plugin.steps.feature_table import (
    FeatureTable,
    infer_task,
    load_feature_table,
)
from mlflow_delta_plugin.steps.fitting import LoggedModel, check_registered_name, fit_and_log_model
from mlflow_delta_plugin.steps.spark_split import read_split
from mlflow_delta_plugin.steps.training_data import load_train_test
from mlflow_delta_plugin.steps.spark_training import fit_and_log_spark_model, spark_labels

__all__ = ["TrainResult", "check_model_type", "train"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` produced.

    Attributes:
        run_id: the MLflow run.
        model_uri: URI of the logged model (``models:/m-...``).
        registered_version: registry version number, when registered.
        table: feature table URI; version: the Delta version trained on.
        task: ``classification`` or ``regression``.
        metrics: test-split metrics (without prefix).
    """

    run_id: str
    model_uri: str
    registered_version: Optional[str]
    table: str
    version: int
    task: str
    metrics: dict


def check_model_type(model_type: str, engine: str) -> None:
    """Reject an unknown model type, or a Spark ML one without ``engine=spark``.

    Raises:
        InvalidInputError: with the choices.
    """
    if model_type in SPARK_MODEL_TYPES:
        if engine != SPARK:
            raise InvalidInputError(
                f"model_type '{model_type}' is a Spark ML model and needs engine=spark; pass "
                f"engine=spark or choose one of {sorted(MODEL_TYPES)}"
            )
    elif model_type not in MODEL_TYPES:
        choices = sorted(MODEL_TYPES) + (sorted(SPARK_MODEL_TYPES) if engine == SPARK else [])
        raise InvalidInputError(f"model_type '{model_type}' is unknown; choose one of {choices}")


def _result(logged: LoggedModel, features: FeatureTable, task: str) -> "TrainResult":
    run = mlflow.active_run()
    return TrainResult(run_id=run.info.run_id if run else "", model_uri=logged.model_uri,
                       registered_version=logged.registered_version, table=features.pinned.uri,
                       version=features.pinned.version, task=task, metrics=logged.test_metrics)


def _log_training_input(features: FeatureTable, model_type: str, task: str, seed: int,
                        hyperparams: Optional[dict], rows: dict, engine: str) -> None:
    pinned = features.pinned
    mlflow.log_input(features.dataset, context="training")
    log_step_params({
        "table": pinned.uri, "delta_version": pinned.version, "model_type": model_type,
        "task": task, "seed": seed, "label": features.spec.label,
        "hyperparams": json.dumps(hyperparams or {}, sort_keys=True),
        "n_features": len(features.features), **rows, "engine": engine,
    })


def _train_spark_ml(features: FeatureTable, model_type: str, hyperparams: Optional[dict],
                    task: str, registered_model: Optional[str], seed: int) -> "TrainResult":
    """A Spark ML model type, fitted and scored on the executors (no rows collected)."""
    session = spark_session()
    train_rows = read_split(session, features, TRAIN)
    test_rows = read_split(session, features, TEST)
    labels = spark_labels(task, train_rows, features)
    pipeline = build_spark_pipeline(model_type, labels.task, features.numeric_features,
                                    features.categorical_features, labels.classes,
                                    labels.sql_type, hyperparams, seed)
    rows = {"rows_train": train_rows.count(), "rows_test": test_rows.count()}
    pinned = features.pinned
    for split, count in (("train", rows["rows_train"]), ("test", rows["rows_test"])):
        if count == 0:
            raise InvalidInputError(
                f"Delta table '{pinned.uri}' version {pinned.version} has no '{split}' rows; "
                "run prepare with a test_fraction that leaves both splits non-empty")
    _log_training_input(features, model_type, labels.task, seed, hyperparams, rows, SPARK)
    _log.info("train: fitting %s (%s) on Spark, %d rows of '%s' version %d", model_type,
              labels.task, rows["rows_train"], pinned.uri, pinned.version)
    logged = fit_and_log_spark_model(pipeline, model_type, labels, (train_rows, test_rows),
                                     features, registered_model)
    _log.info("train: test metrics %s", {k: round(v, 4) for k, v in logged.test_metrics.items()})
    return _result(logged, features, labels.task)


def train(
    table: str,
    version: Optional[int] = None,
    model_type: str = "gradient_boosting",
    hyperparams: Optional[dict] = None,
    task: str = "auto",
    registered_model: Optional[str] = None,
    seed: int = 42,
    label: Optional[str] = None,
    engine: str = EMBEDDED,
) -> TrainResult:
    """Train ``model_type`` on version ``version`` (None = latest) of ``table`` in the active run.

    Logs params, train/test metrics, the dataset input (context ``training``) and the model
    with signature and input example; registers it as ``registered_model`` when given, last,
    so a failure anywhere before leaves no registered version.

    With ``engine=spark`` the rows are read through Spark (the active session or a local one):
    scikit-learn / torch model types train on the splits collected to the driver when they fit
    (see :mod:`~mlflow_delta_plugin.steps.spark_split` for the limit), and Spark ML model types
    (``spark_lr``, ``spark_gbt``, only with ``engine=spark``) train on the executors. The
    version is pinned and logged exactly as with ``engine=embedded`` (same dataset digest).

    Raises:
        InvalidInputError, TableNotFoundError, VersionNotFoundError.
    """
    check_engine(engine)
    check_model_type(model_type, engine)
    check_registered_name(registered_model)
    features = load_feature_table(table, version, label)
    if model_type in SPARK_MODEL_TYPES:
        return _train_spark_ml(features, model_type, hyperparams, task, registered_model, seed)
    (x_train, y_train), (x_test, y_test) = load_train_test(features, engine)
    resolved_task = infer_task(task, y_train, features.label_type, features.spec.label)
    pipeline = build_model(model_type, resolved_task, features.numeric_features,
                           features.categorical_features, hyperparams, seed)

    rows = {"rows_train": len(x_train), "rows_test": len(x_test)}
    _log_training_input(features, model_type, resolved_task, seed, hyperparams, rows, engine)
    pinned = features.pinned
    _log.info("train: fitting %s (%s) on %d rows of '%s' version %d", model_type, resolved_task,
              len(x_train), pinned.uri, pinned.version)
    logged = fit_and_log_model(pipeline, model_type, resolved_task, (x_train, y_train),
                               (x_test, y_test), pinned, registered_model)
    _log.info("train: test metrics %s", {k: round(v, 4) for k, v in logged.test_metrics.items()})
    return _result(logged, features, resolved_task)
