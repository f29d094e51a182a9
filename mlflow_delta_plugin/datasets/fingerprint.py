"""A content fingerprint of one Delta table version, computed from the log alone.

Two versions with the same schema, partitioning and set of live data files (with their sizes,
row counts and deletion-vector selections) hold the same rows, so hashing that list identifies
the content without reading any data. Cost: one log replay (milliseconds with checkpoints).
"""

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
from deltalake import DeltaTable

__all__ = ["VersionStats", "fingerprint_version"]

_DELETION_VECTOR_PREFIX = "deletionVector"


@dataclass(frozen=True)
class VersionStats:
    """The fingerprint of a version plus the log statistics computed on the way.

    Attributes:
        digest: hex SHA-256 of the version's content description.
        num_files: live data files.
        size_bytes: total size of the live data files.
        num_rows: rows according to the log statistics (before deletion vectors are applied;
            None when a file carries no row count).
        has_deletion_vectors: whether any live file has a deletion vector.
    """

    digest: str
    num_files: int
    size_bytes: int
    num_rows: "int | None"
    has_deletion_vectors: bool


def fingerprint_version(table: DeltaTable) -> VersionStats:
    """Fingerprint the version ``table`` is loaded at.

    Example:
        >>> stats = fingerprint_version(DeltaTable("data/features", version=3))  # doctest: +SKIP
        >>> stats.digest[:12], stats.num_rows  # doctest: +SKIP
    """
    actions = pa.table(table.get_add_actions(flatten=True))
    dv_columns = sorted(c for c in actions.column_names if c.startswith(_DELETION_VECTOR_PREFIX))
    key_columns = ["path", "size_bytes", "num_records", *dv_columns]
    rows = actions.select(key_columns).to_pylist() if actions.num_rows else []
    rows.sort(key=lambda row: row["path"])

    hasher = hashlib.sha256()
    hasher.update(table.schema().to_json().encode())
    hasher.update(json.dumps(table.metadata().partition_columns).encode())
    for row in rows:
        hasher.update(json.dumps(row, sort_keys=True, default=str).encode())
        hasher.update(b"\n")

    counts = [row["num_records"] for row in rows]
    has_dv = any(
        row.get(column) is not None for row in rows for column in dv_columns
    )
    return VersionStats(
        digest=hasher.hexdigest(),
        num_files=len(rows),
        size_bytes=int(sum(row["size_bytes"] for row in rows)),
        num_rows=None if any(c is None for c in counts) else int(sum(counts)),
        has_deletion_vectors=has_dv,
    )
