"""One local Spark session for all Spark tests (startup costs 6-10 s; Python workers are reused).

Package-scoped: it stops after the last test here, so later tests (tune picks SparkTrials when
a Spark session is active) do not inherit it.

Executors run this interpreter (``PYSPARK_PYTHON``), so they import the package under test.
"""

import os
import sys

import pytest


@pytest.fixture(scope="package")
def spark():
    """A ``local[2]`` session without the UI, with small shuffles."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]")
               .appName("mlflow-delta-plugin-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
