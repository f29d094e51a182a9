"""retry_on_conflict against real delta-rs commit conflicts.

A conflict is provoked for real: the attempt loads the table's snapshot, another writer
overwrites the table, then the attempt appends on its (now stale) snapshot. delta-rs's conflict
checker refuses that commit ("a concurrent transaction deleted data this operation read").
"""

import json
import logging
import os

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from mlflow_delta_plugin.delta.retry import is_commit_conflict, retry_on_conflict
from mlflow_delta_plugin.errors import UnsupportedTableError, WriteConflictError


@pytest.fixture
def table(tmp_path) -> str:
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"x": [1, 2, 3]}))
    return path


class StaleAppend:
    """One attempt of an append that loses the race to a concurrent overwrite ``losses`` times."""

    def __init__(self, table: str, losses: int) -> None:
        self.table, self.losses, self.calls = table, losses, 0

    def __call__(self) -> int:
        self.calls += 1
        snapshot = DeltaTable(self.table)  # the attempt reads the current version ...
        if self.calls <= self.losses:      # ... and a concurrent writer replaces the table
            write_deltalake(self.table, pa.table({"x": [100 + self.calls]}), mode="overwrite")
        write_deltalake(snapshot, pa.table({"x": [-1]}), mode="append")
        return DeltaTable(self.table).version()


def _values(table: str) -> list:
    return sorted(DeltaTable(table).to_pyarrow_table()["x"].to_pylist())


def test_a_stale_append_really_conflicts(table):
    attempt = StaleAppend(table, losses=1)
    with pytest.raises(CommitFailedError) as caught:
        attempt()
    assert is_commit_conflict(caught.value)
    assert _values(table) == [101]  # the competitor's overwrite, nothing of ours


def test_retries_after_a_conflict_and_commits_once(table, caplog):
    attempt = StaleAppend(table, losses=2)
    delays = []
    with caplog.at_level(logging.WARNING, logger="mlflow_delta_plugin.delta.retry"):
        version = retry_on_conflict(attempt, table=table, what="prepare", attempts=4,
                                    base_delay=0.2, max_delay=10, sleep=delays.append)
    assert attempt.calls == 3
    assert version == DeltaTable(table).version() == 3  # v1, v2 overwrites; v3 our append
    assert _values(table) == [-1, 102]                  # our row exactly once
    assert len(delays) == 2
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4  # jittered, doubling
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 2 and all(table in line and "retrying in" in line for line in retries)
    assert "attempt 2 of 4" in retries[0] and "attempt 3 of 4" in retries[1]


def test_gives_up_after_the_last_attempt_with_one_line(table):
    attempt = StaleAppend(table, losses=99)
    delays = []
    with pytest.raises(WriteConflictError) as caught:
        retry_on_conflict(attempt, table=table, what="prepare", attempts=3, base_delay=1,
                          max_delay=1.5, sleep=delays.append)
    message = caught.value.message
    assert attempt.calls == 3 and len(delays) == 2
    assert 0.5 <= delays[0] <= 1 and 0.75 <= delays[1] <= 1.5  # capped by max_delay
    assert "\n" not in message and table in message and "all 3 attempts" in message
    assert "run it again" in message
    assert -1 not in _values(table)  # no attempt committed anything


def _require_writer_feature(table: str, feature: str) -> None:
    """Make the latest commit declare a writer feature delta-rs does not implement."""
    commit = os.path.join(table, "_delta_log", f"{DeltaTable(table).version():020d}.json")
    with open(commit) as handle:
        lines = handle.read().splitlines()
    protocol = {"protocol": {"minReaderVersion": 1, "minWriterVersion": 7,
                             "writerFeatures": [feature]}}
    with open(commit, "w") as handle:
        handle.write("\n".join([json.dumps(protocol), *lines]) + "\n")


def test_a_refusing_protocol_is_not_retried(table):
    _require_writer_feature(table, "someFutureWriterFeature")
    calls = []

    def attempt() -> None:
        calls.append(1)
        write_deltalake(table, pa.table({"x": [7]}), mode="append")

    with pytest.raises(UnsupportedTableError, match="writer features.*someFutureWriterFeature"):
        retry_on_conflict(attempt, table=table, what="prepare", sleep=lambda s: None)
    assert len(calls) == 1 and DeltaTable(table).version() == 0


def test_other_errors_pass_through_untouched(table):
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise KeyError("not a Delta problem")

    with pytest.raises(KeyError):
        retry_on_conflict(attempt, table=table, what="prepare", sleep=lambda s: None)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="at least 1"):
        retry_on_conflict(attempt, table=table, what="prepare", attempts=0)
