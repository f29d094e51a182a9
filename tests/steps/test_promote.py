"""``promote``: gates, alias moves, audit record, rollback, races and bad input."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.promotion.decision import decide
from mlflow_delta_plugin.promotion.lease import LEASE_TAG_PREFIX, PromotionLease
from mlflow_delta_plugin.promotion.record import RECORD_ARTIFACT
from mlflow_delta_plugin.tracking.runs import ENTRY_POINT_TAG
from mlflow_delta_plugin.steps import promote as promote_module
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.promote import promote
from mlflow_delta_plugin.steps.train import train
from tests.conftest import ENTRYPOINTS, REPO_ROOT, latest_run, load_entrypoint


def _train(table: str, name: str, **kwargs) -> str:
    with mlflow.start_run():
        return train(table, model_type="linear", registered_model=name, **kwargs).registered_version


def _promote(**kwargs):
    with mlflow.start_run():
        return promote(**kwargs)


def _aliases(name: str) -> dict:
    return {k: str(v) for k, v in MlflowClient().get_registered_model(name).aliases.items()}


def _record(name: str, version: str) -> dict:
    tags = MlflowClient().get_model_version(name, version).tags
    return {k[len("promotion."):]: v for k, v in tags.items() if k.startswith("promotion.")}


# --- decisions and the audit trail ------------------------------------------------------------

def test_first_promotion_applies_only_the_threshold(prepared_table, model_name):
    version = _train(prepared_table, model_name)
    result = _promote(model_name=model_name, threshold=0.9, min_improvement=0.5,
                      table=prepared_table)
    assert result.promoted and result.candidate_version == version == "1"
    assert result.metric == "roc_auc" and result.direction == "higher"
    assert result.champion_version is None and result.champion_value is None
    assert _aliases(model_name) == {"champion": "1"}

    record = _record(model_name, "1")
    assert record["decision"] == "promoted"
    assert record["metric"] == "roc_auc"
    assert float(record["candidate_value"]) == pytest.approx(result.candidate_value)
    assert record["champion_version"] == "none" and record["champion_value"] == "none"
    assert record["threshold"] == "0.9" and record["min_improvement"] == "0.5"
    assert record["data_table"] == result.table and record["data_version"] == "0"
    assert record["decided_by"] and record["decided_at"].endswith("+00:00")
    assert record["run_id"] == result.run_id
    assert "no champion yet" in record["reasons"]
    description = MlflowClient().get_model_version(model_name, "1").description
    assert "PROMOTED" in description and "version 0 (test split)" in description

    artifact = json.loads(mlflow.artifacts.load_text(f"runs:/{result.run_id}/{RECORD_ARTIFACT}"))
    assert artifact["decision"] == "promoted" and artifact["candidate_version"] == "1"
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["candidate_roc_auc"] == pytest.approx(result.candidate_value)
    [dataset_input] = run.inputs.dataset_inputs
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "evaluation"
    source = json.loads(dataset_input.dataset.source)
    assert source["version"] == 0 and source["filters"] == [["split", "=", "test"]]


def test_rejected_first_candidate_moves_nothing_but_is_recorded(prepared_table, model_name):
    _train(prepared_table, model_name)
    result = _promote(model_name=model_name, threshold=0.99999, table=prepared_table)
    assert result.decision == "rejected"
    assert _aliases(model_name) == {}
    record = _record(model_name, "1")
    assert record["decision"] == "rejected" and "fails >=" in record["reasons"]
    assert "REJECTED" in MlflowClient().get_model_version(model_name, "1").description


def test_a_tie_with_the_champion_does_not_replace_it(prepared_table, model_name):
    """Same data, same fit: the default min_improvement 0 keeps the champion."""
    _train(prepared_table, model_name)
    _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    result = _promote(model_name=model_name, candidate="latest", table=prepared_table)
    assert result.decision == "rejected" and result.candidate_version == "2"
    assert result.champion_value == result.candidate_value
    assert _aliases(model_name) == {"champion": "1"}
    record = _record(model_name, "2")
    assert record["decision"] == "rejected" and "a tie with champion" in record["reasons"]


def test_a_negative_margin_lets_a_tie_become_champion(prepared_table, model_name):
    _train(prepared_table, model_name)
    _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    result = _promote(model_name=model_name, candidate="latest", table=prepared_table,
                      min_improvement=-0.01)
    assert result.promoted and result.candidate_version == "2"
    assert result.champion_version == "1" and result.previous_champion == "1"
    assert result.champion_value == pytest.approx(result.candidate_value)  # same data, same fit
    assert _aliases(model_name) == {"champion": "2", "previous_champion": "1"}
    record = _record(model_name, "2")
    assert record["champion_version"] == "1" and record["previous_champion"] == "1"
    assert float(record["champion_value"]) == pytest.approx(result.champion_value)
    run = mlflow.get_run(result.run_id)
    assert set(run.data.metrics) == {"candidate_roc_auc", "champion_roc_auc"}


def test_min_improvement_over_the_champion_rejects_and_nothing_moves(prepared_table, model_name):
    _train(prepared_table, model_name)
    _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    result = _promote(model_name=model_name, candidate="2", min_improvement=0.001,
                      table=prepared_table)
    assert result.decision == "rejected" and result.champion_version == "1"
    assert _aliases(model_name) == {"champion": "1"}
    record = _record(model_name, "2")
    assert record["decision"] == "rejected" and record["champion_version"] == "1"
    assert "< 0.001" in record["reasons"]


def test_rollback_to_an_older_version_is_promoted_and_recorded(prepared_table, model_name):
    _train(prepared_table, model_name)
    _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    # Equal metrics (same fit): ties are accepted explicitly, as a rollback would.
    _promote(model_name=model_name, candidate="2", table=prepared_table, min_improvement=-0.01)
    result = _promote(model_name=model_name, candidate="1", table=prepared_table,
                      min_improvement=-0.01)
    assert result.promoted and result.champion_version == "2"
    assert _aliases(model_name) == {"champion": "1", "previous_champion": "2"}
    record = _record(model_name, "1")
    assert record["decision"] == "promoted" and record["champion_version"] == "2"
    assert record["previous_champion"] == "2" and record["run_id"] == result.run_id
    history = MlflowClient().get_model_version(model_name, "1").description.splitlines()
    assert len(history) == 2 and "vs no champion" in history[0] and "vs champion v2" in history[1]


def test_candidate_by_alias_and_explicit_data_version(prepared_table, model_name):
    _train(prepared_table, model_name)
    with mlflow.start_run():  # a second table version: the same rows appended
        prepare(input=DEFAULT_INPUT, table=prepared_table, label=DEFAULT_LABEL, mode="append")
    MlflowClient().set_registered_model_alias(model_name, "validated", "1")
    result = _promote(model_name=model_name, candidate="validated", table=prepared_table,
                      version=0)
    assert result.promoted and result.version == 0
    assert _aliases(model_name) == {"champion": "1", "validated": "1"}
    assert _record(model_name, "1")["data_version"] == "0"


def test_regression_uses_rmse_lower_is_better(prepared_table, model_name):
    _train(prepared_table, model_name, task="regression")
    _train(prepared_table, model_name, task="regression")
    _promote(model_name=model_name, candidate="1", table=prepared_table, threshold=0.5)
    result = _promote(model_name=model_name, candidate="2", table=prepared_table,
                      min_improvement=-0.01)  # the same fit: accept the tie
    assert (result.metric, result.direction) == ("rmse", "lower")
    assert result.promoted and _aliases(model_name)["champion"] == "2"
    explicit = _promote(model_name=model_name, candidate="1", metric="r2", direction="lower",
                        min_improvement=0.1, table=prepared_table)
    assert (explicit.metric, explicit.direction, explicit.decision) == ("r2", "lower", "rejected")


class _ThresholdModel(mlflow.pyfunc.PythonModel):
    """A pyfunc-only classifier: no sklearn flavor, hence no predict_proba."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return (model_input["worst_radius"] > 16.8).astype(int).to_numpy()


def test_pyfunc_only_models_get_prediction_metrics_and_a_clear_error(prepared_table, model_name):
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=_ThresholdModel(),
                                pip_requirements=["mlflow"], registered_model_name=model_name)
    result = _promote(model_name=model_name, metric="accuracy", threshold=0.7,
                      table=prepared_table)
    assert result.promoted and result.candidate_value > 0.7
    with pytest.raises(InvalidInputError, match=r"metric 'roc_auc' is not available for "
                       r"models:/.*/1: it loads only as pyfunc, which has no predict_proba"):
        _promote(model_name=model_name, metric="auto", table=prepared_table)


# --- races -------------------------------------------------------------------------------------

def test_promotion_rereads_the_champion_under_the_lease(prepared_table, model_name, monkeypatch):
    """A promotion that finished while this one waited is the champion judged and replaced."""
    for _ in range(3):
        _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    client = MlflowClient()
    waiting = threading.Event()

    class SignallingLease(PromotionLease):
        def acquire(self):
            waiting.set()
            return super().acquire()

    monkeypatch.setattr(promote_module, "PromotionLease", SignallingLease)
    results = []

    def promote_three() -> None:
        with mlflow.start_run():
            results.append(promote(model_name=model_name, candidate="3", table=prepared_table,
                                   min_improvement=-0.01))  # equal fits: accept the tie

    with PromotionLease(client, model_name, owner="the other promotion"):
        worker = threading.Thread(target=promote_three)
        worker.start()
        assert waiting.wait(60)
        time.sleep(0.3)
        assert _aliases(model_name) == {"champion": "1"}  # still waiting on the lease
        client.set_registered_model_alias(model_name, "previous_champion", "1")
        client.set_registered_model_alias(model_name, "champion", "2")
    worker.join(60)
    [result] = results
    assert result.champion_version == "2" and result.previous_champion == "2"
    assert _aliases(model_name) == {"champion": "3", "previous_champion": "2"}
    assert _record(model_name, "3")["champion_version"] == "2"


def _assert_one_champion_and_true_records(name: str) -> None:
    """v1 was champion; v2 and v3 (equal metrics, ties accepted by a negative min_improvement)
    were promoted at once."""
    aliases = _aliases(name)
    winner = aliases["champion"]
    assert winner in ("2", "3") and "challenger" not in aliases
    first = "3" if winner == "2" else "2"
    first_record, winner_record = _record(name, first), _record(name, winner)
    # Both passed, one after the other: the second was judged against the first.
    assert first_record["decision"] == winner_record["decision"] == "promoted"
    assert first_record["champion_version"] == "1" and first_record["previous_champion"] == "1"
    assert winner_record["champion_version"] == first
    assert winner_record["previous_champion"] == aliases["previous_champion"] == first
    assert first_record["decided_at"] <= winner_record["decided_at"]
    tags = MlflowClient().get_registered_model(name).tags
    assert [k for k in tags if k.startswith(LEASE_TAG_PREFIX)] == []


def test_two_racing_promotions_in_threads(prepared_table, model_name, monkeypatch):
    for _ in range(3):
        _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    arrived = threading.Semaphore(0)

    class SignallingLease(PromotionLease):
        def acquire(self):
            arrived.release()
            return super().acquire()

    def slow_decide(*args, **kwargs):
        time.sleep(0.5)  # widen the window between reading the champion and moving it
        return decide(*args, **kwargs)

    monkeypatch.setattr(promote_module, "PromotionLease", SignallingLease)
    monkeypatch.setattr(promote_module, "decide", slow_decide)
    errors = []

    def promote_candidate(candidate: str) -> None:
        try:
            with mlflow.start_run():
                promote(model_name=model_name, candidate=candidate, table=prepared_table,
                        min_improvement=-0.01)  # equal fits: accept the tie
        except Exception as exc:  # reported below
            errors.append(exc)

    # Hold the lease until both reach it, so that both contend for it at the same moment.
    with PromotionLease(MlflowClient(), model_name, owner="test"):
        workers = [threading.Thread(target=promote_candidate, args=(c,)) for c in ("2", "3")]
        for worker in workers:
            worker.start()
        assert arrived.acquire(timeout=60) and arrived.acquire(timeout=60)
    for worker in workers:
        worker.join(60)
    assert errors == []
    _assert_one_champion_and_true_records(model_name)


@pytest.mark.slow
def test_two_racing_promotions_in_processes(prepared_table, model_name, mlflow_env, tmp_path):
    for _ in range(3):
        _train(prepared_table, model_name)
    _promote(model_name=model_name, candidate="1", table=prepared_table)
    client = MlflowClient()
    env = {**os.environ, **mlflow_env}
    processes = []
    # Hold the lease while both start, so that both contend for it at the same moment.
    with PromotionLease(client, model_name, owner="test"):
        for candidate in ("2", "3"):
            processes.append(subprocess.Popen(
                [sys.executable, str(ENTRYPOINTS / "promote.py"), "--model_name", model_name,
                 "--candidate", candidate, "--table", prepared_table,
                 "--min_improvement", "-0.01"],  # equal fits: accept the tie
                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = mlflow.search_runs(
                filter_string="params.candidate_version != ''", output_format="list")
            if len([r for r in started if r.data.tags.get(ENTRY_POINT_TAG) == "promote"
                    and r.data.params.get("candidate") in ("2", "3")]) == 2:
                break
            time.sleep(0.2)
        time.sleep(2.0)  # both score their candidate and the champion, then wait for the lease
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [o[1][-2000:] for o in outputs]

    _assert_one_champion_and_true_records(model_name)


# --- entry point: success, rejection, bad input ------------------------------------------------

def test_entry_point_rejection_is_not_an_error(prepared_table, model_name, monkeypatch, capsys):
    _train(prepared_table, model_name)
    entry = load_entrypoint("promote")
    code = entry.main(["--model_name", model_name, "--threshold", "0.99999",
                       "--table", prepared_table, "--fail_on_reject", "false"])
    assert code == 0
    assert latest_run("promote").info.status == "FINISHED"
    assert _record(model_name, "1")["decision"] == "rejected" and _aliases(model_name) == {}


def test_entry_point_fail_on_reject_fails_the_run_after_recording(prepared_table, model_name,
                                                                  monkeypatch, capsys):
    _train(prepared_table, model_name)
    entry = load_entrypoint("promote")
    capsys.readouterr()
    code = entry.main(["--model_name", model_name, "--threshold", "0.99999",
                       "--table", prepared_table, "--fail_on_reject", "true"])
    assert code != 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: promote: candidate version 1 of") and "was rejected" in line
    assert latest_run("promote").info.status == "FAILED"
    assert _aliases(model_name) == {}
    assert _record(model_name, "1")["decision"] == "rejected"


@pytest.fixture(scope="module")
def registry_world(tracking_uri, tmp_path_factory):
    """A model with champion v1 and a v2, a feature table, and one without a test split.

    Shared by the bad-input cases: each asserts that it changed nothing, so sharing is safe.
    """
    folder = tmp_path_factory.mktemp("promote_bad_input")
    experiment_id = mlflow.create_experiment(f"bad-{uuid.uuid4().hex[:12]}",
                                             artifact_location=str(folder / "artifacts"))
    name = f"model_{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_EXPERIMENT_ID", experiment_id)
        mlflow.set_experiment(experiment_id=experiment_id)
        table, no_test = str(folder / "features"), str(folder / "no_test")
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=table, label=DEFAULT_LABEL)
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=no_test, label=DEFAULT_LABEL, test_fraction=1e-12)
        _train(table, name)
        _train(table, name)
        _promote(model_name=name, candidate="1", table=table)
    return {"experiment_id": experiment_id, "model": name, "table": table, "no_test": no_test,
            "folder": folder}


def _registry_snapshot(name: str) -> dict:
    client = MlflowClient()
    model = client.get_registered_model(name)
    versions = {v.version: (v.tags, v.description, v.aliases)
                for v in client.search_model_versions(f"name = '{name}'")}
    return {"aliases": model.aliases, "tags": model.tags, "versions": versions}


BAD_INPUT = [
    ("unknown model", ["--model_name", "no_such_model"],
     "registered model 'no_such_model' does not exist"),
    ("missing version", ["--candidate", "99"], "has no version 99"),
    ("unknown alias", ["--candidate", "staging"], "has no alias 'staging'"),
    ("odd candidate", ["--candidate", "v2!"], "is neither a version number, an alias nor 'latest'"),
    ("already champion", ["--candidate", "champion"], "candidate version 1 of"),
    ("unknown metric", ["--metric", "bogus"], "metric 'bogus' is not available"),
    ("metric of another task", ["--metric", "rmse"],
     "metric 'rmse' does not apply to classification"),
    ("threshold not a number", ["--threshold", "high"], "threshold 'high' is not a finite number"),
    ("min_improvement NaN", ["--min_improvement", "nan"], "min_improvement 'nan' is not a finite"),
    ("unknown direction", ["--direction", "up"], "direction 'up' is not one of"),
    ("flag not boolean", ["--fail_on_reject", "maybe"], "fail_on_reject 'maybe' is not a boolean"),
    ("no test split", ["--table", "{no_test}"], "has no 'test' rows"),
    ("missing table", ["--table", "{folder}/missing"], "no Delta table at"),
    ("missing data version", ["--version", "7"], "version 7"),
    ("bad data version", ["--version", "last"], "version 'last' is not a Delta version"),
    ("missing model_name", None, "the following arguments are required: --model_name"),
]


@pytest.mark.parametrize("case, args, message", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_with_one_line_and_changes_nothing(case, args, message, registry_world,
                                                           monkeypatch, capsys, tmp_path):
    world = registry_world
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", world["experiment_id"])
    mlflow.set_experiment(experiment_id=world["experiment_id"])
    entry = load_entrypoint("promote")
    if args is None:
        argv = ["--table", world["table"]]
    else:
        argv = ["--model_name", world["model"], "--candidate", "2", "--table", world["table"]]
        argv += [a.format(**world) for a in args]
    before = _registry_snapshot(world["model"])
    capsys.readouterr()

    code = entry.main(argv)

    assert code != 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: promote: ") and message in line, line
    assert latest_run("promote").info.status == "FAILED"
    assert _registry_snapshot(world["model"]) == before


@pytest.mark.slow
def test_mlflow_run_promote_entry_point(prepared_table, model_name, mlflow_env, tmp_path):
    _train(prepared_table, model_name)
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "mlflow"), "run", str(REPO_ROOT), "-e", "promote",
         "--env-manager", "local", "--experiment-id", mlflow_env["MLFLOW_EXPERIMENT_ID"],
         "-P", f"model_name={model_name}", "-P", f"table={prepared_table}",
         "-P", "threshold=0.9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, **mlflow_env, "PATH": bin_dir + os.pathsep + os.environ["PATH"]})
    assert result.returncode == 0, result.stderr[-3000:]
    assert _aliases(model_name) == {"champion": "1"}
    run = latest_run("promote")
    assert run.info.status == "FINISHED" and run.data.params["metric"] == "auto"
    assert run.data.params["metric_resolved"] == "roc_auc"
