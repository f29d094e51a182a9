"""One way to start the tests' local Spark sessions (startup costs 6-10 s: share them).

Executors run this interpreter (``PYSPARK_PYTHON``), so they import the package under test and
its dependencies; without it they run whatever ``python3`` is on PATH.
"""

import os
import sys


def start_local_spark(app_name: str, cores: int = 2):
    """A ``local[cores]`` session without the UI, with small shuffles, UTC, 1 GiB driver."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master(f"local[{cores}]")
               .appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", str(cores))
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session
