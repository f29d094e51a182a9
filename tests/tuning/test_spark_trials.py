"""With a Spark session active, parallel trials run as Spark tasks (hyperopt SparkTrials).

Plain pyspark on local[2] (no Delta jars needed: trials get their data from the driver).
"""

import mlflow
import pytest

from mlflow_delta_plugin.steps.tune import tune
from tests.spark_session import start_local_spark

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


@pytest.fixture
def spark_session():
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession()
    session = existing or start_local_spark("tune-test")
    yield session
    if existing is None:
        session.stop()


def test_parallel_trials_run_on_spark_and_are_recorded_as_children(prepared_table, spark_session):
    with mlflow.start_run() as run:
        result = tune(table=prepared_table, model_type="linear", max_evals=3, parallelism=2,
                      search_space={"C": {"choice": [1.0, -1.0]}, "tol": {"uniform": [1e-4, 1e-3]}},
                      seed=4)
    parent = mlflow.get_run(run.info.run_id)
    assert parent.data.tags["tune.executor"] == "spark"
    children = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
                                  output_format="list")
    assert len(children) == len(result.trials) == 3
    assert sorted(t.number for t in result.trials) == [0, 1, 2]
    statuses = {c.data.params["C"]: c.info.status for c in children}
    assert statuses.get("1.0", "FINISHED") == "FINISHED"
    assert statuses.get("-1.0", "FAILED") == "FAILED"
    assert parent.data.tags["best_run_id"] in {c.info.run_id for c in children}
    assert result.best_params["C"] == 1.0
