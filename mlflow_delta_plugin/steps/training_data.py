"""The ``train`` and ``test`` splits of a pinned feature table, in this process's memory.

Kept apart from :mod:`~mlflow_delta_plugin.steps.feature_table` so that module does not import
its Spark half (:mod:`~mlflow_delta_plugin.steps.spark_split`, which builds on it) back.
"""

import pandas as pd

from mlflow_delta_plugin.ingest.split import TEST, TRAIN
from mlflow_delta_plugin.steps.feature_table import FeatureTable, load_split

__all__ = ["Split", "load_train_test"]

Split = tuple[pd.DataFrame, pd.Series]


def load_train_test(feature_table: FeatureTable, engine: str = "embedded") -> tuple[Split, Split]:
    """Features and labels of the ``train`` and ``test`` splits, in this process's memory.

    ``engine="spark"`` reads them through the active (or a new local) Spark session and
    collects them, refusing in one line when they would not fit the driver; otherwise they are
    read with deltalake.

    Raises:
        InvalidInputError: a split has no rows, or is too big to collect.
    """
    if engine == "spark":
        from mlflow_delta_plugin.engine import spark_session
        from mlflow_delta_plugin.steps.spark_split import collect_splits

        return collect_splits(spark_session(), feature_table)
    return load_split(feature_table, TRAIN), load_split(feature_table, TEST)
