"""A streaming data profile: per-column counts, nulls and numeric summaries, one batch at a time."""

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ColumnProfile", "StreamingProfile"]


@dataclass
class ColumnProfile:
    """Running statistics of one column."""

    type: str
    count: int = 0
    nulls: int = 0
    minimum: Any = None
    maximum: Any = None
    total: float = 0.0
    total_sq: float = 0.0

    def update(self, values: pa.Array) -> None:
        """Fold one batch of this column's values in."""
        self.count += len(values)
        self.nulls += values.null_count
        if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
            return
        numbers = pc.drop_null(values)
        if len(numbers) == 0:
            return
        bounds = pc.min_max(numbers).as_py()
        self.minimum = bounds["min"] if self.minimum is None else min(self.minimum, bounds["min"])
        self.maximum = bounds["max"] if self.maximum is None else max(self.maximum, bounds["max"])
        as_float = pc.cast(numbers, pa.float64())
        self.total += pc.sum(as_float).as_py() or 0.0
        self.total_sq += pc.sum(pc.multiply(as_float, as_float)).as_py() or 0.0

    def merge(self, other: "ColumnProfile") -> None:
        """Fold in the statistics of the same column over other rows (another task's share)."""
        self.count += other.count
        self.nulls += other.nulls
        self.total += other.total
        self.total_sq += other.total_sq
        if other.minimum is None:
            return
        if self.minimum is None:
            self.minimum, self.maximum = other.minimum, other.maximum
        else:
            self.minimum = min(self.minimum, other.minimum)
            self.maximum = max(self.maximum, other.maximum)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (mean and std for numeric columns)."""
        summary: dict[str, Any] = {"type": self.type, "count": self.count, "nulls": self.nulls}
        present = self.count - self.nulls
        if self.minimum is not None and present:
            mean = self.total / present
            variance = max(self.total_sq / present - mean * mean, 0.0)
            summary.update(min=self.minimum, max=self.maximum, mean=mean, std=math.sqrt(variance))
        return summary


@dataclass
class StreamingProfile:
    """Profile of a stream of record batches with a fixed schema."""

    columns: dict = field(default_factory=dict)
    rows: int = 0

    def update(self, batch: pa.RecordBatch) -> None:
        """Fold one batch in."""
        self.rows += batch.num_rows
        for name, values in zip(batch.schema.names, batch.columns):
            column = self.columns.setdefault(name, ColumnProfile(type=str(values.type)))
            column.update(values)

    def merge(self, other: "StreamingProfile") -> None:
        """Fold in the profile of other rows with the same columns (another task's share)."""
        self.rows += other.rows
        for name, column in other.columns.items():
            mine = self.columns.setdefault(name, ColumnProfile(type=column.type))
            mine.merge(column)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly profile."""
        return {"rows": self.rows,
                "columns": {name: col.to_dict() for name, col in self.columns.items()}}
