"""tune: parent and child runs, best configuration retrained and registered, failures, bad input,
parallel trials and the entry point (in-process and through `mlflow run`)."""

import json
import os
import subprocess
import sys

import mlflow
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG, ERROR_TAG
from mlflow_delta_plugin.steps.tune import tune
from mlflow_delta_plugin.tuning.hyperopt_tuner import active_spark_session
from tests.conftest import REPO_ROOT, load_entrypoint

LINEAR_SPACE = '{"C": {"loguniform": [0.01, 10]}}'


def _tune(**kwargs):
    with mlflow.start_run() as run:
        result = tune(**kwargs)
    return mlflow.get_run(run.info.run_id), result


def _children(parent_id):
    return mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                              order_by=["start_time ASC"], output_format="list")


def _registered_versions(name):
    return MlflowClient().search_model_versions(f"name = '{name}'")


def test_parent_gets_best_trial_children_get_their_trials(prepared_table, model_name):
    parent, result = _tune(table=prepared_table, model_type="linear", max_evals=4,
                           registered_model=model_name, seed=3)
    children = _children(parent.info.run_id)
    assert len(children) == len(result.trials) == 4
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags[ENTRY_POINT_TAG] == "tune.trial"
        assert {"C"} <= set(child.data.params)
        assert {"val_roc_auc", "val_accuracy", "loss", "fit_seconds"} <= set(child.data.metrics)
        [dataset] = child.inputs.dataset_inputs
        assert json.loads(dataset.dataset.source)["version"] == 0
    best = max(children, key=lambda c: c.data.metrics["val_roc_auc"])
    assert parent.data.tags["best_run_id"] == result.best_run_id == best.info.run_id
    assert parent.data.tags["best_trial"] == best.data.tags["trial_number"]
    assert sorted(c.data.tags["trial_number"] for c in children) == ["1", "2", "3", "4"]
    assert parent.data.params["best.C"] == best.data.params["C"]
    assert parent.data.metrics["best_val_roc_auc"] == best.data.metrics["val_roc_auc"]
    assert parent.data.params["metric"] == "roc_auc" and result.metric == "roc_auc"
    assert parent.data.params["task"] == "classification"
    assert parent.data.params["label"] == "malignant"
    assert parent.data.params["delta_version"] == "0"
    assert parent.data.metrics["test_roc_auc"] > 0.9 and "train_accuracy" in parent.data.metrics
    assert parent.data.metrics["trials_finished"] == 4
    assert float(parent.data.params["model.C"]) == pytest.approx(result.best_params["C"])
    model = mlflow.pyfunc.load_model(result.model_uri)
    assert model.metadata.signature is not None
    [version] = _registered_versions(model_name)
    assert version.run_id == parent.info.run_id and version.tags["delta.version"] == "0"


def test_same_seed_gives_the_same_trials(prepared_table):
    _, first = _tune(table=prepared_table, model_type="linear", max_evals=3, seed=11)
    _, second = _tune(table=prepared_table, model_type="linear", max_evals=3, seed=11)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert first.metrics == second.metrics


def test_a_failing_trial_is_recorded_failed_and_the_search_goes_on(prepared_table, model_name):
    space = {"C": {"choice": [1.0, -1.0]}, "max_iter": {"int": [100, 200, 100]}}
    parent, result = _tune(table=prepared_table, model_type="linear", search_space=space,
                           max_evals=6, seed=1, registered_model=model_name)
    children = _children(parent.info.run_id)
    failed = [c for c in children if c.info.status == "FAILED"]
    assert failed and len(failed) < len(children) == 6
    assert all("C" in c.data.tags[ERROR_TAG] for c in failed)
    assert result.best_params["C"] == 1.0 and parent.data.metrics["trials_failed"] == len(failed)
    assert len(_registered_versions(model_name)) == 1


def test_every_trial_failing_fails_the_step_and_registers_nothing(prepared_table, model_name):
    with pytest.raises(InvalidInputError, match="all 3 trials failed"):
        _tune(table=prepared_table, model_type="linear", max_evals=3,
              search_space={"C": {"choice": [-1.0, -2.0]}}, registered_model=model_name)
    assert _registered_versions(model_name) == []


def test_early_stop_ends_the_search(prepared_table):
    parent, result = _tune(table=prepared_table, model_type="linear", max_evals=30, early_stop=2,
                           search_space={"C": {"uniform": [5, 10]}, "max_iter": 1000},
                           metric="accuracy")
    assert result.stopped_early and len(result.trials) < 30
    assert parent.data.tags["tune.stopped_early"] == "true"


def test_regression_tunes_rmse(prepared_table):
    parent, result = _tune(table=prepared_table, model_type="linear", max_evals=2,
                           task="regression", label="mean_area")
    assert result.task == "regression" and result.metric == "rmse"
    assert "best.alpha" in parent.data.params and "test_rmse" in parent.data.metrics


def test_parallel_trials_are_children_of_the_parent(prepared_table):
    parent, result = _tune(table=prepared_table, model_type="linear", max_evals=4, parallelism=2,
                           search_space=LINEAR_SPACE)
    expected = "spark" if active_spark_session() is not None else "processes"
    assert parent.data.tags["tune.executor"] == expected
    assert parent.data.params["parallelism"] == "2"
    assert len(_children(parent.info.run_id)) == 4
    assert sorted(t.number for t in result.trials) == [0, 1, 2, 3]


BAD_INPUT = [
    (["--max_evals", "0"], "max_evals must be an integer >= 1"),
    (["--parallelism", "0"], "parallelism must be an integer >= 1"),
    (["--early_stop", "-2"], "early_stop must be an integer >= 0"),
    (["--max_evals", "ten"], "invalid int value: 'ten'"),
    (["--model_type", "xgboost_deluxe"], "model_type 'xgboost_deluxe' is unknown"),
    (["--search_space", "{C: 1"], "search_space is not valid JSON"),
    (["--search_space", '{"depth": {"int": [1, 4]}}'], "['depth'] are not hyperparameters"),
    (["--metric", "precision_at_k"], "metric 'precision_at_k' is unknown"),
    (["--metric", "rmse"], "metric 'rmse' does not apply to classification"),
    (["--search_space", '{"C": {"choice": [-1, -2]}}', "--max_evals", "2"], "all 2 trials failed"),
]


@pytest.mark.parametrize("argv, words", BAD_INPUT, ids=[w for _, w in BAD_INPUT])
def test_bad_input_is_one_line_a_failed_run_and_nothing_registered(
        prepared_table, model_name, capsys, argv, words):
    entry_point = load_entrypoint("tune")
    code = entry_point.main(["--table", prepared_table, "--model_type", "linear",
                             "--registered_model", model_name, *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and err.startswith("error: tune:") and "\n" not in err
    [run] = mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = 'tune'",
                               output_format="list")
    assert run.info.status == "FAILED"
    assert _registered_versions(model_name) == []


def test_an_unknown_run_writer_setting_fails_before_anything_is_logged(
        prepared_table, model_name, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_DELTA_RUN_WRITER", "fork")
    code = load_entrypoint("tune").main(["--table", prepared_table, "--model_type", "linear",
                                         "--registered_model", model_name])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "run writer 'fork' (from MLFLOW_DELTA_RUN_WRITER) is unknown; use process or thread" in err
    [run] = mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = 'tune'",
                               output_format="list")
    assert run.info.status == "FAILED" and "delta_version" not in run.data.params
    assert _registered_versions(model_name) == []


def test_entry_point_main_tunes_and_registers(prepared_table, model_name):
    entry_point = load_entrypoint("tune")
    code = entry_point.main(["--table", prepared_table, "--model_type", "linear", "--max_evals",
                             "2", "--registered_model", model_name, "--search_space", ""])
    assert code == 0
    [run] = mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = 'tune'",
                               output_format="list")
    assert run.info.status == "FINISHED" and len(_children(run.info.run_id)) == 2
    assert len(_registered_versions(model_name)) == 1


@pytest.mark.slow
def test_mlflow_run_tune_entry_point(prepared_table, model_name, mlflow_env, tmp_path):
    bin_dir = os.path.dirname(sys.executable)
    args = [os.path.join(bin_dir, "mlflow"), "run", str(REPO_ROOT), "-e", "tune",
            "--env-manager", "local", "--experiment-id", mlflow_env["MLFLOW_EXPERIMENT_ID"],
            "-P", "max_evals=3", "-P", f"table={prepared_table}", "-P", "model_type=linear",
            "-P", f"registered_model={model_name}"]
    env = {**os.environ, **mlflow_env, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = mlflow.search_runs(filter_string=f"tags.`{ENTRY_POINT_TAG}` = 'tune'",
                               output_format="list")
    assert run.info.status == "FINISHED" and run.data.params["max_evals"] == "3"
    assert run.data.params["metric"] == "auto" and run.data.params["metric_resolved"] == "roc_auc"
    assert run.data.params["table"] == prepared_table and "table_resolved" not in run.data.params
    assert run.data.params["task_resolved"] == "classification"
    assert len(_children(run.info.run_id)) == 3
    assert _registered_versions(model_name)[0].run_id == run.info.run_id


def test_evaluate_and_promote_take_the_tuned_model(prepared_table, model_name):
    from mlflow_delta_plugin.steps.evaluate import evaluate
    from mlflow_delta_plugin.steps.promote import promote

    _, tuned = _tune(table=prepared_table, model_type="linear", max_evals=2,
                     registered_model=model_name)
    with mlflow.start_run():
        evaluated = evaluate(f"models:/{model_name}/{tuned.registered_version}",
                             table=prepared_table)
    assert evaluated.metrics["roc_auc"] == pytest.approx(tuned.metrics["roc_auc"])
    with mlflow.start_run():
        promoted = promote(model_name, table=prepared_table)
    assert promoted.decision == "promoted" and promoted.metric == "roc_auc"
    assert str(MlflowClient().get_model_version_by_alias(model_name, "champion").version) == "1"
