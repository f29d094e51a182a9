"""Test launcher: run the ``prepare`` entry point and interrupt it at a chosen point.

Usage: ``python interrupt_prepare.py POINT [prepare arguments...]`` where POINT is

- ``batch:N``: when delta-rs pulls batch N (0: before any row reached the writer),
- ``exhausted``: right after the last input batch was handed to delta-rs, before it flushes
  its last files and commits,
- ``committed``: right after the Delta commit, before the MLflow run records it,
- ``pause:N``: when delta-rs pulls batch N of the first write, create ``<table>.paused`` and wait
  until ``<table>.resume`` exists (another writer commits meanwhile); ``none``: no interruption.

The hook wraps the functions ``mlflow_delta_plugin.steps.prepare`` calls; production code
carries no test hook. Kill points end the process by SIGKILL, like a machine that lost power:
no ``finally`` block, ``atexit`` handler or MLflow run end gets to run.
"""

import importlib
import os
import signal
import sys
import time
from pathlib import Path

import pyarrow as pa

SMALL_FILE_BYTES = 256 << 10
ENTRYPOINTS = Path(__file__).resolve().parents[2] / "entrypoints"


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _pause(table: str) -> None:
    paused, resume = Path(f"{table}.paused"), Path(f"{table}.resume")
    if paused.exists():  # pause the first write only, not its retries
        return
    paused.touch()
    while not resume.exists():
        time.sleep(0.02)


def _interrupting_reader(reader: pa.RecordBatchReader, point: str,
                         table: str) -> pa.RecordBatchReader:
    def batches():
        for number, batch in enumerate(reader):
            if point == f"batch:{number}":
                _die()
            if point == f"pause:{number}":
                _pause(table)
            yield batch
        if point == "exhausted":
            _die()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def install(point: str) -> None:
    """Patch prepare's writer so the process is interrupted at ``point``."""
    step = importlib.import_module("mlflow_delta_plugin.steps.prepare")

    write, find_write = step.write_deltalake, step.find_write

    def write_deltalake(table, data, *args, **kwargs):
        # Small files make delta-rs flush data files while the input still streams, as it does
        # with the default size on inputs of many GiB: a kill then leaves uncommitted files.
        kwargs["target_file_size"] = SMALL_FILE_BYTES
        return write(table, _interrupting_reader(data, point, table), *args, **kwargs)

    def find_write_then_die(*args, **kwargs):
        if point == "committed":
            _die()
        return find_write(*args, **kwargs)

    step.write_deltalake = write_deltalake
    step.find_write = find_write_then_die


if __name__ == "__main__":
    install(sys.argv[1])
    sys.path.insert(0, str(ENTRYPOINTS))
    sys.argv = [str(ENTRYPOINTS / "prepare.py"), *sys.argv[2:]]
    import prepare as entry_point  # noqa: E402  (entrypoints/prepare.py)

    entry_point.exit_process(entry_point.main())
