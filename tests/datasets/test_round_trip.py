"""The plugin's core promise: a run pins a Delta version and any later process reloads exactly it."""

import json
import shutil
import subprocess
import sys

import mlflow
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from mlflow_delta_plugin.datasets import DeltaVersionSource
from mlflow_delta_plugin.errors import TableChangedError

RELOAD_IN_FRESH_PROCESS = """
import json, sys, mlflow
run = mlflow.get_run(sys.argv[1])
out = []
for dataset_input in run.inputs.dataset_inputs:
    source = mlflow.data.get_source(dataset_input)
    out.append({"type": type(source).__name__, "version": source.version,
                "rows": source.load().sort_values("x")["x"].tolist()})
print(json.dumps(out), flush=True)
# Arrow's native thread pool can abort interpreter teardown (SIGABRT, delta-rs issue 2184);
# the entry points end with os._exit for the same reason (mlflow_delta_plugin.cli.exit_process).
import os
os._exit(0)
"""


def _write(path, values, mode="append"):
    write_deltalake(str(path), pa.table({"x": values}), mode=mode)


def test_fresh_process_reloads_exactly_the_pinned_rows(mlflow_env, tmp_path):
    table = tmp_path / "t"
    _write(table, [1, 2, 3])                       # version 0
    with mlflow.start_run() as run:
        dataset = mlflow.data.load_delta_version(str(table))
        mlflow.log_input(dataset, context="training")
    _write(table, [4, 5])                          # the table moves on: version 1
    _write(table, [9], mode="overwrite")           # and is overwritten: version 2

    result = subprocess.run([sys.executable, "-c", RELOAD_IN_FRESH_PROCESS, run.info.run_id],
                            env={**mlflow_env, "PATH": ""}, capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [loaded] = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"type": "DeltaVersionSource", "version": 0, "rows": [1, 2, 3]}


def test_logged_input_records_version_zero_and_table_identity(mlflow_env, tmp_path):
    table = tmp_path / "t"
    _write(table, [1])
    with mlflow.start_run() as run:
        mlflow.log_input(mlflow.data.load_delta_version(str(table), version=0), context="training")
    [dataset_input] = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert dataset_input.dataset.source_type == "delta_version"
    source = json.loads(dataset_input.dataset.source)
    assert source["version"] == 0
    assert source["uri"] == str(table)
    assert source["table_id"] and source["timestamp_ms"] > 0
    assert [t.value for t in dataset_input.tags if t.key == "mlflow.data.context"] == ["training"]
    assert json.loads(dataset_input.dataset.profile)["num_rows"] == 1


def test_time_travel_by_timestamp_in_the_constructor(mlflow_env, tmp_path):
    table = tmp_path / "t"
    _write(table, [1])
    first = mlflow.data.load_delta_version(str(table))
    _write(table, [2])
    at_first = mlflow.data.load_delta_version(str(table), timestamp=first.source.timestamp_ms / 1000)
    assert at_first.version == 0
    assert at_first.to_pandas()["x"].tolist() == [1]
    assert at_first.digest == first.digest


def test_source_refuses_a_recreated_table(mlflow_env, tmp_path):
    table = tmp_path / "t"
    _write(table, [1])
    source = mlflow.data.load_delta_version(str(table)).source
    shutil.rmtree(table)
    _write(table, [7])                             # same path, version 0 again, other table id
    rebuilt = DeltaVersionSource.from_dict(source.to_dict())
    with pytest.raises(TableChangedError, match="re-created"):
        rebuilt.load()


def test_filters_narrow_rows_and_change_the_digest(mlflow_env, tmp_path):
    table = tmp_path / "t"
    write_deltalake(str(table), pa.table({"x": [1, 2, 3], "split": ["train", "test", "train"]}),
                    partition_by=["split"])
    whole = mlflow.data.load_delta_version(str(table))
    test_only = mlflow.data.load_delta_version(str(table), filters=[("split", "=", "test")])
    assert test_only.to_pandas()["x"].tolist() == [2]
    assert test_only.digest != whole.digest
    assert DeltaVersionSource.from_dict(test_only.source.to_dict()).load()["x"].tolist() == [2]


def test_evaluation_dataset_carries_targets(mlflow_env, tmp_path):
    table = tmp_path / "t"
    write_deltalake(str(table), pa.table({"x": [1.0, 2.0], "y": [0, 1]}))
    dataset = mlflow.data.load_delta_version(str(table), targets="y")
    evaluation = dataset.to_evaluation_dataset()
    assert list(evaluation.labels_data) == [0, 1]
    pd.testing.assert_frame_equal(dataset.to_pyfunc().inputs, pd.DataFrame({"x": [1.0, 2.0]}))
