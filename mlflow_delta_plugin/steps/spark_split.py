"""The train / test splits of a pinned feature-table version, read through Spark.

``engine=spark`` pins the version exactly as the embedded engine does (the same
:class:`~mlflow_delta_plugin.steps.feature_table.FeatureTable`, so the same logged dataset and
digest) and reads its rows with :func:`mlflow_delta_plugin.spark.read_delta`. scikit-learn and
torch models need the rows on the driver: :func:`collect_splits` estimates their size from the
Delta log first and refuses, in one line, to collect more than the driver can hold.

The limit is ``MLFLOW_DELTA_SPARK_COLLECT_LIMIT`` (bytes, or a size such as ``512m`` / ``4g``)
when set; otherwise half of the smaller of ``spark.driver.maxResultSize`` (Spark's cap on
results collected to the driver, default ``1g``) and the driver JVM's heap. The estimate is
rows (from the log's per-file record counts, an upper bound when deletion vectors remove rows)
times 8 bytes per numeric cell and 64 per string cell.
"""

import logging
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pandas as pd
import pyarrow as pa

from mlflow_delta_plugin.delta.table import open_table
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.spark.session import parse_bytes
from mlflow_delta_plugin.ingest.split import TEST, TRAIN
from mlflow_delta_plugin.steps.feature_table import FeatureTable

__all__ = ["COLLECT_LIMIT_ENV", "CollectLimit", "collect_limit", "collect_splits",
           "count_split_rows", "estimate_split_bytes", "human_size", "read_split",
           "split_columns"]

COLLECT_LIMIT_ENV = "MLFLOW_DELTA_SPARK_COLLECT_LIMIT"
_DRIVER_SHARE = 0.5
_NUMERIC_CELL_BYTES = 8
_STRING_CELL_BYTES = 64

_log = logging.getLogger(__name__)


def human_size(size: float) -> str:
    """``size`` bytes in the largest binary unit that keeps it at least 1 (``1.5 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TiB"


@dataclass(frozen=True)
class CollectLimit:
    """How many bytes of rows may be collected to the driver, and where that number came from.

    Attributes:
        size_bytes: the limit.
        origin: a short description, for error messages.
    """

    size_bytes: int
    origin: str


def _driver_heap_bytes(spark: Any) -> Optional[int]:
    try:  # classic sessions only (Spark Connect has no JVM on this side)
        return int(spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory())
    except Exception:  # noqa: BLE001  any failure: the heap is unknown, another bound applies
        return None


def collect_limit(spark: Any) -> CollectLimit:
    """The collect limit for ``spark`` (see the module docstring).

    Raises:
        InvalidInputError: ``MLFLOW_DELTA_SPARK_COLLECT_LIMIT`` is not a size.
    """
    configured = os.environ.get(COLLECT_LIMIT_ENV, "").strip()
    if configured:
        try:
            return CollectLimit(parse_bytes(configured), f"{COLLECT_LIMIT_ENV}={configured}")
        except ValueError as exc:
            raise InvalidInputError(f"{COLLECT_LIMIT_ENV}: {exc}") from exc
    bounds = []
    result_size = spark.conf.get("spark.driver.maxResultSize", "1g")
    try:
        if parse_bytes(result_size) > 0:  # 0 means unlimited
            bounds.append((parse_bytes(result_size), f"spark.driver.maxResultSize={result_size}"))
    except ValueError:
        pass
    heap = _driver_heap_bytes(spark)
    if heap:
        bounds.append((heap, f"driver heap {human_size(heap)}"))
    if not bounds:
        return CollectLimit(4 * 2**30, "a default of 4 GiB")
    size, origin = min(bounds)
    return CollectLimit(int(size * _DRIVER_SHARE), f"half of {origin}")


def split_columns(features: FeatureTable) -> list:
    """The columns train reads from each split: the features, then the label."""
    return [*features.numeric_features, *features.categorical_features, features.spec.label]


def read_split(spark: Any, features: FeatureTable, split: str,
               columns: Optional[Sequence[str]] = None) -> Any:
    """A Spark DataFrame of the ``split`` rows of the pinned version (``columns`` or the ones
    train uses), read with :func:`mlflow_delta_plugin.spark.read_delta`."""
    from mlflow_delta_plugin.spark import read_delta

    pinned = features.pinned
    return read_delta(spark, pinned.uri, version=pinned.version,
                      columns=list(columns or split_columns(features)),
                      filters=[(features.spec.split_column, "=", split)])


def _split_rows(features: FeatureTable) -> dict:
    """Rows per split according to the log's per-file record counts, without reading data;
    {} when the split column is not a partition column or a file has no record count."""
    pinned = features.pinned
    table = open_table(pinned.uri, pinned.version)
    key = f"partition.{features.spec.split_column}"
    actions = pa.table(table.get_add_actions(flatten=True))
    if key not in actions.column_names or "num_records" not in actions.column_names:
        return {}
    counts = actions.select([key, "num_records"]).to_pandas()
    if counts["num_records"].isna().any():
        return {}
    return {str(k): int(v) for k, v in counts.groupby(key)["num_records"].sum().items()}


def estimate_split_bytes(features: FeatureTable, rows: int) -> int:
    """Driver memory ``rows`` rows of the split's columns take as a pandas DataFrame (about)."""
    per_row = (len(features.numeric_features) + 1) * _NUMERIC_CELL_BYTES \
        + len(features.categorical_features) * _STRING_CELL_BYTES
    return rows * per_row


def count_split_rows(spark: Any, features: FeatureTable) -> dict:
    """Rows of the ``train`` and ``test`` splits: from the log when the table is partitioned by
    the split column (an upper bound where deletion vectors remove rows), else counted by Spark."""
    logged = _split_rows(features)
    if logged:
        return {split: logged.get(split, 0) for split in (TRAIN, TEST)}
    # not partitioned by split: count on the executors (nothing but the counts comes back)
    return {split: read_split(spark, features, split, [features.spec.label]).count()
            for split in (TRAIN, TEST)}


def _to_pandas(frame: Any, features: FeatureTable, split: str) -> tuple[pd.DataFrame, pd.Series]:
    collected = frame.toPandas()
    if collected.empty:
        pinned = features.pinned
        raise InvalidInputError(
            f"Delta table '{pinned.uri}' version {pinned.version} has no '{split}' rows; run "
            "prepare with a test_fraction that leaves both splits non-empty"
        )
    labels = collected.pop(features.spec.label)
    return collected, labels


def collect_splits(spark: Any, features: FeatureTable
                   ) -> tuple[tuple[pd.DataFrame, pd.Series], tuple[pd.DataFrame, pd.Series]]:
    """``((x_train, y_train), (x_test, y_test))`` read through Spark and collected with Arrow,
    in the columns and dtypes :func:`~mlflow_delta_plugin.steps.feature_table.load_split` gives.

    Raises:
        InvalidInputError: the splits would not fit in driver memory (nothing is collected), or
            a split has no rows.
    """
    rows = count_split_rows(spark, features)
    needed = estimate_split_bytes(features, rows[TRAIN] + rows[TEST])
    limit = collect_limit(spark)
    pinned = features.pinned
    if needed > limit.size_bytes:
        raise InvalidInputError(
            f"the train and test splits of '{pinned.uri}' version {pinned.version} "
            f"({rows[TRAIN] + rows[TEST]} rows) need about {human_size(needed)} on the driver, "
            f"over the limit of {human_size(limit.size_bytes)} ({limit.origin}); train a Spark "
            f"ML model instead (model_type=spark_gbt or spark_lr) or raise {COLLECT_LIMIT_ENV}"
        )
    _log.info("engine=spark: collecting %d train and %d test rows (about %s, limit %s)",
              rows[TRAIN], rows[TEST], human_size(needed), human_size(limit.size_bytes))
    return (_to_pandas(read_split(spark, features, TRAIN), features, TRAIN),
            _to_pandas(read_split(spark, features, TEST), features, TEST))
