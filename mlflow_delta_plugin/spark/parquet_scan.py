"""Scanning the plain files of a Delta version with Spark's own Parquet reader.

Most live files of a version have no deletion vector: for them a Delta read is exactly a Parquet
read, and Spark's vectorized JVM reader does it with about half the CPU of any Python Data
Source (whose rows cross a socket and are converted from Arrow one by one). A file qualifies
when reading it as Parquet cannot change a row:

- it has no deletion vector, and the table uses no column mapping (file columns = table columns);
- its location has no glob characters (Spark expands ``*?[]{}`` in the paths it is given);
- its path is ``<table>/<col>=<value>/.../<file>.parquet`` with exactly the table's partition
  columns, in order, and Spark's own decoding of each folder name (``unescapePathName``, then a
  cast to the column's Delta type) gives back the value the log records for that file;
- partition columns have types whose text form Spark casts without a time zone (strings,
  integers, booleans, dates).

Everything else (files with deletion vectors, odd layouts) goes through the Python Data Source;
:func:`mlflow_delta_plugin.spark.delta_io.read_delta` unions both. Both sides read exactly the
files the log lists for the pinned version.
"""

import datetime
import re
from typing import Any, Optional, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from mlflow_delta_plugin.spark.file_writer import NULL_PARTITION
from mlflow_delta_plugin.spark.scan import LiveFile

__all__ = ["scan_parquet", "spark_parquet_readable", "spark_unescape", "split_spark_readable",
           "table_is_spark_readable"]

_PLAIN_PARTITION_TYPES = (T.StringType, T.ByteType, T.ShortType, T.IntegerType, T.LongType,
                          T.BooleanType, T.DateType)
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_GLOB_CHARACTERS = re.compile(r"[*?\[\]{}\\]")
_SAFE_COLUMN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$")


def spark_unescape(text: str) -> Optional[str]:
    """Spark's ``ExternalCatalogUtils.unescapePathName`` of a folder-name part, or None when the
    text holds a ``%`` not followed by two hex digits (where Java's and Python's number parsing
    could differ)."""
    if _ESCAPE.search(text):
        return None
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _spark_cast(text: str, kind: T.DataType) -> Any:
    """What Spark makes of a partition folder's text for a column of ``kind`` (ValueError when
    unsure)."""
    if isinstance(kind, T.StringType):
        return text
    if isinstance(kind, T.BooleanType):
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError(text)
        return lowered == "true"
    if isinstance(kind, T.DateType):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return datetime.date.fromisoformat(text)
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(text)
    return int(text)


def table_is_spark_readable(schema: T.StructType, partition_columns: Sequence[str],
                            configuration: dict) -> bool:
    """Whether any file of a table with this schema / configuration can take the Parquet path."""
    if (configuration.get("delta.columnMapping.mode") or "none").lower() != "none":
        return False
    for column in partition_columns:
        if not _SAFE_COLUMN.match(column) or "=" in column:
            return False
        if not isinstance(schema[column].dataType, _PLAIN_PARTITION_TYPES):
            return False
    return True


def spark_parquet_readable(live: LiveFile, root: str, schema: T.StructType,
                           partition_columns: Sequence[str]) -> bool:
    """Whether Spark's Parquet reader, given the table root as ``basePath``, reads ``live``
    with exactly the rows and partition values the Delta log gives it."""
    if live.deleted is not None or not live.location.startswith(root.rstrip("/") + "/"):
        return False
    if _GLOB_CHARACTERS.search(live.location):  # Spark would expand the path as a pattern
        return False
    parts = live.location[len(root.rstrip("/")) + 1:].split("/")
    folders, name = parts[:-1], parts[-1]
    if len(folders) != len(partition_columns) or not name or name.startswith((".", "_")):
        return False
    for folder, column, value in zip(folders, partition_columns, live.partition_values):
        prefix = f"{column}="
        if not folder.startswith(prefix):
            return False
        raw = spark_unescape(folder[len(prefix):])
        if raw is None:
            return False
        if raw == NULL_PARTITION:
            if value is not None:
                return False
            continue
        if value is None:
            return False
        try:
            if _spark_cast(raw, schema[column].dataType) != value:
                return False
        except ValueError:
            return False
    return True


def split_spark_readable(files: Sequence[LiveFile], root: str, schema: T.StructType,
                         partition_columns: Sequence[str], configuration: dict) -> tuple:
    """``(for_spark_parquet, for_python_source)``: the files, in two lists."""
    if not table_is_spark_readable(schema, partition_columns, configuration):
        return [], list(files)
    plain, rest = [], []
    for live in files:
        (plain if spark_parquet_readable(live, root, schema, partition_columns)
         else rest).append(live)
    return plain, rest


def scan_parquet(spark: SparkSession, root: str, schema: T.StructType,
                 partition_columns: Sequence[str], files: Sequence[LiveFile]) -> DataFrame:
    """The rows of ``files`` read by Spark's Parquet reader, columns in ``schema`` order.

    The schema is given, so Spark reads no footer on the driver and types the partition
    columns (parsed from the folder names) as Delta does; files lacking a column added later
    return nulls for it.
    """
    data_fields = [f for f in schema.fields if f.name not in partition_columns]
    partition_fields = [schema[c] for c in partition_columns]
    read_schema = T.StructType(data_fields + partition_fields)
    frame = (spark.read.schema(read_schema).option("basePath", root)
             .parquet(*[live.location for live in files]))
    return frame.select(*schema.fieldNames())
