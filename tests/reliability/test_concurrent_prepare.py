"""Eight `prepare --mode append` processes at once on one table: nothing lost, nothing doubled.

Each process appends rows with its own id range. A process that exits 0 must find its rows in
the table exactly once; one that fails must say why in one line and leave none of its rows.
The table does not exist when they start, so they also race to create it.
"""

import os
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest
from deltalake import DeltaTable

from tests.conftest import ENTRYPOINTS

WRITERS = 8
ROWS_PER_WRITER = 150

pytestmark = pytest.mark.slow


def _input(folder, writer: int) -> str:
    ids = range(writer * 10_000, writer * 10_000 + ROWS_PER_WRITER)
    frame = pd.DataFrame({"id": list(ids), "x": [i * 0.1 for i in ids], "y": [i % 2 for i in ids]})
    path = folder / f"writer_{writer}.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_concurrent_appends_keep_every_successful_row_exactly_once(mlflow_env, tmp_path):
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
