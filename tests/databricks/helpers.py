"""Helpers of the workspace-emulator tests: client environments and ``mlflow run -b databricks``."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlflow

from tests.databricks_emulator import WorkspaceEmulator

EXPERIMENT = "/Users/emulator-user@example.com/remote-runs"


def new_token() -> str:
    """A token shaped like a Databricks personal access token."""
    return f"dapi{secrets.token_hex(16)}"


def clean_env(ws: WorkspaceEmulator, tmp: Path, **extra: str) -> dict:
    """The environment of a client process talking to ``ws`` with tracking URI ``databricks``:
    no MLFLOW_*/DATABRICKS_* variable of this process, no ~/.databrickscfg."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "_MLFLOW", "DATABRICKS_"))}
    env.update(ws.env())
    env.update({"MLFLOW_TRACKING_URI": "databricks",
                "DATABRICKS_CONFIG_FILE": str(tmp / "no-databrickscfg"),
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])})
    env.update(extra)
    return env


@dataclass
class RemoteRun:
    """A finished ``mlflow run -b databricks`` and what its client printed."""

    databricks_run_id: int
    mlflow_run_id: str
    returncode: int
    output: str


def mlflow_run_cli(ws: WorkspaceEmulator, project: Path, config: Path, tmp: Path,
                   *args: str) -> RemoteRun:
    """Run ``mlflow run <project> -b databricks ... --env-manager local``, wait for the job run."""
    command = [str(Path(sys.executable).parent / "mlflow"), "run", str(project),
               "-b", "databricks", "--backend-config", str(config), "--env-manager", "local",
               "--experiment-name", EXPERIMENT, *args]
    result = subprocess.run(command, cwd=tmp, env=clean_env(ws, tmp), capture_output=True,
                            text=True, timeout=300)
    output = result.stdout + result.stderr
    launched = re.search(r"Databricks job run with ID (\d+)", output)
    assert launched, output
    mlflow_run = re.search(r"/runs/([0-9a-f]{32})|run with ID '([0-9a-f]{32})'", output)
    run_id = int(launched.group(1))
    ws.wait_for_run(run_id, timeout=300)
    tags = ws.call("POST", "/api/2.0/mlflow/runs/search", json={
        "experiment_ids": [experiment_id(ws)],
        "filter": f"tags.`mlflow.databricks.shellJobRunID` = '{run_id}'"})
    found = tags["runs"][0]["info"]["run_id"] if tags.get("runs") else (
        mlflow_run.group(1) or mlflow_run.group(2) if mlflow_run else "")
    return RemoteRun(run_id, found, result.returncode, output)


def experiment_id(ws: WorkspaceEmulator) -> str:
    """The id of the remote-run experiment in ``ws``."""
    return ws.call("GET", "/api/2.0/mlflow/experiments/get-by-name",
                   params={"experiment_name": EXPERIMENT})["experiment"]["experiment_id"]


@contextmanager
def databricks_tracking(ws: WorkspaceEmulator, tmp: Path, monkeypatch,
                        **extra: str) -> Iterator[mlflow.MlflowClient]:
    """This process's MLflow client on ``ws`` (tracking URI ``databricks``) for a test; the
    environment (through ``monkeypatch``), the previous tracking URI and active experiment are
    restored after, so later tests in the session keep their own store."""
    from mlflow.tracking import fluent

    previous = mlflow.get_tracking_uri()
    previous_experiment = fluent._active_experiment_id
    for name in list(os.environ):
        if name.startswith(("MLFLOW_", "_MLFLOW", "DATABRICKS_")):
            monkeypatch.delenv(name)
    for name, value in clean_env(ws, tmp, **extra).items():
        if name.startswith(("MLFLOW_", "DATABRICKS_")):
            monkeypatch.setenv(name, value)
    mlflow.set_tracking_uri("databricks")
    try:
        yield mlflow.MlflowClient("databricks")
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)
        fluent._active_experiment_id = previous_experiment
