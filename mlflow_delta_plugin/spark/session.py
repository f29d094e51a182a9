"""What a Spark session offers for Delta: native Delta Lake, and the settings reads follow."""

import os
import re
from typing import Optional

from pyspark.sql import SparkSession

__all__ = ["parse_bytes", "read_sizing_options", "register_data_source", "session_has_native_delta"]

_DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
_NATIVE_ATTRIBUTE = "_mlflow_delta_native"
_REGISTERED_ATTRIBUTE = "_mlflow_delta_registered"
_BYTE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "g": 1 << 30, "gb": 1 << 30, "t": 1 << 40, "tb": 1 << 40}


def session_has_native_delta(spark: SparkSession) -> bool:
    """Whether ``spark`` reads and writes ``format("delta")`` itself.

    True on Databricks runtimes and on sessions whose JVM has the Delta Lake data source
    (delta-spark with its jars, e.g. through ``configure_spark_with_delta_pip``). A Spark Connect
    session counts as native when its server is configured with the Delta session extension.

    Example:
        >>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
        >>> session_has_native_delta(spark)  # doctest: +SKIP
        False
    """
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return True
    known = getattr(spark, _NATIVE_ATTRIBUTE, None)
    if known is None:
        known = _detect_native_delta(spark)
        _remember(spark, _NATIVE_ATTRIBUTE, known)
    return known


def _detect_native_delta(spark: SparkSession) -> bool:
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:  # Spark Connect: the JVM is on the server, ask its configuration
        try:
            return _DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions", "") or "")
        except Exception:  # noqa: BLE001 - a server that will not say has no Delta we know of
            return False
    try:
        lookup = jvm.org.apache.spark.sql.execution.datasources.DataSource.lookupDataSource
        lookup("delta", spark._jsparkSession.sessionState().conf())
        return True
    except Exception:  # noqa: BLE001 - py4j raises when the class is not on the classpath
        return False


def register_data_source(spark: SparkSession) -> str:
    """Register the deltalake-backed Python Data Source with ``spark``; returns its format name."""
    from mlflow_delta_plugin.spark.datasource import DATA_SOURCE_NAME, DeltaLakeDataSource

    if not getattr(spark, _REGISTERED_ATTRIBUTE, False):
        spark.dataSource.register(DeltaLakeDataSource)
        _remember(spark, _REGISTERED_ATTRIBUTE, True)
    return DATA_SOURCE_NAME


def _remember(spark: SparkSession, attribute: str, value: object) -> None:
    """Cache a per-session answer on the session object (skipped where it takes no attributes)."""
    try:
        setattr(spark, attribute, value)
    except (AttributeError, TypeError):
        pass


def read_sizing_options(spark: SparkSession) -> dict:
    """The session's file split settings as data source options (Spark's defaults if unset)."""
    options = {
        "maxPartitionBytes": _conf_bytes(spark, "spark.sql.files.maxPartitionBytes", 128 << 20),
        "openCostInBytes": _conf_bytes(spark, "spark.sql.files.openCostInBytes", 4 << 20),
    }
    minimum = _conf(spark, "spark.sql.files.minPartitionNum")
    if minimum is None:
        try:
            minimum = spark.sparkContext.defaultParallelism
        except Exception:  # noqa: BLE001 - Spark Connect has no SparkContext
            minimum = _conf(spark, "spark.default.parallelism") or os.cpu_count() or 1
    options["minPartitions"] = int(minimum)
    return {key: str(value) for key, value in options.items()}


def _conf(spark: SparkSession, key: str) -> Optional[str]:
    try:
        return spark.conf.get(key, None)
    except Exception:  # noqa: BLE001 - unknown keys raise on some versions
        return None


def _conf_bytes(spark: SparkSession, key: str, default: int) -> int:
    text = _conf(spark, key)
    return default if text is None else parse_bytes(text)


def parse_bytes(text: str) -> int:
    """Bytes of a Spark size setting such as ``128MB``, ``4m`` or ``134217728``.

    Raises:
        ValueError: not a size.
    """
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _BYTE_UNITS:
        raise ValueError(f"'{text}' is not a size in bytes (e.g. 128MB)")
    return int(match.group(1)) * _BYTE_UNITS[match.group(2).lower()]
