"""Reading rows of a pinned Delta version with the embedded engine."""

from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
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
    wanted = list(columns) if columns is not None else None
    if "deletionVectors" not in (table.protocol().reader_features or []):
        return table.to_pyarrow_table(columns=wanted, filters=arrow_filters)
    # to_pyarrow_table refuses tables with deletion vectors; scan() applies them, but returns
    # view types, so cast back to the Delta schema before filtering.
    # The filtered columns are read too (they may not be wanted), then dropped after filtering.
    schema = pa.schema(table.schema().to_arrow())
    filtered = [str(f[0]) for f in arrow_filters or ()]
    read = None if wanted is None else wanted + [c for c in dict.fromkeys(filtered)
                                                 if c not in wanted]
    rows = pa.table(table.scan(columns=read).read_all())
    rows = rows.cast(pa.schema([schema.field(name) for name in rows.column_names]))
    if arrow_filters:
        rows = rows.filter(pq.filters_to_expression(arrow_filters))
    return rows if wanted is None else rows.select(wanted)
