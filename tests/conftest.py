"""Shared fixtures: an isolated MLflow tracking store and a prepared sample feature table.

One SQLite tracking database serves the whole session (creating one costs ~1 s); every test
gets its own experiment, working directory and registered-model names, so tests stay isolated.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import mlflow
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINTS = REPO_ROOT / "entrypoints"


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory) -> str:
    """A session-wide SQLite tracking store (artifacts beside it)."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture
def mlflow_env(tracking_uri, tmp_path, monkeypatch) -> dict:
    """A fresh experiment and working directory; returns the env vars a subprocess needs."""
    monkeypatch.chdir(tmp_path)
    experiment_id = mlflow.create_experiment(f"test-{uuid.uuid4().hex[:12]}",
                                             artifact_location=str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
    mlflow.set_experiment(experiment_id=experiment_id)
    yield {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_EXPERIMENT_ID": experiment_id}
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def model_name() -> str:
    """A registered-model name no other test uses."""
    return f"model_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def prepared_table(mlflow_env, tmp_path) -> str:
    """The bundled sample prepared into a Delta table (version 0); returns its path."""
    from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
    from mlflow_delta_plugin.steps.prepare import prepare

    table = str(tmp_path / "features")
    with mlflow.start_run():
        prepare(input=DEFAULT_INPUT, table=table, label=DEFAULT_LABEL)
    return table


def run_script(script: str, *args: str, env: dict, cwd, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``entrypoints/<script>.py`` in a fresh interpreter, as ``mlflow run`` would."""
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, str(ENTRYPOINTS / f"{script}.py"), *args],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def load_entrypoint(name: str):
    """Import ``entrypoints/<name>.py`` as a module (its ``main(argv)`` runs in-process)."""
    import importlib.util

    if str(ENTRYPOINTS) not in sys.path:
        sys.path.insert(0, str(ENTRYPOINTS))
    spec = importlib.util.spec_from_file_location(f"entrypoint_{name}", ENTRYPOINTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def latest_run(entry_point: str):
    """The newest run of ``entry_point`` (by its entry-point tag) in the active experiment."""
    from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG

    runs = mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = '{entry_point}'",
                              order_by=["attributes.start_time DESC"], output_format="list")
    return runs[0]
