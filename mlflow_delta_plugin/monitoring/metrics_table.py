"""The Delta metrics table ``monitor`` appends to: one row per window x column x statistic.

Schema (usable from SQL; one commit per monitor run):

===================== =========== ==========================================================
column                type        meaning
===================== =========== ==========================================================
``monitor_run_id``    string      the MLflow run of the monitor
``scored_table``      string      the scored table monitored (normalized location)
``window_start``      long        first scored-table version of the window
``window_end``        long        last scored-table version of the window (inclusive)
``model_name``        string      registered model that scored the rows
``model_version``     string      its version (one comparison per version)
``reference_table``   string      the model's training table (from lineage)
``reference_version`` long        its Delta version
``column``            string      a feature, the prediction column, or ``*`` (the window)
``statistic``         string      e.g. ``psi``, ``ks_pvalue``, ``rows``, ``drift_share``,
                                  ``alarm``, ``retrain``, ``quality_accuracy``
``value``             double      its value (null when undefined)
``threshold``         double      the rule's threshold for it (null: none)
``drifted``           boolean     whether the value crossed the threshold (null: no rule)
``computed_at``       timestamp   when the monitor ran (UTC)
===================== =========== ==========================================================

The append carries a Delta application transaction (``txn``) with app id
``mlflow_delta_plugin.monitor:<scored table id>`` and version ``window_end``; it is the single
commit that consumes the window. Each attempt re-reads that version first, and two runs
committing the same app id conflict, so a window is counted once however many runs race.
"""

from typing import Optional

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pds
from deltalake import CommitProperties, Transaction, write_deltalake

from mlflow_delta_plugin.delta.lineage import WRITE_ID_KEY, commit_properties, find_write
from mlflow_delta_plugin.delta.retry import retry_on_conflict
from mlflow_delta_plugin.delta.table import is_delta_table, normalize_table_uri, open_table
from mlflow_delta_plugin.errors import WindowConsumedError
from mlflow_delta_plugin.monitoring.window import app_id

__all__ = ["SCHEMA", "WINDOW_COLUMN", "append_window", "read_history"]

WINDOW_COLUMN = "*"
SCHEMA = pa.schema([
    ("monitor_run_id", pa.string()), ("scored_table", pa.string()),
    ("window_start", pa.int64()), ("window_end", pa.int64()),
    ("model_name", pa.string()), ("model_version", pa.string()),
    ("reference_table", pa.string()), ("reference_version", pa.int64()),
    ("column", pa.string()), ("statistic", pa.string()), ("value", pa.float64()),
    ("threshold", pa.float64()), ("drifted", pa.bool_()),
    ("computed_at", pa.timestamp("us", tz="UTC")),
])


def append_window(metrics_table: str, rows: list, *, scored_table_id: str, window_start: int,
                  window_end: int, run_id: Optional[str]) -> int:
    """Append ``rows`` (dicts of :data:`SCHEMA`) in one commit that consumes the window.

    Returns:
        The metrics table's new version.

    Raises:
        WindowConsumedError: another run consumed versions of this window first (nothing
            appended).
        WriteConflictError: other writers kept winning; nothing appended.
    """
    location = normalize_table_uri(metrics_table)
    data = pa.Table.from_pylist(rows, schema=SCHEMA)
    app = app_id(scored_table_id)

    def attempt() -> int:
        target = location
        if is_delta_table(location):
            target = open_table(location)
            consumed = target.transaction_version(app)
            if consumed is not None and consumed >= window_start:
                raise WindowConsumedError(
                    f"versions {window_start}..{window_end} of the scored table were monitored "
                    f"by another run meanwhile (up to version {consumed}); nothing appended")
        properties = commit_properties(run_id, "monitor", write_id=_write_id(run_id, window_end))
        write_deltalake(target, data, mode="append", commit_properties=CommitProperties(
            custom_metadata=properties.custom_metadata,
            app_transactions=[Transaction(app, window_end)]))
        return find_write(location, properties.custom_metadata[WRITE_ID_KEY])

    return retry_on_conflict(attempt, table=location, what="monitor")


def _write_id(run_id: Optional[str], window_end: int) -> str:
    import uuid

    return f"{run_id or uuid.uuid4().hex}-{window_end}"


def read_history(metrics_table: str, scored_table: str) -> pd.DataFrame:
    """Window-level rows (column ``*``) recorded for ``scored_table``: one row per window and
    model version with its statistics as columns, oldest window first (empty without table)."""
    location = normalize_table_uri(metrics_table)
    columns = ["window_end", "model_version", "statistic", "value"]
    if not is_delta_table(location):
        return pd.DataFrame(columns=["window_end", "model_version"])
    dataset = open_table(location).to_pyarrow_dataset()
    wanted = (pds.field("column") == WINDOW_COLUMN) & \
        (pds.field("scored_table") == normalize_table_uri(scored_table))
    frame = dataset.to_table(columns=columns, filter=wanted).to_pandas()
    if frame.empty:
        return pd.DataFrame(columns=["window_end", "model_version"])
    wide = frame.pivot_table(index=["window_end", "model_version"], columns="statistic",
                             values="value", aggfunc="last").reset_index()
    return wide.sort_values("window_end", kind="stable").reset_index(drop=True)
