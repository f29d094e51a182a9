"""Fixtures of the deployment-target tests: a small Delta table and a logged sklearn model."""

import numpy as np
import pandas as pd
import pytest
from deltalake import write_deltalake


def feature_rows(count: int = 20, seed: int = 0) -> pd.DataFrame:
    """Rows with two features and an id; ``2*x1 - x2`` is what the test model predicts."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(count, dtype="int64"),
                         "x1": rng.normal(size=count), "x2": rng.normal(size=count)})


def write_table(path: str, frame: pd.DataFrame, mode: str = "append") -> None:
    """Write ``frame`` as a Delta commit at ``path``."""
    write_deltalake(path, frame, mode=mode)


def log_linear_model(coefficients=(2.0, -1.0)):
    """Log a LinearRegression with exactly ``coefficients`` on (x1, x2); returns its model info."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame = feature_rows(50, seed=1)
    target = coefficients[0] * frame["x1"] + coefficients[1] * frame["x2"]
    model = LinearRegression().fit(frame[["x1", "x2"]], target)
    signature = infer_signature(frame[["x1", "x2"]], model.predict(frame[["x1", "x2"]]))
    with mlflow.start_run():
        return mlflow.sklearn.log_model(model, name="model", signature=signature,
                                        pip_requirements=["scikit-learn", "pandas"])


@pytest.fixture
def input_table(tmp_path) -> str:
    """A Delta table with two versions (v0: 20 rows, v1: 5 more rows)."""
    path = str(tmp_path / "features")
    write_table(path, feature_rows(20))
    write_table(path, feature_rows(5, seed=3).assign(id=lambda f: f["id"] + 100))
    return path


@pytest.fixture
def linear_model(mlflow_env) -> str:
    """URI of a logged model predicting 2*x1 - x2 (local SQLite tracking)."""
    return log_linear_model().model_uri


# -- the workspace emulator ------------------------------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `tests` is a namespace package rooted at the repo
    sys.path.insert(0, str(REPO_ROOT))

from tests.databricks.helpers import clean_env, new_token  # noqa: E402
from tests.databricks_emulator import WorkspaceEmulator  # noqa: E402

MODEL_NAME = "deployment-e2e-linear"
JOB_CLUSTER = {"spark_version": "15.4.x-cpu-ml-scala2.12", "node_type_id": "i3.xlarge",
               "num_workers": 0}
_REGISTER_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import mlflow
from tests.deployment.conftest import log_linear_model
mlflow.set_experiment("/Users/emulator-user@example.com/deployment-e2e")
for coefficients in ((2.0, -1.0), (1.0, 1.0)):
    info = log_linear_model(coefficients)
    mlflow.register_model(info.model_uri, sys.argv[2])
"""


@dataclass
class Workspace:
    """An emulated workspace with a registered model (v1: 2*x1 - x2, v2: x1 + x2) and an input
    Delta table on its DBFS (``/dbfs/data/features``: 20 rows)."""

    ws: WorkspaceEmulator
    tmp: Path

    def env(self, **extra: str) -> dict:
        return clean_env(self.ws, self.tmp, MLFLOW_REGISTRY_URI="databricks", **extra)

    def dbfs(self, path: str) -> Path:
        """The emulator's local folder behind a ``/dbfs/...`` path."""
        return self.ws.root / "dbfs" / path[len("/dbfs/"):]

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """``mlflow deployments <args> -t databricks-cluster`` as a user types it."""
        command = [str(Path(sys.executable).parent / "mlflow"), "deployments", *args,
                   "-t", "databricks-cluster"]
        return subprocess.run(command, cwd=self.tmp, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def jobs(self) -> list:
        return self.ws.call("GET", "/api/2.1/jobs/list").get("jobs", [])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """One emulated workspace per module, prepared as :class:`Workspace` says."""
    root = tmp_path_factory.mktemp("deploy-workspace")
    tmp = tmp_path_factory.mktemp("deploy-client")
    with WorkspaceEmulator(root=root, token=new_token(), cluster_start_seconds=0.3) as ws:
        prepared = Workspace(ws, tmp)
        result = subprocess.run([sys.executable, "-c", _REGISTER_SCRIPT, str(REPO_ROOT),
                                 MODEL_NAME], cwd=tmp, env=prepared.env(), capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
        features = prepared.dbfs("/dbfs/data/features")
        features.parent.mkdir(parents=True, exist_ok=True)
        write_table(str(features), feature_rows(20))
        yield prepared


def cluster_json() -> str:
    """The ``-C new_cluster=`` value of the tests."""
    return json.dumps(JOB_CLUSTER)
