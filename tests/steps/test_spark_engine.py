"""train / tune / evaluate with ``engine=spark`` on a local[2] session, against the embedded engine.

One session serves the module (startup costs 6-10 s) and stops after it, so later tests do not
find an active session (tune would pick SparkTrials).
"""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.steps.evaluate import COMPARISON_ARTIFACT, evaluate
from mlflow_delta_plugin.steps.probability_metrics import probability_metrics
from mlflow_delta_plugin.steps.spark_evaluation import load_spark_test_split
from mlflow_delta_plugin.steps.spark_probabilities import PROBABILITIES_COLUMN, with_probabilities
from mlflow_delta_plugin.steps.spark_split import COLLECT_LIMIT_ENV
from mlflow_delta_plugin.steps.train import train
from mlflow_delta_plugin.steps.tune import tune
from tests.conftest import run_script
from tests.spark.dv_tables import HandWrittenTable, inline_dv
from tests.spark_session import start_local_spark

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

DELETED = [0, 3, 10, 11, 50]
TRAIN_ROWS, TEST_ROWS = 160, 60


@pytest.fixture(scope="module", autouse=True)
def spark():
    """The local[2] session every engine=spark step here finds active."""
    session = start_local_spark("engine-spark-tests")
    yield session
    session.stop()


def _run(step, *args, **kwargs):
    with mlflow.start_run() as run:
        result = step(*args, **kwargs)
    return result, mlflow.get_run(run.info.run_id)


def _training_input(run):
    [dataset_input] = run.inputs.dataset_inputs
    return dataset_input.dataset


def _rows(rng: np.random.Generator, count: int, split: str) -> pa.Table:
    x1, x2 = rng.normal(size=count), rng.normal(size=count)
    return pa.table({"x1": x1, "x2": x2, "cat": rng.choice(["a", "b", "c"], size=count),
                     "y": (x1 - 0.5 * x2 + rng.normal(scale=0.3, size=count) > 0).astype("int64"),
                     "split": [split] * count})


@pytest.fixture
def dv_feature_table(tmp_path) -> str:
    """A feature table another engine wrote: version 1 deletes train rows with a deletion vector."""
    rng = np.random.default_rng(3)
    train_rows = _rows(rng, TRAIN_ROWS, "train")
    table = HandWrittenTable(Path(tmp_path) / "dv_features", train_rows.schema, ["split"])
    train_file = table.write_file(train_rows, {"split": "train"})
    test_file = table.write_file(_rows(rng, TEST_ROWS, "test"), {"split": "test"})
    table.commit([table.add(train_file), table.add(test_file)])
    table.commit([table.remove(train_file), table.add(train_file, inline_dv(DELETED))], "DELETE")
    return str(table.root)


def test_spark_train_matches_embedded_on_the_same_version(prepared_table):
    embedded, embedded_run = _run(train, prepared_table, model_type="linear")
    on_spark, spark_run = _run(train, prepared_table, model_type="linear", engine="spark")

    assert _training_input(spark_run).digest == _training_input(embedded_run).digest
    assert _training_input(spark_run).source == _training_input(embedded_run).source
    for key in ("delta_version", "rows_train", "rows_test", "task"):
        assert spark_run.data.params[key] == embedded_run.data.params[key]
    assert spark_run.data.params["engine"] == "spark"
    assert on_spark.metrics.keys() == embedded.metrics.keys()
    for name, value in embedded.metrics.items():
        assert on_spark.metrics[name] == pytest.approx(value, abs=1e-6), name


def test_deletion_vectors_and_time_travel(dv_feature_table):
    latest, latest_run = _run(train, dv_feature_table, label="y", model_type="linear",
                              engine="spark")
    older, older_run = _run(train, dv_feature_table, version=0, label="y",
                            model_type="linear", engine="spark")

    assert (latest.version, older.version) == (1, 0)
    assert int(latest_run.data.params["rows_train"]) == TRAIN_ROWS - len(DELETED)
    assert int(older_run.data.params["rows_train"]) == TRAIN_ROWS
    assert int(latest_run.data.params["rows_test"]) == TEST_ROWS
    assert _training_input(latest_run).digest != _training_input(older_run).digest
    assert json.loads(_training_input(latest_run).profile)["has_deletion_vectors"] is True
    assert json.loads(_training_input(latest_run).profile)["num_rows"] == \
        TRAIN_ROWS + TEST_ROWS - len(DELETED)


def test_embedded_engine_reads_the_same_deletion_vector_table(dv_feature_table):
    _, embedded_run = _run(train, dv_feature_table, label="y", model_type="linear")
    assert int(embedded_run.data.params["rows_train"]) == TRAIN_ROWS - len(DELETED)


def test_splits_too_big_for_the_driver_fail_before_anything_is_logged(prepared_table,
                                                                     model_name, monkeypatch):
    monkeypatch.setenv(COLLECT_LIMIT_ENV, "16k")
    with mlflow.start_run() as run:
        with pytest.raises(InvalidInputError) as error:
            train(prepared_table, model_type="linear", registered_model=model_name,
                  engine="spark")
    message = str(error.value)
    assert "\n" not in message and f"{COLLECT_LIMIT_ENV}=16k" in message
    assert "KiB" in message and "model_type=spark_gbt" in message
    assert not mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert not MlflowClient().search_registered_models(f"name = '{model_name}'")


def test_spark_ml_model_types_train_register_and_predict(prepared_table, model_name):
    classifier, classifier_run = _run(train, prepared_table, model_type="spark_lr",
                                      hyperparams={"regParam": 0.01}, engine="spark",
                                      registered_model=model_name)
    regressor, _ = _run(train, prepared_table, model_type="spark_gbt", task="regression",
                        hyperparams={"maxIter": 5, "maxDepth": 3}, engine="spark")

    assert classifier.registered_version == "1" and classifier.task == "classification"
    assert set(classifier.metrics) == {"accuracy", "f1", "log_loss", "roc_auc"}
    assert classifier.metrics["roc_auc"] > 0.9
    assert classifier_run.data.params["model.regParam"] == "0.01"
    assert set(regressor.metrics) == {"rmse", "mae", "r2"} and regressor.metrics["r2"] > 0.5

    rows = mlflow.data.get_source(classifier_run.inputs.dataset_inputs[0]).load()
    features = rows.drop(columns=["malignant", "split"]).head(20)
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/1")
    predicted = np.asarray(loaded.predict(features))
    assert set(predicted.tolist()) <= {0, 1} and len(predicted) == 20
    assert (predicted == rows["malignant"].head(20).to_numpy()).mean() > 0.8


def test_spark_ml_types_need_the_spark_engine_and_valid_params(prepared_table):
    with pytest.raises(InvalidInputError, match="needs engine=spark"):
        train(prepared_table, model_type="spark_gbt")
    with pytest.raises(InvalidInputError, match=r"\['depth'\] are not valid.*maxDepth"):
        with mlflow.start_run():
            train(prepared_table, model_type="spark_gbt", hyperparams={"depth": 3},
                  engine="spark")
    with pytest.raises(InvalidInputError, match="does not search Spark ML"):
        tune(prepared_table, model_type="spark_lr", engine="spark")


def test_tune_runs_parallel_trials_with_spark_trials(prepared_table):
    result, run = _run(tune, prepared_table, model_type="linear", max_evals=2, parallelism=2,
                       search_space={"C": {"loguniform": [0.1, 10.0]}}, engine="spark")
    assert run.data.tags["tune.executor"] == "spark"
    assert run.data.params["engine"] == "spark" and len(result.trials) == 2
    assert result.metrics["roc_auc"] > 0.9


PROBABILITY_METRICS = {"log_loss", "roc_auc", "precision_recall_auc"}
CURVE_PLOTS = {"roc_curve_plot.png", "precision_recall_curve_plot.png", "lift_curve_plot.png",
               "calibration_curve_plot.png"}


def _artifacts(run_id: str) -> set:
    return {item.path for item in MlflowClient().list_artifacts(run_id)}


def test_evaluate_on_spark_compares_with_the_champion_on_the_same_rows(prepared_table,
                                                                       model_name):
    for _ in range(2):
        _run(train, prepared_table, model_type="linear", registered_model=model_name)
    MlflowClient().set_registered_model_alias(model_name, "champion", "1")
    embedded, embedded_run = _run(evaluate, f"models:/{model_name}/2", table=prepared_table)
    on_spark, spark_run = _run(evaluate, f"models:/{model_name}/2", table=prepared_table,
                               engine="spark")

    # every metric but `score` (the scikit-learn estimator's own), probabilities included
    assert PROBABILITY_METRICS <= set(on_spark.metrics) == set(embedded.metrics) - {"score"}
    for name in on_spark.metrics:
        assert on_spark.metrics[name] == pytest.approx(embedded.metrics[name], abs=1e-6), name
    assert set(on_spark.champion_metrics) == set(on_spark.metrics)
    for name in on_spark.champion_metrics:
        assert on_spark.champion_metrics[name] == pytest.approx(
            embedded.champion_metrics[name], abs=1e-6), name
        assert spark_run.data.metrics[f"champion_{name}"] == pytest.approx(
            on_spark.champion_metrics[name])
    spark_files, embedded_files = _artifacts(on_spark.run_id), _artifacts(embedded.run_id)
    champion_plots = {f"champion_{name}" for name in CURVE_PLOTS}
    assert CURVE_PLOTS | champion_plots <= embedded_files
    assert spark_files - {"evaluation"} == embedded_files - {"evaluation"}
    [spark_input] = spark_run.inputs.dataset_inputs
    [embedded_input] = embedded_run.inputs.dataset_inputs
    assert spark_input.dataset.digest == embedded_input.dataset.digest
    assert spark_input.dataset.name == embedded_input.dataset.name
    assert {t.key: t.value for t in spark_input.tags} == {"mlflow.data.context": "evaluation"}
    table = json.loads(mlflow.artifacts.load_text(f"runs:/{on_spark.run_id}/{COMPARISON_ARTIFACT}"))
    assert {"accuracy_score", *PROBABILITY_METRICS} <= {row[0] for row in table["data"]}


def test_evaluate_on_spark_scores_multiclass_probabilities_like_embedded(dv_feature_table,
                                                                          model_name):
    _run(train, dv_feature_table, label="cat", model_type="linear", registered_model=model_name)
    embedded, _ = _run(evaluate, f"models:/{model_name}/1", table=dv_feature_table)
    on_spark, _ = _run(evaluate, f"models:/{model_name}/1", table=dv_feature_table,
                       engine="spark")

    assert {"log_loss", "roc_auc"} <= set(on_spark.metrics) == set(embedded.metrics) - {"score"}
    for name in on_spark.metrics:
        assert on_spark.metrics[name] == pytest.approx(embedded.metrics[name], abs=1e-6), name
    assert _artifacts(on_spark.run_id) == _artifacts(embedded.run_id)
    per_class = [pd.read_csv(mlflow.artifacts.download_artifacts(
        artifact_path="per_class_metrics.csv", run_id=run_id))
        for run_id in (on_spark.run_id, embedded.run_id)]
    assert {"roc_auc", "precision_recall_auc"} <= set(per_class[0].columns)
    pd.testing.assert_frame_equal(per_class[0], per_class[1][per_class[0].columns], atol=1e-6)


def test_evaluate_on_spark_takes_spark_ml_probabilities(prepared_table, spark, model_name):
    trained, _ = _run(train, prepared_table, model_type="spark_lr", engine="spark",
                      hyperparams={"regParam": 0.01}, registered_model=model_name)
    split = load_spark_test_split(spark, prepared_table)
    label = split.features.spec.label
    scored = with_probabilities(spark, f"models:/{model_name}/1",
                                split.rows.withColumn("prediction", split.rows[label]),
                                split.features.features, "prediction")
    # the pipeline's own `probability` column, on the test rows train measured
    frame = scored.frame.select(label, PROBABILITIES_COLUMN).toPandas()
    classes = sorted(frame[label].unique())
    metrics = probability_metrics(frame[label], np.vstack(frame[PROBABILITIES_COLUMN]), classes)
    assert scored.classes is None and set(metrics) == PROBABILITY_METRICS
    assert metrics["roc_auc"] == pytest.approx(trained.metrics["roc_auc"], abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(trained.metrics["log_loss"], abs=1e-6)


def test_evaluate_on_spark_scores_regressors_like_embedded(prepared_table, model_name):
    _run(train, prepared_table, model_type="linear", task="regression",
         registered_model=model_name)
    embedded, _ = _run(evaluate, f"models:/{model_name}/1", table=prepared_table)
    on_spark, _ = _run(evaluate, f"models:/{model_name}/1", table=prepared_table,
                       engine="spark")
    # every metric but `score`, which the evaluator asks the scikit-learn estimator itself for
    assert set(on_spark.metrics) == set(embedded.metrics) - {"score"}
    assert pd.Series(on_spark.metrics).sort_index().to_numpy() == pytest.approx(
        pd.Series(embedded.metrics)[list(on_spark.metrics)].sort_index().to_numpy())


def test_train_entry_point_with_engine_spark(prepared_table, mlflow_env, tmp_path):
    done = run_script("train", "--table", prepared_table, "--model_type", "linear",
                      "--engine", "spark",
                      env={**mlflow_env, "MLFLOW_DELTA_SPARK_MASTER": "local[1]"},
                      cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [run] = mlflow.search_runs(filter_string="params.engine = 'spark'", output_format="list")
    assert run.info.status == "FINISHED" and "test_roc_auc" in run.data.metrics


def test_main_runs_the_whole_lifecycle_on_spark(mlflow_env, tmp_path, model_name):
    from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
    from mlflow_delta_plugin.steps.lifecycle import run_lifecycle

    with mlflow.start_run() as parent:
        result = run_lifecycle(input=DEFAULT_INPUT, table=str(tmp_path / "features"),
                               label=DEFAULT_LABEL, model_type="linear",
                               registered_model=model_name, engine="spark")
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list")
    assert len(children) == 4 and all(run.info.status == "FINISHED" for run in children)
    assert {run.data.params.get("engine") for run in children
            if "engine" in run.data.params} == {"spark"}
    assert result.promoted.decision == "promoted"
    champion = MlflowClient().get_model_version_by_alias(model_name, "champion")
    assert str(champion.version) == result.trained.registered_version
    assert "roc_auc" in result.evaluated.metrics
