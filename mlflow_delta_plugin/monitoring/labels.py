"""Labels of monitored rows, from a column of the scored table or a table joined by a key,
and the quality of the predictions they judge (``metrics.prediction_metrics``, as ``evaluate``).

Only the labelled rows' label and prediction are kept (two numbers a row), not the rows.
"""

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from mlflow_delta_plugin.delta.table import open_table
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import prediction_metrics

__all__ = ["LabelSource", "Quality", "parse_label_source"]


@dataclass
class LabelSource:
    """Where labels come from.

    Attributes:
        column: the label column (in the scored table, or in ``table``).
        table: a Delta table of labels joined on ``key``, or None (labels are a scored column).
        key: the join key, present in both tables.
    """

    column: str
    table: Optional[str] = None
    key: Optional[str] = None
    _labels: Optional[pd.Series] = field(default=None, repr=False)

    @property
    def scored_columns(self) -> list:
        """Columns of the scored table this source needs."""
        return [self.key] if self.table else [self.column]

    def load(self) -> None:
        """Read the label table's key and label columns (once) for the join."""
        if self.table and self._labels is None:
            rows = open_table(self.table).to_pyarrow_table(columns=[self.key, self.column])
            frame = rows.to_pandas().dropna(subset=[self.column])
            self._labels = frame.drop_duplicates(self.key, keep="last") \
                .set_index(self.key)[self.column]

    def labels_for(self, batch: pa.RecordBatch) -> pd.Series:
        """The label of each row of ``batch`` (NaN/None where it has none)."""
        if not self.table:
            return batch.column(self.column).to_pandas()
        keys = batch.column(self.key).to_pandas()
        return pd.Series(self._labels.reindex(keys).to_numpy(), index=keys.index)


def parse_label_source(label_column: Optional[str], label_table: Optional[str],
                       key: Optional[str], scored_columns: Sequence[str]) -> Optional[LabelSource]:
    """Check the label parameters against the scored table (and the label table's schema).

    Raises:
        InvalidInputError: a missing key or column, or a key without a label table.
    """
    if not label_column and not label_table:
        if key:
            raise InvalidInputError("key is set but label_table is not; pass label_table (the "
                                    "Delta table of labels joined on key) or drop key")
        return None
    if not label_table:
        if label_column not in scored_columns:
            raise InvalidInputError(f"the scored table has no label column '{label_column}'; "
                                    f"columns are {list(scored_columns)}")
        return LabelSource(label_column)
    if not key:
        raise InvalidInputError("label_table needs key: the column joining it to the scored rows")
    if not label_column:
        raise InvalidInputError("label_table needs label_column: its column holding the labels")
    names = pa.schema(open_table(label_table).schema().to_arrow()).names
    for column, where, columns in ((key, f"label table '{label_table}'", names),
                                   (label_column, f"label table '{label_table}'", names),
                                   (key, "the scored table", list(scored_columns))):
        if column not in columns:
            raise InvalidInputError(f"{where} has no column '{column}'; columns are "
                                    f"{list(columns)}")
    return LabelSource(label_column, label_table, key)


class Quality:
    """Labels and predictions of the labelled rows of one window, for one model version."""

    def __init__(self) -> None:
        self._labels: list = []
        self._predictions: list = []

    def update(self, labels: pd.Series, predictions: pd.Series) -> None:
        """Add a batch's rows; rows without a label are skipped."""
        known = labels.notna().to_numpy()
        self._labels.append(labels.to_numpy()[known])
        self._predictions.append(predictions.to_numpy()[known])

    @property
    def rows(self) -> int:
        """Labelled rows seen."""
        return int(sum(len(part) for part in self._labels))

    def metrics(self, task: str) -> dict:
        """The task's quality metrics of the labelled rows ({} without any)."""
        if not self.rows:
            return {}
        labels = np.concatenate(self._labels)
        predictions = np.concatenate(self._predictions)
        if task == "classification" and labels.dtype != predictions.dtype:
            labels = labels.astype(predictions.dtype) if predictions.dtype.kind in "iub" \
                else labels
        return prediction_metrics(task, labels, predictions)
