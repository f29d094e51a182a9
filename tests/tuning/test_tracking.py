"""TrialRunLogger: each trial becomes a child run of the tuning run, written in trial order."""

import os

import mlflow
import pytest

from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG, ERROR_TAG
from mlflow_delta_plugin.tuning.base import TRIAL_FAILED, TRIAL_OK, TrialResult
from mlflow_delta_plugin.tuning.tracking import TRIAL_ENTRY_POINT, TRIAL_NUMBER_TAG, TrialRunLogger

QUIET = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"


def _trials():
    return [TrialResult(0, {"C": 0.5}, TRIAL_OK, loss=-0.9, metrics={"val_roc_auc": 0.9},
                        start_time_ms=1_000, end_time_ms=2_000),
            TrialResult(1, {"C": -1}, TRIAL_FAILED, error="C must be positive",
                        start_time_ms=2_000, end_time_ms=2_500)]


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_children_carry_params_metrics_status_and_error(mlflow_env, monkeypatch, writer):
    monkeypatch.delenv(QUIET, raising=False)
    with mlflow.start_run() as parent:
        with TrialRunLogger(mlflow.get_run(parent.info.run_id), writer=writer) as logger:
            for trial in _trials():
                logger(trial)
    ok, failed = (mlflow.get_run(logger.run_ids[n]) for n in (0, 1))
    for child, name in ((ok, "trial-001"), (failed, "trial-002")):
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags[ENTRY_POINT_TAG] == TRIAL_ENTRY_POINT
        assert child.info.run_name == name
        assert child.data.tags[TRIAL_NUMBER_TAG] == name[-1]
    assert ok.info.status == "FINISHED" and ok.data.params == {"C": "0.5"}
    assert ok.data.metrics == {"val_roc_auc": 0.9, "loss": -0.9}
    assert (ok.info.start_time, ok.info.end_time) == (1_000, 2_000)
    assert failed.info.status == "FAILED" and failed.data.tags[ERROR_TAG] == "C must be positive"


def test_run_links_are_quiet_while_open_and_printed_again_after(mlflow_env, monkeypatch):
    monkeypatch.delenv(QUIET, raising=False)
    with mlflow.start_run() as parent:
        with TrialRunLogger(mlflow.get_run(parent.info.run_id)):
            assert os.environ[QUIET] == "true"
        assert QUIET not in os.environ


@pytest.mark.parametrize("setting", ["false", "true"])
def test_a_users_own_link_setting_is_left_alone(mlflow_env, monkeypatch, setting):
    monkeypatch.setenv(QUIET, setting)
    with mlflow.start_run() as parent:
        with TrialRunLogger(mlflow.get_run(parent.info.run_id)):
            assert os.environ[QUIET] == setting
    assert os.environ[QUIET] == setting
