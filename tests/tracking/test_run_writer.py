"""run_writer: runs written by a writer process (or a thread), each exactly once, whatever fails."""

import logging
import os
import signal
import subprocess
import sys
import textwrap

import mlflow
import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tracking.run_records import RunRecord
from mlflow_delta_plugin.tracking.run_writer import (
    PROCESS,
    RUN_WRITER_ENV,
    THREAD,
    RunWriter,
    usable_cores,
    writer_mode,
)
from tests.processes import alive, wait_until

PARENT = "mlflow.parentRunId"
RECORDS = 12


def _records(experiment_id: str, parent: str, count: int = RECORDS) -> list:
    return [RunRecord(experiment_id=experiment_id,
                      tags={PARENT: parent, "trial_number": str(n)},
                      identity=(PARENT, "trial_number"), params={"n": str(n)},
                      metrics={"loss": float(n)}, start_time_ms=1_000, end_time_ms=2_000)
            for n in range(count)]


@pytest.fixture
def parent(mlflow_env) -> str:
    with mlflow.start_run() as run:
        pass
    return run.info.run_id


def _children(experiment_id: str, parent: str) -> list:
    return MlflowClient().search_runs([experiment_id], f"tags.`{PARENT}` = '{parent}'",
                                      max_results=1000)


def _assert_each_once(experiment_id: str, parent: str, run_ids: dict, count: int = RECORDS):
    children = _children(experiment_id, parent)
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == list(range(count))
    assert all(c.info.status == "FINISHED" and c.data.metrics == {"loss": float(c.data.params["n"])}
               for c in children)
    assert run_ids == {int(c.data.tags["trial_number"]): c.info.run_id for c in children}


def test_writer_mode_uses_a_process_only_when_a_core_is_spare(monkeypatch):
    monkeypatch.delenv(RUN_WRITER_ENV, raising=False)
    assert writer_mode(busy_cores=usable_cores() - 1) == PROCESS
    assert writer_mode(busy_cores=usable_cores()) == THREAD
    assert writer_mode(THREAD, busy_cores=0) == THREAD
    monkeypatch.setenv(RUN_WRITER_ENV, " Process ")
    assert writer_mode(busy_cores=10_000) == PROCESS
    monkeypatch.setenv(RUN_WRITER_ENV, "fork")
    with pytest.raises(InvalidInputError, match=f"'fork' \\(from {RUN_WRITER_ENV}\\) is unknown"):
        writer_mode()


@pytest.mark.parametrize("mode", [THREAD, PROCESS])
def test_every_record_is_written_once(parent, mlflow_env, mode):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    writer = RunWriter(experiment, mode=mode)
    records = _records(experiment, parent)
    for n, record in enumerate(records[:4]):
        writer.submit(n, record)
    if mode == PROCESS:
        assert writer.writer_pid is not None
        wait_until(lambda: writer.process_state == "ready")
    for n, record in enumerate(records[4:], start=4):
        writer.submit(n, record)
    writer.close()
    _assert_each_once(experiment, parent, writer.run_ids)
    assert writer.process_state == "off"
    assert writer.process_writes == (RECORDS if mode == PROCESS else 0)


def test_the_tracking_uri_stays_off_the_writers_command_line(mlflow_env):
    writer = RunWriter(mlflow_env["MLFLOW_EXPERIMENT_ID"], mode=PROCESS)
    try:
        # Ready means it got the URI through its pipe; it also means the exec is over: right
        # after Popen returns (vfork), the kernel may not have set the new command line yet.
        wait_until(lambda: writer.process_state == "ready")
        with open(f"/proc/{writer.writer_pid}/cmdline", "rb") as cmdline:
            arguments = cmdline.read().decode().split("\0")
        assert "mlflow_delta_plugin.tracking.run_writer_process" in arguments
        assert not any(mlflow_env["MLFLOW_TRACKING_URI"] in a for a in arguments)
    finally:
        writer.close()


def test_records_wait_for_the_starting_writer_and_a_flush_writes_them_here(parent, mlflow_env):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    writer = RunWriter(experiment, mode=PROCESS)
    for n, record in enumerate(_records(experiment, parent)):
        writer.submit(n, record)
    assert writer.process_state == "starting" and _children(experiment, parent) == []
    writer.flush()  # does not wait for the writer: this process writes the backlog
    _assert_each_once(experiment, parent, writer.run_ids)
    assert writer.process_writes == 0
    pid = writer.writer_pid
    writer.close()
    wait_until(lambda: not alive(pid))  # told to stop while starting: it exits once up


def test_a_killed_writer_loses_nothing_and_duplicates_nothing(parent, mlflow_env, caplog):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    records = _records(experiment, parent, 40)
    writer = RunWriter(experiment, mode=PROCESS)
    wait_until(lambda: writer.process_state == "ready")
    for n, record in enumerate(records[:30]):
        writer.submit(n, record)
    wait_until(lambda: len(_children(experiment, parent)) >= 3)  # killed in the middle
    os.kill(writer.writer_pid, signal.SIGKILL)
    for n, record in enumerate(records[30:], start=30):
        writer.submit(n, record)
    with caplog.at_level(logging.WARNING):
        writer.close()
    _assert_each_once(experiment, parent, writer.run_ids, 40)
    assert 2 <= writer.process_writes < 40  # it answered for the runs before the 3rd it created
    assert "the run writer process stopped" in caplog.text


def test_a_writer_that_cannot_reach_the_store_hands_its_work_back(parent, mlflow_env, caplog):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    writer = RunWriter("987654321", mode=PROCESS)  # the writer's probe finds no such experiment
    wait_until(lambda: writer.process_state == "off")
    for n, record in enumerate(_records(experiment, parent)):
        writer.submit(n, record)
    with caplog.at_level(logging.WARNING):
        writer.close()
    _assert_each_once(experiment, parent, writer.run_ids)
    assert "could not start" in caplog.text and "987654321" in caplog.text


def test_ctrl_c_does_not_stop_the_writer(parent, mlflow_env):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    writer = RunWriter(experiment, mode=PROCESS)
    wait_until(lambda: writer.process_state == "ready")
    os.kill(writer.writer_pid, signal.SIGINT)
    for n, record in enumerate(_records(experiment, parent)):
        writer.submit(n, record)
    writer.close()
    _assert_each_once(experiment, parent, writer.run_ids)
    assert writer.process_state == "off"
    assert writer.process_writes == RECORDS  # all by the writer, which ignored the SIGINT


def test_records_sent_before_the_caller_dies_are_still_written(parent, mlflow_env, tmp_path):
    experiment = mlflow_env["MLFLOW_EXPERIMENT_ID"]
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from mlflow_delta_plugin.tracking.run_records import RunRecord
        from mlflow_delta_plugin.tracking.run_writer import RunWriter
        writer = RunWriter({experiment!r}, mode="process")
        while writer.process_state != "ready":
            time.sleep(0.05)
        for n in range({RECORDS}):
            writer.submit(n, RunRecord(
                experiment_id={experiment!r}, tags={{{PARENT!r}: {parent!r}, "trial_number": str(n)}},
                identity=({PARENT!r}, "trial_number"), params={{"n": str(n)}},
                metrics={{"loss": float(n)}}, start_time_ms=1_000, end_time_ms=2_000))
        print(writer.writer_pid, flush=True)
        os._exit(3)  # no flush, no exit hooks: as if killed
    """))
    done = subprocess.run([sys.executable, str(script)], env={**os.environ, **mlflow_env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    writer_pid = int(done.stdout.split()[-1])
    wait_until(lambda: not alive(writer_pid))  # it wrote what it had, then exited
    children = _children(experiment, parent)
    assert sorted(int(c.data.tags["trial_number"]) for c in children) == list(range(RECORDS))
    assert all(c.info.status == "FINISHED" for c in children)
