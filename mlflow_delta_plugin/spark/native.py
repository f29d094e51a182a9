"""Delta IO through the session's own ``format("delta")`` (Databricks, or delta-spark with jars).

Same contract as the Python Data Source path: reads pin an exact version (``versionAsOf``);
writes commit one version whose commit info carries the caller's metadata. Delta Lake on Spark
keeps free-form commit metadata in one string, ``userMetadata``, so the metadata dict is stored
there as JSON and the written version is found again through the write id inside it.
"""

import json
from functools import reduce
from typing import Mapping, Optional, Sequence

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from mlflow_delta_plugin.errors import TableNotFoundError, VersionNotFoundError
from mlflow_delta_plugin.spark.filters import Disjunction, cast_value

__all__ = ["USER_METADATA_OPTION", "find_native_write", "latest_version", "narrow",
           "read_native", "to_spark_condition", "write_native"]

USER_METADATA_OPTION = "userMetadata"
_HISTORY_DEPTH = 1000


def _path_table(uri: str) -> str:
    return "delta.`" + uri.replace("`", "``") + "`"


def latest_version(spark: SparkSession, uri: str) -> int:
    """The newest version of the Delta table at ``uri``, read through Spark.

    Raises:
        TableNotFoundError: Spark finds no Delta table there.
    """
    try:
        row = spark.sql(f"DESCRIBE HISTORY {_path_table(uri)} LIMIT 1").collect()[0]
    except Exception as exc:  # noqa: BLE001 - AnalysisException and friends
        raise TableNotFoundError(f"no Delta table at '{uri}': {str(exc).splitlines()[0]}") from None
    return int(row["version"])


def read_native(spark: SparkSession, uri: str, version: int) -> DataFrame:
    """Rows of ``version`` of the table at ``uri`` through ``format("delta")``.

    Raises:
        VersionNotFoundError: the table has no such version.
    """
    try:
        return spark.read.format("delta").option("versionAsOf", int(version)).load(uri)
    except Exception as exc:  # noqa: BLE001
        raise VersionNotFoundError(f"cannot read version {version} of Delta table '{uri}': "
                                   f"{str(exc).splitlines()[0]}") from None


def narrow(frame: DataFrame, columns: Optional[Sequence[str]] = None,
           filters: Disjunction = (), arrow_schema: Optional[pa.Schema] = None) -> DataFrame:
    """``frame`` filtered by parsed ``filters`` and narrowed to ``columns``.

    With ``arrow_schema`` (the table's Arrow schema) filter values are cast to their columns'
    types first, as the deltalake-backed reader does.
    """
    condition = to_spark_condition(filters, arrow_schema)
    if condition is not None:
        frame = frame.where(condition)
    if columns is not None:
        frame = frame.select(*[F.col(c) for c in columns])
    return frame


def to_spark_condition(filters: Disjunction,
                       arrow_schema: Optional[pa.Schema] = None) -> Optional[Column]:
    """A Spark column expression for parsed DNF ``filters`` (None when there are none).

    Nulls are treated as deltalake's (pyarrow's) filters treat them, so every engine keeps the
    same rows: ``not in`` keeps null values unless the list holds None, ``in`` matches nulls
    only when the list holds None, and ``= None`` / ``!= None`` test for null.
    """
    if not filters:
        return None
    alternatives = [reduce(lambda a, b: a & b, (_spark_term(p, arrow_schema) for p in group))
                    for group in filters]
    return reduce(lambda a, b: a | b, alternatives)


def _spark_term(predicate, arrow_schema: Optional[pa.Schema]) -> Column:
    column = F.col(predicate.column)

    def typed(value):
        if arrow_schema is None or value is None:
            return value
        return cast_value(value, arrow_schema.field(predicate.column).type, predicate.column)

    if predicate.op in ("in", "not in"):
        values = [typed(v) for v in predicate.value if v is not None]
        has_null = any(v is None for v in predicate.value)
        contained = column.isin(values) if values else F.lit(False)
        contained = F.coalesce(contained, F.lit(False))
        if predicate.op == "in":
            return contained | column.isNull() if has_null else contained
        return ~contained & column.isNotNull() if has_null else ~contained
    if predicate.value is None:
        return column.isNull() if predicate.op == "=" else column.isNotNull()
    value = F.lit(typed(predicate.value))
    return {"=": column == value, "!=": column != value, "<": column < value,
            "<=": column <= value, ">": column > value, ">=": column >= value}[predicate.op]


def write_native(frame: DataFrame, uri: str, mode: str, metadata: dict,
                 partition_by: Optional[Sequence[str]] = None,
                 configuration: Optional[Mapping[str, str]] = None) -> None:
    """Write ``frame`` to ``uri`` with ``format("delta")`` as one commit carrying ``metadata``
    (as JSON in ``userMetadata``). An overwrite may replace the schema, as the Python Data
    Source path allows. ``configuration`` (``delta.*`` table properties) goes in as writer
    options, which Delta Lake applies to a table the write creates."""
    writer = (frame.write.format("delta").mode(mode)
              .option(USER_METADATA_OPTION, json.dumps(metadata, sort_keys=True)))
    for key, value in (configuration or {}).items():
        writer = writer.option(key, value)
    if mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(uri)


def find_native_write(spark: SparkSession, uri: str, write_key: str, write_id: str) -> int:
    """The version whose ``userMetadata`` JSON has ``write_key`` = ``write_id``.

    Raises:
        VersionNotFoundError: no recent commit carries it.
    """
    history = spark.sql(f"DESCRIBE HISTORY {_path_table(uri)} LIMIT {_HISTORY_DEPTH}")
    for row in history.select("version", "userMetadata").collect():
        try:
            recorded = json.loads(row["userMetadata"] or "{}")
        except ValueError:
            continue
        if isinstance(recorded, dict) and recorded.get(write_key) == write_id:
            return int(row["version"])
    raise VersionNotFoundError(f"no commit of Delta table '{uri}' carries write id {write_id}; "
                               "the write did not land")
