"""Reading one planned file slice into Arrow batches shaped as Spark expects (executor side).

A slice reads the row groups whose middle byte lies in its range, drops the rows the file's
deletion vector removes (by row position within the file), applies the row filter, and adds
the partition columns as constants typed as in the Delta schema. Columns missing from an older
file (added to the table later) come back as nulls.
"""

from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from mlflow_delta_plugin.spark.scan import FileSlice

__all__ = ["ReadLayout", "read_slice"]


@dataclass(frozen=True)
class ReadLayout:
    """What a read task produces, fixed at planning time (picklable).

    Attributes:
        output: Arrow schema of the batches (exactly what Spark expects).
        evaluated: ``output``'s fields followed by the columns only the row filter needs.
        sources: per ``evaluated`` column, ``("file", physical_name)`` or ``("partition", i)``.
        row_filter: filter over ``evaluated`` columns, or None.
        batch_rows: rows per Arrow batch read from Parquet.
    """

    output: pa.Schema
    evaluated: pa.Schema
    sources: tuple
    row_filter: Optional[pc.Expression] = None
    batch_rows: int = 131_072


def read_slice(piece: FileSlice, layout: ReadLayout) -> Iterator[pa.RecordBatch]:
    """The rows of ``piece`` as batches of ``layout.output``."""
    parquet = _open_parquet(piece.file.location)
    metadata = parquet.metadata
    groups = _row_groups_in_range(metadata, piece)
    if not groups:
        return
    available = set(parquet.schema_arrow.names)
    wanted = list(dict.fromkeys(
        name for kind, name in layout.sources if kind == "file" and name in available))
    first_rows = np.cumsum([0] + [metadata.row_group(i).num_rows
                                  for i in range(metadata.num_row_groups)])
    deleted = piece.file.deleted
    for group in groups:
        position = int(first_rows[group])
        if wanted:
            batches = parquet.iter_batches(batch_size=layout.batch_rows, row_groups=[group],
                                           columns=wanted, use_threads=True)
        else:  # only partition columns or missing ones: the rows come from the footer
            batches = _row_counts(metadata.row_group(group).num_rows, layout.batch_rows)
        for batch in batches:
            rows = batch if isinstance(batch, int) else batch.num_rows
            keep = deleted.keep_mask(position, position + rows) if deleted else None
            position += rows
            if isinstance(batch, int):
                batch, rows = None, (rows if keep is None else int(keep.sum()))
            elif keep is not None:
                batch = batch.filter(pa.array(keep))
                rows = batch.num_rows
            if rows:
                result = _assemble(batch, rows, piece, layout)
                if result.num_rows:
                    yield result


def _row_counts(total: int, size: int) -> Iterator[int]:
    for start in range(0, total, size):
        yield min(size, total - start)


def _assemble(batch: Optional[pa.RecordBatch], rows: int, piece: FileSlice,
              layout: ReadLayout) -> pa.RecordBatch:
    """The output batch: file columns cast to their Spark types, partition constants, nulls
    for columns the file lacks; filtered by the row filter."""
    arrays = []
    for target, (kind, source) in zip(layout.evaluated, layout.sources):
        if kind == "partition":
            value = piece.file.partition_values[source]
            arrays.append(pa.nulls(rows, target.type) if value is None
                          else pa.repeat(pa.scalar(value, type=target.type), rows))
            continue
        index = batch.schema.get_field_index(source) if batch is not None else -1
        if index < 0:
            arrays.append(pa.nulls(rows, target.type))
            continue
        column = batch.column(index)
        arrays.append(column if column.type == target.type else column.cast(target.type))
    if layout.row_filter is None:
        return pa.RecordBatch.from_arrays(arrays[:len(layout.output)], schema=layout.output)
    evaluated = pa.RecordBatch.from_arrays(arrays, schema=layout.evaluated)
    return evaluated.filter(layout.row_filter).select(layout.output.names)


def _open_parquet(location: str) -> pq.ParquetFile:
    if "://" in location:
        filesystem, path = pafs.FileSystem.from_uri(location)
        handle = filesystem.open_input_file(path)
    else:
        handle = pa.memory_map(location, "r")
    return pq.ParquetFile(handle, coerce_int96_timestamp_unit="us")


def _row_groups_in_range(metadata: pq.FileMetaData, piece: FileSlice) -> list:
    """Row groups whose middle byte falls in the slice (all of them for a whole file)."""
    if piece.whole_file:
        return list(range(metadata.num_row_groups))
    selected = []
    end = piece.start + piece.length
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        starts, size = [], 0
        for column_index in range(group.num_columns):
            column = group.column(column_index)
            offset = column.data_page_offset
            if column.has_dictionary_page and column.dictionary_page_offset:
                offset = min(offset, column.dictionary_page_offset)
            starts.append(offset)
            size += column.total_compressed_size
        middle = (min(starts) if starts else 0) + size // 2
        if piece.start <= middle < end:
            selected.append(index)
    return selected
