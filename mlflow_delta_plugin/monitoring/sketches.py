"""Bounded-memory summaries of a column, filled one record batch at a time.

A :class:`ColumnSketch` keeps the row and null counts, a histogram on fixed bins (numeric: the
reference's quantile edges; categorical: the categories seen) and a uniform reservoir sample of
at most ``sample_size`` values for the statistics that need values (KS, Wasserstein). Memory is
``O(bins + sample_size)`` per column, whatever the number of rows.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ColumnSketch", "Reservoir", "is_numeric", "Profile", "quantile_edges"]

PSI_BINS = 10
MAX_DISCRETE_VALUES = 20


class Reservoir:
    """A uniform random sample of at most ``size`` values of a stream (Vitter's algorithm R)."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.values = np.empty(0, dtype="float64")
        self._rng = np.random.default_rng(seed)

    def add(self, values: np.ndarray) -> None:
        """Offer ``values`` (in stream order) to the sample."""
        values = np.asarray(values, dtype="float64")
        free = self.size - len(self.values)
        if free > 0:
            taken = values[:free]
            self.values = np.concatenate([self.values, taken])
            self.seen += len(taken)
            values = values[free:]
        if len(values) == 0:
            return
        index = self.seen + np.arange(len(values))  # each value's 0-based position in the stream
        slot = (self._rng.random(len(values)) * (index + 1)).astype("int64")
        kept = slot < self.size
        self.values[slot[kept]] = values[kept]  # in order: a later value overwrites
        self.seen += len(values)


def is_numeric(kind: pa.DataType) -> bool:
    """Numeric or boolean Arrow types (binned by value); everything else is categorical."""
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
        or pa.types.is_decimal(kind)


def quantile_edges(sample: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """The inner edges of ``bins`` equal-frequency bins of ``sample`` (duplicates dropped)."""
    if len(sample) == 0:
        return np.empty(0)
    inner = np.quantile(sample, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def _numbers(array: pa.Array) -> np.ndarray:
    valid = pc.drop_null(array)
    if pa.types.is_boolean(valid.type) or pa.types.is_decimal(valid.type):
        valid = pc.cast(valid, pa.float64())
    values = valid.to_numpy(zero_copy_only=False).astype("float64")
    return values[~np.isnan(values)]


@dataclass
class ColumnSketch:
    """Counts, histogram and sample of one column.

    Attributes:
        kind: ``numeric`` (histogram on ``edges``) or ``categorical`` (counts per value).
        edges: inner bin edges of a numeric sketch (bin i holds edges[i-1] <= x < edges[i]).
        rows, nulls: rows seen, and those without a value (null or NaN).
        counts: numeric: array of bin counts; categorical: Counter of value -> count.
        sample: reservoir of numeric values (None for categorical columns).
    """

    kind: str
    edges: Optional[np.ndarray] = None
    rows: int = 0
    nulls: int = 0
    counts: object = None
    sample: Optional[Reservoir] = None
    _discrete: bool = field(default=False, repr=False)

    @classmethod
    def numeric(cls, edges: np.ndarray, sample_size: int, seed: int = 0) -> "ColumnSketch":
        """A numeric sketch on fixed ``edges``."""
        return cls("numeric", edges=np.asarray(edges, dtype="float64"),
                   counts=np.zeros(len(edges) + 1, dtype="int64"),
                   sample=Reservoir(sample_size, seed))

    @classmethod
    def categorical(cls, discrete: bool = False) -> "ColumnSketch":
        """A categorical sketch; ``discrete`` numbers are counted by value, as text."""
        return cls("categorical", counts=Counter(), _discrete=discrete)

    def update(self, array: pa.Array) -> None:
        """Add one batch's values of the column."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        self.rows += len(array)
        if self.kind == "numeric":
            values = _numbers(array)
            self.nulls += len(array) - len(values)
            self.counts += np.bincount(np.searchsorted(self.edges, values, side="right"),
                                       minlength=len(self.counts))
            self.sample.add(values)
            return
        if self._discrete:
            values = _numbers(array)
            self.nulls += len(array) - len(values)
            array = pa.array([_label(v) for v in values], pa.string())
        else:
            self.nulls += array.null_count
            array = pc.cast(pc.drop_null(array), pa.string())
        for entry in pc.value_counts(array).to_pylist():
            self.counts[entry["values"]] += entry["counts"]

    @property
    def valid(self) -> int:
        """Rows with a value."""
        return self.rows - self.nulls

    @property
    def null_rate(self) -> float:
        """Share of rows without a value (0 for an empty sketch)."""
        return self.nulls / self.rows if self.rows else 0.0

    def like(self, sample_size: int, seed: int = 1) -> "ColumnSketch":
        """An empty sketch on the same bins (to summarize another stream comparably)."""
        if self.kind == "numeric":
            return ColumnSketch.numeric(self.edges, sample_size, seed)
        return ColumnSketch.categorical(self._discrete)

    def histogram(self, categories: Optional[list] = None) -> np.ndarray:
        """Counts per bin (numeric) or per category in ``categories`` order."""
        if self.kind == "numeric":
            return np.asarray(self.counts, dtype="float64")
        return np.array([self.counts.get(c, 0) for c in categories], dtype="float64")


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Profile:
    """One pass over a reference column: counts, a reservoir sample and (for text) categories.

    :meth:`sketch` turns it into the reference :class:`ColumnSketch`. Numeric columns with few
    distinct integral values (class labels, flags) become categorical; other numeric columns
    are binned on the sample's quantiles. Numeric shares come from the sample, which holds
    every value up to ``sample_size`` rows and a uniform sample beyond.
    """

    def __init__(self, kind: pa.DataType, sample_size: int, seed: int = 0) -> None:
        self.kind = kind
        self.rows = 0
        self.nulls = 0
        self.sample = Reservoir(sample_size, seed)
        self.categories: Counter = Counter()

    def update(self, array: pa.Array) -> None:
        """Add one batch's values of the column."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        self.rows += len(array)
        if is_numeric(self.kind):
            values = _numbers(array)
            self.nulls += len(array) - len(values)
            self.sample.add(values)
            return
        self.nulls += array.null_count
        for entry in pc.value_counts(pc.cast(pc.drop_null(array), pa.string())).to_pylist():
            self.categories[entry["values"]] += entry["counts"]

    def sketch(self) -> ColumnSketch:
        """The reference sketch of the column."""
        values = self.sample.values
        if not is_numeric(self.kind):
            sketch = ColumnSketch.categorical()
            sketch.counts = Counter(self.categories)
        else:
            distinct = np.unique(values)
            if len(distinct) <= MAX_DISCRETE_VALUES and np.all(np.mod(distinct, 1) == 0):
                sketch = ColumnSketch.categorical(discrete=True)
                sketch.counts = Counter(_label(v) for v in values)
            else:
                sketch = ColumnSketch.numeric(quantile_edges(values), len(values) or 1, seed=0)
                sketch.counts = np.bincount(np.searchsorted(sketch.edges, values, side="right"),
                                            minlength=len(sketch.edges) + 1)
                sketch.sample = self.sample
        sketch.rows, sketch.nulls = self.rows, self.nulls
        return sketch
