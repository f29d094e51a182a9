"""prepare: formats, deterministic split, appends, streaming, logged datasets and profile."""

import json

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from mlflow_delta_plugin.config import DEFAULT_INPUT
from mlflow_delta_plugin.delta.lineage import find_table_spec
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.steps.prepare import prepare


def _frame(rows: int, start: int = 0) -> pd.DataFrame:
    ids = range(start, start + rows)
    return pd.DataFrame({"id": list(ids), "a": [i * 0.5 for i in ids],
                         "color": [("red", "blue")[i % 2] for i in ids],
                         "y": [i % 3 for i in ids]})


def _run_prepare(**kwargs):
    with mlflow.start_run() as run:
        result = prepare(**kwargs)
    return run.info.run_id, result


def _table_frame(table: str, version=None) -> pd.DataFrame:
    return DeltaTable(table, version=version).to_pandas().sort_values("id").reset_index(drop=True)


def test_bundled_sample_becomes_version_zero_with_both_splits(mlflow_env, tmp_path):
    run_id, result = _run_prepare(input=DEFAULT_INPUT, table=str(tmp_path / "f"), label="malignant")
    assert (result.version, result.rows) == (0, 569)
    splits = DeltaTable(result.table).to_pandas()["split"].value_counts()
    assert set(splits.index) == {"train", "test"}
    assert 0.12 < splits["test"] / 569 < 0.28
    run = mlflow.get_run(run_id)
    contexts = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
                for d in run.inputs.dataset_inputs}
    assert set(contexts) == {"source", "prepared"}
    assert json.loads(contexts["prepared"].source)["version"] == 0
    assert run.data.metrics["rows_train"] + run.data.metrics["rows_test"] == 569
    profile = mlflow.artifacts.load_dict(f"runs:/{run_id}/data_profile.json")
    assert profile["rows"] == 569
    assert profile["columns"]["mean_radius"]["nulls"] == 0
    assert profile["columns"]["mean_radius"]["min"] > 0


@pytest.mark.parametrize("fmt", ["csv", "parquet_file", "parquet_folder", "delta"])
def test_every_input_format_gives_the_same_table(mlflow_env, tmp_path, fmt):
    frame = _frame(200)
    if fmt == "csv":
        source = tmp_path / "in.csv"
        frame.to_csv(source, index=False)
    elif fmt == "parquet_file":
        source = tmp_path / "in.parquet"
        frame.to_parquet(source)
    elif fmt == "parquet_folder":
        source = tmp_path / "in_folder"
        source.mkdir()
        pq.write_table(pa.Table.from_pandas(frame.iloc[:120]), source / "part-0.parquet")
        pq.write_table(pa.Table.from_pandas(frame.iloc[120:]), source / "part-1.parquet")
    else:
        source = tmp_path / "in_delta"
        write_deltalake(str(source), pa.Table.from_pandas(frame, preserve_index=False))
    _, result = _run_prepare(input=str(source), table=str(tmp_path / "f"), label="y", key="id")
    written = _table_frame(result.table)
    assert written["id"].tolist() == list(range(200))
    assert result.spec.features == ("a", "color")          # the key is not a feature


def test_split_is_independent_of_batching_and_stable_across_appends(mlflow_env, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    _frame(300).to_csv(first, index=False)
    _frame(100, start=300).to_csv(second, index=False)
    table = str(tmp_path / "f")
    _run_prepare(input=str(first), table=table, label="y", key="id", batch_rows=37)
    before = _table_frame(table)
    _run_prepare(input=str(second), table=table, label="y", key="id", mode="append")
    after = _table_frame(table)
    assert after.iloc[:300]["split"].tolist() == before["split"].tolist()
    # the same rows in one big batch get the same split
    _run_prepare(input=str(first), table=str(tmp_path / "g"), label="y", key="id",
                 batch_rows=100_000)
    assert _table_frame(str(tmp_path / "g"))["split"].tolist() == before["split"].tolist()
    assert len(after) == 400 and DeltaTable(table).version() == 1


def test_seed_changes_the_split(mlflow_env, tmp_path):
    source = tmp_path / "in.csv"
    _frame(300).to_csv(source, index=False)
    _run_prepare(input=str(source), table=str(tmp_path / "a"), label="y", seed=1)
    _run_prepare(input=str(source), table=str(tmp_path / "b"), label="y", seed=2)
    assert (_table_frame(str(tmp_path / "a"))["split"].tolist()
            != _table_frame(str(tmp_path / "b"))["split"].tolist())


def test_a_bad_row_late_in_the_stream_commits_nothing(mlflow_env, tmp_path):
    frame = _frame(5000)
    frame["y"] = frame["y"].astype("float")
    frame.loc[4990, "y"] = None                          # a null label in the last batch
    source = tmp_path / "late_null.parquet"
    frame.to_parquet(source)
    table = str(tmp_path / "f")
    _run_prepare(input=DEFAULT_INPUT, table=table, label="malignant")
    with pytest.raises(InvalidInputError, match="null or NaN"):
        _run_prepare(input=str(source), table=table, label="y", batch_rows=500, mode="overwrite")
    assert DeltaTable(table).version() == 0
    assert find_table_spec(table, 0).label == "malignant"


def test_append_with_other_columns_is_rejected(mlflow_env, tmp_path):
    table = str(tmp_path / "f")
    _run_prepare(input=DEFAULT_INPUT, table=table, label="malignant")
    other = tmp_path / "other.csv"
    _frame(10).to_csv(other, index=False)
    with pytest.raises(InvalidInputError, match="cannot append"):
        _run_prepare(input=str(other), table=table, label="y", mode="append")
    assert DeltaTable(table).version() == 0
