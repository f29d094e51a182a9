"""``prepare`` on Spark: distributed read, validation, split and write, one Delta commit.

The driver opens the input as the embedded engine does (format, schema, the dataset logged as
the source, and a first batch for the checks that look at the start of the input), then one
Spark job reads the input, runs every row through the embedded engine's checks and split in the
Python workers (:mod:`mlflow_delta_plugin.spark.prepare_rows`) and writes Parquet files, which
the driver commits as ONE Delta transaction (:func:`mlflow_delta_plugin.spark.write_delta`).
A bad row fails the job before that commit, so a failed prepare leaves the table as it was.
"""

import logging
import os
import re
from collections import Counter
from typing import Iterator, Optional

import pyarrow as pa
from deltalake import CommitProperties

from mlflow_delta_plugin import errors
from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import TableSpec
from mlflow_delta_plugin.delta.table import is_delta_table, normalize_table_uri, pin_and_open
from mlflow_delta_plugin.engine import spark_session
from mlflow_delta_plugin.ingest.readers import InputStream, _guarded, _parquet_files, open_input
from mlflow_delta_plugin.ingest.checks import input_columns, reject_stray_text
from mlflow_delta_plugin.ingest.profile import StreamingProfile

__all__ = ["open_spark_input", "write_with_spark"]

_log = logging.getLogger(__name__)
# The last line of a Python worker's traceback, as Spark reports it to the driver.
_WORKER_ERROR = re.compile(r"^mlflow_delta_plugin\.errors\.(\w+): (.+)$", re.MULTILINE)


def open_spark_input(location: str, batch_rows: int = 65_536) -> InputStream:
    """Open ``location`` on the driver: what :func:`mlflow_delta_plugin.ingest.open_input`
    gives, except that a Delta table is pinned and peeked through a reader that honours
    deletion vectors. The stream's batches are only used for the first-batch checks.

    Raises:
        InvalidInputError, TableNotFoundError: as ``open_input``.
    """
    path = normalize_table_uri(location)
    if os.path.isdir(path) and is_delta_table(path):
        return _open_delta(path, batch_rows)
    return open_input(location, batch_rows=batch_rows)


def _open_delta(path: str, batch_rows: int) -> InputStream:
    pinned, table = pin_and_open(path)
    schema = pa.schema(table.schema().to_arrow())
    scan = table.scan()

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in pa.RecordBatchReader.from_stream(scan):
            yield batch.cast(schema)

    return InputStream(
        kind="delta",
        location=path,
        schema=schema,
        batches=_guarded(path, batches),
        dataset=DeltaVersionDataset(DeltaVersionSource.from_opened(pinned, table)),
    )


def write_with_spark(
    source: InputStream,
    table: str,
    mode: str,
    target: pa.Schema,
    spec: TableSpec,
    test_fraction: float,
    seed: int,
    partition_by: Optional[list],
    configuration: Optional[dict],
    properties: CommitProperties,
    profile: StreamingProfile,
    split_counts: Counter,
) -> int:
    """Validate, split and write ``source`` to ``table`` as one commit; returns its version.

    ``partition_by`` and ``configuration`` (table properties) apply to a table this write
    creates. ``profile`` and ``split_counts`` receive what the tasks saw. Nothing is committed
    when any row fails a check.

    Raises:
        InvalidInputError: a bad row (the message the embedded engine gives, with the Spark
            partition), or input that does not fit the table.
    """
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from mlflow_delta_plugin.spark import write_delta
    from mlflow_delta_plugin.spark.prepare_rows import PrepareRows, PrepareTally, TallyParam

    first = next((b for b in source.batches if b.num_rows), None)
    if first is None:
        raise errors.InvalidInputError(f"input '{source.location}' has no rows")
    reject_stray_text(first, spec, source.location)

    spark = spark_session()
    columns = input_columns(target)
    frame, csv = _input_frame(spark, source, columns)
    output = from_arrow_schema(target)
    tally = spark.sparkContext.accumulator(PrepareTally(), TallyParam())
    rows = PrepareRows(spec, pa.schema([source.schema.field(c) for c in columns]), target,
                       to_arrow_schema(output), test_fraction, seed, source.location, tally, csv)
    try:
        version = write_delta(frame.mapInArrow(rows, output), table, mode, properties,
                              partition_by=partition_by, configuration=configuration)
    except Exception as exc:  # noqa: BLE001 - a known error raised in a worker is re-raised here
        known = _worker_error(exc)
        if known is None:
            raise
        raise known from None
    profile.merge(tally.value.profile)
    split_counts.update(tally.value.split_counts)
    return version


def _input_frame(spark, source: InputStream, columns: list) -> tuple:
    """The DataFrame of ``source``'s rows (``columns`` of them) and, for CSV, how to parse it."""
    from pyspark.sql import functions as F

    from mlflow_delta_plugin.spark import read_delta
    from mlflow_delta_plugin.spark.prepare_rows import BLOCK_START_COLUMN, LINE_COLUMN, CsvLines

    if source.kind == "csv":
        lines = spark.read.text(source.location).select(
            F.col(LINE_COLUMN), F.input_file_block_start().alias(BLOCK_START_COLUMN))
        delimiter = "\t" if source.location.lower().endswith(".tsv") else ","
        return lines, CsvLines(source.schema, delimiter)
    if source.kind == "parquet":
        files = _parquet_files(source.location) if os.path.isdir(source.location) \
            else [source.location]
        return spark.read.parquet(*files).select(*columns), None
    return read_delta(spark, source.location, version=source.dataset.version,
                      columns=columns), None


def _worker_error(exc: Exception) -> Optional[errors.DeltaPluginError]:
    """The project error a Python worker raised, rebuilt from Spark's report of it, or None."""
    found = _WORKER_ERROR.findall(str(exc))
    if not found:
        return None
    name, message = found[-1]
    kind = getattr(errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, errors.DeltaPluginError)):
        return None
    return kind(message)
