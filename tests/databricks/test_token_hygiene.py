"""The Databricks token never lands in what a remote run leaves behind.

After ``mlflow run . -b databricks`` (and whatever else ran against the session's workspace),
the token must not be in MLflow params, tags, metrics, datasets or artifacts, in job or
cluster specs, in run output, in any file the emulator stores (its DBFS, the uploaded project,
the tracking database, driver sandboxes, its own log) or in what the client printed.
"""

from __future__ import annotations

import base64
import json

import pytest

pytestmark = pytest.mark.slow


def _forms(token: str) -> list[bytes]:
    raw = token.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()]


def _leaks(token: str, data: bytes) -> bool:
    return any(form in data for form in _forms(token))


def test_token_is_not_in_any_stored_file(trained_remote_run, remote_ws):
    files = [p for p in remote_ws.root.rglob("*") if p.is_file()]
    assert any(p.name == "mlflow.db" for p in files)
    assert any(p.name == "MLmodel" for p in files)
    assert any(p.suffix == ".gz" for p in files)  # the uploaded project
    leaking = [str(p.relative_to(remote_ws.root)) for p in files
               if _leaks(remote_ws.token, p.read_bytes())]
    assert leaking == []


def test_token_is_not_in_what_the_apis_return(trained_remote_run, remote_ws):
    answers = []
    runs = remote_ws.call("GET", "/api/2.1/jobs/runs/list",
                          params={"expand_tasks": "true", "limit": 25}).get("runs", [])
    assert runs
    for run in runs:
        answers.append(remote_ws.get_run(run["run_id"]))
        for task in run["tasks"]:
            answers.append(remote_ws.call("GET", "/api/2.1/jobs/runs/get-output",
                                          params={"run_id": task["run_id"]}))
    for job in remote_ws.call("GET", "/api/2.1/jobs/list").get("jobs", []):
        answers.append(remote_ws.call("GET", "/api/2.1/jobs/get", params={"job_id": job["job_id"]}))
    answers.append(remote_ws.call("GET", "/api/2.1/clusters/list"))

    experiments = remote_ws.call("POST", "/api/2.0/mlflow/experiments/search",
                                 json={"max_results": 1000})["experiments"]
    ids = [e["experiment_id"] for e in experiments]
    answers.append(experiments)
    answers.append(remote_ws.call("POST", "/api/2.0/mlflow/runs/search",
                                  json={"experiment_ids": ids, "max_results": 1000}))
    answers.append(remote_ws.call("POST", "/api/2.0/mlflow/logged-models/search",
                                  json={"experiment_ids": ids}))
    text = json.dumps(answers).encode()
    assert b"mlflow.databricks.shellJobRunID" in text  # the remote run is in there
    assert not _leaks(remote_ws.token, text)


def test_token_is_not_in_what_the_client_printed(trained_remote_run, remote_ws):
    assert "Launched MLflow run as Databricks job run" in trained_remote_run.output
    assert not _leaks(remote_ws.token, trained_remote_run.output.encode())
