"""``main``: the whole lifecycle as child runs of one parent run.

Each step gets the previous step's outputs explicitly (the Delta version prepare wrote, the
model URI train logged), never "whatever is latest now", so a concurrent writer cannot slip a
different table version between the steps.
"""

import logging
from dataclasses import dataclass
from typing import Optional

import mlflow

from mlflow_delta_plugin.runs import step_run
from mlflow_delta_plugin.steps.prepare import PrepareResult, prepare
from mlflow_delta_plugin.steps.train import TrainResult, train

__all__ = ["LifecycleResult", "run_lifecycle"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LifecycleResult:
    """Outputs of each step of one lifecycle run."""

    prepared: PrepareResult
    trained: TrainResult


def run_lifecycle(
    input: str,
    table: str,
    label: str,
    model_type: str,
    hyperparams: Optional[dict] = None,
    registered_model: Optional[str] = None,
    seed: int = 42,
    test_fraction: float = 0.2,
) -> LifecycleResult:
    """prepare -> train, each in a child run of the active run."""
    mlflow.log_params({"registered_model": registered_model or "", "model_type": model_type})
    with step_run("prepare", nested=True):
        prepared = prepare(input=input, table=table, label=label, mode="overwrite",
                           test_fraction=test_fraction, seed=seed)
    with step_run("train", nested=True):
        trained = train(table=prepared.table, version=prepared.version, model_type=model_type,
                        hyperparams=hyperparams, registered_model=registered_model, seed=seed)
    mlflow.set_tags({"delta.table": prepared.table, "delta.version": str(prepared.version),
                     "model_uri": trained.model_uri})
    return LifecycleResult(prepared=prepared, trained=trained)
