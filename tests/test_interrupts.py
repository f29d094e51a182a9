"""interrupts: a step asked to stop (SIGTERM, Ctrl+C) ends its runs KILLED and loses no trial."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.runs import ENTRY_POINT_TAG, ERROR_TAG
from tests.conftest import ENTRYPOINTS, REPO_ROOT
from tests.processes import wait_until

TRIAL_NUMBER = "trial_number"


@pytest.mark.parametrize("first, exception", [("SIGTERM", "Terminated"),
                                              ("SIGINT", "KeyboardInterrupt")])
def test_the_first_signal_raises_and_later_ones_cannot_cut_the_stop_short(tmp_path, first,
                                                                        exception):
    script = tmp_path / "stop.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, time
        from mlflow_delta_plugin.interrupts import Terminated, stop_on_signals

        before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        with stop_on_signals():
            try:
                os.kill(os.getpid(), signal.{first})
                time.sleep(30)
            except {exception}:
                os.kill(os.getpid(), signal.SIGINT)  # e.g. the terminal's, then mlflow run's
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)
                print("stopped cleanly", flush=True)
        after = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        print("handlers restored", after == before, flush=True)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["stopped cleanly", "handlers restored True"]


def _trial_runs(experiment_id: str) -> list:
    return MlflowClient().search_runs([experiment_id], f"tags.{TRIAL_NUMBER} != ''",
                                      max_results=5000)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(command: list, env: dict, cwd, sig: int, experiment_id: str) -> subprocess.Popen:
    """Start ``command`` in its own process group; send ``sig`` to the whole group (as a
    terminal's Ctrl+C or a scheduler's cancel does) once it has recorded 3 trial runs."""
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until(lambda: process.poll() is not None or len(_trial_runs(experiment_id)) >= 3,
                   seconds=240, what="3 trial runs")
        assert process.poll() is None, process.communicate()[1][-3000:]
        os.killpg(process.pid, sig)
        process.stdout_text, process.stderr_text = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    wait_until(lambda: not _group_alive(process.pid), seconds=60,
               what="the step's worker and writer processes to exit")
    return process


def _assert_trials_each_recorded_once_and_ended(experiment_id: str, parent_id: str) -> None:
    trials = _trial_runs(experiment_id)
    assert len(trials) >= 3
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent_id}
    numbers = [int(t.data.tags[TRIAL_NUMBER]) for t in trials]
    assert len(numbers) == len(set(numbers)), "a trial was recorded twice"
    assert {t.info.status for t in trials} <= {"FINISHED", "FAILED"}, "a trial run left RUNNING"
    assert all(t.data.metrics for t in trials)


def _killed(run, signal_name: str) -> bool:
    return run.info.status == "KILLED" and run.data.tags[ERROR_TAG] == f"stopped by {signal_name}"


@pytest.mark.slow
def test_sigterm_stops_parallel_tune_and_every_finished_trial_is_recorded(
        prepared_table, mlflow_env, model_name, tmp_path):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    process = _stop([sys.executable, str(ENTRYPOINTS / "tune.py"), "--table", prepared_table,
                     "--max_evals", "2000", "--parallelism", "2",
                     "--registered_model", model_name],
                    {**os.environ, **mlflow_env}, tmp_path, signal.SIGTERM, experiment)

    assert process.returncode == 128 + signal.SIGTERM
    assert "leaked semaphore" not in process.stderr_text
    last = process.stderr_text.strip().splitlines()[-1]
    found = re.fullmatch(r"error: tune: stopped by SIGTERM; run (\w+) ended KILLED", last)
    assert found, process.stderr_text[-3000:]
    assert _killed(MlflowClient().get_run(found.group(1)), "SIGTERM")
    _assert_trials_each_recorded_once_and_ended(experiment, found.group(1))
    assert MlflowClient().search_model_versions(f"name = '{model_name}'") == []


@pytest.mark.slow
def test_ctrl_c_stops_main_and_ends_its_runs_killed(mlflow_env, model_name, tmp_path):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    process = _stop([sys.executable, str(ENTRYPOINTS / "main.py"),
                     "--table", str(tmp_path / "features"), "--max_evals", "2000",
                     "--registered_model", model_name],
                    {**os.environ, **mlflow_env}, tmp_path, signal.SIGINT, experiment)

    assert process.returncode == 128 + signal.SIGINT
    assert re.fullmatch(r"error: main: stopped by SIGINT; run \w+ ended KILLED",
                        process.stderr_text.strip().splitlines()[-1]), process.stderr_text[-3000:]
    runs = {r.data.tags[ENTRY_POINT_TAG]: r for r in MlflowClient().search_runs(
        [experiment], f"tags.`{ENTRY_POINT_TAG}` != ''") if TRIAL_NUMBER not in r.data.tags}
    assert sorted(runs) == ["main", "prepare", "tune"]  # nothing evaluated, nothing promoted
    assert runs["prepare"].info.status == "FINISHED"
    assert _killed(runs["tune"], "SIGINT") and _killed(runs["main"], "SIGINT")
    _assert_trials_each_recorded_once_and_ended(experiment, runs["tune"].info.run_id)
    assert MlflowClient().search_model_versions(f"name = '{model_name}'") == []
