"""run_records: a finished run written in one go, and completed exactly once after a crash."""

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

from mlflow_delta_plugin.tracking.run_records import RunRecord, complete_run, find_run, write_run

PARENT = "mlflow.parentRunId"


def _record(experiment_id: str, parent: str, number: int = 1, status: str = "FINISHED") -> RunRecord:
    dataset = Dataset(name="features", digest="abc123", source_type="delta",
                      source='{"uri": "/tmp/features", "version": 0}')
    return RunRecord(experiment_id=experiment_id,
                     tags={PARENT: parent, "trial_number": str(number),
                           "mlflow.runName": f"trial-{number:03d}"},
                     identity=(PARENT, "trial_number"), params={"C": "0.5"},
                     metrics={"val_auc": 0.9, "loss": -0.9},
                     inputs=(DatasetInput(dataset, [InputTag("mlflow.data.context", "training")]),),
                     status=status, start_time_ms=1_000, end_time_ms=2_000)


@pytest.fixture
def parent(mlflow_env) -> str:
    with mlflow.start_run() as run:
        pass
    return run.info.run_id


def _assert_whole(run_id: str, status: str = "FINISHED") -> None:
    run = MlflowClient().get_run(run_id)
    history = MlflowClient().get_metric_history(run_id, "loss")
    assert run.info.status == status
    assert (run.info.start_time, run.info.end_time) == (1_000, 2_000)
    assert run.data.params == {"C": "0.5"}
    assert run.data.metrics == {"val_auc": 0.9, "loss": -0.9}
    assert len(history) == 1 and history[0].timestamp == 2_000
    assert [i.dataset.digest for i in run.inputs.dataset_inputs] == ["abc123"]


def test_write_run_writes_tags_params_metrics_input_and_end_state(parent, mlflow_env):
    record = _record(mlflow_env["MLFLOW_EXPERIMENT_ID"], parent, status="FAILED")
    run_id = write_run(MlflowClient(), record)
    _assert_whole(run_id, "FAILED")
    assert MlflowClient().get_run(run_id).info.run_name == "trial-001"
    assert find_run(MlflowClient(), record) == run_id


def test_complete_run_writes_a_record_nobody_started(parent, mlflow_env):
    record = _record(mlflow_env["MLFLOW_EXPERIMENT_ID"], parent)
    assert find_run(MlflowClient(), record) is None
    _assert_whole(complete_run(MlflowClient(), record))


@pytest.mark.parametrize("written", ["created", "params", "batch", "batch+inputs"])
def test_complete_run_adds_only_what_a_dead_writer_left_out(parent, mlflow_env, written):
    client = MlflowClient()
    record = _record(mlflow_env["MLFLOW_EXPERIMENT_ID"], parent)
    run_id = client.create_run(record.experiment_id, start_time=1_000,
                               tags=dict(record.tags)).info.run_id
    if "params" in written:  # the SQL store commits a batch's params before its metrics
        client.log_batch(run_id, params=[Param(k, v) for k, v in record.params.items()])
    if "batch" in written:  # what write_run logs in its second call
        client.log_batch(run_id, metrics=[Metric(k, v, 2_000, 0) for k, v in record.metrics.items()],
                         params=[Param(k, v) for k, v in record.params.items()])
    if "inputs" in written:
        client.log_inputs(run_id, list(record.inputs))
    assert complete_run(client, record) == run_id
    _assert_whole(run_id)
    other = _record(record.experiment_id, parent, number=2)
    assert complete_run(client, other) != run_id  # another trial is another run


def test_complete_run_leaves_an_ended_run_alone(parent, mlflow_env):
    client = MlflowClient()
    record = _record(mlflow_env["MLFLOW_EXPERIMENT_ID"], parent)
    run_id = write_run(client, record)
    assert complete_run(client, record) == run_id
    _assert_whole(run_id)
    assert len(client.search_runs([record.experiment_id], f"tags.{PARENT} = '{parent}'")) == 1


@pytest.mark.parametrize("change, message", [
    ({"identity": ()}, "identity"),
    ({"identity": ("missing",)}, "missing"),
    ({"tags": {PARENT: "it's", "trial_number": "1"}}, "quoted"),
    ({"status": "RUNNING"}, "not an end state"),
])
def test_a_record_that_could_not_be_found_again_or_is_not_finished_is_refused(change, message):
    fields = {"experiment_id": "0", "tags": {PARENT: "p", "trial_number": "1"},
              "identity": (PARENT, "trial_number"), **change}
    with pytest.raises(ValueError, match=message):
        RunRecord(**fields)
