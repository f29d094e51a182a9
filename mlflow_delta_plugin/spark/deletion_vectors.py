"""Deletion vectors of a Delta version, shipped to Spark tasks as compact deleted-row sets.

A deletion vector (DV) marks rows of one Parquet file as deleted without rewriting the file; the
file then holds more rows than the version does, so reading a version's files without their DVs
returns deleted rows. delta-rs decodes every DV storage form (inline in the log, or in a
``deletion_vector_*.bin`` file) through :meth:`deltalake.DeltaTable.deletion_vectors`; the driver
reads them once while planning, and each read task gets the deleted rows of just its files,
either as row positions (sparse deletes) or as a packed bit mask (dense deletes), whichever is
smaller.
"""

from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable

__all__ = ["DeletedRows", "deleted_rows_by_file", "location_of_uri"]


@dataclass(frozen=True)
class DeletedRows:
    """The rows a deletion vector removes from one file.

    Attributes:
        count: number of deleted rows.
        positions: sorted deleted row positions (uint64), or None when ``packed`` is used.
        packed: the deletion mask as ``numpy.packbits`` bytes (bit set = deleted), or None.
        mask_length: number of rows ``packed`` covers; rows past it are kept.
    """

    count: int
    positions: Optional[np.ndarray] = None
    packed: Optional[bytes] = None
    mask_length: int = 0

    @classmethod
    def from_selection(cls, keep: np.ndarray) -> "DeletedRows":
        """From a keep mask (True = row stays), in whichever form is smaller."""
        deleted = ~keep.astype(bool, copy=False)
        positions = np.flatnonzero(deleted).astype(np.uint64)
        if positions.nbytes <= (len(deleted) + 7) // 8:
            return cls(count=len(positions), positions=positions)
        return cls(count=len(positions), packed=np.packbits(deleted).tobytes(),
                   mask_length=len(deleted))

    def keep_mask(self, start: int, stop: int) -> Optional[np.ndarray]:
        """Boolean keep mask for file rows ``start <= row < stop``; None if none are deleted."""
        if self.positions is not None:
            low, high = np.searchsorted(self.positions, [start, stop])
            if low == high:
                return None
            keep = np.ones(stop - start, dtype=bool)
            keep[(self.positions[low:high] - np.uint64(start)).astype(np.int64)] = False
            return keep
        if start >= self.mask_length:
            return None
        deleted = np.unpackbits(np.frombuffer(self.packed, dtype=np.uint8),
                                count=self.mask_length).astype(bool)[start:stop]
        keep = np.ones(stop - start, dtype=bool)
        keep[:len(deleted)] = ~deleted
        return None if keep.all() else keep


def location_of_uri(uri: str) -> str:
    """A file location in the form :func:`mlflow_delta_plugin.spark.scan.file_location` uses:
    a decoded local path for ``file://`` URIs, the decoded URI otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path)
    return unquote(uri)


def deleted_rows_by_file(table: DeltaTable) -> dict:
    """Deleted rows of every file of the loaded version that has a DV, by file location.

    Cost: delta-rs materializes the DVs (one bit per row of each file with a DV).
    """
    found = {}
    for batch in pa.RecordBatchReader.from_stream(table.deletion_vectors()):
        paths = batch.column("filepath").to_pylist()
        selections = batch.column("selection_vector")
        for index, path in enumerate(paths):
            keep = selections[index].values.to_numpy(zero_copy_only=False)
            found[location_of_uri(path)] = DeletedRows.from_selection(keep)
    return found
