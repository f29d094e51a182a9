"""Corrupt or foreign input: a truncated Delta commit, a table needing protocol features
deltalake lacks, a CSV mixing UTF-8 and Latin-1 lines.

Every entry point runs as its own process (as a scheduler starts it) and must exit 2 with
exactly one ``error:`` line naming the table or file, the problem and what to do; no Python
traceback, no Rust panic; the table folder is byte-for-byte unchanged and no table is created.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from deltalake import DeltaTable

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.datasets import load_delta_version
from mlflow_delta_plugin.errors import InvalidInputError, UnsupportedTableError
from mlflow_delta_plugin.ingest.readers import open_input
from mlflow_delta_plugin.steps.prepare import prepare
from tests.conftest import ENTRYPOINTS

pytestmark = pytest.mark.slow


@pytest.fixture
def table(mlflow_env, tmp_path) -> str:
    """A feature table with versions 0 and 1 (the sample, prepared then appended)."""
    path = str(tmp_path / "features")
    for mode in ("overwrite", "append"):
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=path, label=DEFAULT_LABEL, mode=mode)
    return path


def _latest_commit(table: str) -> Path:
    return Path(table, "_delta_log", f"{DeltaTable(table).version():020d}.json")


def _truncate_latest_commit(table: str) -> str:
    commit = _latest_commit(table)
    text = commit.read_bytes()
    commit.write_bytes(text[: len(text) * 2 // 3])  # cut inside a JSON object
    return commit.name


def _require_protocol(table: str, **protocol) -> None:
    """Put a protocol action into the latest commit, as a newer writer would have."""
    commit = _latest_commit(table)
    action = json.dumps({"protocol": protocol})
    commit.write_text(action + "\n" + commit.read_text())


def _snapshot(folder: str) -> dict:
    """Every file under ``folder`` with its size and content."""
    found = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            found[path] = Path(path).read_bytes()
    return found


def _run_all(commands: dict, env: dict, cwd) -> dict:
    """Start every entry point at once (each a fresh interpreter); name -> (code, stderr)."""
    started = {name: subprocess.Popen([sys.executable, str(ENTRYPOINTS / f"{argv[0]}.py"),
                                       *argv[1:]], env=env, cwd=cwd, text=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
               for name, argv in commands.items()}
    return {name: (p.wait(timeout=300), p.stderr.read()) for name, p in started.items()}


def _assert_one_clean_error(outcome: tuple, *needles: str) -> str:
    code, stderr = outcome
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2, stderr[-3000:]
    assert len(errors) == 1, stderr[-3000:]
    assert "Traceback" not in stderr and "panicked" not in stderr, stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _entry_points_on(table: str, tmp_path) -> dict:
    """prepare reading the table, prepare appending onto it or overwriting it, train on it."""
    return {
        "prepare-from-table": ["prepare", "--input", table, "--table", str(tmp_path / "copy"),
                               "--label", DEFAULT_LABEL],
        "prepare-append": ["prepare", "--input", DEFAULT_INPUT, "--table", table,
                           "--label", DEFAULT_LABEL, "--mode", "append"],
        "prepare-overwrite": ["prepare", "--input", DEFAULT_INPUT, "--table", table,
                              "--label", DEFAULT_LABEL, "--mode", "overwrite"],
        "train": ["train", "--table", table, "--model_type", "linear"],
    }


def test_a_truncated_commit_is_named_and_nothing_changes(table, mlflow_env, tmp_path):
    commit = _truncate_latest_commit(table)
    before = _snapshot(table)
    outcomes = _run_all(_entry_points_on(table, tmp_path), {**os.environ, **mlflow_env}, tmp_path)
    for outcome in outcomes.values():
        _assert_one_clean_error(outcome, table, f"_delta_log/{commit}", "corrupt",
                                "restore that file")
    assert _snapshot(table) == before and not (tmp_path / "copy").exists()

    with pytest.raises(UnsupportedTableError, match=commit):
        load_delta_version(table)
    assert len(load_delta_version(table, version=0).source.load()) > 0  # pins before it load


def test_unsupported_reader_features_are_named_and_nothing_changes(table, mlflow_env, tmp_path):
    _require_protocol(table, minReaderVersion=3, minWriterVersion=7,
                      readerFeatures=["someFutureFeature"], writerFeatures=["someFutureFeature"])
    before = _snapshot(table)
    outcomes = _run_all(_entry_points_on(table, tmp_path), {**os.environ, **mlflow_env}, tmp_path)
    for outcome in outcomes.values():
        _assert_one_clean_error(outcome, table, "reader features (someFutureFeature)",
                                "cannot read", "engine that supports them")
    assert _snapshot(table) == before and not (tmp_path / "copy").exists()

    with pytest.raises(UnsupportedTableError, match="someFutureFeature"):
        load_delta_version(table)
    assert len(load_delta_version(table, version=0).source.load()) > 0


def test_an_unsupported_writer_feature_refuses_appends_cleanly(table, mlflow_env, tmp_path):
    _require_protocol(table, minReaderVersion=1, minWriterVersion=7,
                      writerFeatures=["someFutureWriterFeature"])
    before = _snapshot(table)
    outcomes = _run_all({"append": _entry_points_on(table, tmp_path)["prepare-append"]},
                        {**os.environ, **mlflow_env}, tmp_path)
    _assert_one_clean_error(outcomes["append"], table, "writer features (someFutureWriterFeature)")
    assert _snapshot(table) == before


def test_reading_a_table_with_an_unsupported_writer_feature_still_works(table):
    _require_protocol(table, minReaderVersion=1, minWriterVersion=7,
                      writerFeatures=["someFutureWriterFeature"])
    assert load_delta_version(table).source.load().shape[0] > 0


def _mixed_encoding_csv(path: Path, latin1_line: int, lines: int = 60_000) -> bytes:
    """A UTF-8 CSV whose line ``latin1_line`` (1 = header) is Latin-1; returns its bytes."""
    rows = ["id,name,x,y"] + [f"{i},café {i},{i * 0.5},{i % 2}" for i in range(lines)]
    data = b"".join((row.encode("latin-1") if number == latin1_line else row.encode()) + b"\n"
                    for number, row in enumerate(rows, start=1))
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("latin1_line", [12, 50_001], ids=["first-block", "mid-stream"])
def test_a_csv_mixing_encodings_names_the_line(latin1_line, tmp_path):
    path = tmp_path / "mixed.csv"
    data = _mixed_encoding_csv(path, latin1_line)
    lines = data.split(b"\n")
    offset = sum(len(line) + 1 for line in lines[: latin1_line - 1])
    offset += lines[latin1_line - 1].index(b"\xe9")  # the Latin-1 'é'
    with pytest.raises(InvalidInputError) as caught:
        for _batch in open_input(str(path)).batches:
            pass
    message = caught.value.message
    assert f"at line {latin1_line} (byte {offset})" in message, message
    assert "columns ['name']" in message and "re-encode the file as UTF-8" in message


def test_prepare_refuses_mixed_encodings_and_writes_nothing(table, mlflow_env, tmp_path):
    early, late = tmp_path / "early.csv", tmp_path / "late.csv"
    _mixed_encoding_csv(early, 12)
    _mixed_encoding_csv(late, 50_001)
    before = _snapshot(table)
    commands = {
        "new-table": ["prepare", "--input", str(early), "--table", str(tmp_path / "new"),
                      "--label", "y"],
        "overwrite-late": ["prepare", "--input", str(late), "--table", table, "--label", "y",
                        "--mode", "overwrite"],
    }
    outcomes = _run_all(commands, {**os.environ, **mlflow_env}, tmp_path)
    _assert_one_clean_error(outcomes["new-table"], str(early), "at line 12", "not valid UTF-8")
    _assert_one_clean_error(outcomes["overwrite-late"], str(late), "at line 50001", "re-encode")
    assert _snapshot(table) == before and not (tmp_path / "new").exists()
