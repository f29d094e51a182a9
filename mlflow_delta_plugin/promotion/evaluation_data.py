"""The data models are judged on: the ``test`` split of one pinned feature-table version.

``evaluate`` and ``promote`` both load it here, so a candidate and its champion always see the
same rows, and the dataset they log names the exact version and the split filter.
"""

from dataclasses import dataclass
from typing import Optional

import pandas as pd

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, REGRESSION
from mlflow_delta_plugin.ingest.split import TEST
from mlflow_delta_plugin.steps.feature_table import (
    FeatureTable,
    infer_task,
    load_feature_table,
    load_split,
)

__all__ = ["PinnedSplit", "TestSplit", "load_test_split", "test_split_dataset"]


class PinnedSplit:
    """``table`` and ``version`` of a split whose ``features`` attribute is a FeatureTable."""

    features: FeatureTable

    @property
    def table(self) -> str:
        """The table URI."""
        return self.features.pinned.uri

    @property
    def version(self) -> int:
        """The pinned Delta version."""
        return self.features.pinned.version


@dataclass(frozen=True)
class TestSplit(PinnedSplit):
    """The test rows of a pinned version, as frames and as a loggable MLflow dataset.

    Attributes:
        features: the pinned feature table (version, label, feature columns).
        dataset: the test split as a :class:`DeltaVersionDataset` (label as ``targets``).
        x: feature columns of the test rows.
        y: labels of the test rows.
        task: ``classification`` or ``regression``.
    """

    __test__ = False  # not a pytest test class

    features: FeatureTable
    dataset: DeltaVersionDataset
    x: pd.DataFrame
    y: pd.Series
    task: str


def load_test_split(table: str, version: Optional[int] = None, label: Optional[str] = None,
                    task: Optional[str] = None) -> TestSplit:
    """Pin ``version`` (None = latest) of ``table`` and load its ``test`` split.

    Args:
        table: feature table URI.
        version: Delta version, None for the latest.
        label: label column (default: the one ``prepare`` recorded).
        task: the model's task when known (from its training run); inferred from the label
            otherwise.

    Raises:
        TableNotFoundError, VersionNotFoundError, InvalidInputError (no test rows, not a
        feature table).
    """
    features = load_feature_table(table, version, label)
    x_test, y_test = load_split(features, TEST)
    if task not in (CLASSIFICATION, REGRESSION):
        task = infer_task("auto", y_test, features.label_type, features.spec.label)
    return TestSplit(features=features, dataset=test_split_dataset(features), x=x_test, y=y_test,
                     task=task)


def test_split_dataset(features: FeatureTable) -> DeltaVersionDataset:
    """The ``test`` split of the pinned version as a loggable dataset (label as ``targets``),
    named ``<table folder>@v<version>-test``; the same for every engine that reads it."""
    pinned = features.pinned
    source = DeltaVersionSource.from_pinned(
        pinned, filters=[(features.spec.split_column, "=", TEST)])
    base = pinned.uri.rstrip("/").rsplit("/", 1)[-1]
    return DeltaVersionDataset(source, targets=features.spec.label,
                               name=f"{base}@v{pinned.version}-{TEST}")


test_split_dataset.__test__ = False  # not a pytest test function
