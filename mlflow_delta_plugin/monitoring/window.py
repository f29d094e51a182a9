"""The monitoring window: the versions of a scored table that no monitor run has consumed yet.

A monitor run consumes versions ``start..end`` of a scored table by one Delta commit to the
metrics table carrying an application transaction (``txn``) whose app id names the scored table
and whose version is ``end`` (:mod:`mlflow_delta_plugin.monitoring.metrics_table`). The last
consumed version is therefore ``DeltaTable(metrics).transaction_version(app_id)``: a run that
crashed before that commit consumed nothing, and the rows of the window are the files the
scored table added after that version (scored tables are append-only).
"""

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import pyarrow as pa
import pyarrow.dataset as pds
from deltalake import DeltaTable

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.table import PinnedVersion, is_delta_table, open_table, pin_and_open
from mlflow_delta_plugin.errors import InvalidInputError, UnsupportedTableError

__all__ = ["APP_ID_PREFIX", "Window", "app_id", "find_window", "last_consumed",
           "require_plain_files", "window_batches"]

APP_ID_PREFIX = "mlflow_delta_plugin.monitor"


def app_id(scored_table_id: str) -> str:
    """The ``txn`` app id recording how far a scored table (by Delta table id) was monitored."""
    return f"{APP_ID_PREFIX}:{scored_table_id}"


def last_consumed(metrics_table: str, scored_table_id: str) -> Optional[int]:
    """The last scored-table version a monitor run consumed, or None (none yet, or no table)."""
    if not is_delta_table(metrics_table):
        return None
    return open_table(metrics_table).transaction_version(app_id(scored_table_id))


@dataclass
class Window:
    """Versions ``start..end`` (inclusive) of a scored table and the files they added.

    Attributes:
        pinned: the scored table at ``end``.
        table: the scored table loaded at ``end``.
        start: first version of the window.
        files: paths (relative to the table) of the data files added by ``start..end``.
        rows: rows in those files (from the Delta log).
    """

    pinned: PinnedVersion
    table: DeltaTable
    start: int
    files: list
    rows: int

    @property
    def end(self) -> int:
        """Last version of the window."""
        return self.pinned.version

    def dataset(self) -> DeltaVersionDataset:
        """The scored table at ``end`` as an MLflow dataset (context ``monitoring``)."""
        name = f"{self.pinned.uri.rstrip('/').rsplit('/', 1)[-1]}@v{self.start}-v{self.end}"
        return DeltaVersionDataset(DeltaVersionSource.from_pinned(self.pinned), name=name)


def require_plain_files(table: DeltaTable, location: str) -> None:
    """Refuse tables whose files may carry deletion vectors: monitor reads files as Parquet.

    Raises:
        UnsupportedTableError: the table has the ``deletionVectors`` reader feature.
    """
    if "deletionVectors" in (table.protocol().reader_features or []):
        raise UnsupportedTableError(
            f"Delta table '{location}' has deletion vectors enabled, which monitor cannot read "
            "yet; copy it to a table without them (or disable them before scoring into it)")


def _files(table: DeltaTable) -> dict:
    actions = pa.table(table.get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("num_records").to_pylist()))


def find_window(scored_table: str, consumed: Optional[int]) -> Window:
    """The versions of ``scored_table`` after ``consumed`` (all of them when None).

    Raises:
        TableNotFoundError: no Delta table at ``scored_table``.
        InvalidInputError: nothing new since ``consumed`` (an empty window), or a version in the
            window rewrote rows (the scored table must be append-only).
    """
    pinned, table = pin_and_open(scored_table)
    require_plain_files(table, pinned.uri)
    start = 0 if consumed is None else consumed + 1
    if start > pinned.version:
        raise InvalidInputError(
            f"the window of scored table '{pinned.uri}' is empty: versions up to "
            f"{pinned.version} were monitored already; run monitor after the next scoring run")
    now = _files(table)
    before = _files(open_table(pinned.uri, consumed)) if consumed is not None else {}
    removed = sorted(set(before) - set(now))
    if removed:
        raise InvalidInputError(
            f"scored table '{pinned.uri}' removed or rewrote files between versions {consumed} "
            f"and {pinned.version} ({removed[0]} ...); monitor needs an append-only scored table")
    added = [path for path in now if path not in before]
    rows = int(sum(now[path] or 0 for path in added))
    if rows == 0:
        raise InvalidInputError(
            f"the window of scored table '{pinned.uri}' (versions {start}..{pinned.version}) "
            "holds no rows; run monitor after a scoring run that wrote rows")
    return Window(pinned, table, start, added, rows)


def window_batches(window: Window, columns: Sequence[str],
                   batch_size: int = 65536) -> Iterator[pa.RecordBatch]:
    """The rows the window added, ``columns`` only, one record batch at a time."""
    dataset = window.table.to_pyarrow_dataset()
    wanted = set(window.files)
    fragments = [f for f in dataset.get_fragments() if f.path in wanted]
    subset = pds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)
    # One file and a couple of batches ahead, on this thread: with threads, the scanner reads
    # ahead of a slower consumer without bound (peak Arrow memory grew from 258 to 575 MiB
    # between a 1M- and a 3M-row window; 124 MiB either way without).
    yield from subset.to_batches(columns=list(columns), batch_size=batch_size,
                                 batch_readahead=2, fragment_readahead=1, use_threads=False)
