"""The metrics table: one commit consumes a window; racing runs never count it twice."""

import pytest
from datetime import datetime, timezone

from deltalake import DeltaTable

from mlflow_delta_plugin.errors import WindowConsumedError
from mlflow_delta_plugin.monitoring import metrics_table
from mlflow_delta_plugin.monitoring.metrics_table import SCHEMA, append_window, read_history
from mlflow_delta_plugin.monitoring.window import app_id, last_consumed


def _rows(end: int, alarm: float, version: str = "1") -> list:
    base = {"monitor_run_id": f"run{end}", "scored_table": "/data/scored", "window_start": end,
            "window_end": end, "model_name": "m", "model_version": version,
            "reference_table": "/data/features", "reference_version": 0, "threshold": None,
            "drifted": None, "computed_at": datetime.now(timezone.utc)}
    return [{**base, "column": "*", "statistic": "alarm", "value": alarm},
            {**base, "column": "*", "statistic": "retrain", "value": 0.0},
            {**base, "column": "x", "statistic": "psi", "value": 0.01}]


def test_append_records_the_consumed_version_and_the_history(tmp_path):
    table = str(tmp_path / "metrics")
    assert last_consumed(table, "tid") is None
    assert append_window(table, _rows(0, 0.0), scored_table_id="tid", window_start=0,
                         window_end=0, run_id="run0") == 0
    assert append_window(table, _rows(1, 1.0), scored_table_id="tid", window_start=1,
                         window_end=1, run_id="run1") == 1
    assert last_consumed(table, "tid") == 1 and last_consumed(table, "other") is None
    delta = DeltaTable(table)
    assert delta.schema().to_arrow().names == SCHEMA.names
    assert delta.history(1)[0]["mlflow.runId"] == "run1"
    history = read_history(table, "/data/scored")
    assert history[["window_end", "alarm", "retrain"]].values.tolist() == [[0, 0, 0], [1, 1, 0]]


def test_a_rerun_of_a_consumed_window_appends_nothing(tmp_path):
    table = str(tmp_path / "metrics")
    append_window(table, _rows(0, 0.0), scored_table_id="tid", window_start=0, window_end=3,
                  run_id="a")
    with pytest.raises(WindowConsumedError, match="monitored by another run"):
        append_window(table, _rows(0, 0.0), scored_table_id="tid", window_start=2,
                      window_end=4, run_id="b")
    assert DeltaTable(table).version() == 0


def test_a_racing_run_loses_at_commit_and_appends_nothing(tmp_path, monkeypatch):
    """Both runs read 'nothing consumed'; delta-rs refuses the second commit of the same txn app
    id, and the retry sees the window consumed."""
    table = str(tmp_path / "metrics")
    append_window(table, _rows(0, 0.0), scored_table_id="tid", window_start=0, window_end=0,
                  run_id="first")
    stale = DeltaTable(table)  # what a concurrent run loaded before the next commit
    append_window(table, _rows(1, 0.0), scored_table_id="tid", window_start=1, window_end=1,
                  run_id="winner")
    opened = []
    real_open = metrics_table.open_table

    def open_stale_first(location, version=None):
        opened.append(location)
        return stale if len(opened) == 1 else real_open(location, version)

    monkeypatch.setattr(metrics_table, "open_table", open_stale_first)
    with pytest.raises(WindowConsumedError):
        append_window(table, _rows(1, 1.0), scored_table_id="tid", window_start=1,
                      window_end=1, run_id="loser")
    assert len(opened) == 2  # the stale attempt committed nothing; the retry re-read
    assert DeltaTable(table).version() == 1  # first and winner only
    assert DeltaTable(table).transaction_version(app_id("tid")) == 1
    assert read_history(table, "/data/scored")["alarm"].tolist() == [0, 0]
