"""One local Spark session for all Spark tests (startup costs 6-10 s; Python workers are reused).

Package-scoped: it stops after the last test here, so later tests (tune picks SparkTrials when
a Spark session is active) do not inherit it.

Executors run this interpreter (``PYSPARK_PYTHON``), so they import the package under test.
"""

import pytest

from tests.spark_session import start_local_spark


@pytest.fixture(scope="package")
def spark():
    """A ``local[2]`` session without the UI, with small shuffles."""
    session = start_local_spark("mlflow-delta-plugin-tests")
    yield session
    session.stop()
