"""Delta Lake IO for the Spark engine, behind one interface.

:func:`read_delta` and :func:`write_delta` use the session's native ``format("delta")`` when it
has Delta Lake (Databricks, delta-spark with its jars) and otherwise a Spark 4 Python Data
Source backed by deltalake (executors read / write Parquet, the driver commits one Delta
transaction). Either way: the same table, the same version numbers, the same rows (deletion
vectors honoured), and commits tagged with the MLflow run that wrote them.

The names are imported on first use: Spark's Python workers import
:mod:`mlflow_delta_plugin.spark.datasource` to run the data source, and must not pay for the
driver-side modules (which import MLflow) on the way.

Example:
    >>> from mlflow_delta_plugin.spark import read_delta, write_delta
    >>> df = read_delta(spark, "data/features", version=3)  # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
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

_HOMES = {
    "DATA_SOURCE_NAME": "datasource",
    "DeltaLakeDataSource": "datasource",
    "read_delta": "delta_io",
    "write_delta": "delta_io",
    "register_data_source": "session",
    "session_has_native_delta": "session",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
