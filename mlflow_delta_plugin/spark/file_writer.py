"""Writing a task's Arrow batches as Parquet data files of a Delta table (executor side).

Rows are split by partition values into Hive-style folders (``split=train/``), buffered into
row groups of a useful size (Spark hands over batches of about 10,000 rows), and rolled into a
new file past a target size. Each finished file is described by what its add action needs:
relative path, size, partition values as Delta serializes them, modification time and
statistics (``numRecords``, ``nullCount``, ``minValues`` / ``maxValues`` where they are exact).
Nothing here touches the Delta log: the driver commits all tasks' files in one transaction.
"""

import datetime
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Optional, Sequence
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

__all__ = ["NULL_PARTITION", "PartitionedParquetWriter", "WrittenFile", "delete_files",
           "partition_string"]

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_STRING_STATS_MAX_CHARS = 32
_ROW_GROUP_ROWS = 1 << 20
_ROW_GROUP_BYTES = 64 << 20


@dataclass(frozen=True)
class WrittenFile:
    """A data file written by a task, as its add action will describe it.

    Attributes:
        path: path relative to the table root, not URL-encoded (deltalake encodes it).
        size: bytes.
        partition_values: partition column -> value serialized as Delta does (None for null).
        modification_time: milliseconds since the epoch.
        stats: the ``stats`` JSON of the add action.
        rows: rows in the file.
    """

    path: str
    size: int
    partition_values: dict
    modification_time: int
    stats: str
    rows: int


def partition_string(value: Any) -> Optional[str]:
    """A partition value as Delta stores it in ``partitionValues`` (None stays None).

    Example:
        >>> partition_string(datetime.date(2024, 1, 31)), partition_string(True)
        ('2024-01-31', 'true')
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        raise ValueError("binary columns cannot be partition columns")
    return str(value)


class _FileStats:
    """Running ``nullCount`` / ``minValues`` / ``maxValues`` of one file's top-level columns."""

    def __init__(self, schema: pa.Schema) -> None:
        self.rows = 0
        self.null_counts = {f.name: 0 for f in schema if not pa.types.is_nested(f.type)}
        self.bounds = {f.name: None for f in schema if _has_exact_bounds(f.type)}

    def update(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        for name in self.null_counts:
            self.null_counts[name] += batch.column(name).null_count
        for name in list(self.bounds):
            column = batch.column(name)
            if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
                del self.bounds[name]  # NaN has no place in min / max: no bounds for this file
                continue
            low, high = (s.as_py() for s in pc.min_max(column).values())
            if low is None:
                continue
            if isinstance(low, str) and max(len(low), len(high)) > _STRING_STATS_MAX_CHARS:
                del self.bounds[name]
                continue
            known = self.bounds[name]
            self.bounds[name] = (low, high) if known is None else (min(known[0], low),
                                                                   max(known[1], high))

    def to_json(self) -> str:
        present = {k: v for k, v in self.bounds.items() if v is not None}
        return json.dumps({
            "numRecords": self.rows,
            "minValues": {k: _json_value(v[0]) for k, v in present.items()},
            "maxValues": {k: _json_value(v[1]) for k, v in present.items()},
            "nullCount": self.null_counts,
        })


def _has_exact_bounds(kind: pa.DataType) -> bool:
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class _OpenFile:
    """One Parquet file being written, with the rows buffered for its next row group."""

    def __init__(self, filesystem: pafs.FileSystem, root: str, relative: str,
                 schema: pa.Schema, partition_values: dict) -> None:
        self.relative = relative
        self.full_path = f"{root}/{relative}"
        self.partition_values = partition_values
        parent = self.full_path.rsplit("/", 1)[0]
        filesystem.create_dir(parent, recursive=True)
        self.sink = filesystem.open_output_stream(self.full_path)
        self.writer = pq.ParquetWriter(self.sink, schema, compression="snappy")
        self.stats = _FileStats(schema)
        self.pending: list = []
        self.pending_rows = 0
        self.pending_bytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.stats.update(batch)
        self.pending.append(batch)
        self.pending_rows += batch.num_rows
        self.pending_bytes += batch.nbytes
        if self.pending_rows >= _ROW_GROUP_ROWS or self.pending_bytes >= _ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.Table.from_batches(self.pending),
                                    row_group_size=max(self.pending_rows, 1))
            self.pending, self.pending_rows, self.pending_bytes = [], 0, 0

    @property
    def written_bytes(self) -> int:
        return self.sink.tell()

    def close(self, filesystem: pafs.FileSystem) -> WrittenFile:
        self.flush()
        self.writer.close()
        self.sink.close()
        info = filesystem.get_file_info(self.full_path)
        modified = info.mtime_ns // 1_000_000 if info.mtime_ns else int(time.time() * 1000)
        return WrittenFile(path=self.relative, size=int(info.size),
                           partition_values=self.partition_values, modification_time=modified,
                           stats=self.stats.to_json(), rows=self.stats.rows)


def _filesystem(root: str) -> tuple:
    """(pyarrow filesystem, root path within it) for a local path or a URI."""
    if "://" in root:
        return pafs.FileSystem.from_uri(root)
    return pafs.LocalFileSystem(), root.rstrip("/")


def delete_files(root: str, relative_paths: Sequence[str]) -> None:
    """Delete data files written under ``root`` (best effort: a cleanup never raises)."""
    if not relative_paths:
        return
    filesystem, base = _filesystem(root)
    for relative in relative_paths:
        try:
            filesystem.delete_file(f"{base}/{relative}")
        except Exception:  # noqa: BLE001 - already gone or unreachable: nothing more to do
            pass


class PartitionedParquetWriter:
    """Writes one task's batches into Parquet files under a table root, split by partition.

    Args:
        root: table location (local path or URI).
        schema: Arrow schema of the incoming batches (all columns, partition ones included).
        partition_columns: partition columns, in the table's order.
        target_file_bytes: a file is closed once it holds about this many bytes.
        not_null: columns that must not hold nulls (NOT NULL in the table schema).
    """

    def __init__(self, root: str, schema: pa.Schema, partition_columns: Sequence[str],
                 target_file_bytes: int = 128 << 20, not_null: Sequence[str] = ()) -> None:
        self.filesystem, self.root = _filesystem(root)
        self.partition_columns = list(partition_columns)
        self.data_schema = pa.schema([f for f in schema if f.name not in self.partition_columns])
        self.target_file_bytes = target_file_bytes
        self.not_null = [c for c in not_null if c in self.data_schema.names]
        self.task_tag = uuid.uuid4().hex
        self.open_files: dict = {}
        self.finished: list = []
        self.started: list = []

    def write(self, batch: pa.RecordBatch) -> None:
        """Add ``batch`` to the files of the partitions its rows belong to.

        Raises:
            ValueError: a NOT NULL column holds nulls.
        """
        if batch.num_rows == 0:
            return
        for name in self.not_null:
            if batch.column(name).null_count:
                raise ValueError(f"column '{name}' is NOT NULL in the Delta table but the data "
                                 "holds nulls")
        if not self.partition_columns:
            self._file_for(()).add(batch.select(self.data_schema.names))
            self._roll(())
            return
        keys = pa.Table.from_batches([batch.select(self.partition_columns)])
        combos = keys.group_by(self.partition_columns, use_threads=False).aggregate([])
        for combo in combos.to_pylist():
            mask = None
            for name in self.partition_columns:
                value = combo[name]
                term = (pc.is_null(batch.column(name)) if value is None
                        else pc.fill_null(pc.equal(batch.column(name), value), False))
                mask = term if mask is None else pc.and_(mask, term)
            part = batch.filter(mask).select(self.data_schema.names)
            key = tuple(combo[name] for name in self.partition_columns)
            self._file_for(key).add(part)
            self._roll(key)

    def close(self) -> list:
        """Finish every open file; returns all files this writer wrote."""
        for key in list(self.open_files):
            self.finished.append(self.open_files.pop(key).close(self.filesystem))
        return list(self.finished)

    def abort(self) -> None:
        """Delete every file this writer started (best effort)."""
        for handle in self.open_files.values():
            try:
                handle.writer.close()
                handle.sink.close()
            except Exception:  # noqa: BLE001 - cleanup of a failed task
                pass
        self.open_files.clear()
        for path in self.started:
            try:
                self.filesystem.delete_file(path)
            except Exception:  # noqa: BLE001
                pass

    def _file_for(self, key: tuple) -> _OpenFile:
        handle = self.open_files.get(key)
        if handle is None:
            values = {name: partition_string(value)
                      for name, value in zip(self.partition_columns, key)}
            folder = "/".join(f"{name}={NULL_PARTITION if text is None else quote(text, safe='')}"
                              for name, text in values.items())
            name = f"part-{len(self.started):05d}-{self.task_tag}-c000.snappy.parquet"
            relative = f"{folder}/{name}" if folder else name
            handle = _OpenFile(self.filesystem, self.root, relative, self.data_schema, values)
            self.open_files[key] = handle
            self.started.append(handle.full_path)
        return handle

    def _roll(self, key: tuple) -> None:
        handle = self.open_files[key]
        if handle.written_bytes + handle.pending_bytes // 4 >= self.target_file_bytes:
            self.finished.append(self.open_files.pop(key).close(self.filesystem))
