"""``prepare``: turn raw CSV / Parquet / Delta input into a Delta feature table with a split.

Validation happens while the input streams into a single Delta write: any problem raises inside
the stream, before the commit, so a failed prepare never leaves a new table version behind.
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
import pyarrow.compute as pc
from deltalake import write_deltalake

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import TableSpec, commit_properties, find_table_spec, find_write
from mlflow_delta_plugin.delta.table import is_delta_table, normalize_table_uri, open_table, resolve_version
from mlflow_delta_plugin.engine import EMBEDDED, SPARK, check_engine
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.ingest import InputStream, open_input
from mlflow_delta_plugin.profile import StreamingProfile
from mlflow_delta_plugin.runs import log_step_params
from mlflow_delta_plugin.split import SPLIT_COLUMN, TEST, assign_split

__all__ = ["PrepareResult", "prepare"]

_log = logging.getLogger(__name__)
_MODES = ("overwrite", "append")
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


def _usable_feature(field: pa.Field) -> bool:
    kind = field.type
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_decimal(kind) or pa.types.is_dictionary(kind))


def _table_spec(schema: pa.Schema, label: str, key: Optional[str], location: str) -> TableSpec:
    names = schema.names
    if names and all(pa.types.is_null(f.type) for f in schema):
        raise InvalidInputError(f"input '{location}' has no rows")
    if not label:
        raise InvalidInputError("label is empty; pass the name of the label column (-P label=...)")
    if label not in names:
        raise InvalidInputError(
            f"label column '{label}' is not in input '{location}'; columns are {names}"
        )
    if key and key not in names:
        raise InvalidInputError(f"key column '{key}' is not in input '{location}'; columns are {names}")
    if SPLIT_COLUMN in names:
        raise InvalidInputError(
            f"input '{location}' already has a column named '{SPLIT_COLUMN}', which prepare "
            "writes; rename or drop it"
        )
    features = tuple(f.name for f in schema if f.name not in (label, key) and _usable_feature(f))
    dropped = [f.name for f in schema if f.name not in (label, key, *features)]
    if dropped:
        _log.warning("prepare: ignoring columns %s of unsupported types", dropped)
    if not features:
        raise InvalidInputError(
            f"input '{location}' has no usable feature column besides label '{label}'"
            + (f" and key '{key}'" if key else "")
            + "; features must be numeric, boolean or string"
        )
    return TableSpec(label=label, features=features, split_column=SPLIT_COLUMN, key=key or None)


def _check_params(mode: str, test_fraction: float) -> None:
    if mode not in _MODES:
        raise InvalidInputError(f"mode '{mode}' is not one of {list(_MODES)}")
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(
            f"test_fraction {test_fraction} is out of range; pass a number between 0 and 1 (exclusive)"
        )


def _append_target(table: str, spec: TableSpec, schema: pa.Schema) -> pa.Schema:
    """The existing table's schema, after checking the input matches the table's spec."""
    existing = open_table(table)
    recorded = find_table_spec(table, existing.version())
    if recorded is not None and (recorded.label, recorded.features) != (spec.label, spec.features):
        raise InvalidInputError(
            f"cannot append to '{table}': it holds label '{recorded.label}' and features "
            f"{list(recorded.features)}, the input gives label '{spec.label}' and features "
            f"{list(spec.features)}; use mode=overwrite or a new table"
        )
    target = pa.schema(existing.schema().to_arrow())
    missing = [name for name in target.names if name != SPLIT_COLUMN and name not in schema.names]
    if missing:
        raise InvalidInputError(f"cannot append to '{table}': the input lacks columns {missing}")
    return target


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
    input_columns = [name for name in target.names if name != SPLIT_COLUMN]
    key_columns = [spec.key] if spec.key else input_columns
    started = last_report = time.monotonic()
    rows = 0
    for batch in source.batches:
        if batch.num_rows == 0:
            continue
        batch = batch.select(input_columns)
        if rows == 0:
            _reject_stray_text(batch, spec, source.location)
        labels = batch.column(spec.label)
        bad_labels = labels.null_count
        if pa.types.is_floating(labels.type):
            bad_labels += pc.sum(pc.is_nan(labels)).as_py() or 0
        if bad_labels:
            raise InvalidInputError(
                f"label column '{spec.label}' has {bad_labels} null or NaN values in rows "
                f"{rows}..{rows + batch.num_rows - 1} of '{source.location}'; drop or fill them first"
            )
        split = assign_split(batch, test_fraction, seed, key_columns)
        test_rows = pc.sum(pc.equal(split, TEST)).as_py() or 0
        split_counts.update({"test": test_rows, "train": batch.num_rows - test_rows})
        batch = pa.RecordBatch.from_arrays([*batch.columns, split],
                                           names=[*batch.schema.names, SPLIT_COLUMN])
        try:
            batch = batch.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise InvalidInputError(
                f"input '{source.location}' does not match the table's column types: "
                f"{str(exc).splitlines()[0]}; fix the input or use mode=overwrite"
            ) from exc
        profile.update(batch)
        rows += batch.num_rows
        yield batch
        now = time.monotonic()
        if now - last_report >= _PROGRESS_EVERY_S:
            _log.info("prepare: %d rows validated and written (%.0f rows/s)", rows, rows / (now - started))
            last_report = now
    if rows == 0:
        raise InvalidInputError(f"input '{source.location}' has no rows")


def _reject_stray_text(batch: pa.RecordBatch, spec: TableSpec, location: str) -> None:
    """Fail on a text column whose values are mostly numbers: a stray value made it text."""
    for name in (spec.label, *spec.features):
        values = batch.column(name)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        present = pc.drop_null(values)
        numeric = pc.match_substring_regex(
            present, r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
        numeric_count = pc.sum(numeric).as_py() or 0
        if len(present) and numeric_count != len(present) and numeric_count > len(present) // 2:
            stray = pc.filter(present, pc.invert(numeric))[0].as_py()
            raise InvalidInputError(
                f"column '{name}' of input '{location}' is numeric except for values like "
                f"{stray!r}; fix or blank those values so the column has one type"
            )


def _write(table: str, mode: str, target: pa.Schema, batches: Iterator[pa.RecordBatch],
           spec: TableSpec, run_id: Optional[str], entry_point: str, exists: bool) -> int:
    """One Delta commit; returns its version. An exception raised by ``batches`` aborts the
    commit and is re-raised as is."""
    write_id = uuid.uuid4().hex
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
            partition_by=None if exists and mode == "append" else [SPLIT_COLUMN],
            schema_mode="overwrite" if mode == "overwrite" and exists else None,
            target_file_size=_TARGET_FILE_BYTES,
            configuration=None if exists else _NEW_TABLE_PROPERTIES,
            commit_properties=commit_properties(run_id, entry_point, spec, write_id),
        )
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    return find_write(table, write_id)


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

    Raises:
        InvalidInputError, TableNotFoundError: bad input; nothing was written.
    """
    check_engine(engine)
    if engine == SPARK:
        raise InvalidInputError("engine=spark is not available for prepare yet; use engine=embedded")
    _check_params(mode, test_fraction)
    table = normalize_table_uri(table)
    source = open_input(input, batch_rows=batch_rows)
    spec = _table_spec(source.schema, label, key, source.location)
    exists = is_delta_table(table)
    if exists and mode == "append":
        target = _append_target(table, spec, source.schema)
    else:
        target = pa.schema([*source.schema, pa.field(SPLIT_COLUMN, pa.string())])

    run = mlflow.active_run()
    run_id = run.info.run_id if run else None
    log_step_params({"input": source.location, "input_format": source.kind, "table": table,
                       "label": label, "key": key or "", "mode": mode,
                       "test_fraction": test_fraction, "seed": seed})
    profile = StreamingProfile()
    split_counts: Counter = Counter()
    _log.info("prepare: streaming %s input '%s' into '%s' (mode=%s)", source.kind,
              source.location, table, mode)
    version = _write(table, mode, target,
                     _validated_batches(source, spec, target, test_fraction, seed, profile,
                                        split_counts),
                     spec, run_id, entry_point, exists)

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
