"""The databricks-cluster target under workspace faults, against the workspace emulator.

- 429 (``Retry-After: 1``) and 503 storms on every endpoint a deployment calls: ``create``,
  ``get`` and ``predict`` succeed when each storm is shorter than the retry budget
  (``MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS``), and fail with one line within the budget (plus
  the CLI's start-up) when a storm outlasts it, leaving no job behind and no run going.
- A cluster that fails while a deployment's run executes on it: the run ends INTERNAL_ERROR with
  the cluster's message; ``create`` fails with that message and deletes its job, ``update``
  fails with it and puts the job's previous settings back.

``MLFLOW_DELTA_SOAK=1`` repeats the storms and the cluster failures
(``MLFLOW_DELTA_SOAK_REPEATS``, default 10).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deployment.conftest import MODEL_NAME, workspace  # noqa: F401  (module fixture)
from tests.reliability.soak import SOAK_REPEATS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BUDGET_S = 20  # retry budget of the successful storms
SHORT_BUDGET_S = 4  # retry budget of the storms that outlast it
CLUSTER_MESSAGE = "Spot instance reclaimed by the cloud provider"


def _cli(workspace, *args: str, budget: int = BUDGET_S, background: bool = False):
    """``mlflow deployments <args> -t databricks-cluster``: (CompletedProcess, wall seconds),
    or the running Popen with ``background``."""
    command = [str(Path(sys.executable).parent / "mlflow"), "deployments", *args,
               "-t", "databricks-cluster"]
    env = workspace.env(MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS=str(budget))
    if background:
        return subprocess.Popen(command, cwd=workspace.tmp, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=workspace.tmp, env=env, capture_output=True, text=True,
                            timeout=300)
    return result, time.monotonic() - started


_START_UP: list = []


def _cli_start_up(workspace) -> float:
    """Wall time of a fault-free ``mlflow deployments list`` (measured once)."""
    if not _START_UP:
        listed, seconds = _cli(workspace, "list")
        assert listed.returncode == 0, listed.stderr
        _START_UP.append(seconds)
    return _START_UP[0]


def _create_args(name: str, cluster: str, model_version: int = 1) -> list:
    return ["create", "--name", name, "-m", f"models:/{MODEL_NAME}/{model_version}",
            "-C", "input_table=/dbfs/data/features", "-C", f"output_table=/dbfs/data/{name}",
            "-C", f"cluster_id={cluster}", "-C", "registry_uri=databricks",
            "-C", "engine=pandas"]


def _error(stderr: str) -> str:
    """The error the CLI died with. ``mlflow deployments`` prints the traceback of any
    exception; the plugin's part is its last line, the one-line message of its error class."""
    last = [line for line in stderr.splitlines() if line.strip()][-1]
    prefix = "mlflow_delta_plugin.errors."
    assert last.startswith(prefix), stderr[-3000:]
    return last[len(prefix):]


def _job_names(workspace) -> list:
    return [job["settings"]["name"] for job in workspace.jobs()]


def _active_runs(workspace) -> list:
    return workspace.ws.call("GET", "/api/2.1/jobs/runs/list",
                             params={"active_only": "true"}).get("runs", [])


def _storm(workspace, paths: dict, status: int) -> None:
    for path, count in paths.items():
        workspace.ws.inject_fault(path, status=status, count=count)


@pytest.fixture
def cluster(workspace):
    """A running all-purpose cluster of its own."""
    return workspace.ws.create_cluster(f"faults-{os.urandom(3).hex()}")


DEPLOYED = "stormy"


def test_storms_shorter_than_the_budget_are_retried(workspace, cluster, tmp_path):
    """429 and 503 storms on each endpoint; the deployment stays for the update test."""
    ws = workspace.ws
    rows = tmp_path / "rows.json"
    rows.write_text('[{"id": 1, "x1": 1.0, "x2": 0.5}]')
    for attempt in range(SOAK_REPEATS):
        ws.clear_faults()
        ws.clear_request_log()
        _storm(workspace, {"jobs/list": 2, "jobs/run-now": 1, "/api/2.0/dbfs/get-status": 1},
               429)
        _storm(workspace, {"jobs/create": 1, "jobs/runs/get": 2}, 503)
        created, create_s = _cli(workspace, *_create_args(DEPLOYED, cluster))
        assert created.returncode == 0, created.stdout + created.stderr
        _storm(workspace, {"jobs/list": 1, "jobs/get": 1}, 503)
        _storm(workspace, {"jobs/runs/list": 1}, 429)
        got, _ = _cli(workspace, "get", "--name", DEPLOYED)
        assert got.returncode == 0 and "'result_state': 'SUCCESS'" in got.stdout, got.stderr
        _storm(workspace, {"jobs/runs/submit": 1}, 429)
        _storm(workspace, {"jobs/runs/get": 1}, 503)
        predicted, predict_s = _cli(workspace, "predict", "--name", DEPLOYED,
                                    "--input-path", str(rows))
        assert predicted.returncode == 0, predicted.stderr
        assert "1.5" in predicted.stdout  # 2*x1 - x2 of version 1
        assert ws.armed_faults() == []  # every fault of the storms was answered and survived
        failed = sum(1 for r in ws.request_log() if r["status"] in (429, 503))
        assert failed == 12, failed
        assert _job_names(workspace).count(DEPLOYED) == 1
        print(f"storms: {failed} faults (429/503) survived; create {create_s:.1f} s, "
              f"predict {predict_s:.1f} s")
        if attempt < SOAK_REPEATS - 1:
            assert _cli(workspace, "delete", "--name", DEPLOYED)[0].returncode == 0


@pytest.mark.parametrize("status,path", [(429, "jobs/list"), (503, "jobs/runs/get")])
def test_storms_longer_than_the_budget_fail_in_bounded_time(workspace, cluster, status, path):
    ws = workspace.ws
    baseline_s = _cli_start_up(workspace)
    for attempt in range(SOAK_REPEATS):
        name = f"long-storm-{status}-{attempt}"
        ws.clear_faults()
        ws.inject_fault(path, status=status, count=100_000)
        result, wall_s = _cli(workspace, *_create_args(name, cluster), budget=SHORT_BUDGET_S)
        ws.clear_faults()
        assert result.returncode != 0
        error = _error(result.stderr)
        assert error.startswith("WorkspaceCallError: Databricks could not ")
        assert f"still failing after {SHORT_BUDGET_S} s of retries" in error, error
        assert "MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS" in error
        # bounded: the CLI's own start-up, the budget, one back-off sleep (<= 2 s) and, for a
        # storm on runs/get, the work before the wait (staging, job creation, a cancel call)
        assert wall_s < baseline_s + SHORT_BUDGET_S + 12, (wall_s, baseline_s)
        assert name not in _job_names(workspace), "the failed create left its job"
        assert not [r for r in _active_runs(workspace)
                    if r.get("run_name") == name], "a run of the failed create goes on"
        print(f"storm of {status} on {path}: failed after {wall_s:.1f} s "
              f"(list without faults: {baseline_s:.1f} s)")


def _terminate_when_running(workspace, cluster: str, process: subprocess.Popen) -> dict:
    """Wait until a run executes on ``cluster``, then make the cluster fail; returns the run."""
    ws = workspace.ws
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for run in _active_runs(workspace):
            full = ws.get_run(run["run_id"])
            task = full["tasks"][0]
            if task.get("cluster_instance", {}).get("cluster_id") == cluster and \
                    task["state"]["life_cycle_state"] == "RUNNING":
                ws.terminate_cluster(cluster, code="SPOT_INSTANCE_TERMINATION",
                                     type_="CLOUD_FAILURE", message=CLUSTER_MESSAGE)
                return full
        time.sleep(0.1)
    raise AssertionError(f"no run started on {cluster}: {process.communicate()}")


def _check_failed_run(workspace, run: dict, cluster: str) -> None:
    ended = workspace.ws.wait_for_run(run["run_id"], timeout=60)
    assert ended["state"]["life_cycle_state"] == "INTERNAL_ERROR"
    assert ended["state"]["result_state"] == "FAILED"
    assert CLUSTER_MESSAGE in ended["state"]["state_message"]
    assert ended["status"]["termination_details"]["code"] == "CLUSTER_ERROR"
    details = workspace.ws.call("GET", "/api/2.1/clusters/get", params={"cluster_id": cluster})
    assert details["state"] == "TERMINATED" and details["state_message"] == CLUSTER_MESSAGE
    assert details["termination_reason"] == {"code": "SPOT_INSTANCE_TERMINATION",
                                             "type": "CLOUD_FAILURE"}


def test_cluster_failing_mid_run_fails_create_and_leaves_no_job(workspace, cluster):
    for attempt in range(SOAK_REPEATS):
        name = f"lost-cluster-create-{attempt}"
        process = _cli(workspace, *_create_args(name, cluster), background=True)
        run = _terminate_when_running(workspace, cluster, process)
        _, stderr = process.communicate(timeout=240)
        assert process.returncode != 0
        error = _error(stderr)
        assert error.startswith(f"DeploymentRunError: deployment '{name}' failed its first run")
        assert f"Cluster {cluster} was terminated. Reason: SPOT_INSTANCE_TERMINATION" in error
        assert CLUSTER_MESSAGE in error and "run page: http" in error
        _check_failed_run(workspace, run, cluster)
        assert name not in _job_names(workspace)


def test_cluster_failing_mid_run_fails_update_and_keeps_the_previous_job(workspace):
    """Updates the deployment the storm test left, on that test's cluster."""
    ws = workspace.ws
    name = DEPLOYED
    [job] = [j for j in workspace.jobs() if j["settings"]["name"] == name]
    before = ws.call("GET", "/api/2.1/jobs/get", params={"job_id": job["job_id"]})["settings"]
    cluster = before["tasks"][0]["existing_cluster_id"]
    for _ in range(SOAK_REPEATS):
        process = _cli(workspace, "update", "--name", name, "-m", f"models:/{MODEL_NAME}/2",
                       background=True)
        run = _terminate_when_running(workspace, cluster, process)
        _, stderr = process.communicate(timeout=240)
        assert process.returncode != 0
        error = _error(stderr)
        assert error.startswith(f"DeploymentRunError: update of deployment '{name}' failed; "
                                "previous settings restored")
        assert CLUSTER_MESSAGE in error
        _check_failed_run(workspace, run, cluster)
        after = ws.call("GET", "/api/2.1/jobs/get", params={"job_id": job["job_id"]})["settings"]
        assert after == before
    assert _job_names(workspace).count(name) == 1
    assert _cli(workspace, "delete", "--name", name)[0].returncode == 0

