"""Reading rows of a pinned Delta version with the embedded engine."""

from typing import Optional, Sequence

import pyarrow as pa
from deltalake import DeltaTable

__all__ = ["FilterSpec", "read_version"]

FilterSpec = Sequence[Sequence[object]]
"""Conjunctive filters in deltalake's DNF form, e.g. ``[("split", "=", "test")]``."""


def read_version(
    table: DeltaTable,
    columns: Optional[Sequence[str]] = None,
    filters: Optional[FilterSpec] = None,
) -> pa.Table:
    """Rows of the version ``table`` is loaded at, honouring deletion vectors.

    Filters on partition columns prune files; filters on other columns are applied to the rows.
    """
    arrow_filters = [tuple(f) for f in filters] if filters else None
    return table.to_pyarrow_table(
        columns=list(columns) if columns is not None else None,
        filters=arrow_filters,
    )
