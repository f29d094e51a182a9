"""Reading and writing Delta tables from Spark, through whichever engine the session has.

Native ``format("delta")`` when the session has Delta Lake (Databricks, delta-spark with its
jars), otherwise the deltalake-backed Python Data Source. Both pin exact versions, return the
same rows and version numbers, and tag commits with the caller's metadata.
"""

import json
import uuid
from functools import reduce
from typing import Mapping, Optional, Sequence

from deltalake import CommitProperties
from pyspark.sql import DataFrame, SparkSession

from mlflow_delta_plugin.delta.lineage import WRITE_ID_KEY, find_write
from mlflow_delta_plugin.delta.reader import FilterSpec
from mlflow_delta_plugin.delta.table import normalize_table_uri, open_table
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.spark import native
from mlflow_delta_plugin.spark.commit import WRITE_MODES, check_write
from mlflow_delta_plugin.spark.filters import (
    filters_to_json,
    parse_filters,
    split_by_columns,
    to_arrow_expression,
)
from mlflow_delta_plugin.spark.parquet_scan import scan_parquet, split_spark_readable
from mlflow_delta_plugin.spark.scan import list_files, table_root
from mlflow_delta_plugin.spark.schema import (
    as_nullable,
    delta_to_spark,
    project,
    spark_arrow_schema,
)
from mlflow_delta_plugin.spark.session import (
    read_sizing_options,
    register_data_source,
    session_has_native_delta,
)

__all__ = ["read_delta", "write_delta"]


def read_delta(
    spark: SparkSession,
    uri: str,
    version: Optional[int] = None,
    columns: Optional[Sequence[str]] = None,
    filters: Optional[FilterSpec] = None,
    *,
    use_native: Optional[bool] = None,
    parquet_fast_path: bool = True,
) -> DataFrame:
    """A DataFrame of the rows of one version of the Delta table at ``uri``.

    The version is pinned when this is called (the latest one when ``version`` is None), so the
    DataFrame keeps returning that version's rows however the table moves on. Deletion vectors
    are honoured; partition columns keep their Delta types; filters on partition columns prune
    files. Columns come back nullable, as Spark presents any file source.

    Without native Delta, the version's live files are read by two readers whose results are
    unioned: files Spark's Parquet reader reads exactly (no deletion vector, partition values
    spelled by their folders) by that reader, the others by the deltalake-backed Python Data
    Source. Both cover exactly the files the log lists for the version.

    Args:
        spark: the session.
        uri: table location (path, ``file://`` or object-store URI).
        version: Delta version to read (time travel); None for the latest.
        columns: columns to read, in this order; None for all.
        filters: deltalake DNF filters, e.g. ``[("split", "=", "test")]``.
        use_native: force (True) or avoid (False) native ``format("delta")``; None detects it.
        parquet_fast_path: let Spark's Parquet reader read the files it reads exactly (local
            tables); False sends every file through the Python Data Source.

    Raises:
        TableNotFoundError, VersionNotFoundError, InvalidInputError.

    Example:
        >>> df = read_delta(spark, "data/features", version=3,  # doctest: +SKIP
        ...                 filters=[("split", "=", "train")])
    """
    location = normalize_table_uri(uri)
    native_engine = session_has_native_delta(spark) if use_native is None else use_native
    if native_engine:
        pinned = native.latest_version(spark, location) if version is None else int(version)
        frame = native.read_native(spark, location, pinned)
        try:
            project(frame.schema, columns)
            parsed = parse_filters(filters, frame.columns)
        except ValueError as exc:
            raise InvalidInputError(f"Delta table '{location}': {exc}") from None
        return native.narrow(frame, columns, parsed)

    table = open_table(location, version)
    schema = as_nullable(delta_to_spark(table.schema()))
    arrow_schema = spark_arrow_schema(schema)
    try:
        project(schema, columns)
        parsed = parse_filters(filters, schema.fieldNames())
        to_arrow_expression(parsed, arrow_schema)  # every value must fit its column
        prune, _ = split_by_columns(parsed, table.metadata().partition_columns)
        files = list_files(table, prune)
    except ValueError as exc:
        raise InvalidInputError(f"Delta table '{location}': {exc}") from None

    root = table_root(table)
    partition_columns = list(table.metadata().partition_columns)
    plain = []
    if parquet_fast_path and "://" not in root:
        plain, _ = split_spark_readable(files, root, schema, partition_columns,
                                        dict(table.metadata().configuration))
    frames = []
    if plain:
        scanned = scan_parquet(spark, root, schema, partition_columns, plain)
        frames.append(native.narrow(scanned, columns, parsed, arrow_schema))
    if len(plain) < len(files) or not frames:
        options = {"versionAsOf": str(table.version()), "filters": filters_to_json(parsed),
                   "skipSparkReadable": "true" if plain else "false",
                   **read_sizing_options(spark)}
        if columns is not None:
            options["columns"] = json.dumps(list(columns))
        frames.append(spark.read.format(register_data_source(spark)).options(**options)
                      .load(location))
    return reduce(lambda left, right: left.unionByName(right), frames)


def write_delta(
    df: DataFrame,
    uri: str,
    mode: str,
    commit_properties: Optional[CommitProperties],
    *,
    partition_by: Optional[Sequence[str]] = None,
    configuration: Optional[Mapping[str, str]] = None,
    use_native: Optional[bool] = None,
) -> int:
    """Write ``df`` to the Delta table at ``uri`` as ONE commit; returns the version written.

    Executors write the data files; the driver commits them in a single transaction whose
    commit info carries ``commit_properties.custom_metadata`` (build it with
    :func:`mlflow_delta_plugin.delta.lineage.commit_properties`: MLflow run id, entry point,
    table spec). A failed write commits nothing.

    Args:
        df: the rows to write.
        uri: table location; the table is created when missing.
        mode: ``append`` (same columns and types as the table) or ``overwrite`` (replaces the
            rows, and may replace the schema but not the partitioning).
        commit_properties: metadata for the commit, or None.
        partition_by: partition columns of a new table (an existing table keeps its own).
        configuration: table properties of a new table (an existing table keeps its own).
        use_native: force (True) or avoid (False) native ``format("delta")``; None detects it.

    Raises:
        InvalidInputError: bad mode, schema or partitioning for this table; nothing was written.
        VersionNotFoundError: the commit cannot be found afterwards.

    Example:
        >>> from mlflow_delta_plugin.delta.lineage import commit_properties
        >>> write_delta(df, "data/features", "append",  # doctest: +SKIP
        ...             commit_properties(run_id, "prepare"))
        4
    """
    location = normalize_table_uri(uri)
    if mode not in WRITE_MODES:
        raise InvalidInputError(f"write mode '{mode}' is not one of {list(WRITE_MODES)}")
    metadata = dict((commit_properties.custom_metadata if commit_properties else None) or {})
    write_id = metadata.get(WRITE_ID_KEY) or uuid.uuid4().hex
    metadata[WRITE_ID_KEY] = write_id
    native_engine = session_has_native_delta(df.sparkSession) if use_native is None else use_native
    if native_engine:
        native.write_native(df, location, mode, metadata, partition_by, configuration)
        return native.find_native_write(df.sparkSession, location, WRITE_ID_KEY, write_id)

    try:
        check_write(location, df.schema, mode, partition_by)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    writer = (df.write.format(register_data_source(df.sparkSession)).mode(mode)
              .option("commitMetadata", json.dumps(metadata)))
    if partition_by is not None:
        writer = writer.option("partitionBy", json.dumps(list(partition_by)))
    if configuration:
        writer = writer.option("configuration", json.dumps(dict(configuration)))
    writer.save(location)
    return find_write(location, write_id)
