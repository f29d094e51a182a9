"""``train``: fit one model on the train split of a pinned feature-table version."""

import json
import logging
from dataclasses import dataclass
from typing import Optional

import mlflow

from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import MODEL_TYPES, build_model
from mlflow_delta_plugin.runs import log_step_params
from mlflow_delta_plugin.split import TEST, TRAIN
from mlflow_delta_plugin.steps.feature_table import infer_task, load_feature_table, load_split
from mlflow_delta_plugin.steps.fitting import check_registered_name, fit_and_log_model

__all__ = ["TrainResult", "train"]

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

    Raises:
        InvalidInputError, TableNotFoundError, VersionNotFoundError.
    """
    check_engine(engine)
    if engine == SPARK:
        raise InvalidInputError("engine=spark is not available for train yet; use engine=embedded")
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(
            f"model_type '{model_type}' is unknown; choose one of {sorted(MODEL_TYPES)}"
        )
    check_registered_name(registered_model)
    features = load_feature_table(table, version, label)
    x_train, y_train = load_split(features, TRAIN)
    x_test, y_test = load_split(features, TEST)
    resolved_task = infer_task(task, y_train, features.label_type, features.spec.label)
    pipeline = build_model(model_type, resolved_task, features.numeric_features,
                           features.categorical_features, hyperparams, seed)

    run = mlflow.active_run()
    pinned = features.pinned
    mlflow.log_input(features.dataset, context="training")
    log_step_params({
        "table": pinned.uri, "delta_version": pinned.version, "model_type": model_type,
        "task": resolved_task, "seed": seed, "label": features.spec.label,
        "hyperparams": json.dumps(hyperparams or {}, sort_keys=True),
        "n_features": len(features.features), "rows_train": len(x_train), "rows_test": len(x_test),
    })
    _log.info("train: fitting %s (%s) on %d rows of '%s' version %d", model_type, resolved_task,
              len(x_train), pinned.uri, pinned.version)
    logged = fit_and_log_model(pipeline, model_type, resolved_task, (x_train, y_train),
                               (x_test, y_test), pinned, registered_model)
    _log.info("train: test metrics %s", {k: round(v, 4) for k, v in logged.test_metrics.items()})
    return TrainResult(run_id=run.info.run_id if run else "", model_uri=logged.model_uri,
                       registered_version=logged.registered_version, table=pinned.uri,
                       version=pinned.version, task=resolved_task, metrics=logged.test_metrics)
