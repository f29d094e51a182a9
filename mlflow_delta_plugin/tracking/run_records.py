"""Finished MLflow runs written in one go, and completed exactly once after a crash.

A :class:`RunRecord` describes a run that has already happened (a tuning trial): its tags,
parameters, metrics, dataset inputs, end state and time span. :func:`write_run` writes it with
MLflow's client in four calls (create_run, log_batch, log_inputs, set_terminated).

When a writer dies part-way, :func:`complete_run` finds the run it may have created by the record's
identity tags (for a trial: its parent run and trial number) and writes only what is missing, so a
record is never written twice, whoever finishes it.
"""

import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, ViewType

__all__ = ["RunRecord", "complete_run", "find_run", "write_run"]

_ENDED = {RunStatus.to_string(s) for s in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)}


@dataclass(frozen=True)
class RunRecord:
    """A run to write, complete: created, filled and ended in one go.

    Attributes:
        experiment_id: where the run goes.
        tags: every tag of the run (parent link and run name included).
        identity: names of tags in ``tags`` whose values single this run out in its experiment
            (e.g. the parent run id and the trial number); used to find a half-written run.
        params, metrics: logged in one batch; metrics at step 0, stamped with ``end_time_ms``.
        inputs: dataset inputs (MLflow ``DatasetInput`` entities).
        status: ``FINISHED`` or ``FAILED`` (MLflow run status names).
        start_time_ms, end_time_ms: the run's span, milliseconds since the epoch (None: now).
    """

    experiment_id: str
    tags: Mapping[str, str]
    identity: tuple
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    inputs: tuple = ()
    status: str = "FINISHED"
    start_time_ms: Optional[int] = None
    end_time_ms: Optional[int] = None

    def __post_init__(self) -> None:
        missing = [name for name in self.identity if name not in self.tags]
        quoted = [name for name in self.identity if "'" in str(self.tags.get(name, ""))]
        if not self.identity or missing or quoted:
            raise ValueError(f"identity {self.identity!r} must name tags of the record "
                             f"without quotes in their values (missing {missing}, quoted {quoted})")
        if self.status not in _ENDED:
            raise ValueError(f"status {self.status!r} is not an end state; use one of {_ENDED}")


def _log_batch(client: MlflowClient, run_id: str, record: RunRecord,
               params: Mapping[str, str], metrics: Mapping[str, float]) -> None:
    stamp = record.end_time_ms or record.start_time_ms or int(time.time() * 1000)
    client.log_batch(run_id,
                     metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                     params=[Param(k, str(v)) for k, v in params.items()])


def _end(client: MlflowClient, run_id: str, record: RunRecord) -> None:
    client.set_terminated(run_id, record.status, end_time=record.end_time_ms)


def write_run(client: MlflowClient, record: RunRecord) -> str:
    """Create, fill and end the run ``record`` describes; returns its run id."""
    run = client.create_run(record.experiment_id, start_time=record.start_time_ms,
                            tags=dict(record.tags))
    run_id = run.info.run_id
    if record.params or record.metrics:
        _log_batch(client, run_id, record, record.params, record.metrics)
    if record.inputs:
        client.log_inputs(run_id, list(record.inputs))
    _end(client, run_id, record)
    return run_id


def find_run(client: MlflowClient, record: RunRecord) -> Optional[str]:
    """The id of the run already created for ``record`` (by its identity tags), if any."""
    where = " AND ".join(f"tags.`{name}` = '{record.tags[name]}'" for name in record.identity)
    found = client.search_runs([record.experiment_id], where, run_view_type=ViewType.ALL,
                               max_results=1)
    return found[0].info.run_id if found else None


def complete_run(client: MlflowClient, record: RunRecord) -> str:
    """Make sure the run of ``record`` exists and is complete; returns its run id.

    A run found by the identity tags gets only what it lacks: the params and metrics it does not
    have yet (MLflow's SQL store commits a batch's params and its metrics separately, so a dead
    writer can leave either without the other), its inputs (one transaction), its end state.
    Without such a run, the record is written anew.
    """
    run_id = find_run(client, record)
    if run_id is None:
        return write_run(client, record)
    run = client.get_run(run_id)
    if run.info.status in _ENDED:  # ended last: everything before it was written
        return run_id
    params = {k: v for k, v in record.params.items() if k not in run.data.params}
    metrics = {k: v for k, v in record.metrics.items() if k not in run.data.metrics}
    if params or metrics:
        _log_batch(client, run_id, record, params, metrics)
    if record.inputs and not run.inputs.dataset_inputs:
        client.log_inputs(run_id, list(record.inputs))
    _end(client, run_id, record)
    return run_id
