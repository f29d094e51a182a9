"""engine: engine names and the Spark session steps run on."""

import pytest

from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine, spark_session
from mlflow_delta_plugin.errors import InvalidInputError


@pytest.mark.parametrize("name", [EMBEDDED, SPARK])
def test_known_engines(name):
    assert check_engine(name) == name


@pytest.mark.parametrize("name", ["pandas", "Spark", ""])
def test_unknown_engine_is_one_line_naming_the_choices(name):
    with pytest.raises(InvalidInputError) as error:
        check_engine(name)
    assert str(error.value) == f"engine '{name}' is not one of ['embedded', 'spark']"


@pytest.mark.slow
def test_a_local_session_is_started_once_then_reused(monkeypatch):
    monkeypatch.setenv("MLFLOW_DELTA_SPARK_MASTER", "local[1]")
    monkeypatch.setenv("MLFLOW_DELTA_SPARK_LOG_LEVEL", "ERROR")
    from pyspark.sql import SparkSession

    assert SparkSession.getActiveSession() is None  # other tests stop theirs
    session = spark_session()
    try:
        assert session.sparkContext.master == "local[1]"
        assert session.conf.get("spark.sql.session.timeZone") == "UTC"
        assert spark_session() is session
        assert session.range(3).selectExpr("sum(id) AS s").first().s == 3  # workers start
    finally:
        session.stop()
