"""train: every model type, determinism, the logged dataset/model, and registration."""

import json

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.config import DEFAULT_INPUT
from mlflow_delta_plugin.models.catalog import MODEL_TYPES
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.train import train


def _train(**kwargs):
    with mlflow.start_run() as run:
        result = train(**kwargs)
    return mlflow.get_run(run.info.run_id), result


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_every_model_type_trains_logs_and_predicts(prepared_table, model_type):
    hyperparams = {"max_epochs": 15} if model_type == "torch_mlp" else {}
    run, result = _train(table=prepared_table, model_type=model_type, hyperparams=hyperparams)
    assert result.task == "classification"
    assert run.data.metrics["test_accuracy"] > 0.85
    assert {"test_f1", "test_roc_auc", "test_log_loss", "train_accuracy"} <= set(run.data.metrics)
    assert run.data.params["delta_version"] == "0"
    model = mlflow.pyfunc.load_model(result.model_uri)
    assert model.metadata.signature is not None
    assert {c.name for c in model.metadata.signature.inputs.inputs} >= {"mean_radius"}
    sample = pd.read_csv(DEFAULT_INPUT).drop(columns=["malignant"]).head(4)
    assert len(model.predict(sample)) == 4


def test_same_seed_and_version_give_the_same_metrics(prepared_table):
    first, _ = _train(table=prepared_table, model_type="random_forest", seed=7,
                      hyperparams={"n_estimators": 20})
    second, _ = _train(table=prepared_table, model_type="random_forest", seed=7,
                       hyperparams={"n_estimators": 20})
    pick = lambda run: {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}  # noqa: E731
    assert pick(first) == pick(second)


def test_dataset_input_pins_the_version_trained_on(mlflow_env, tmp_path):
    table = str(tmp_path / "f")
    with mlflow.start_run():
        prepare(input=DEFAULT_INPUT, table=table, label="malignant")
    with mlflow.start_run():
        prepare(input=DEFAULT_INPUT, table=table, label="malignant", mode="append")
    run, result = _train(table=table, version=0, model_type="linear")
    [dataset_input] = run.inputs.dataset_inputs
    assert json.loads(dataset_input.dataset.source)["version"] == 0
    assert [t.value for t in dataset_input.tags if t.key == "mlflow.data.context"] == ["training"]
    assert result.version == 0 and run.data.params["rows_train"] != "0"
    latest_run, _ = _train(table=table, model_type="linear")
    assert latest_run.data.params["delta_version"] == "1"


def test_registration_tags_the_version_with_its_data(prepared_table, model_name):
    run, result = _train(table=prepared_table, model_type="linear", registered_model=model_name)
    assert result.registered_version == "1"
    version = MlflowClient().get_model_version(model_name, "1")
    assert version.run_id == run.info.run_id
    assert version.tags["delta.version"] == "0"
    assert version.tags["delta.table"] == prepared_table


def test_regression_task_on_a_continuous_label(mlflow_env, tmp_path):
    source = tmp_path / "reg.csv"
    frame = pd.read_csv(DEFAULT_INPUT).drop(columns=["malignant"])
    frame.to_csv(source, index=False)
    table = str(tmp_path / "reg")
    with mlflow.start_run():
        prepare(input=str(source), table=table, label="mean_area")
    run, result = _train(table=table, model_type="linear")
    assert result.task == "regression"
    assert run.data.metrics["test_r2"] > 0.9
    assert {"test_rmse", "test_mae"} <= set(run.data.metrics)
