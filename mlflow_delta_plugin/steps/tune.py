"""``tune``: search hyperparameters of one model type on a pinned feature-table version.

Trials fit on the train split minus a seeded validation split carved out of it, and are scored
on that validation split; the test split is used once, to score the best configuration after it
is retrained on the whole train split. The active run is the parent: each trial becomes a child run,
and the parent gets the best parameters, the retrained model and (optionally) its registration.
"""

import json
import logging
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import HIGHER_IS_BETTER
from mlflow_delta_plugin.models.catalog import MODEL_TYPES, build_model
from mlflow_delta_plugin.models.spark_catalog import SPARK_MODEL_TYPES
from mlflow_delta_plugin.tracking.run_writer import writer_mode
from mlflow_delta_plugin.tracking.runs import log_step_params
from mlflow_delta_plugin.steps.feature_table import infer_task, load_feature_table
from mlflow_delta_plugin.steps.training_data import load_train_test
from mlflow_delta_plugin.steps.fitting import check_registered_name, fit_and_log_model
from mlflow_delta_plugin.tuning import (
    SearchOutcome,
    SearchSettings,
    SearchSpace,
    TrialResult,
    Tuner,
    default_search_space,
    make_tuner,
    parse_search_space,
    search_space_to_json,
)
from mlflow_delta_plugin.tuning.objective import (
    VALIDATION_PREFIX,
    ValidationObjective,
    resolve_metric,
    split_for_validation,
)
from mlflow_delta_plugin.tuning.tracking import TrialRunLogger

__all__ = ["TuneResult", "tune"]

_log = logging.getLogger(__name__)

BEST_RUN_TAG = "best_run_id"


@dataclass(frozen=True)
class TuneResult:
    """What ``tune`` produced.

    Attributes:
        run_id: the parent run.
        best_run_id: the child run of the best trial.
        best_params: hyperparameters of the best trial (tuned and fixed ones).
        metric: the metric optimized; best_validation: its best validation value.
        model_uri: the retrained best configuration (``models:/m-...``).
        registered_version: registry version number, when registered.
        table, version, task: the data tuned on and the resolved task.
        metrics: test-split metrics of the retrained model (without prefix).
        trials: every finished trial, in completion order.
        stopped_early: the early-stop rule ended the search.
    """

    run_id: str
    best_run_id: str
    best_params: dict
    metric: str
    best_validation: float
    model_uri: str
    registered_version: Optional[str]
    table: str
    version: int
    task: str
    metrics: dict
    trials: tuple
    stopped_early: bool


def _check_space_names(space: SearchSpace, model_type: str, task: str) -> None:
    valid = MODEL_TYPES[model_type].estimator(task, {}).get_params(deep=False)
    unknown = sorted(set(space) - set(valid))
    if unknown:
        raise InvalidInputError(
            f"search_space names {unknown} are not hyperparameters of model_type '{model_type}' "
            f"({task}); valid names: {sorted(valid)}"
        )


def _progress(metric: str, max_evals: int) -> Callable[[TrialResult], None]:
    """A trial callback logging one line per trial with the best value so far."""
    best = {"value": None}
    higher = metric in HIGHER_IS_BETTER

    def report(result: TrialResult) -> None:
        if not result.ok:
            _log.info("tune: trial %d/%d failed: %s", result.number + 1, max_evals, result.error)
            return
        value = result.metrics.get(f"{VALIDATION_PREFIX}{metric}")
        if best["value"] is None or (value > best["value"] if higher else value < best["value"]):
            best["value"] = value
        _log.info("tune: trial %d/%d %s=%.4f (best %.4f)", result.number + 1, max_evals, metric,
                  value, best["value"])

    return report


def _both(*callbacks: Callable[[TrialResult], None]) -> Callable[[TrialResult], None]:
    def call(result: TrialResult) -> None:
        for callback in callbacks:
            callback(result)

    return call


def _no_best_error(outcome: SearchOutcome) -> InvalidInputError:
    first = min(outcome.failed, key=lambda t: t.number).error if outcome.failed else None
    return InvalidInputError(
        f"all {len(outcome.trials)} trials failed (first error: {first or 'unknown'}); "
        "fix search_space or the data and run tune again"
    )


def _log_search_outcome(run_id: str, outcome: SearchOutcome, trial_runs: TrialRunLogger,
                        search_seconds: float) -> None:
    """Trial counts, and the best trial's parameters, validation metrics and run, in one write."""
    run_ids = trial_runs.run_ids
    metrics = {"trials_finished": len(outcome.trials), "trials_failed": len(outcome.failed),
               "search_seconds": search_seconds,
               "trial_runs_by_writer_process": trial_runs.process_writes}
    params: dict = {}
    tags = {"tune.executor": outcome.executor,
            "tune.stopped_early": str(outcome.stopped_early).lower()}
    best = outcome.best
    if best is not None:
        params = {f"best.{k}": v for k, v in best.params.items()}
        metrics.update({f"best_{k}": v for k, v in best.metrics.items()
                        if k.startswith(VALIDATION_PREFIX)})
        tags.update({BEST_RUN_TAG: run_ids[best.number], "best_trial": str(best.number + 1),
                     "tune.best_params": json.dumps(best.params, sort_keys=True, default=str)})
    now = int(time.time() * 1000)
    MlflowClient().log_batch(
        run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()])


def tune(
    table: str,
    version: Optional[int] = None,
    model_type: str = "gradient_boosting",
    search_space: Union[str, Mapping, None] = None,
    max_evals: int = 20,
    parallelism: int = 1,
    metric: str = "auto",
    early_stop: int = 0,
    task: str = "auto",
    registered_model: Optional[str] = None,
    seed: int = 42,
    label: Optional[str] = None,
    validation_fraction: float = 0.2,
    tuner: Union[str, Tuner] = "hyperopt",
    engine: str = EMBEDDED,
) -> TuneResult:
    """Tune ``model_type`` on version ``version`` (None = latest) of ``table`` in the active run.

    Args:
        table, version, label: the feature table version (see ``train``).
        model_type: a key of ``MODEL_TYPES``.
        search_space: JSON text or object (see :mod:`mlflow_delta_plugin.tuning.search_spaces`);
            None or ``""`` = the model type's default space.
        max_evals: the most trials; parallelism: trials at once (capped at ``max_evals``).
        metric: ``auto`` or a metric name to optimize on the validation split.
        early_stop: stop after this many trials without improvement; 0 = never.
        task: ``auto``, ``classification`` or ``regression``.
        registered_model: register the retrained best model under this name.
        seed: seeds the validation split, the tuner and the estimators.
        validation_fraction: share of the train split held out to score trials.
        tuner: a tuner name (see ``tuning.TUNERS``) or instance.
        engine: ``embedded``, or ``spark``: the splits are read through Spark (the active
            session or a new local one) and collected to the driver when they fit (see
            :mod:`~mlflow_delta_plugin.steps.spark_split`); with ``parallelism`` > 1 the
            trials run as Spark tasks (hyperopt ``SparkTrials``), that many at once. With
            ``parallelism=1`` they run one after another on the driver, as with
            ``engine=embedded``, and propose the same configurations for the same seed.

    Raises:
        InvalidInputError: bad parameter, or every trial failed. Nothing is registered then.
        TableNotFoundError, VersionNotFoundError.
    """
    check_engine(engine)
    if model_type in SPARK_MODEL_TYPES:
        raise InvalidInputError(
            f"tune does not search Spark ML model types ('{model_type}'); train it with chosen "
            f"hyperparams, or tune one of {sorted(MODEL_TYPES)} with engine=spark"
        )
    settings = SearchSettings(max_evals=max_evals, parallelism=parallelism, seed=seed,
                              early_stop=early_stop)
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(
            f"model_type '{model_type}' is unknown; choose one of {sorted(MODEL_TYPES)}"
        )
    check_registered_name(registered_model)
    resolve_metric(metric)
    # Trials keep `parallelism` cores busy (on this machine, or on local Spark executors); the
    # trial runs get a writer process of their own only when a core is left for it.
    trial_run_writer = writer_mode(busy_cores=settings.parallelism)
    given_space = not (search_space is None
                       or (isinstance(search_space, str) and not search_space.strip()))
    custom_space = parse_search_space(search_space) if given_space else None
    search = make_tuner(tuner) if isinstance(tuner, str) else tuner

    features = load_feature_table(table, version, label)
    # engine=spark leaves the session active: hyperopt_tuner then runs parallel trials on it
    (x_train, y_train), (x_test, y_test) = load_train_test(features, engine)
    resolved_task = infer_task(task, y_train, features.label_type, features.spec.label)
    objective_metric = resolve_metric(metric, resolved_task, int(y_train.nunique()))
    space = custom_space or default_search_space(model_type, resolved_task)
    _check_space_names(space, model_type, resolved_task)
    data = split_for_validation(x_train, y_train, resolved_task, validation_fraction, seed)
    objective = ValidationObjective(model_type, resolved_task, objective_metric,
                                    tuple(features.numeric_features),
                                    tuple(features.categorical_features), data, seed)

    pinned = features.pinned
    mlflow.log_input(features.dataset, context="training")  # starts a run if none is active
    run = mlflow.active_run()
    # The keys train logs too (evaluate and promote read task and label from the model's run);
    # under `mlflow run` a value that differs from the given parameter lands in <key>_resolved.
    log_step_params({
        "table": pinned.uri, "delta_version": pinned.version, "model_type": model_type,
        "task": resolved_task, "seed": seed, "label": features.spec.label,
        "n_features": len(features.features), "rows_train": len(x_train),
        "rows_fit": len(data.fit_labels), "rows_validation": len(data.validation_labels),
        "rows_test": len(x_test), "tuner": search.name, "metric": objective_metric,
        "metric_direction": "higher" if objective_metric in HIGHER_IS_BETTER else "lower",
        "search_space": search_space_to_json(space), "max_evals": settings.max_evals,
        "parallelism": settings.parallelism, "early_stop": settings.early_stop,
        "validation_fraction": validation_fraction, "engine": engine,
    })
    _log.info("tune: %s on %d rows of '%s' version %d, %d trials (%d at once), %s %s",
              model_type, len(x_train), pinned.uri, pinned.version, settings.max_evals,
              settings.parallelism, search.name, objective_metric)
    if engine == SPARK and settings.parallelism == 1:
        _log.info("tune: parallelism=1 runs the trials one at a time on the driver; "
                  "parallelism > 1 runs them as Spark tasks (SparkTrials)")
    started = time.perf_counter()
    with TrialRunLogger(run, features.dataset, context="training",
                        writer=trial_run_writer) as trial_runs:
        outcome = search.search(objective, space, settings,
                                on_trial=_both(trial_runs,
                                               _progress(objective_metric, settings.max_evals)))
    search_seconds = time.perf_counter() - started
    _log_search_outcome(run.info.run_id, outcome, trial_runs, search_seconds)
    best = outcome.best
    if best is None:
        raise _no_best_error(outcome)
    best_run_id = trial_runs.run_ids[best.number]
    best_validation = best.metrics[f"{VALIDATION_PREFIX}{objective_metric}"]
    _log.info("tune: best trial %d %s=%.4f %s; retraining on the whole train split",
              best.number + 1, objective_metric, best_validation, best.params)

    pipeline = build_model(model_type, resolved_task, features.numeric_features,
                           features.categorical_features, best.params, seed)
    logged = fit_and_log_model(pipeline, model_type, resolved_task, (x_train, y_train),
                               (x_test, y_test), pinned, registered_model)
    _log.info("tune: test metrics %s", {k: round(v, 4) for k, v in logged.test_metrics.items()})
    return TuneResult(
        run_id=run.info.run_id, best_run_id=best_run_id, best_params=best.params,
        metric=objective_metric, best_validation=best_validation, model_uri=logged.model_uri,
        registered_version=logged.registered_version, table=pinned.uri, version=pinned.version,
        task=resolved_task, metrics=logged.test_metrics, trials=outcome.trials,
        stopped_early=outcome.stopped_early)
