"""MLflow with ``MLFLOW_TRACKING_URI=databricks`` against the emulator: tracking, artifacts on
every path the client takes (Files API, presigned credentials, its fallback between them) and
the workspace model registry."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from tests.databricks.helpers import databricks_tracking

EXPERIMENT = "/Users/emulator-user@example.com/emulator-mlflow"


@pytest.fixture
def client(emulator, tmp_path, monkeypatch):
    with databricks_tracking(emulator, tmp_path, monkeypatch) as mlflow_client:
        mlflow.set_experiment(EXPERIMENT)
        yield mlflow_client


def _artifact_file(emulator, run, *parts) -> Path:
    return (emulator.root / "files" / "WorkspaceInternal" / "Mlflow" / "Artifacts"
            / run.info.experiment_id / "Runs" / run.info.run_id / "artifacts").joinpath(*parts)


def test_runs_params_metrics_and_artifacts_land_in_the_workspace(emulator, client, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on v0")
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("rmse", 1.25)
        mlflow.log_artifact(str(notes), artifact_path="docs")
    stored = client.get_run(run.info.run_id)
    assert stored.info.artifact_uri == (f"dbfs:/databricks/mlflow-tracking/"
                                        f"{run.info.experiment_id}/{run.info.run_id}/artifacts")
    assert stored.data.params == {"alpha": "0.5"} and stored.data.metrics == {"rmse": 1.25}
    assert _artifact_file(emulator, run, "docs", "notes.txt").read_text() == "trained on v0"
    assert [f.path for f in client.list_artifacts(run.info.run_id, "docs")] == ["docs/notes.txt"]
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="docs/notes.txt",
                                                dst_path=str(tmp_path / "down"))
    assert open(local).read() == "trained on v0"
    assert any(r["path"].startswith("/api/2.0/fs/files/WorkspaceInternal/") and r["method"] == "PUT"
               for r in emulator.request_log())


def test_files_api_failure_falls_back_to_presigned_credentials(emulator, client, tmp_path):
    notes = tmp_path / "fallback.txt"
    notes.write_text("via signed url")
    emulator.inject_fault("/api/2.0/fs/files/*", status=500, count=20, method="PUT")
    emulator.clear_request_log()
    try:
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(notes))
    finally:
        emulator.clear_faults()
    assert _artifact_file(emulator, run, "fallback.txt").read_text() == "via signed url"
    paths = [(r["method"], r["path"].split("/__signed/")[0] or "/__signed/") for r in emulator.request_log()]
    assert ("PUT", "/__signed/") in paths
    assert ("POST", "/api/2.0/mlflow/artifacts/credentials-for-write") in paths


def test_credentials_path_alone_when_the_sdk_repository_is_disabled(emulator, tmp_path, monkeypatch):
    with databricks_tracking(emulator, tmp_path, monkeypatch,
                             MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS="true") as client:
        mlflow.set_experiment(EXPERIMENT)
        notes = tmp_path / "direct.txt"
        notes.write_text("presigned only")
        emulator.clear_request_log()
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(notes), artifact_path="d")
        assert [f.path for f in client.list_artifacts(run.info.run_id, "d")] == ["d/direct.txt"]
        local = client.download_artifacts(run.info.run_id, "d/direct.txt", str(tmp_path / "down"))
        assert open(local).read() == "presigned only"
        used = {r["path"] for r in emulator.request_log()}
        assert "/api/2.0/mlflow/artifacts/credentials-for-read" in used
        assert "/api/2.0/mlflow/artifacts/list" in used
        assert not [p for p in used if p.startswith("/api/2.0/fs/")]


def test_logged_model_registered_in_the_workspace_registry_loads_back(emulator, tmp_path, monkeypatch):
    with databricks_tracking(emulator, tmp_path, monkeypatch, MLFLOW_REGISTRY_URI="databricks"):
        mlflow.set_experiment(EXPERIMENT)
        model = LinearRegression().fit(np.array([[1.0], [2.0]]), np.array([2.0, 4.0]))
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",
                                            registered_model_name="emulated_registry_model")
        assert str(info.registered_model_version) == "1"
        loaded = mlflow.pyfunc.load_model("models:/emulated_registry_model/1")
        assert loaded.predict(np.array([[3.0]]))[0] == pytest.approx(6.0)
