"""``train --registered_model`` killed with SIGKILL at chosen points: nothing is registered, and a
rerun registers version 1.

The kill point is chosen by a launcher (written by the test, never shipped) that replaces one
function with ``os.kill(os.getpid(), SIGKILL)`` and then runs ``entrypoints/train.py`` as
``__main__``; the step's code is unchanged. Points: during the fit, during the upload of the
model's artifacts, after the model was logged but before registration, and inside registration
between creating the registered model and creating its version.

What a SIGKILL leaves, and why that is the right outcome:

- no model version (registration is the step's last write);
- a kill inside registration may leave the registered model itself, empty (MLflow creates it,
  then the version, in two calls; the same happens when ``mlflow.register_model`` fails
  there). It has no version and no alias, so ``models:/<name>/1`` and ``@champion`` fail to
  resolve; the rerun adds version 1 to it;
- the MLflow run stays RUNNING: nothing survives a SIGKILL to end it, and MLflow has no reaper
  of stale runs. It carries no registered version. To mark it,
  ``MlflowClient().set_terminated(run_id, "KILLED")``, as the test does. A model whose upload
  was cut off stays PENDING (not READY); one logged before the kill is READY but registered
  nowhere.

``MLFLOW_DELTA_SOAK=1`` repeats every kill point (``MLFLOW_DELTA_SOAK_REPEATS``, default 10).
"""

import os
import signal
import subprocess
import sys
import textwrap

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG
from tests.conftest import ENTRYPOINTS, load_entrypoint
from tests.reliability.soak import SOAK_REPEATS

pytestmark = pytest.mark.slow


# kill point -> (module, attribute) replaced by the killer
KILL_POINTS = {
    "during_fit": ("mlflow_delta_plugin.steps.fitting", "fit_pipeline"),
    "during_model_upload": ("mlflow.tracking.client", "MlflowClient.log_model_artifacts"),
    "before_registration": ("mlflow_delta_plugin.steps.fitting", "register_with_lineage"),
    "inside_registration": ("mlflow.tracking._model_registry.client",
                            "ModelRegistryClient.create_model_version"),
}

_LAUNCHER = textwrap.dedent("""
    import importlib, os, runpy, signal, sys

    module_name, attribute, script = sys.argv[1:4]
    owner = importlib.import_module(module_name)
    *path, leaf = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)

    def killed(*args, **kwargs):
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(owner, leaf, killed)
    sys.argv = [script, *sys.argv[4:]]
    sys.path.insert(0, os.path.dirname(script))
    runpy.run_path(script, run_name="__main__")
""")


def _train_runs() -> list:
    return mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = 'train'",
                              order_by=["attributes.start_time DESC"], output_format="list")


def _registered_versions(name: str) -> list:
    return MlflowClient().search_model_versions(f"name = '{name}'")


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_registers_nothing_and_a_rerun_registers_version_1(point, prepared_table,
                                                                     mlflow_env, tmp_path):
    launcher = tmp_path / "kill_launcher.py"
    launcher.write_text(_LAUNCHER)
    module_name, attribute = KILL_POINTS[point]
    env = {**mlflow_env, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ENTRYPOINTS.parent), os.environ.get("PYTHONPATH")]))}
    client = MlflowClient()
    for attempt in range(SOAK_REPEATS):
        name = f"crash_{point}_{attempt}_{os.urandom(4).hex()}"
        args = ["--table", prepared_table, "--model_type", "linear", "--registered_model", name]
        killed = subprocess.run(
            [sys.executable, str(launcher), module_name, attribute,
             str(ENTRYPOINTS / "train.py"), *args],
            cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

        # nothing registered; at most an empty registered model, with no alias
        assert _registered_versions(name) == []
        try:
            model = client.get_registered_model(name)
        except MlflowException as exc:
            assert exc.error_code == "RESOURCE_DOES_NOT_EXIST"
            assert point != "inside_registration", "the registered model was expected"
        else:
            assert point == "inside_registration", f"registered model left by {point}"
            assert not model.aliases and not model.latest_versions
        with pytest.raises(MlflowException):
            mlflow.pyfunc.get_model_dependencies(f"models:/{name}/1")

        # the killed run: not FINISHED; its model, when it got that far, is not registered
        dead = _train_runs()[0]
        assert dead.info.status == "RUNNING"
        logged = mlflow.search_logged_models(
            filter_string=f"source_run_id = '{dead.info.run_id}'", output_format="list")
        ready = [str(m.status) == "READY" for m in logged]
        assert ready == {"during_fit": [], "during_model_upload": [False]}.get(point, [True])
        client.set_terminated(dead.info.run_id, "KILLED")
        assert client.get_run(dead.info.run_id).info.status == "KILLED"

        # the rerun (the same entry point, here in-process) registers version 1 from its run
        assert load_entrypoint("train").main(args) == 0
        [version] = _registered_versions(name)
        fresh = _train_runs()[0]
        assert str(version.version) == "1" and version.run_id == fresh.info.run_id
        assert fresh.info.run_id != dead.info.run_id and fresh.info.status == "FINISHED"
        assert version.tags["source_run_id"] == fresh.info.run_id
