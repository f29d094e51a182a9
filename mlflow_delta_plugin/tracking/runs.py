"""The MLflow run each lifecycle step runs in: tagged with its entry point, FAILED on error."""

from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import mlflow
from mlflow.entities import Run

from mlflow_delta_plugin.errors import DeltaPluginError

__all__ = ["ENTRY_POINT_TAG", "ERROR_TAG", "RESOLVED_SUFFIX", "log_step_params", "step_run"]

ENTRY_POINT_TAG = "mlflow_delta_plugin.entryPoint"
ERROR_TAG = "mlflow_delta_plugin.error"
RESOLVED_SUFFIX = "_resolved"
_MAX_TAG_CHARS = 5000


@contextmanager
def step_run(entry_point: str, nested: bool = False) -> Iterator[Run]:
    """Start (or resume, under ``mlflow run``) the run of ``entry_point``.

    A nested run is a child of the active run, named after the step. Any exception marks the
    run FAILED (a known error's message goes into a tag) and propagates.
    """
    with mlflow.start_run(nested=nested, run_name=entry_point if nested else None) as run:
        mlflow.set_tag(ENTRY_POINT_TAG, entry_point)
        try:
            yield run
        except BaseException as exc:
            if isinstance(exc, DeltaPluginError):
                mlflow.set_tag(ERROR_TAG, " ".join(str(exc.message).split())[:_MAX_TAG_CHARS])
            mlflow.end_run("FAILED")
            raise


def log_step_params(params: Mapping[str, Any]) -> None:
    """Log a step's resolved parameters to the active run without clashing with ``mlflow run``.

    ``mlflow run`` logs the MLproject parameters as given before the step starts, and MLflow
    refuses to change a logged param. A key already logged with the same value is skipped; one
    logged with another value (``data/features`` resolved to an absolute path, ``''`` resolved
    to the bundled sample) is logged again as ``<key>_resolved``.
    """
    run = mlflow.active_run()
    existing = mlflow.get_run(run.info.run_id).data.params if run else {}
    fresh = {}
    for key, value in params.items():
        text = str(value)
        if key not in existing:
            fresh[key] = text
        elif existing[key] != text:
            fresh[f"{key}{RESOLVED_SUFFIX}"] = text
    if fresh:
        mlflow.log_params(fresh)
