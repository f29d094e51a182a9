"""Spark's share of ``prepare``: what each task does to its input rows (``mapInArrow``).

Each task turns its Arrow batches into the embedded engine's input batches (CSV lines parsed by
pyarrow with the types the driver inferred; Parquet / Delta rows cast to the input's Arrow
types), then runs the checks and the split of :func:`mlflow_delta_plugin.ingest.checks.
prepare_batch` on them, so a row gets the same verdict and the same split on either engine. The
task's profile and split counts travel back to the driver in an accumulator. A bad row raises in
the task, which fails the Spark job before the driver commits anything.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pyspark import TaskContext
from pyspark.accumulators import Accumulator, AccumulatorParam

from mlflow_delta_plugin.ingest.readers import _guarded
from mlflow_delta_plugin.ingest.checks import prepare_batch
from mlflow_delta_plugin.delta.lineage import TableSpec
from mlflow_delta_plugin.ingest.profile import StreamingProfile

__all__ = ["BLOCK_START_COLUMN", "CsvLines", "LINE_COLUMN", "PrepareRows", "PrepareTally",
           "TallyParam"]

LINE_COLUMN = "value"
"""The column of Spark's text reader holding one line of the file."""
BLOCK_START_COLUMN = "block_start"
"""Byte offset of the file split a line was read from (``input_file_block_start()``)."""


@dataclass
class PrepareTally:
    """What the tasks of one prepare saw: the profile of the written rows and split counts."""

    profile: StreamingProfile = field(default_factory=StreamingProfile)
    split_counts: Counter = field(default_factory=Counter)

    def merge(self, other: "PrepareTally") -> None:
        """Fold in another task's tally."""
        self.profile.merge(other.profile)
        self.split_counts.update(other.split_counts)


class TallyParam(AccumulatorParam):
    """Accumulates :class:`PrepareTally` values (one per task) on the driver."""

    def zero(self, value: PrepareTally) -> PrepareTally:
        return PrepareTally()

    def addInPlace(self, total: PrepareTally, part: PrepareTally) -> PrepareTally:
        total.merge(part)
        return total


@dataclass(frozen=True)
class CsvLines:
    """How the embedded engine reads a CSV file, applied to the lines Spark's text reader gives.

    pyarrow's CSV reader does not allow line breaks inside values, so a line is a row and each
    task can parse its own lines; the header is the first line of the split starting at byte 0.

    Attributes:
        schema: the Arrow types pyarrow inferred from the file's first block (on the driver).
        delimiter: field separator.
    """

    schema: pa.Schema
    delimiter: str

    def parse(self, lines: pa.Array) -> Iterator[pa.RecordBatch]:
        """Rows of ``lines`` (no header) converted exactly as the streaming CSV reader would."""
        if len(lines) == 0:
            return
        offsets = pa.array([0, len(lines)], type=pa.int32())
        text = pc.binary_join(pa.ListArray.from_arrays(offsets, lines.cast(pa.string())), "\n")
        parsed = pa_csv.read_csv(
            pa.BufferReader(text[0].as_buffer()),
            read_options=pa_csv.ReadOptions(column_names=self.schema.names),
            parse_options=pa_csv.ParseOptions(delimiter=self.delimiter),
            convert_options=pa_csv.ConvertOptions(column_types=self.schema),
        )
        yield from parsed.to_batches()


class PrepareRows:
    """The ``mapInArrow`` function of a Spark prepare (pickled to the workers).

    Args:
        spec: the table spec.
        input_schema: Arrow types of the input's columns as the embedded engine reads them.
        target: Arrow schema of the written table.
        output_schema: ``target`` as Spark exchanges it with Python (``to_arrow_schema``).
        test_fraction, seed: the split's parameters.
        location: the input, for errors.
        tally: accumulator of :class:`PrepareTally`.
        csv: set when the rows are lines of a CSV file.
    """

    def __init__(self, spec: TableSpec, input_schema: pa.Schema, target: pa.Schema,
                 output_schema: pa.Schema, test_fraction: float, seed: int, location: str,
                 tally: Accumulator, csv: Optional[CsvLines] = None) -> None:
        self.spec = spec
        self.input_schema = input_schema
        self.target = target
        self.output_schema = output_schema
        self.test_fraction = test_fraction
        self.seed = seed
        self.location = location
        self.tally = tally
        self.csv = csv

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        context = TaskContext.get()
        partition = context.partitionId() if context is not None else None
        tally = PrepareTally()
        rows = 0
        csv_schema = self.csv.schema if self.csv is not None else None
        for batch in _guarded(self.location, lambda: self._input_batches(batches), csv_schema):
            if batch.num_rows == 0:
                continue
            batch, test_rows = prepare_batch(batch, self.spec, self.target, self.test_fraction,
                                             self.seed, self.location, rows, partition)
            tally.split_counts.update({"test": test_rows, "train": batch.num_rows - test_rows})
            tally.profile.update(batch)
            rows += batch.num_rows
            if not batch.schema.equals(self.output_schema):
                batch = batch.cast(self.output_schema)
            yield batch
        self.tally.add(tally)

    def _input_batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if self.csv is not None:
            yield from self._csv_batches(batches)
            return
        for batch in batches:
            yield pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in self.input_schema
                 if f.name in batch.schema.names],
                names=[f.name for f in self.input_schema if f.name in batch.schema.names])

    def _csv_batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        header_dropped = False
        for batch in batches:
            lines = batch.column(LINE_COLUMN)
            if not header_dropped:
                at_start = pc.equal(batch.column(BLOCK_START_COLUMN), 0)
                first = pc.index(at_start, True).as_py()
                if first >= 0:
                    lines = pa.concat_arrays([lines.slice(0, first), lines.slice(first + 1)])
                    header_dropped = True
            yield from self.csv.parse(lines)
