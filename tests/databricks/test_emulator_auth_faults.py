"""Bearer-token auth and injected faults (429, 5xx, time-outs) on the workspace emulator, and how
databricks-sdk and MLflow's Databricks clients live with them."""

from __future__ import annotations

import mlflow
import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied
from mlflow.exceptions import MlflowException
from mlflow.projects.databricks import DatabricksJobRunner

from tests.databricks.helpers import databricks_tracking


def test_missing_token_is_401_and_wrong_token_is_403_like_the_service(emulator):
    url = f"{emulator.host}/api/2.0/clusters/list"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHENTICATED"
    wrong = requests.get(url, headers={"Authorization": "Bearer dapi-wrong"}, timeout=10)
    assert wrong.status_code == 403
    assert wrong.json() == {"error_code": 403, "message": "Invalid access token."}
    assert wrong.headers["X-Databricks-Reason-Phrase"] == "Invalid access token."
    basic = requests.get(url, auth=("user", emulator.token), timeout=10)
    assert basic.status_code == 401
    for path in ("/dbfs/x", "/api/2.0/fs/files/Volumes/a/b/c/d", "/api/2.0/mlflow/experiments/search",
                 "/__emulator/faults"):
        assert requests.get(f"{emulator.host}{path}", timeout=10).status_code == 401, path


def test_host_metadata_is_public_and_signed_urls_need_a_valid_signature(emulator):
    metadata = requests.get(f"{emulator.host}/.well-known/databricks-config", timeout=10).json()
    assert metadata["workspace_id"] == "1234567890123456"
    forged = requests.put(f"{emulator.host}/__signed/eyJwIjogImRiZnMvZXZpbCJ9.00", data=b"x", timeout=10)
    assert forged.status_code == 403


def test_clients_raise_permission_errors_for_a_wrong_token(emulator, tmp_path, monkeypatch):
    with pytest.raises(PermissionDenied, match="Invalid access token"):
        list(WorkspaceClient(host=emulator.host, token="dapi-wrong", auth_type="pat").clusters.list())
    with databricks_tracking(emulator, tmp_path, monkeypatch, DATABRICKS_TOKEN="dapi-wrong") as client:
        with pytest.raises(MlflowException, match="Invalid access token"):
            client.search_experiments()


def test_fault_answers_the_next_n_calls_then_disarms(emulator):
    emulator.inject_fault("jobs/runs/list", status=500, count=2)
    statuses = [emulator.request("GET", "/api/2.1/jobs/runs/list").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert emulator.armed_faults() == []
    emulator.inject_fault("/api/2.0/dbfs/mkdirs", status=503, method="POST")
    assert emulator.request("GET", "/api/2.0/dbfs/list", params={"path": "/"}).status_code == 200
    unavailable = emulator.request("POST", "/api/2.0/dbfs/mkdirs", json={"path": "/x"})
    assert unavailable.status_code == 503
    assert unavailable.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_sdk_rides_out_rate_limiting(emulator, sdk):
    emulator.inject_fault("jobs/list", status=429, count=2)
    emulator.clear_request_log()
    assert list(sdk.jobs.list()) == []
    statuses = [r["status"] for r in emulator.request_log() if r["path"].endswith("/jobs/list")]
    assert statuses == [429, 429, 200]


def test_timeout_fault_holds_the_call_past_the_client_timeout(emulator):
    emulator.inject_fault("clusters/list", timeout_seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        emulator.request("GET", "/api/2.1/clusters/list", timeout=1)
    assert emulator.request("GET", "/api/2.1/clusters/list").status_code == 200


def test_mlflow_clients_retry_transient_errors(emulator, tmp_path, monkeypatch):
    with databricks_tracking(emulator, tmp_path, monkeypatch,
                             MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0") as client:
        emulator.inject_fault("mlflow/experiments/create", status=500, count=2)
        experiment_id = client.create_experiment("/Users/emulator-user@example.com/retried")
        assert client.get_experiment(experiment_id).name.endswith("/retried")

        emulator.inject_fault("jobs/runs/submit", status=503, count=1)
        emulator.inject_fault("jobs/runs/get", status=429, count=1)
        runner = DatabricksJobRunner(databricks_profile_uri=mlflow.get_tracking_uri())
        run_id = runner._run_shell_command_job(
            "demo", ["bash", "-c", "echo hi"], {"X": "1"},
            {"new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
                             "num_workers": 0}})
        assert runner.jobs_runs_get(run_id)["run_id"] == run_id
        assert emulator.wait_for_run(run_id)["state"]["result_state"] == "SUCCESS"
    log = [(r["path"], r["status"]) for r in emulator.request_log()]
    assert ("/api/2.0/jobs/runs/submit", 503) in log and ("/api/2.0/jobs/runs/submit", 200) in log
    assert ("/api/2.0/mlflow/experiments/create", 500) in log
