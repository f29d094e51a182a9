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
