"""Recording trials as MLflow child runs of the tuning run.

Trials may run in worker processes or Spark tasks; their results come back to the process that
owns the parent run, which records each as a child run (tag ``mlflow.parentRunId``) with the
trial's hyperparameters, validation metrics, dataset input, status and wall-clock span. Workers
need no tracking credentials. The runs are written by a
:class:`~mlflow_delta_plugin.tracking.run_writer.RunWriter`: in a spawned writer process once it is up,
so the next trial does not wait for them nor share the GIL with them;
:meth:`TrialRunLogger.flush` waits for all and re-raises the first error. A trial's run is found
again by its parent and ``trial_number`` tags, so a trial is recorded once even when the writer
dies part-way.

Against a tracking server (REST, Databricks), MLflow prints two "View run ... at" lines and
fetches the run again each time a run ends; for trial runs the logger turns that off while it
is open (``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``, unless the user set it), so a 100-trial
search prints progress lines instead of 200 links. The tuning run's own link still prints.
"""

import logging
import os
from typing import Optional

from mlflow.entities import DatasetInput, InputTag, Run, RunStatus
from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from mlflow_delta_plugin.tracking.run_records import RunRecord
from mlflow_delta_plugin.tracking.run_writer import RunWriter
from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG, ERROR_TAG
from mlflow_delta_plugin.tuning.base import TrialResult

__all__ = ["TRIAL_ENTRY_POINT", "TRIAL_NUMBER_TAG", "TrialRunLogger"]

TRIAL_ENTRY_POINT = "tune.trial"
"""Value of the entry-point tag on trial runs."""

TRIAL_NUMBER_TAG = "trial_number"
"""Tag with the trial's number, counted from 1; with the parent run it identifies a trial's run."""

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
        writer: ``process`` or ``thread`` (default: chosen by
            :func:`~mlflow_delta_plugin.tracking.run_writer.writer_mode` for serial trials).
    """

    def __init__(self, parent: Run, dataset: Optional[object] = None,
                 context: str = "training", writer: Optional[str] = None) -> None:
        self._parent = parent
        self._inputs: tuple = ()
        if dataset is not None:
            entity = dataset._to_mlflow_entity()  # computed once: digest, schema, profile
            self._inputs = (DatasetInput(entity, [InputTag(MLFLOW_DATASET_CONTEXT, context)]),)
        parent_tags = parent.data.tags
        self._inherited = {k: parent_tags[k] for k in _INHERITED_TAGS if k in parent_tags}
        # Quiet before the writer process starts: it inherits the setting.
        self._quieted = MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name not in os.environ
        if self._quieted:
            os.environ[MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name] = "true"
        self._writer = RunWriter(parent.info.experiment_id, mode=writer)

    @property
    def run_ids(self) -> dict:
        """Trial number -> child run id (complete after :meth:`flush`)."""
        return self._writer.run_ids

    @property
    def process_writes(self) -> int:
        """How many trial runs the writer process wrote (the rest were written in this one)."""
        return self._writer.process_writes

    def __call__(self, result: TrialResult) -> None:
        """Queue the child run of ``result`` for writing."""
        self._writer.submit(result.number, self.record(result))

    def flush(self) -> None:
        """Wait until every queued trial is written; re-raise the first write error."""
        self._writer.flush()

    def close(self) -> None:
        """Flush, then stop the writer (and print run links again)."""
        try:
            self._writer.close()
        finally:
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

    def record(self, result: TrialResult) -> RunRecord:
        """The child run of ``result``: tags, params, metrics, input, end state and span."""
        tags = {**self._inherited,
                MLFLOW_PARENT_RUN_ID: self._parent.info.run_id,
                MLFLOW_RUN_NAME: f"trial-{result.number + 1:03d}",
                ENTRY_POINT_TAG: TRIAL_ENTRY_POINT,
                TRIAL_NUMBER_TAG: str(result.number + 1)}  # counted from 1, as in the logs
        if not result.ok:
            tags[ERROR_TAG] = (result.error or "the trial failed")[:_MAX_TAG_CHARS]
        metrics = {name: float(value) for name, value in result.metrics.items()}
        if result.ok:
            metrics["loss"] = float(result.loss)
        status = RunStatus.FINISHED if result.ok else RunStatus.FAILED
        return RunRecord(
            experiment_id=self._parent.info.experiment_id, tags=tags,
            identity=(MLFLOW_PARENT_RUN_ID, TRIAL_NUMBER_TAG),
            params={name: str(value)[:_MAX_PARAM_CHARS] for name, value in result.params.items()},
            metrics=metrics, inputs=self._inputs, status=RunStatus.to_string(status),
            start_time_ms=result.start_time_ms or None,
            end_time_ms=result.end_time_ms or result.start_time_ms or None)
