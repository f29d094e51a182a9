"""Recording trials as MLflow child runs of the tuning run.

Trials may run in worker processes or Spark tasks; their results come back to the process that
owns the parent run, which records each as a child run (tag ``mlflow.parentRunId``) with the
trial's hyperparameters, validation metrics, dataset input, status and wall-clock span. One
writer keeps a SQLite tracking store free of lock contention, and workers need no tracking
credentials. The writes happen on a background thread, in trial order, so the next trial does
not wait for them; :meth:`TrialRunLogger.flush` waits for all and re-raises the first error.

Against a tracking server (REST, Databricks), MLflow prints two "View run ... at" lines and
fetches the run again each time a run ends; for trial runs the logger turns that off while it
is open (``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``, unless the user set it), so a 100-trial
search prints progress lines instead of 200 links. The tuning run's own link still prints.
"""

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric, Param, Run, RunStatus
from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from mlflow_delta_plugin.runs import ENTRY_POINT_TAG, ERROR_TAG
from mlflow_delta_plugin.tuning.base import TrialResult

__all__ = ["TRIAL_ENTRY_POINT", "TrialRunLogger"]

TRIAL_ENTRY_POINT = "tune.trial"
"""Value of the entry-point tag on trial runs."""

_INHERITED_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
                   "mlflow.source.git.commit", "mlflow.project.entryPoint")
_MAX_PARAM_CHARS = 6000
_MAX_TAG_CHARS = 5000

_log = logging.getLogger(__name__)


class TrialRunLogger:
    """A trial callback recording each finished trial as a child run of ``parent``.

    Args:
        parent: the tuning run.
        dataset: the training dataset (an MLflow ``Dataset``), logged as each trial's input.
        context: the dataset input's context tag.

    Attributes:
        run_ids: trial number -> child run id (complete after :meth:`flush`).
    """

    def __init__(self, parent: Run, dataset: Optional[object] = None,
                 context: str = "training") -> None:
        self._client = MlflowClient()
        self._parent = parent
        self._inputs = []
        if dataset is not None:
            entity = dataset._to_mlflow_entity()  # computed once: digest, schema, profile
            self._inputs = [DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, context)])]
        parent_tags = parent.data.tags
        self._inherited = {k: parent_tags[k] for k in _INHERITED_TAGS if k in parent_tags}
        self.run_ids: dict[int, str] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trial-runs")
        self._pending: list[Future] = []
        self._quieted = MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name not in os.environ
        if self._quieted:
            os.environ[MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name] = "true"

    def __call__(self, result: TrialResult) -> None:
        """Queue the child run of ``result`` for writing."""
        self._pending.append(self._writer.submit(self._record, result))

    def flush(self) -> None:
        """Wait until every queued trial is written; re-raise the first write error."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending if f.exception() is not None]
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Flush, then stop the writer thread (and print run links again)."""
        try:
            self.flush()
        finally:
            self._writer.shutdown(wait=True)
            if self._quieted:
                os.environ.pop(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name, None)
                self._quieted = False

    def __enter__(self) -> "TrialRunLogger":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the search already failed: do not mask its error with a write error
            self.close()
        except Exception as exc:  # noqa: BLE001
            _log.warning("tune: recording trial runs failed too: %s", exc)

    def _record(self, result: TrialResult) -> None:
        """Create the child run of ``result``, fill it and end it FINISHED or FAILED."""
        tags = {**self._inherited,
                MLFLOW_PARENT_RUN_ID: self._parent.info.run_id,
                MLFLOW_RUN_NAME: f"trial-{result.number + 1:03d}",
                ENTRY_POINT_TAG: TRIAL_ENTRY_POINT,
                "trial_number": str(result.number + 1)}  # counted from 1, as in the logs
        if not result.ok:
            tags[ERROR_TAG] = (result.error or "the trial failed")[:_MAX_TAG_CHARS]
        run = self._client.create_run(self._parent.info.experiment_id,
                                      start_time=result.start_time_ms or None, tags=tags)
        run_id = run.info.run_id
        params = [Param(name, str(value)[:_MAX_PARAM_CHARS])
                  for name, value in result.params.items()]
        stamp = result.end_time_ms or result.start_time_ms
        metrics = [Metric(name, float(value), stamp, 0)
                   for name, value in result.metrics.items()]
        if result.ok:
            metrics.append(Metric("loss", float(result.loss), stamp, 0))
        self._client.log_batch(run_id, metrics=metrics, params=params)
        if self._inputs:
            self._client.log_inputs(run_id, self._inputs)
        status = RunStatus.FINISHED if result.ok else RunStatus.FAILED
        self._client.set_terminated(run_id, RunStatus.to_string(status),
                                    end_time=result.end_time_ms or None)
        self.run_ids[result.number] = run_id
