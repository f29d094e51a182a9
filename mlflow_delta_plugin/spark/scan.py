"""Planning a Spark read of one Delta version: which file byte ranges each task reads.

The files are exactly the version's live files (its add actions, as
:func:`mlflow_delta_plugin.datasets.fingerprint.fingerprint_version` hashes them), minus those a
partition filter rules out. They are cut and packed into read tasks the way Spark packs Parquet
files (``spark.sql.files.maxPartitionBytes`` / ``openCostInBytes``): files larger than a split
are cut into byte ranges (a task then reads the row groups whose middle lies in its range), and
ranges are packed largest first into tasks of up to one split each.
"""

from dataclasses import dataclass, field
from typing import Optional, Sequence
from urllib.parse import unquote, urlparse

import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql.datasource import InputPartition

from mlflow_delta_plugin.spark.deletion_vectors import DeletedRows, deleted_rows_by_file
from mlflow_delta_plugin.spark.filters import Disjunction, to_arrow_expression

__all__ = ["FileSlice", "LiveFile", "ScanPartition", "ScanPlan", "SplitSizing", "file_location",
           "list_files", "pack_slices", "table_root"]

_PARTITION_PREFIX = "partition."


@dataclass(frozen=True)
class SplitSizing:
    """How files are cut and packed into read tasks (Spark's own settings and defaults).

    Attributes:
        max_partition_bytes: ``spark.sql.files.maxPartitionBytes``.
        open_cost_bytes: ``spark.sql.files.openCostInBytes``, the cost charged per file.
        min_partitions: tasks to aim for at least (the session's default parallelism).
    """

    max_partition_bytes: int = 128 << 20
    open_cost_bytes: int = 4 << 20
    min_partitions: int = 1

    def max_split_bytes(self, total_bytes: int, file_count: int) -> int:
        """Split size for files totalling ``total_bytes`` (Spark's ``maxSplitBytes``)."""
        cost = total_bytes + file_count * self.open_cost_bytes
        per_core = cost // max(1, self.min_partitions)
        return min(self.max_partition_bytes, max(self.open_cost_bytes, per_core))


@dataclass(frozen=True)
class LiveFile:
    """A live data file of the version being read.

    Attributes:
        location: absolute path (local) or URI of the file.
        size: bytes.
        num_records: rows in the file per the log (before deletion vectors), or None.
        partition_values: typed partition values, in the table's partition column order.
        deleted: rows its deletion vector removes, or None.
    """

    location: str
    size: int
    num_records: Optional[int]
    partition_values: tuple
    deleted: Optional[DeletedRows] = None


@dataclass(frozen=True)
class FileSlice:
    """A byte range of a live file: the unit a read task reads.

    Attributes:
        file: the file.
        start: first byte of the range.
        length: bytes in the range (the whole file when the file was not cut).
    """

    file: LiveFile
    start: int
    length: int

    @property
    def whole_file(self) -> bool:
        """Whether the range covers the whole file."""
        return self.start == 0 and self.length >= self.file.size


class ScanPartition(InputPartition):
    """One read task: the file slices it reads (picklable, sent to an executor)."""

    def __init__(self, slices: Sequence[FileSlice]) -> None:
        super().__init__(tuple(slices))

    @property
    def slices(self) -> tuple:
        """The slices, in reading order."""
        return self.value


def table_root(table: DeltaTable) -> str:
    """The table location as tasks open it: a local path, or the URI for object stores."""
    uri = table.table_uri.rstrip("/")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path).rstrip("/") or "/"
    return uri


def file_location(root: str, add_path: str) -> str:
    """Location of a file named by an add action (paths in the log are URL-encoded and relative
    to the table, or absolute URIs for shallow clones)."""
    if "://" in add_path or add_path.startswith("file:"):
        parsed = urlparse(add_path)
        return unquote(parsed.path) if parsed.scheme == "file" else unquote(add_path)
    return f"{root.rstrip('/')}/{unquote(add_path)}"


def list_files(table: DeltaTable, partition_filter: Disjunction = ()) -> list:
    """The live files of the version ``table`` is loaded at that ``partition_filter`` (on
    partition columns only) may match, with their deletion vectors, in log order.

    Raises:
        ValueError: a filter value does not fit its partition column's type.
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    partition_columns = list(table.metadata().partition_columns)
    if partition_filter and actions.num_rows:
        names = {c: f"{_PARTITION_PREFIX}{c}" for c in partition_columns}
        actions = actions.filter(to_arrow_expression(partition_filter, actions.schema, names))
    if not actions.num_rows:
        return []
    root = table_root(table)
    deleted = deleted_rows_by_file(table)
    partition_values = [actions.column(f"{_PARTITION_PREFIX}{c}").to_pylist()
                        for c in partition_columns]
    files = []
    for index, (path, size, records) in enumerate(zip(
            actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(),
            actions.column("num_records").to_pylist())):
        location = file_location(root, path)
        files.append(LiveFile(location=location, size=int(size),
                              num_records=None if records is None else int(records),
                              partition_values=tuple(v[index] for v in partition_values),
                              deleted=deleted.get(location)))
    return files


def pack_slices(files: Sequence[LiveFile], sizing: SplitSizing) -> list:
    """Cut ``files`` into splits and pack them into tasks, as Spark does for Parquet.

    Returns:
        A list of :class:`ScanPartition`, at least one file slice each.
    """
    if not files:
        return []
    split = sizing.max_split_bytes(sum(f.size for f in files), len(files))
    slices = []
    for live in files:
        for start in range(0, max(live.size, 1), split):
            slices.append(FileSlice(live, start, min(split, live.size - start) or live.size))
    slices.sort(key=lambda s: s.length, reverse=True)
    partitions, current, current_bytes = [], [], 0
    for piece in slices:
        if current and current_bytes + piece.length > split:
            partitions.append(ScanPartition(current))
            current, current_bytes = [], 0
        current.append(piece)
        current_bytes += piece.length + sizing.open_cost_bytes
    if current:
        partitions.append(ScanPartition(current))
    return partitions


@dataclass
class ScanPlan:
    """The files of a scan and the tasks reading them (for inspection and tests).

    Attributes:
        files: the live files read (after partition pruning).
        partitions: read tasks.
    """

    files: list = field(default_factory=list)
    partitions: list = field(default_factory=list)
