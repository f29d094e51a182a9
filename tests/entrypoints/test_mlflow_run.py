"""The entry points as users run them: through `mlflow run`, and from an unpacked project copy."""

import os
import shutil
import subprocess
import sys
import sysconfig

import mlflow
import pytest
from deltalake import DeltaTable

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _mlflow_run(entry_point: str, params: dict, env: dict, cwd) -> subprocess.CompletedProcess:
    bin_dir = os.path.dirname(sys.executable)
    args = [os.path.join(bin_dir, "mlflow"), "run", str(REPO_ROOT), "-e", entry_point,
            "--env-manager", "local", "--experiment-id", env["MLFLOW_EXPERIMENT_ID"]]
    for key, value in params.items():
        args += ["-P", f"{key}={value}"]
    full_env = {**os.environ, **env, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def test_mlflow_run_prepare_then_train_on_defaults(mlflow_env, tmp_path):
    table = tmp_path / "features"
    prepared = _mlflow_run("prepare", {"table": table}, mlflow_env, tmp_path)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    assert DeltaTable(str(table)).version() == 0
    trained = _mlflow_run("train", {"table": table}, mlflow_env, tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    runs = mlflow.search_runs(order_by=["start_time ASC"], output_format="list")
    assert [r.data.tags["mlflow_delta_plugin.entryPoint"] for r in runs] == ["prepare", "train"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert runs[1].data.params["delta_version"] == "0"
    assert runs[1].data.metrics["test_accuracy"] > 0.85


def test_mlflow_run_marks_a_bad_input_run_failed(mlflow_env, tmp_path):
    result = _mlflow_run("train", {"table": tmp_path / "missing"}, mlflow_env, tmp_path)
    assert result.returncode != 0
    assert "error: train: no Delta table at" in result.stderr
    [run] = mlflow.search_runs(output_format="list")
    assert run.info.status == "FAILED"


UNINSTALLED = """
import runpy, sys
sys.path.append(sys.argv[1])          # site-packages without its .pth files: no editable install
sys.argv = [sys.argv[2], *sys.argv[3:]]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])   # as `python script.py` does
try:
    import mlflow_delta_plugin
    raise SystemExit("the package is still importable")
except ImportError:
    pass
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_entry_points_work_from_an_unpacked_copy_without_install(mlflow_env, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(REPO_ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.egg-info", "__pycache__", "data", "mlruns", "mlflow.db", "tests"))
    site_packages = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [sys.executable, "-S", "-c", UNINSTALLED, site_packages,
         str(copy / "entrypoints" / "prepare.py"), "--table", str(tmp_path / "t")],
        cwd=tmp_path, env={**os.environ, **mlflow_env}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert DeltaTable(str(tmp_path / "t")).version() == 0


def test_mlflow_run_main_ends_with_a_loadable_champion(mlflow_env, tmp_path, model_name):
    result = _mlflow_run("main", {"table": tmp_path / "features", "registered_model": model_name,
                                  "model_type": "linear"}, mlflow_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    sample = DeltaTable(str(tmp_path / "features")).to_pandas().drop(columns=["malignant", "split"])
    predictions = model.predict(sample.head(5))
    assert set(predictions) <= {0, 1}
