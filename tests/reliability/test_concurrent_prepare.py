"""Eight `prepare --mode append` processes at once on one table: nothing lost, nothing doubled.

Each process appends rows with its own id range. A process that exits 0 must find its rows in
the table exactly once; one that fails must say why in one line and leave none of its rows.
The table does not exist when they start, so they also race to create it. With
``MLFLOW_DELTA_SOAK=1`` the race runs ``MLFLOW_DELTA_SOAK_ROUNDS`` (default 5) times, on a fresh
table each time, and prints a summary (run with ``-s``).
"""

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable

from tests.conftest import ENTRYPOINTS, load_entrypoint

WRITERS = 8
ROWS_PER_WRITER = 150
INTERRUPTER = Path(__file__).with_name("interrupt_prepare.py")
ROUNDS = (int(os.environ.get("MLFLOW_DELTA_SOAK_ROUNDS", "5"))
          if os.environ.get("MLFLOW_DELTA_SOAK") == "1" else 1)

pytestmark = pytest.mark.slow


def _input(folder, writer: int) -> str:
    ids = range(writer * 10_000, writer * 10_000 + ROWS_PER_WRITER)
    frame = pd.DataFrame({"id": list(ids), "x": [i * 0.1 for i in ids], "y": [i % 2 for i in ids]})
    path = folder / f"writer_{writer}.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_concurrent_appends_keep_every_successful_row_exactly_once(mlflow_env, tmp_path,
                                                                   round_number):
    table = str(tmp_path / "shared_table")
    env = {**os.environ, **mlflow_env}
    processes = [
        subprocess.Popen([sys.executable, str(ENTRYPOINTS / "prepare.py"), "--input",
                          _input(tmp_path, w), "--table", table, "--label", "y", "--key", "id",
                          "--mode", "append"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(WRITERS)
    ]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in processes]

    counts = Counter(DeltaTable(table).to_pandas()["id"])
    succeeded = 0
    for writer, (code, stderr) in enumerate(outcomes):
        ids = range(writer * 10_000, writer * 10_000 + ROWS_PER_WRITER)
        if code == 0:
            succeeded += 1
            assert all(counts[i] == 1 for i in ids), f"writer {writer}: rows lost or doubled"
        else:
            error_lines = [l for l in stderr.splitlines() if l.startswith("error:")]
            assert len(error_lines) == 1 and "Traceback" not in stderr, stderr[-2000:]
            assert not any(counts[i] for i in ids), f"failed writer {writer} left rows behind"
    assert succeeded == WRITERS, [o[1][-500:] for o in outcomes if o[0] != 0]
    assert sum(counts.values()) == WRITERS * ROWS_PER_WRITER
    assert DeltaTable(table).version() == WRITERS - 1
    print(f"\nconcurrency round {round_number}: {WRITERS} writers, {succeeded} succeeded, "
          f"{sum(counts.values())} rows present exactly once, none lost")


def _ids(writer: int) -> set:
    return set(range(writer * 10_000, writer * 10_000 + ROWS_PER_WRITER))


def test_an_append_that_loses_to_an_overwrite_is_redone(mlflow_env, tmp_path):
    """A real commit conflict between processes: the append has loaded the table and holds its
    first batch when another process overwrites the table; its commit conflicts, and prepare
    re-streams the input onto the new version."""
    table = str(tmp_path / "table")

    def args(writer: int, mode: str) -> list:
        return ["--input", _input(tmp_path, writer), "--table", table, "--label", "y",
                "--key", "id", "--mode", mode]

    entry_point = load_entrypoint("prepare")
    assert entry_point.main(args(0, "overwrite")) == 0
    appender = subprocess.Popen([sys.executable, str(INTERRUPTER), "pause:0", *args(1, "append")],
                                env={**os.environ, **mlflow_env}, cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not Path(f"{table}.paused").exists():
        assert appender.poll() is None and time.monotonic() < deadline, appender.stderr.read()
        time.sleep(0.05)
    assert entry_point.main(args(2, "overwrite")) == 0  # the winning commit, version 1
    Path(f"{table}.resume").touch()
    stdout, stderr = appender.communicate(timeout=300)

    assert appender.returncode == 0, stderr[-2000:]
    assert "conflicted with a concurrent writer" in stdout and "retrying in" in stdout, stdout
    counts = Counter(DeltaTable(table).to_pandas()["id"])
    assert set(counts) == _ids(1) | _ids(2) and set(counts.values()) == {1}
    assert DeltaTable(table).version() == 2
