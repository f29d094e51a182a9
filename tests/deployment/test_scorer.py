"""The scorer on pandas and on local Spark: pinned input versions, metadata columns, lineage."""

import json

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from mlflow_delta_plugin.deployment.config import ScoringSpec
from mlflow_delta_plugin.deployment.scorer import METADATA_COLUMNS, score_table
from mlflow_delta_plugin.errors import InvalidInputError, VersionNotFoundError
from tests.spark_session import start_local_spark


def _output(path: str) -> pd.DataFrame:
    return DeltaTable(path).to_pandas().sort_values(["input_version", "id"])


def test_pandas_scores_pinned_version_and_appends(input_table, linear_model, tmp_path):
    output = str(tmp_path / "predictions")
    spec = ScoringSpec(input_table=input_table, output_table=output, input_version=0,
                       engine="pandas")
    first = score_table(None, linear_model, spec, deployment="d1", job_run_id="77")
    assert (first.input_version, first.output_version, first.rows) == (0, 0, 20)
    latest = score_table(None, linear_model, ScoringSpec(input_table, output, engine="pandas"),
                         deployment="d1")
    assert (latest.input_version, latest.output_version, latest.rows) == (1, 1, 25)

    rows = _output(output)
    assert list(rows.columns)[-5:] == ["prediction", *METADATA_COLUMNS]
    assert len(rows) == 45 and set(rows["model_uri"]) == {linear_model}
    assert rows["model_version"].isna().all()  # a logged, unregistered model
    np.testing.assert_allclose(rows["prediction"], 2 * rows["x1"] - rows["x2"], atol=1e-6)
    commit = DeltaTable(output).history(2)[-1]  # the first write
    assert commit["mlflow_delta_plugin.deployment"] == "d1"
    assert commit["databricks.jobRunId"] == "77"
    assert commit["mlflow_delta_plugin.input"] == f"{input_table}@v0"


def test_errors_name_the_problem(input_table, linear_model, tmp_path):
    output = str(tmp_path / "out")
    with pytest.raises(VersionNotFoundError, match="no version 9"):
        score_table(None, linear_model, ScoringSpec(input_table, output, input_version=9,
                                                    engine="pandas"), deployment="d")
    with pytest.raises(InvalidInputError, match=r"no column\(s\) \['nope'\]"):
        score_table(None, linear_model, ScoringSpec(input_table, output, engine="pandas",
                                                    feature_columns=("nope",)), deployment="d")
    assert not DeltaTable.is_deltatable(output)  # a failed pass writes nothing


def test_registered_alias_is_pinned_to_its_version(input_table, linear_model, model_name,
                                                   tmp_path):
    import mlflow

    version = mlflow.register_model(linear_model, model_name).version
    mlflow.MlflowClient().set_registered_model_alias(model_name, "champion", version)
    result = score_table(None, f"models:/{model_name}@champion",
                         ScoringSpec(input_table, str(tmp_path / "o"), engine="pandas"),
                         deployment="d")
    assert result.model_version == str(version)
    assert set(_output(str(tmp_path / "o"))["model_version"]) == {str(version)}


@pytest.fixture(scope="module")
def spark():
    session = start_local_spark("deployment-scorer", cores=1)
    yield session
    session.stop()


def test_spark_and_pandas_agree(spark, input_table, linear_model, tmp_path):
    spark_out, pandas_out = str(tmp_path / "spark"), str(tmp_path / "pandas")
    on_spark = score_table(spark, linear_model, ScoringSpec(input_table, spark_out,
                                                            input_version=0), deployment="s")
    on_pandas = score_table(None, linear_model, ScoringSpec(input_table, pandas_out,
                                                            input_version=0, engine="pandas"),
                            deployment="p")
    assert (on_spark.rows, on_spark.input_version, on_spark.output_version) == (20, 0, 0)
    left, right = _output(spark_out), _output(pandas_out)
    assert list(left.columns) == list(right.columns)
    np.testing.assert_allclose(left["prediction"], right["prediction"], atol=1e-9)
    assert left["input_version"].tolist() == [0] * 20
    commit = DeltaTable(spark_out).history(1)[0]
    assert json.loads(json.dumps(commit))["mlflow_delta_plugin.deployment"] == "s"


def test_run_local_uses_the_same_scorer_on_spark(spark, input_table, linear_model, tmp_path,
                                                 capsys):
    from mlflow_delta_plugin.deployment.target import run_local

    output = str(tmp_path / "local")
    run_local("local", linear_model, None, {"input_table": input_table, "output_table": output,
                                            "input_version": "1"})
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (printed["input_version"], printed["rows"]) == (1, 25)
    assert not spark.sparkContext._jsc.sc().isStopped()  # a session it did not start stays up
    assert len(_output(output)) == 25
