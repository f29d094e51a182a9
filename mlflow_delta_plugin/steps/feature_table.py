"""Loading a pinned version of a feature table written by ``prepare``, split into train / test."""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import TableSpec, find_table_spec
from mlflow_delta_plugin.delta.table import PinnedVersion, pin_and_open
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, REGRESSION
from mlflow_delta_plugin.ingest.split import SPLIT_COLUMN, TEST, TRAIN

__all__ = [
    "MAX_CLASSES_FOR_AUTO",
    "TASKS",
    "FeatureTable",
    "decide_task",
    "infer_task",
    "load_feature_table",
    "load_split",
]

TASKS = ("auto", CLASSIFICATION, REGRESSION)
MAX_CLASSES_FOR_AUTO = 20


@dataclass
class FeatureTable:
    """A pinned feature-table version and what is known about its columns.

    Attributes:
        pinned: the exact version.
        spec: label, features and split column (from ``prepare``'s commit metadata).
        dataset: the MLflow dataset of the whole version (label as ``targets``).
        numeric_features: numeric and boolean feature columns.
        categorical_features: string feature columns.
        label_type: Arrow type of the label column.
    """

    pinned: PinnedVersion
    spec: TableSpec
    dataset: DeltaVersionDataset
    numeric_features: list
    categorical_features: list
    label_type: pa.DataType

    @property
    def features(self) -> list:
        """All feature columns, in table order."""
        return list(self.spec.features)


def load_feature_table(table: str, version: Optional[int] = None,
                       label: Optional[str] = None) -> FeatureTable:
    """Pin ``version`` (None = latest) of ``table`` and describe its features.

    ``label`` overrides (or, for tables not written by ``prepare``, supplies) the label column;
    the features are then every other usable column except the split column.

    Raises:
        TableNotFoundError, VersionNotFoundError, InvalidInputError.
    """
    pinned, opened = pin_and_open(table, version=version)
    dataset_source = DeltaVersionSource.from_opened(pinned, opened)
    schema = pa.schema(opened.schema().to_arrow())
    spec = find_table_spec(pinned.uri, pinned.version)
    if label:
        if spec is None or spec.label != label:
            features = tuple(n for n in schema.names if n not in (label, SPLIT_COLUMN)
                             and (spec is None or n != spec.key))
            spec = TableSpec(label=label, features=features, split_column=SPLIT_COLUMN,
                             key=spec.key if spec else None)
    elif spec is None:
        raise InvalidInputError(
            f"Delta table '{pinned.uri}' version {pinned.version} was not written by prepare "
            "(no label recorded); run prepare on it or pass the label parameter"
        )
    missing = [c for c in (spec.label, spec.split_column, *spec.features) if c not in schema.names]
    if missing:
        raise InvalidInputError(
            f"Delta table '{pinned.uri}' version {pinned.version} lacks columns {missing}; "
            "it must be a feature table written by prepare (with a split column)"
        )
    numeric, categorical = [], []
    for name in spec.features:
        kind = schema.field(name).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind):
            categorical.append(name)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) \
                or pa.types.is_decimal(kind):
            numeric.append(name)
    if not numeric and not categorical:
        raise InvalidInputError(f"Delta table '{pinned.uri}' has no usable feature columns")
    dataset = DeltaVersionDataset(dataset_source, targets=spec.label)
    return FeatureTable(pinned, spec, dataset, numeric, categorical, schema.field(spec.label).type)


def load_split(feature_table: FeatureTable, split: str) -> tuple[pd.DataFrame, pd.Series]:
    """Features and labels of the ``train`` or ``test`` split of the pinned version.

    Raises:
        InvalidInputError: the split has no rows.
    """
    if split not in (TRAIN, TEST):
        raise ValueError(f"split must be '{TRAIN}' or '{TEST}'")
    spec = feature_table.spec
    columns = [*feature_table.numeric_features, *feature_table.categorical_features, spec.label]
    rows = feature_table.dataset.to_arrow(columns=columns,
                                          filters=[(spec.split_column, "=", split)])
    if rows.num_rows == 0:
        raise InvalidInputError(
            f"Delta table '{feature_table.pinned.uri}' version {feature_table.pinned.version} has "
            f"no '{split}' rows; run prepare with a test_fraction that leaves both splits non-empty"
        )
    frame = rows.to_pandas()
    labels = frame.pop(spec.label)
    return frame, labels


def infer_task(task: str, labels: pd.Series, label_type: pa.DataType, label: str) -> str:
    """Resolve ``task`` (``auto``, ``classification``, ``regression``) for these labels.

    Raises:
        InvalidInputError: unknown task, or a task that cannot fit the label's type.
    """
    whole = not pa.types.is_floating(label_type) or bool(
        np.all(np.mod(labels.to_numpy(), 1) == 0))
    few = labels.nunique() <= MAX_CLASSES_FOR_AUTO
    return decide_task(task, label_type, label, few_values=few, whole_values=whole)


def decide_task(task: str, label_type: pa.DataType, label: str, *, few_values: bool,
                whole_values: bool) -> str:
    """:func:`infer_task` from facts about the labels rather than the labels themselves.

    Args:
        few_values: the label has at most ``MAX_CLASSES_FOR_AUTO`` distinct values.
        whole_values: every (floating point) label value is a whole number.

    Raises:
        InvalidInputError: unknown task, or a task that cannot fit the label's type.
    """
    if task not in TASKS:
        raise InvalidInputError(f"task '{task}' is not one of {list(TASKS)}")
    textual = pa.types.is_string(label_type) or pa.types.is_large_string(label_type) \
        or pa.types.is_boolean(label_type) or pa.types.is_dictionary(label_type)
    whole = pa.types.is_integer(label_type) or textual or (
        pa.types.is_floating(label_type) and whole_values)
    if task == "auto":
        if textual:
            return CLASSIFICATION
        return CLASSIFICATION if pa.types.is_integer(label_type) and few_values else REGRESSION
    if task == REGRESSION and textual:
        raise InvalidInputError(f"label '{label}' is {label_type}; use task=classification")
    if task == CLASSIFICATION and not whole:
        raise InvalidInputError(
            f"label '{label}' holds continuous values; use task=regression"
        )
    return task
