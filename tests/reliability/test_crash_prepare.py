"""`kill -9` a `prepare --mode append` at several points: the table stays at its previous version,
the next run succeeds, and orphan cleanup removes the killed writer's files and only those.

Kill points (tests/reliability/interrupt_prepare.py kills the process from inside):
- ``batch:0``: the writer has the input open but no row reached delta-rs;
- ``batch:3``: mid-stream, data files already flushed (small target file size);
- ``exhausted``: every row handed to delta-rs, last files being flushed, no commit yet;
- ``external``: this test SIGKILLs the process as soon as it sees a new data file appear;
- ``committed``: right after the Delta commit, before MLflow recorded anything about it: the
  new version must then be complete (all of the input's rows, once).

Each killed run is followed by a normal run of the entry point (in this process). With ``MLFLOW_DELTA_SOAK=1`` every point runs
several rounds, more batch points are used, and a summary is printed (run with ``-s``).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import mlflow
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pytest
from deltalake import DeltaTable

from mlflow_delta_plugin.datasets.fingerprint import fingerprint_version
from tests.conftest import load_entrypoint

pytestmark = pytest.mark.slow

SOAK = os.environ.get("MLFLOW_DELTA_SOAK") == "1"
ROWS = 200_000
KILLER = Path(__file__).with_name("interrupt_prepare.py")
POINTS = (["batch:0", "batch:1", "batch:3", "batch:4", "exhausted", "external", "committed"]
          if SOAK else ["batch:0", "batch:3", "exhausted", "external", "committed"])
ROUNDS = int(os.environ.get("MLFLOW_DELTA_SOAK_ROUNDS", "4")) if SOAK else 1


def _input(folder: Path, number: int) -> str:
    """A CSV of ROWS rows whose ids are unique to input ``number`` (about 6 MiB: 6 batches)."""
    start = number * 10_000_000
    ids = pa.array(range(start, start + ROWS), pa.int64())
    rows = pa.table({"id": ids,
                     "a": pc.multiply(pc.cast(ids, pa.float64()), 0.001),
                     "b": pc.bit_wise_and(ids, 1023),
                     "y": pc.cast(pc.equal(pc.bit_wise_and(ids, 3), 0), pa.int8())})
    path = folder / f"input_{number}.csv"
    pa_csv.write_csv(rows, path)
    return str(path)


def _ids(table: str, version=None) -> pa.Array:
    return DeltaTable(table, version=version).to_pyarrow_table(columns=["id"])["id"]


def _data_files(table: str) -> set:
    return {os.path.join(root, name) for root, _dirs, names in os.walk(table)
            if "_delta_log" not in root for name in names if name.endswith(".parquet")}


def _prepare_args(source: str, table: str) -> list:
    return ["--input", source, "--table", table, "--label", "y", "--key", "id", "--mode", "append"]


def _kill(point: str, source: str, table: str, env: dict, cwd: Path) -> int:
    """Run prepare until it dies at ``point``; returns its exit status."""
    command = [sys.executable, str(KILLER), "none" if point == "external" else point,
               *_prepare_args(source, table)]
    before = _data_files(table)
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    if point == "external":
        deadline = time.monotonic() + 120
        while process.poll() is None and not _data_files(table) - before:
            assert time.monotonic() < deadline, "no data file appeared"
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
    _out, stderr = process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL, f"{point}: not killed: {stderr[-2000:]}"
    return process.returncode


def _referenced(table: str) -> set:
    """Absolute paths of the files every version still in the log adds."""
    latest = DeltaTable(table).version()
    return {os.path.join(table, unquote(path)) for version in range(latest + 1)
            for path in DeltaTable(table, version=version)
            .get_add_actions(flatten=True)["path"].to_pylist()}


def test_killed_prepare_changes_nothing_and_the_next_run_succeeds(mlflow_env, tmp_path):
    env = {**os.environ, **mlflow_env}
    table = str(tmp_path / "features")
    client = mlflow.MlflowClient()
    inputs = iter(range(1_000))

    entry_point = load_entrypoint("prepare")

    def run_prepare(source: str) -> None:
        """The entry point's main, in this process (a fresh interpreter per rerun cost 3-4 s)."""
        assert entry_point.main(_prepare_args(source, table)) == 0

    run_prepare(_input(tmp_path, next(inputs)))
    expected_ids = ROWS  # rows the table must hold, each id exactly once
    outcomes: dict = {}
    for _round in range(ROUNDS):
        for point in POINTS:
            source = _input(tmp_path, next(inputs))
            before = DeltaTable(table)
            version, stats = before.version(), fingerprint_version(before)
            _kill(point, source, table, env, tmp_path)

            after = DeltaTable(table)
            killed = client.search_runs([mlflow_env["MLFLOW_EXPERIMENT_ID"]],
                                        "attributes.status = 'RUNNING'")
            assert len(killed) == 1, f"{point}: the killed run should be left RUNNING"
            client.set_terminated(killed[0].info.run_id, status="KILLED")  # what a user does
            if after.version() == version:
                assert fingerprint_version(after) == stats, f"{point}: version {version} changed"
                outcome = "previous version"
                run_prepare(source)  # the same job run again after the crash
            else:
                assert point in ("committed", "external"), f"{point}: a killed run committed"
                assert after.version() == version + 1
                outcome = "complete new version"
                run_prepare(_input(tmp_path, next(inputs)))
                expected_ids += ROWS
            expected_ids += ROWS
            outcomes.setdefault(point, []).append(outcome)
            ids = _ids(table)
            assert len(ids) == expected_ids == len(pc.unique(ids)), f"{point}: rows lost or doubled"

    assert outcomes.get("committed") == ["complete new version"] * ROUNDS
    for point in POINTS[:-2]:  # killed before any commit
        assert outcomes[point] == ["previous version"] * ROUNDS

    versions = {v: (fingerprint_version(DeltaTable(table, version=v)), len(_ids(table, v)))
                for v in range(DeltaTable(table).version() + 1)}
    live = _referenced(table)
    orphans = _data_files(table) - live
    assert orphans, "killed writers should have left uncommitted files"
    cleanup = subprocess.run([sys.executable, "-m", "mlflow_delta_plugin.delta.orphans", table,
                              "--older-than-minutes", "0"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert cleanup.returncode == 0, cleanup.stderr
    assert f"removed {len(orphans)} orphaned files" in cleanup.stdout
    assert _data_files(table) == live  # orphans gone, every referenced file kept
    for version, (stats, rows) in versions.items():  # every pinned version still loads
        assert fingerprint_version(DeltaTable(table, version=version)) == stats
        assert len(_ids(table, version)) == rows
    run_prepare(_input(tmp_path, next(inputs)))  # and the table stays writable
    assert len(_ids(table)) == expected_ids + ROWS
    print(f"\ncrash soak: {len(POINTS)} kill points x {ROUNDS} rounds = "
          f"{len(POINTS) * ROUNDS} killed runs, {sum(len(o) for o in outcomes.values()) + 2} "
          f"successful runs; outcomes {outcomes}; {len(orphans)} orphaned files removed; "
          f"{expected_ids + ROWS} rows present exactly once, none lost")
