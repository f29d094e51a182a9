"""Orphan cleanup removes exactly the files no log version references, and nothing younger than
the safety age; every version, including ones an overwrite replaced, still loads afterwards.

Orphans are made for real: a write whose input fails mid-stream after delta-rs flushed some
files (small target size) aborts its commit and leaves those files behind, as a killed writer
does.
"""

import os
import time
from urllib.parse import unquote

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from mlflow_delta_plugin.delta.orphans import (
    find_orphans,
    main,
    referenced_files,
    remove_orphans,
)
from mlflow_delta_plugin.errors import TableNotFoundError, UnsupportedTableError


def _rows(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table({"id": ids, "part": [f"p {i % 3}/%" for i in ids],
                     "x": [i * 0.5 for i in ids]})


def _data_files(table: str) -> set:
    return {os.path.join(root, name) for root, _dirs, names in os.walk(table)
            if "_delta_log" not in root for name in names if name.endswith(".parquet")}


def _settled_files(table: str, before: set) -> set:
    """New data files once none has appeared for a second (delta-rs's writer tasks may still
    flush for a moment after the write call failed)."""
    current, stable_since = _data_files(table) - before, time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        time.sleep(0.1)
        latest = _data_files(table) - before
        if latest != current:
            current, stable_since = latest, time.monotonic()
    return current


def _abort_a_write(table: str) -> set:
    """Stream rows into an append that fails before its commit, after delta-rs flushed some
    files; returns the files it left."""
    before = _data_files(table)
    rows = _rows(10_000, 60_000)

    def batches():
        yield from rows.to_batches(max_chunksize=5_000)
        deadline = time.monotonic() + 10
        while not _data_files(table) - before and time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError("input broke")

    reader = pa.RecordBatchReader.from_batches(rows.schema, batches())
    with pytest.raises(Exception, match="input broke"):
        write_deltalake(table, reader, mode="append", target_file_size=32 << 10)
    return _settled_files(table, before)


@pytest.fixture
def table(tmp_path) -> str:
    """v0 and v1 (an overwrite that removes v0's files), v2 an append; partitioned by a column
    whose values need percent-encoding in file paths."""
    path = str(tmp_path / "t")
    write_deltalake(path, _rows(0, 300), partition_by=["part"])
    write_deltalake(path, _rows(1000, 300), mode="overwrite")
    write_deltalake(path, _rows(2000, 300), mode="append")
    return path


def test_removes_exactly_the_files_of_an_aborted_write(table):
    version_zero = DeltaTable(table, version=0).to_pyarrow_table().sort_by("id")
    left_behind = _abort_a_write(table)
    assert len(left_behind) >= 2, "the aborted write should have flushed files"
    live_before = _data_files(table) - left_behind

    removed = remove_orphans(table, older_than_minutes=0)

    assert {o.path for o in removed} == left_behind
    assert _data_files(table) == live_before
    assert referenced_files(table) >= live_before
    assert DeltaTable(table).version() == 2  # cleanup commits nothing
    assert DeltaTable(table, version=0).to_pyarrow_table().sort_by("id").equals(version_zero)
    assert DeltaTable(table).to_pyarrow_table().num_rows == 600


def test_vacuum_full_would_also_delete_what_old_versions_need(table):
    left_behind = _abort_a_write(table)
    version_zero_files = {os.path.join(table, unquote(p)) for p in
                          DeltaTable(table, version=0).get_add_actions(flatten=True)["path"].to_pylist()}
    vacuumed = {os.path.join(table, p) for p in DeltaTable(table).vacuum(
        retention_hours=0, enforce_retention_duration=False, full=True, dry_run=True)}
    assert vacuumed == left_behind | version_zero_files  # why orphans.py exists
    assert {o.path for o in find_orphans(table, older_than_minutes=0)} == left_behind


def test_young_files_are_kept_for_writers_still_running(table):
    left_behind = _abort_a_write(table)
    assert find_orphans(table) == []  # default age: a day
    assert remove_orphans(table, older_than_minutes=5) == []
    assert _data_files(table) >= left_behind
    later = time.time() + 2 * 3600
    assert {o.path for o in find_orphans(table, older_than_minutes=60, now=later)} == left_behind


def test_files_known_only_to_a_checkpoint_are_kept(table):
    DeltaTable(table).create_checkpoint()
    log = os.path.join(table, "_delta_log")
    for version in (0, 1):  # log cleanup dropped the commits the checkpoint summarizes
        os.remove(os.path.join(log, f"{version:020d}.json"))
    write_deltalake(table, _rows(3000, 10), mode="append")
    assert find_orphans(table, older_than_minutes=0) == []


def test_a_corrupt_log_stops_the_cleanup(table):
    left_behind = _abort_a_write(table)
    commit = os.path.join(table, "_delta_log", f"{2:020d}.json")
    with open(commit, "rb") as handle:
        text = handle.read()
    with open(commit, "wb") as handle:
        handle.write(text[: len(text) // 2])
    with pytest.raises(UnsupportedTableError, match="00000000000000000002.json"):
        remove_orphans(table, older_than_minutes=0)
    assert _data_files(table) >= left_behind


def test_command_line_dry_run_then_removal(table, tmp_path, capsys):
    left_behind = _abort_a_write(table)
    assert main([table, "--dry-run", "--older-than-minutes", "0"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1].startswith(f"would remove {len(left_behind)} orphaned files")
    assert _data_files(table) >= left_behind
    assert main([table, "--older-than-minutes", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"removed {len(left_behind)} ")
    assert not _data_files(table) & left_behind
    assert main([str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: orphans: no Delta table")
    with pytest.raises(TableNotFoundError):
        find_orphans(str(tmp_path / "nothing"))
