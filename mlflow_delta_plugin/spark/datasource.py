"""A Spark 4 Python Data Source reading and writing Delta tables through deltalake (no Delta jars).

Reading (``spark.read.format("mlflow_delta").option("versionAsOf", 3).load(uri)``): the driver
loads the version's log once, lists its live files with their deletion vectors, prunes them by
partition filters and packs them into tasks of up to ``maxPartitionBytes``; each task reads its
Parquet byte ranges with pyarrow and yields Arrow batches (see :mod:`.scan`,
:mod:`.file_reader`).

Writing (``df.write.format("mlflow_delta").mode("append").save(uri)``): tasks write Parquet
files under the table folder and report them; the driver commits them all in one Delta
transaction carrying ``commitMetadata`` (see :mod:`.file_writer`, :mod:`.commit`).

Options (all strings):
    path: table location.
    versionAsOf: version to read (default: the latest, pinned when the schema is resolved).
    columns: JSON list of columns to read (default: all).
    filters: JSON filters in deltalake's DNF form (see :mod:`.filters`).
    maxPartitionBytes / openCostInBytes / minPartitions: task sizing (Spark's defaults).
    skipSparkReadable: "true" to leave out the files Spark's Parquet reader reads exactly
        (the caller reads them with Spark, see :mod:`.parquet_scan`).
    partitionBy: JSON list of partition columns of a new table.
    configuration: JSON object of table properties of a new table (ignored when it exists).
    commitMetadata: JSON object stored in the commit (run id, entry point, write id ...).
    targetFileBytes: size at which a written file is closed.
"""

import json
from dataclasses import dataclass, replace
from typing import Iterator, Optional

import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType

from mlflow_delta_plugin.spark.commit import check_write, commit_files
from mlflow_delta_plugin.spark.file_reader import ReadLayout, read_slice
from mlflow_delta_plugin.spark.file_writer import PartitionedParquetWriter, delete_files
from mlflow_delta_plugin.spark.filters import (
    columns_of,
    parse_filters,
    split_by_columns,
    to_arrow_expression,
)
from mlflow_delta_plugin.spark.parquet_scan import split_spark_readable
from mlflow_delta_plugin.spark.scan import (
    ScanPartition,
    ScanPlan,
    SplitSizing,
    list_files,
    pack_slices,
    table_root,
)
from mlflow_delta_plugin.spark.schema import (
    COLUMN_MAPPING_MODE_KEY,
    as_nullable,
    delta_to_spark,
    physical_names,
    project,
    spark_arrow_schema,
)

__all__ = ["DATA_SOURCE_NAME", "DeltaFilesMessage", "DeltaLakeDataSource", "DeltaLakeReader",
           "DeltaLakeWriter"]

DATA_SOURCE_NAME = "mlflow_delta"
_DEFAULT_TARGET_FILE_BYTES = 128 << 20


def _load_table(options) -> DeltaTable:
    uri = options.get("path")
    if not uri:
        raise ValueError(f"no table location: pass it to load()/save() of format "
                         f"'{DATA_SOURCE_NAME}'")
    version = options.get("versionAsOf")
    try:
        return DeltaTable(uri, version=None if version is None else int(version))
    except Exception as exc:  # noqa: BLE001 - deltalake's errors, reworded on one line
        raise ValueError(f"cannot open Delta table '{uri}'"
                         + (f" at version {version}" if version is not None else "")
                         + f": {str(exc).splitlines()[0]}") from None


def _columns_option(options) -> Optional[list]:
    text = options.get("columns")
    return None if text is None else list(json.loads(text))


class DeltaLakeDataSource(DataSource):
    """Delta tables read and written through deltalake (format ``mlflow_delta``)."""

    @classmethod
    def name(cls) -> str:
        return DATA_SOURCE_NAME

    def schema(self) -> StructType:
        """The table's schema (narrowed to ``columns``), at the pinned version.

        Pins the latest version into ``versionAsOf`` when none was given, so the reader that
        follows reads the same version the schema came from.
        """
        table = _load_table(self.options)
        self.options["versionAsOf"] = str(table.version())
        return as_nullable(project(delta_to_spark(table.schema()), _columns_option(self.options)))

    def reader(self, schema: StructType) -> "DeltaLakeReader":
        return DeltaLakeReader(self.options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> "DeltaLakeWriter":
        return DeltaLakeWriter(self.options, schema, overwrite)


class DeltaLakeReader(DataSourceReader):
    """Plans the read of one version (driver) and reads file slices (executors)."""

    def __init__(self, options, schema: StructType) -> None:
        table = _load_table(options)
        full = delta_to_spark(table.schema())
        metadata = table.metadata()
        partition_columns = list(metadata.partition_columns)
        filters = parse_filters(json.loads(options.get("filters") or "[]"), full.fieldNames())
        prune, needs_rows = split_by_columns(filters, partition_columns)
        if len(filters) == 1:  # one conjunction: pruning enforces its partition terms exactly
            row_filters = (tuple(p for p in filters[0] if p.column not in partition_columns),)
            row_filters = row_filters if row_filters[0] else ()
        else:
            row_filters = filters if needs_rows else ()
        extra = [c for c in sorted(columns_of(row_filters)) if c not in schema.fieldNames()]
        evaluated = StructType(list(schema.fields) + [full[c] for c in extra])
        physical = physical_names(full, metadata.configuration.get(COLUMN_MAPPING_MODE_KEY))
        sources = tuple(("partition", partition_columns.index(f.name))
                        if f.name in partition_columns else ("file", physical[f.name])
                        for f in evaluated.fields)
        evaluated_arrow = spark_arrow_schema(evaluated)
        self.layout = ReadLayout(
            output=spark_arrow_schema(schema),
            evaluated=evaluated_arrow,
            sources=sources,
            row_filter=to_arrow_expression(row_filters, evaluated_arrow),
            batch_rows=int(options.get("batchRows", 131_072)),
        )
        self.sizing = SplitSizing(
            max_partition_bytes=int(options.get("maxPartitionBytes", 128 << 20)),
            open_cost_bytes=int(options.get("openCostInBytes", 4 << 20)),
            min_partitions=int(options.get("minPartitions", 1)),
        )
        self._table: Optional[DeltaTable] = table
        self._prune = prune
        self._schema = full
        self._partition_columns = partition_columns
        self._configuration = dict(metadata.configuration)
        self._skip_spark_readable = options.get("skipSparkReadable", "false") == "true"

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_table"] = None  # the loaded log stays on the driver
        state["_prune"] = ()
        return state

    def plan(self) -> ScanPlan:
        """The version's files this read covers and the tasks reading them (driver side).

        With ``skipSparkReadable`` the files Spark's Parquet reader reads exactly are left out:
        the caller reads those with Spark (see :mod:`.parquet_scan`).
        """
        files = list_files(self._table, self._prune)
        if self._skip_spark_readable:
            _, files = split_spark_readable(files, table_root(self._table), self._schema,
                                            self._partition_columns, self._configuration)
        return ScanPlan(files=files, partitions=pack_slices(files, self.sizing))

    def partitions(self) -> list:
        return self.plan().partitions

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        if not isinstance(partition, ScanPartition):  # an empty version: Spark's placeholder
            return iter(())
        return (batch for piece in partition.slices for batch in read_slice(piece, self.layout))


@dataclass
class DeltaFilesMessage(WriterCommitMessage):
    """What one write task reports to the driver: the files it wrote."""

    files: list


class DeltaLakeWriter(DataSourceArrowWriter):
    """Tasks write Parquet files under the table; the driver commits them as one version."""

    def __init__(self, options, schema: StructType, overwrite: bool) -> None:
        uri = options.get("path")
        if not uri:
            raise ValueError(f"no table location: pass it to save() of format '{DATA_SOURCE_NAME}'")
        partition_by = options.get("partitionBy")
        self.target = replace(
            check_write(uri, schema, "overwrite" if overwrite else "append",
                        None if partition_by is None else json.loads(partition_by)),
            configuration=tuple(json.loads(options.get("configuration") or "{}").items()))
        self.commit_metadata = json.loads(options.get("commitMetadata") or "{}")
        self.target_file_bytes = int(options.get("targetFileBytes", _DEFAULT_TARGET_FILE_BYTES))
        self.root = table_root_of(uri)

    def write(self, iterator: Iterator[pa.RecordBatch]) -> DeltaFilesMessage:
        writer = None
        try:
            for batch in iterator:
                if writer is None:
                    writer = PartitionedParquetWriter(
                        self.root, batch.schema, self.target.partition_by,
                        self.target_file_bytes, self.target.not_null)
                writer.write(batch)
            return DeltaFilesMessage(files=writer.close() if writer else [])
        except BaseException:
            if writer is not None:
                writer.abort()
            raise

    def commit(self, messages: list) -> None:
        files = [f for message in messages if message is not None for f in message.files]
        try:
            commit_files(self.target, files, self.commit_metadata)
        except BaseException:
            self.abort(messages)
            raise

    def abort(self, messages: list) -> None:
        delete_files(self.root, [f.path for message in messages if message is not None
                                 for f in message.files])


def table_root_of(uri: str) -> str:
    """The folder (or URI) data files are written under."""
    return uri[len("file://"):] if uri.startswith("file://") else uri.rstrip("/")
