"""``mlflow run . -b databricks`` end to end against the workspace emulator.

The client tars the project, uploads it to DBFS and submits a ``shell_command_task``; the
emulator runs ``mlflow run /databricks/mlflow/projects/<sha> -e train --env-manager local`` on
an emulated job cluster, which trains on the Delta table and logs to the emulator's MLflow
through ``MLFLOW_TRACKING_URI=databricks``.
"""

from __future__ import annotations

import json
import time

import mlflow
import pytest
from mlflow.entities import RunStatus
from mlflow.version import VERSION

from tests.databricks.helpers import EXPERIMENT, experiment_id, mlflow_run_cli
from tests.databricks.helpers import databricks_tracking as databricks_tracking_on

pytestmark = pytest.mark.slow


@pytest.fixture
def databricks_tracking(remote_ws, monkeypatch, tmp_path):
    """This process's MLflow client pointed at the remote-run workspace."""
    with databricks_tracking_on(remote_ws, tmp_path, monkeypatch) as client:
        yield client


def test_cli_train_submits_runs_and_finishes(trained_remote_run, remote_ws):
    assert trained_remote_run.returncode == 0, trained_remote_run.output
    run = remote_ws.get_run(trained_remote_run.databricks_run_id)
    assert run["state"]["life_cycle_state"] == "TERMINATED"
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["run_page_url"].startswith(remote_ws.host)
    task = run["tasks"][0]
    assert task["shell_command_task"]["env_vars"]["MLFLOW_TRACKING_URI"] == "databricks"
    assert task["libraries"] == [{"pypi": {"package": f"mlflow=={VERSION}"}}]
    assert task["new_cluster"]["spark_version"].startswith("15.4")

    requests = remote_ws.request_log()
    uploads = [r for r in requests if r["method"] == "POST" and r["path"].startswith(
        "/dbfs/mlflow-experiments/") and r["path"].endswith(".tar.gz")]
    assert uploads and uploads[0]["status"] == 200
    assert any(r["path"] == "/api/2.0/jobs/runs/submit" and r["status"] == 200 for r in requests)


def test_remote_mlflow_run_has_metrics_params_and_the_delta_input(
        trained_remote_run, remote_ws, remote_table, databricks_tracking):
    run = databricks_tracking.get_run(trained_remote_run.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith("dbfs:/databricks/mlflow-tracking/")
    assert run.data.params["table"] == remote_table
    assert run.data.params["delta_version"] == "0"
    assert run.data.params["model_type"] == "linear"
    assert run.data.metrics["test_roc_auc"] > 0.9
    tags = run.data.tags
    assert tags["mlflow.databricks.shellJobRunID"] == str(trained_remote_run.databricks_run_id)
    assert tags["mlflow.databricks.webappURL"] == remote_ws.host

    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.source_type == "delta_version"
    source = json.loads(dataset_input.dataset.source)
    assert source["uri"] == remote_table and source["version"] == 0
    rows = mlflow.data.get_source(dataset_input).load()
    assert len(rows) == 569


def test_remote_model_artifacts_are_readable_through_the_workspace(
        trained_remote_run, remote_ws, databricks_tracking):
    run = databricks_tracking.get_run(trained_remote_run.mlflow_run_id)
    (output,) = run.outputs.model_outputs
    model = databricks_tracking.get_logged_model(output.model_id)
    assert model.artifact_location == (f"dbfs:/databricks/mlflow-tracking/"
                                       f"{run.info.experiment_id}/logged_models/{model.model_id}/artifacts")
    stored = (remote_ws.root / "files" / "WorkspaceInternal" / "Mlflow" / "Artifacts"
              / run.info.experiment_id / "LoggedModels" / model.model_id / "artifacts" / "MLmodel")
    assert stored.is_file()

    rows = mlflow.data.get_source(run.inputs.dataset_inputs[0]).load()
    features = rows.drop(columns=[c for c in ("malignant", "split") if c in rows.columns])
    predictions = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(features.head(5))
    assert len(predictions) == 5


def test_failing_entry_point_fails_the_job_run_and_the_mlflow_run(
        remote_ws, remote_project, cluster_config, tmp_path, databricks_tracking):
    missing = tmp_path / "no-such-table"
    remote_ws.clear_request_log()
    failed = mlflow_run_cli(remote_ws, remote_project, cluster_config, tmp_path,
                            "-e", "train", "-P", f"table={missing}")

    run = remote_ws.get_run(failed.databricks_run_id)
    assert run["state"]["result_state"] == "FAILED"
    assert "failed with message: Workload failed" in run["state"]["state_message"]
    output = remote_ws.call("GET", "/api/2.1/jobs/runs/get-output",
                            params={"run_id": failed.databricks_run_id})
    assert str(missing) in output["logs"]  # the entry point's one-line error
    assert output["error"] and "exit code" in output["error"]
    assert databricks_tracking.get_run(failed.mlflow_run_id).info.status == "FAILED"
    # Same project, same tarball: found by get-status, not uploaded again.
    assert not [r for r in remote_ws.request_log()
                if r["method"] == "POST" and r["path"].startswith("/dbfs/")]


def test_synchronous_python_api_waits_for_the_remote_run(
        remote_ws, remote_project, remote_table, cluster_config, databricks_tracking):
    # DatabricksSubmittedRun polls every 30 s (no setting changes that): one poll, ~40 s.
    started = time.monotonic()
    submitted = mlflow.projects.run(
        str(remote_project), entry_point="train", backend="databricks",
        backend_config=str(cluster_config), parameters={"table": remote_table, "seed": "7"},
        experiment_name=EXPERIMENT, env_manager="local", synchronous=True)
    assert submitted.get_status() == "FINISHED"
    run = databricks_tracking.get_run(submitted.run_id)
    assert RunStatus.from_string(run.info.status) == RunStatus.FINISHED
    assert run.info.experiment_id == experiment_id(remote_ws)
    assert run.data.params["seed"] == "7"
    assert time.monotonic() - started < 180


def test_remote_tune_records_every_trial_through_the_workspace(
        remote_ws, remote_project, remote_table, cluster_config, tmp_path, databricks_tracking):
    # 30 trials of about 0.1 s outlast the trial-run writer's start (about 2 s), so the writer
    # process writes some, reaching the workspace with the credentials the job gave the driver.
    tuned = mlflow_run_cli(remote_ws, remote_project, cluster_config, tmp_path, "-e", "tune",
                           "-P", f"table={remote_table}", "-P", "model_type=gradient_boosting",
                           "-P", "max_evals=30")
    assert tuned.returncode == 0, tuned.output
    parent = databricks_tracking.get_run(tuned.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    trials = databricks_tracking.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
        max_results=100)
    assert sorted(int(t.data.tags["trial_number"]) for t in trials) == list(range(1, 31))
    assert all(t.info.status == "FINISHED" and t.inputs.dataset_inputs for t in trials)
    assert parent.data.tags["best_run_id"] in {t.info.run_id for t in trials}
    logs = remote_ws.call("GET", "/api/2.1/jobs/runs/get-output",
                          params={"run_id": tuned.databricks_run_id})["logs"]
    assert "writing runs in this process" not in logs  # the writer process did not fail
    assert parent.data.metrics["trial_runs_by_writer_process"] > 0
