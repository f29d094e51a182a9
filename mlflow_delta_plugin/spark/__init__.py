"""Delta Lake IO for the Spark engine, behind one interface.

:func:`read_delta` and :func:`write_delta` use the session's native ``format("delta")`` when it
has Delta Lake (Databricks, delta-spark with its jars) and otherwise a Spark 4 Python Data
Source backed by deltalake (executors read / write Parquet, the driver commits one Delta
transaction). Either way: the same table, the same version numbers, the same rows (deletion
vectors honoured), and commits tagged with the MLflow run that wrote them.

Example:
    >>> from mlflow_delta_plugin.spark import read_delta, write_delta
    >>> df = read_delta(spark, "data/features", version=3)  # doctest: +SKIP
"""

from mlflow_delta_plugin.spark.datasource import DATA_SOURCE_NAME, DeltaLakeDataSource
from mlflow_delta_plugin.spark.delta_io import read_delta, write_delta
from mlflow_delta_plugin.spark.session import register_data_source, session_has_native_delta

__all__ = [
    "DATA_SOURCE_NAME",
    "DeltaLakeDataSource",
    "read_delta",
    "register_data_source",
    "session_has_native_delta",
    "write_delta",
]
