"""Which engine a step runs on: ``embedded`` (deltalake + pandas in this process) or ``spark``.

With ``engine=spark`` a step uses the active Spark session (Databricks, a notebook, spark-submit)
or, when there is none, starts a local one. The local session's master comes from
``MLFLOW_DELTA_SPARK_MASTER`` (default ``local[*]``) and its driver memory from
``MLFLOW_DELTA_SPARK_DRIVER_MEMORY`` (default ``2g``), its log level from
``MLFLOW_DELTA_SPARK_LOG_LEVEL`` (default ``FATAL``: a failed task's error comes back as the
step's one-line error, so Spark's own ERROR logs with Java stack traces would only bury it);
everything else from Spark's own configuration (``spark-defaults.conf``, ``PYSPARK_SUBMIT_ARGS``).
"""

import logging
import os
import sys
from typing import Any

from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["EMBEDDED", "ENGINES", "SPARK", "check_engine", "spark_session"]

EMBEDDED = "embedded"
SPARK = "spark"
ENGINES = (EMBEDDED, SPARK)

MASTER_ENV = "MLFLOW_DELTA_SPARK_MASTER"
DRIVER_MEMORY_ENV = "MLFLOW_DELTA_SPARK_DRIVER_MEMORY"
LOG_LEVEL_ENV = "MLFLOW_DELTA_SPARK_LOG_LEVEL"

_log = logging.getLogger(__name__)


def check_engine(engine: str) -> str:
    """Return ``engine`` if it is a known engine name.

    Raises:
        InvalidInputError: unknown engine, or ``spark`` without pyspark installed.
    """
    if engine not in ENGINES:
        raise InvalidInputError(f"engine '{engine}' is not one of {list(ENGINES)}")
    if engine == SPARK:
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:
            raise InvalidInputError(
                "engine=spark needs pyspark; install it (pip install 'pyspark>=4') or use "
                "engine=embedded") from exc
    return engine


def spark_session() -> Any:
    """The active Spark session (on Databricks: the cluster's), or a new local one.

    A local session runs its Python workers with this interpreter, so they import the same
    packages as the driver.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):  # a job's script: the cluster's session
        return SparkSession.builder.getOrCreate()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = os.environ.get(MASTER_ENV, "local[*]")
    _log.info("engine: starting a Spark session (master %s)", master)
    session = (SparkSession.builder.master(master)
               .appName("mlflow-delta-plugin")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.memory", os.environ.get(DRIVER_MEMORY_ENV, "2g"))
               .getOrCreate())
    session.sparkContext.setLogLevel(os.environ.get(LOG_LEVEL_ENV, "FATAL"))
    return session
