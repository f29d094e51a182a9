"""``evaluate``: mlflow.models.evaluate on a pinned test split, champion side by side, bad input."""

import json
import os
import subprocess
import sys
import uuid

import mlflow
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.steps.evaluate import COMPARISON_ARTIFACT, evaluate
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.train import train
from tests.conftest import REPO_ROOT, latest_run, load_entrypoint


def _train(table: str, name: str, **kwargs):
    with mlflow.start_run():
        return train(table, model_type="linear", registered_model=name, **kwargs)


def _evaluate(**kwargs):
    with mlflow.start_run():
        return evaluate(**kwargs)


def _artifacts(run_id: str) -> set:
    client = MlflowClient()
    found, folders = set(), [""]
    while folders:
        for item in client.list_artifacts(run_id, folders.pop() or None):
            (folders.append(item.path) if item.is_dir else found.add(item.path))
    return found


def test_evaluates_a_version_against_the_champion_on_the_same_rows(prepared_table, model_name):
    _train(prepared_table, model_name)
    _train(prepared_table, model_name)
    MlflowClient().set_registered_model_alias(model_name, "champion", "1")

    result = _evaluate(model_uri=f"models:/{model_name}/2", table=prepared_table)

    assert (result.model_name, result.version, result.task) == (model_name, 0, "classification")
    assert result.metrics["roc_auc"] > 0.9 and "accuracy_score" in result.metrics
    assert result.champion_version == "1"
    assert result.champion_metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert run.data.metrics["champion_roc_auc"] == pytest.approx(result.champion_metrics["roc_auc"])
    assert run.data.params["champion_version"] == "1"
    artifacts = _artifacts(result.run_id)
    assert {"roc_curve_plot.png", "confusion_matrix.png", "champion_roc_curve_plot.png",
            COMPARISON_ARTIFACT} <= artifacts
    table = json.loads(mlflow.artifacts.load_text(f"runs:/{result.run_id}/{COMPARISON_ARTIFACT}"))
    assert table["columns"] == ["metric", "model", "champion", "difference"]
    rows = {row[0]: row[1:] for row in table["data"]}
    assert rows["roc_auc"] == pytest.approx(
        [result.metrics["roc_auc"], result.champion_metrics["roc_auc"], 0.0])

    [dataset_input] = run.inputs.dataset_inputs  # logged once, though evaluated twice
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "evaluation"}
    source = json.loads(dataset_input.dataset.source)
    assert source["version"] == 0 and source["filters"] == [["split", "=", "test"]]
    assert json.loads(dataset_input.dataset.profile)["delta_version"] == 0
    assert mlflow.data.get_source(dataset_input).load()["split"].unique().tolist() == ["test"]


@pytest.mark.parametrize("form", ["runs", "logged_model"])
def test_unregistered_uri_forms_have_no_champion(prepared_table, model_name, form):
    trained = _train(prepared_table, model_name)
    uri = f"runs:/{trained.run_id}/model" if form == "runs" else trained.model_uri
    result = _evaluate(model_uri=uri, table=prepared_table)
    assert result.model_uri == uri and result.task == "classification"
    assert result.model_name is None and result.champion_version is None
    assert result.champion_metrics is None
    assert COMPARISON_ARTIFACT not in _artifacts(result.run_id)


def test_champion_alias_is_compared_with_itself_without_a_second_evaluation(prepared_table,
                                                                             model_name):
    trained = _train(prepared_table, model_name)
    MlflowClient().set_registered_model_alias(model_name, "champion", "1")
    by_alias = _evaluate(model_uri=f"models:/{model_name}@champion", table=prepared_table,
                         version=0)
    assert by_alias.champion_version == "1" and by_alias.champion_metrics == by_alias.metrics
    assert "champion_roc_curve_plot.png" not in _artifacts(by_alias.run_id)
    # a runs:/ URI compared with a named model's champion
    by_run = _evaluate(model_uri=f"runs:/{trained.run_id}/model", table=prepared_table,
                       model_name=model_name)
    assert by_run.champion_version == "1"
    assert "champion_roc_auc" in mlflow.get_run(by_run.run_id).data.metrics


def test_regression_models_get_the_regressor_evaluator(prepared_table, model_name):
    _train(prepared_table, model_name, task="regression")
    result = _evaluate(model_uri=f"models:/{model_name}/1", table=prepared_table)
    assert result.task == "regression"
    assert {"root_mean_squared_error", "r2_score"} <= set(result.metrics)


def test_entry_point_evaluates(prepared_table, model_name, monkeypatch):
    _train(prepared_table, model_name)
    entry = load_entrypoint("evaluate")
    code = entry.main(["--model_uri", f"models:/{model_name}/1", "--table", prepared_table,
                       "--version", "0", "--model_name", ""])
    assert code == 0
    run = latest_run("evaluate")
    assert run.info.status == "FINISHED" and "roc_auc" in run.data.metrics


@pytest.fixture(scope="module")
def evaluate_world(tracking_uri, tmp_path_factory):
    """A registered model with a champion, a feature table and one without a test split."""
    folder = tmp_path_factory.mktemp("evaluate_bad_input")
    experiment_id = mlflow.create_experiment(f"bad-{uuid.uuid4().hex[:12]}",
                                             artifact_location=str(folder / "artifacts"))
    name = f"model_{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
        mlflow.set_experiment(experiment_id=experiment_id)
        table, no_test = str(folder / "features"), str(folder / "no_test")
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=table, label=DEFAULT_LABEL)
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=no_test, label=DEFAULT_LABEL, test_fraction=1e-12)
        trained = _train(table, name)
        MlflowClient().set_registered_model_alias(name, "champion", "1")
    return {"experiment_id": experiment_id, "model": name, "table": table, "no_test": no_test,
            "folder": folder, "run_id": trained.run_id}


BAD_INPUT = [
    ("malformed uri", ["--model_uri", "my_model"], "model_uri 'my_model' is malformed"),
    ("stage uri", ["--model_uri", "models:/{model}/Production"], "is malformed"),
    ("empty alias", ["--model_uri", "models:/{model}@"], "is malformed"),
    ("unknown run", ["--model_uri", "runs:/0123456789abcdef/model"], "does not load"),
    ("no model at path", ["--model_uri", "runs:/{run_id}/nothing_here"], "runs:/"),
    ("unknown model", ["--model_uri", "models:/no_such_model/1"],
     "registered model 'no_such_model' does not exist"),
    ("unknown version", ["--model_uri", "models:/{model}/42"], "has no version 42"),
    ("unknown alias", ["--model_uri", "models:/{model}@staging"], "has no alias 'staging'"),
    ("unknown model_name", ["--model_name", "no_such_model"],
     "registered model 'no_such_model' does not exist"),
    ("no test split", ["--table", "{no_test}"], "has no 'test' rows"),
    ("missing table", ["--table", "{folder}/missing"], "no Delta table at"),
    ("missing data version", ["--version", "5"], "version 5"),
    ("missing model_uri", None, "the following arguments are required: --model_uri"),
]


@pytest.mark.parametrize("case, args, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_with_one_line(case, args, message, evaluate_world, monkeypatch, capsys,
                                       tmp_path):
    world = evaluate_world
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", world["experiment_id"])
    mlflow.set_experiment(experiment_id=world["experiment_id"])
    entry = load_entrypoint("evaluate")
    argv = ["--table", world["table"]]
    if args is not None:
        argv = ["--model_uri", f"models:/{world['model']}/1", *argv,
                *[a.format(**world) for a in args]]
    aliases_before = MlflowClient().get_registered_model(world["model"]).aliases
    capsys.readouterr()

    code = entry.main(argv)

    assert code != 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: evaluate: ") and message in line, line
    assert latest_run("evaluate").info.status == "FAILED"
    assert MlflowClient().get_registered_model(world["model"]).aliases == aliases_before


@pytest.mark.slow
def test_mlflow_run_evaluate_entry_point(prepared_table, model_name, mlflow_env, tmp_path):
    _train(prepared_table, model_name)
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "mlflow"), "run", str(REPO_ROOT), "-e", "evaluate",
         "--env-manager", "local", "--experiment-id", mlflow_env["MLFLOW_EXPERIMENT_ID"],
         "-P", f"model_uri=models:/{model_name}/1", "-P", f"table={prepared_table}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, **mlflow_env, "PATH": bin_dir + os.pathsep + os.environ["PATH"]})
    assert result.returncode == 0, result.stderr[-3000:]
    run = latest_run("evaluate")
    assert run.info.status == "FINISHED" and "roc_auc" in run.data.metrics
