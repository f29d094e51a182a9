"""``prepare``: turn raw CSV / Parquet / Delta input into a Delta feature table with a split.

Validation happens while the input streams into a single Delta write: any problem raises inside
the stream, before the commit, so a failed prepare never leaves a new table version behind.
The checks live in :mod:`mlflow_delta_plugin.ingest.checks`, shared with the Spark engine
(:mod:`mlflow_delta_plugin.steps.prepare_spark`).
"""

import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Optional

import mlflow
import pyarrow as pa
from deltalake import CommitProperties, write_deltalake

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import WRITE_ID_KEY, TableSpec, commit_properties, find_write
from mlflow_delta_plugin.delta.retry import retry_on_conflict
from mlflow_delta_plugin.delta.table import (
    is_delta_table,
    normalize_table_uri,
    open_table,
    resolve_version,
)
from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.ingest.readers import InputStream, open_input
from mlflow_delta_plugin.ingest.checks import (
    append_target,
    check_params,
    prepare_batch,
    reject_stray_text,
    table_spec,
)
from mlflow_delta_plugin.ingest.profile import StreamingProfile
from mlflow_delta_plugin.tracking.runs import log_step_params
from mlflow_delta_plugin.ingest.split import SPLIT_COLUMN

__all__ = ["PrepareResult", "prepare"]

_log = logging.getLogger(__name__)
_PROGRESS_EVERY_S = 5.0
# delta-rs buffers each partition's open file up to the target size before flushing it; the
# default (100 MiB) made peak memory grow with the input up to several hundred MiB.
_TARGET_FILE_BYTES = 32 << 20
# Spark's default checkpoint interval (delta-rs uses 100): every snapshot load replays the JSON
# commits since the last checkpoint at ~1 ms each, which dominated pinning a version.
_NEW_TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` produced.

    Attributes:
        table: normalized URI of the feature table.
        version: the Delta version written.
        rows: rows written by this run.
        spec: label / features / split recorded in the commit.
    """

    table: str
    version: int
    rows: int
    spec: TableSpec


def _validated_batches(
    source: InputStream,
    spec: TableSpec,
    target: pa.Schema,
    test_fraction: float,
    seed: int,
    profile: StreamingProfile,
    split_counts: Counter,
) -> Iterator[pa.RecordBatch]:
    """The input's batches, checked, with the split column added and cast to ``target``."""
    started = last_report = time.monotonic()
    rows = 0
    for batch in source.batches:
        if batch.num_rows == 0:
            continue
        if rows == 0:
            reject_stray_text(batch, spec, source.location)
        batch, test_rows = prepare_batch(batch, spec, target, test_fraction, seed,
                                         source.location, rows)
        split_counts.update({"test": test_rows, "train": batch.num_rows - test_rows})
        profile.update(batch)
        rows += batch.num_rows
        yield batch
        now = time.monotonic()
        if now - last_report >= _PROGRESS_EVERY_S:
            _log.info("prepare: %d rows validated and written (%.0f rows/s)", rows,
                      rows / (now - started))
            last_report = now
    if rows == 0:
        raise InvalidInputError(f"input '{source.location}' has no rows")


def _write(table: str, mode: str, target: pa.Schema, batches: Iterator[pa.RecordBatch],
           partition_by: Optional[list], properties: CommitProperties, exists: bool) -> int:
    """One Delta commit; returns its version. An exception raised by ``batches`` aborts the
    commit and is re-raised as is."""
    failure: list = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except BaseException as exc:  # re-raised below: delta-rs would wrap it in DeltaError
            failure.append(exc)
            raise

    reader = pa.RecordBatchReader.from_batches(target, guarded())
    try:
        write_deltalake(
            table,
            reader,
            mode=mode,
            partition_by=partition_by,
            schema_mode="overwrite" if mode == "overwrite" and exists else None,
            target_file_size=_TARGET_FILE_BYTES,
            configuration=None if exists else _NEW_TABLE_PROPERTIES,
            commit_properties=properties,
        )
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    return find_write(table, properties.custom_metadata[WRITE_ID_KEY])


def _write_plan(table: str, mode: str, spec: TableSpec,
                schema: pa.Schema) -> tuple[bool, Optional[list], pa.Schema]:
    """Whether ``table`` exists now, the partitioning a write must give a new table (None when
    appending to an existing one), and the schema the rows are written with.

    Raises:
        UnsupportedTableError: the existing table's log is corrupt or needs unknown features.
        InvalidInputError: the input does not fit the table it would append to.
    """
    exists = is_delta_table(table)
    if exists:
        open_table(table)  # a corrupt log or unsupported features: one line, before any work
    if exists and mode == "append":
        return True, None, append_target(table, spec, schema)
    return exists, [SPLIT_COLUMN], pa.schema([*schema, pa.field(SPLIT_COLUMN, pa.string())])


def prepare(
    input: str,
    table: str,
    label: str,
    mode: str = "overwrite",
    test_fraction: float = 0.2,
    seed: int = 42,
    key: Optional[str] = None,
    batch_rows: int = 65_536,
    entry_point: str = "prepare",
    engine: str = EMBEDDED,
) -> PrepareResult:
    """Validate ``input`` and write it to the Delta table ``table`` with a ``split`` column.

    Runs inside the active MLflow run (started by the caller): logs params, the input and the
    produced version as datasets, a ``data_profile.json`` artifact, and tags the Delta commit
    with the run id. Nothing is committed unless every row passed validation.

    ``engine="spark"`` reads, checks and writes with the active (or a new local) Spark session
    and gives the same table: the same rows, splits, spec and partitioning, in one commit.

    Raises:
        InvalidInputError, TableNotFoundError: bad input; nothing was written.
    """
    check_engine(engine)
    check_params(mode, test_fraction)
    table = normalize_table_uri(table)
    if engine == SPARK:
        from mlflow_delta_plugin.steps.prepare_spark import open_spark_input, write_with_spark

        source = open_spark_input(input, batch_rows=batch_rows)
    else:
        source = open_input(input, batch_rows=batch_rows)
    spec = table_spec(source.schema, label, key, source.location)
    exists, partition_by, target = _write_plan(table, mode, spec, source.schema)

    run = mlflow.active_run()
    run_id = run.info.run_id if run else None
    log_step_params({"input": source.location, "input_format": source.kind, "table": table,
                       "label": label, "key": key or "", "mode": mode,
                       "test_fraction": test_fraction, "seed": seed, "engine": engine})
    properties = commit_properties(run_id, entry_point, spec, uuid.uuid4().hex)
    _log.info("prepare: %s input '%s' into '%s' (mode=%s, engine=%s)", source.kind,
              source.location, table, mode, engine)
    if engine == SPARK:
        profile, split_counts = StreamingProfile(), Counter()
        version = write_with_spark(source, table, mode, target, spec, test_fraction, seed,
                                   partition_by, None if exists else _NEW_TABLE_PROPERTIES,
                                   properties, profile, split_counts)
    else:
        planned = [(source, exists, partition_by, target)]

        def attempt() -> tuple:
            """One whole write; after a commit conflict the input is re-opened and re-streamed
            against the table as it is now."""
            if planned:
                current, now_exists, partitioning, current_target = planned.pop()
            else:
                current = open_input(input, batch_rows)
                now_exists, partitioning, current_target = _write_plan(table, mode, spec,
                                                                       current.schema)
            stats, counts = StreamingProfile(), Counter()
            written = _write(table, mode, current_target,
                             _validated_batches(current, spec, current_target, test_fraction,
                                                seed, stats, counts),
                             partitioning, properties, now_exists)
            return written, current, stats, counts

        version, source, profile, split_counts = retry_on_conflict(attempt, table=table,
                                                                   what=entry_point)
    return _log_outcome(source, table, version, spec, profile, split_counts)


def _log_outcome(source: InputStream, table: str, version: int, spec: TableSpec,
                 profile: StreamingProfile, split_counts: Counter) -> PrepareResult:
    """Log the input and produced version as datasets, row counts, tags and the data profile."""
    pinned = resolve_version(table, version=version)
    produced = DeltaVersionDataset(DeltaVersionSource.from_pinned(pinned), targets=spec.label)
    mlflow.log_input(source.dataset, context="source")
    mlflow.log_input(produced, context="prepared")
    mlflow.log_metrics({"rows_written": profile.rows, "rows_train": split_counts["train"],
                        "rows_test": split_counts["test"]})
    mlflow.set_tags({"delta.table": table, "delta.version": str(pinned.version)})
    summary = profile.to_dict()
    summary.update(table=table, version=pinned.version, spec=json.loads(spec.to_json()),
                   input=source.location, split_counts=dict(split_counts))
    mlflow.log_dict(json.loads(json.dumps(summary, default=str)), "data_profile.json")
    _log.info("prepare: wrote %d rows to '%s' as version %d", profile.rows, table, pinned.version)
    return PrepareResult(table=table, version=pinned.version, rows=profile.rows, spec=spec)
