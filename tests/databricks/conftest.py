"""Fixtures for tests against the local Databricks workspace emulator.

* ``emulator``: a fresh emulator per test module (it starts in about 5 s).
* ``sdk``: a databricks-sdk ``WorkspaceClient`` for it.
* ``remote_ws``, ``remote_project``, ``remote_table``, ``cluster_config``, ``trained_remote_run``:
  one emulator per session for the ``mlflow run -b databricks`` end-to-end tests, the project
  as a user would upload it, a prepared feature table and one finished remote ``train``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `tests` is a namespace package rooted at the repo
    sys.path.insert(0, str(REPO_ROOT))

from tests.databricks.helpers import RemoteRun, mlflow_run_cli, new_token  # noqa: E402
from tests.databricks_emulator import WorkspaceEmulator  # noqa: E402

PROJECT_FILES = ("MLproject", "conda.yaml", "entrypoints", "mlflow_delta_plugin")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> WorkspaceEmulator:
    """An emulated workspace for one test module."""
    with WorkspaceEmulator(root=tmp_path_factory.mktemp("workspace"), token=new_token(),
                           cluster_start_seconds=0.3) as ws:
        yield ws


@pytest.fixture(scope="module")
def sdk(emulator):
    """A databricks-sdk client of ``emulator`` (explicit PAT auth, no config file)."""
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=emulator.host, token=emulator.token, auth_type="pat")


@pytest.fixture(scope="session")
def remote_ws(tmp_path_factory) -> WorkspaceEmulator:
    """The emulated workspace of the remote-run tests (one per session)."""
    with WorkspaceEmulator(root=tmp_path_factory.mktemp("remote-workspace"), token=new_token(),
                           cluster_start_seconds=0.5) as ws:
        yield ws


@pytest.fixture(scope="session")
def remote_project(tmp_path_factory) -> Path:
    """The MLflow project as a user uploads it: its files only, no virtualenv, data or caches
    (``mlflow run <dir> -b databricks`` tars the whole folder)."""
    project = tmp_path_factory.mktemp("project") / "mlflow-delta-plugin"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=ignore)
        else:
            shutil.copy(source, project / name)
    return project


@pytest.fixture(scope="session")
def remote_table(tmp_path_factory) -> str:
    """A feature table prepared locally (local SQLite tracking); returns its absolute path."""
    folder = tmp_path_factory.mktemp("remote-data")
    table = folder / "features"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DATABRICKS_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'local.db'}"
    result = subprocess.run([sys.executable, str(REPO_ROOT / "entrypoints" / "prepare.py"),
                             "--table", str(table)], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return str(table)


@pytest.fixture(scope="session")
def cluster_config(tmp_path_factory) -> Path:
    """A ``--backend-config`` file: the cluster under ``new_cluster``, as MLflow wants it."""
    path = tmp_path_factory.mktemp("backend") / "cluster.json"
    path.write_text('{"new_cluster": {"spark_version": "15.4.x-cpu-ml-scala2.12", '
                    '"node_type_id": "i3.xlarge", "num_workers": 0}}')
    return path


@pytest.fixture(scope="session")
def trained_remote_run(remote_ws, remote_project, remote_table, cluster_config,
                       tmp_path_factory) -> RemoteRun:
    """``mlflow run . -b databricks -e train -P table=...`` done end to end."""
    tmp = tmp_path_factory.mktemp("cli")
    return mlflow_run_cli(remote_ws, remote_project, cluster_config, tmp, "-e", "train",
                          "-P", f"table={remote_table}", "-P", "model_type=linear")
