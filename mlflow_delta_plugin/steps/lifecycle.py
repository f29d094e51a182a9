"""``main``: the whole lifecycle as child runs of one parent run.

prepare -> train (or tune when ``max_evals`` > 0) -> evaluate -> promote. Each step gets the
previous step's outputs explicitly (the Delta version prepare wrote, the model version train
registered), never "whatever is latest now", so a concurrent writer cannot slip a different
table version or model between the steps.
"""

import logging
from dataclasses import dataclass
from typing import Optional, Union

import mlflow

from mlflow_delta_plugin.engine import EMBEDDED, check_engine
from mlflow_delta_plugin.tracking.runs import log_step_params, step_run
from mlflow_delta_plugin.steps.evaluate import EvaluateResult, evaluate
from mlflow_delta_plugin.steps.prepare import PrepareResult, prepare
from mlflow_delta_plugin.steps.promote import PromoteResult, promote
from mlflow_delta_plugin.steps.train import TrainResult, train
from mlflow_delta_plugin.steps.tune import TuneResult, tune

__all__ = ["LifecycleResult", "run_lifecycle"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LifecycleResult:
    """Outputs of each step of one lifecycle run (``promoted`` is None without a registry name)."""

    prepared: PrepareResult
    trained: Union[TrainResult, TuneResult]
    evaluated: EvaluateResult
    promoted: Optional[PromoteResult]


def run_lifecycle(
    input: str,
    table: str,
    label: str,
    model_type: str,
    hyperparams: Optional[dict] = None,
    registered_model: Optional[str] = None,
    seed: int = 42,
    test_fraction: float = 0.2,
    max_evals: int = 0,
    parallelism: int = 1,
    metric: str = "auto",
    threshold: Union[float, str, None] = None,
    min_improvement: Union[float, str] = 0.0,
    engine: str = EMBEDDED,
) -> LifecycleResult:
    """Run every step in a child run of the active run and return what each produced.

    Without ``registered_model`` nothing is registered and promotion is skipped. ``engine``
    (``embedded`` or ``spark``) applies to every step that reads or writes data.
    """
    check_engine(engine)
    log_step_params({"registered_model": registered_model or "", "model_type": model_type,
                     "max_evals": max_evals, "engine": engine})
    with step_run("prepare", nested=True):
        prepared = prepare(input=input, table=table, label=label, mode="overwrite",
                           test_fraction=test_fraction, seed=seed, engine=engine)
    if max_evals > 0:
        with step_run("tune", nested=True):
            trained = tune(table=prepared.table, version=prepared.version, model_type=model_type,
                           max_evals=max_evals, parallelism=parallelism, metric=metric,
                           registered_model=registered_model, seed=seed, engine=engine)
    else:
        with step_run("train", nested=True):
            trained = train(table=prepared.table, version=prepared.version,
                            model_type=model_type, hyperparams=hyperparams,
                            registered_model=registered_model, seed=seed, engine=engine)
    model_uri = (f"models:/{registered_model}/{trained.registered_version}" if registered_model
                 else trained.model_uri)
    with step_run("evaluate", nested=True):
        evaluated = evaluate(model_uri=model_uri, table=prepared.table, version=prepared.version,
                             model_name=registered_model, engine=engine)
    decision = None
    if registered_model:
        with step_run("promote", nested=True):
            decision = promote(model_name=registered_model,
                               candidate=trained.registered_version, metric=metric,
                               threshold=threshold, min_improvement=min_improvement,
                               table=prepared.table, version=prepared.version)
        _log.info("main: candidate version %s of '%s' %s", decision.candidate_version,
                  registered_model, decision.decision)
    tags = {"delta.table": prepared.table, "delta.version": str(prepared.version),
            "model_uri": model_uri}
    if decision is not None:
        tags["promotion.decision"] = decision.decision
    mlflow.set_tags(tags)
    return LifecycleResult(prepared=prepared, trained=trained, evaluated=evaluated,
                           promoted=decision)
