"""prepare with engine=spark gives the embedded engine's table: rows, split per row, spec, layout.

Runs on the package's local[2] session (``spark_session()`` picks up the active one). Inputs
are split into many Spark partitions (small ``maxPartitionBytes``) so header handling, per-task
checks and the merged profile are exercised across tasks.
"""

import contextlib
import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.lineage import (
    LINEAGE_ENTRY_POINT_KEY,
    LINEAGE_RUN_ID_KEY,
    commit_metadata,
    find_table_spec,
)
from mlflow_delta_plugin.delta.reader import read_version
from mlflow_delta_plugin.delta.table import resolve_version
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.spark import read_delta
from mlflow_delta_plugin.steps.prepare import prepare
from tests.conftest import run_script
from tests.spark.dv_tables import HandWrittenTable, inline_dv

SMALL_SPLITS = 64 * 1024  # bytes per Spark input partition, so a 1 MB file spans many tasks


@contextlib.contextmanager
def _small_partitions(spark):
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(SMALL_SPLITS))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _frame(rows: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + rows)
    return pd.DataFrame({"id": ids, "a": ids * 0.25, "color": np.where(ids % 3 == 0, "red", "blue"),
                         "flag": ids % 5 == 0, "y": ids % 2})


def _run(**kwargs):
    with mlflow.start_run() as run:
        result = prepare(**kwargs)
    return mlflow.get_run(run.info.run_id), result


def _rows(table: str, version=None) -> pd.DataFrame:
    frame = DeltaTable(table, version=version).to_pandas()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _inputs(run) -> dict:
    return {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
            for d in run.inputs.dataset_inputs}


def _assert_same_table(embedded: str, spark_table: str) -> None:
    left, right = DeltaTable(embedded), DeltaTable(spark_table)
    assert left.schema() == right.schema()
    assert left.metadata().partition_columns == right.metadata().partition_columns == ["split"]
    assert left.metadata().configuration == right.metadata().configuration
    expected = _rows(embedded)
    pd.testing.assert_frame_equal(_rows(spark_table)[expected.columns], expected)
    assert find_table_spec(spark_table, right.version()) == \
        find_table_spec(embedded, left.version())


def test_bundled_sample_gives_the_embedded_table_and_logs_the_same(spark, mlflow_env, tmp_path):
    embedded_run, embedded = _run(input=DEFAULT_INPUT, table=str(tmp_path / "e"),
                                  label=DEFAULT_LABEL)
    run, result = _run(input=DEFAULT_INPUT, table=str(tmp_path / "s"), label=DEFAULT_LABEL,
                       engine="spark")
    assert (result.version, result.rows, result.spec) == (0, 569, embedded.spec)
    _assert_same_table(embedded.table, result.table)

    [entry] = [commit_metadata(e) for e in DeltaTable(result.table).history()]
    assert entry[LINEAGE_RUN_ID_KEY] == run.info.run_id
    assert entry[LINEAGE_ENTRY_POINT_KEY] == "prepare"
    assert run.data.params["engine"] == "spark" and embedded_run.data.params["engine"] == "embedded"
    assert run.data.metrics == embedded_run.data.metrics
    assert run.data.tags["delta.version"] == "0"
    logged, expected_inputs = _inputs(run), _inputs(embedded_run)
    assert logged["source"].digest == expected_inputs["source"].digest
    # the produced version's fingerprint is what the embedded reader computes for it
    pinned = resolve_version(result.table, version=0)
    assert logged["prepared"].digest == DeltaVersionDataset(
        DeltaVersionSource.from_pinned(pinned), targets=DEFAULT_LABEL).digest
    profile = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/data_profile.json")
    reference = mlflow.artifacts.load_dict(f"runs:/{embedded_run.info.run_id}/data_profile.json")
    assert profile["split_counts"] == reference["split_counts"]
    for name, column in reference["columns"].items():
        mine = profile["columns"][name]
        assert mine.keys() == column.keys()
        for stat, value in column.items():  # float sums add up in another order across tasks
            assert mine[stat] == (value if isinstance(value, str) else pytest.approx(value)), name


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_many_partitions_give_the_same_rows_and_splits(spark, mlflow_env, tmp_path, fmt):
    frame = _frame(40_000)
    frame.loc[frame.index % 97 == 0, "a"] = np.nan        # nulls in a feature, not in the label
    if fmt == "csv":
        source = tmp_path / "in.csv"
        frame.to_csv(source, index=False)
        assert source.stat().st_size > 8 * SMALL_SPLITS
    else:
        source = tmp_path / "in_folder"
        source.mkdir()
        for part, rows in enumerate(np.array_split(frame, 3)):
            pq.write_table(pa.Table.from_pandas(rows, preserve_index=False),
                           source / f"part-{part}.parquet", row_group_size=5_000)
    _, embedded = _run(input=str(source), table=str(tmp_path / "e"), label="y")
    with _small_partitions(spark):
        reader = spark.read.text if fmt == "csv" else spark.read.parquet
        frame_partitions = reader(str(source)).rdd.getNumPartitions()
        run, result = _run(input=str(source), table=str(tmp_path / "s"), label="y",
                           engine="spark")
    assert frame_partitions > 4
    assert result.rows == 40_000
    _assert_same_table(embedded.table, result.table)
    assert run.data.metrics["rows_test"] == (_rows(result.table)["split"] == "test").sum()


def test_key_decides_the_split_and_appends_keep_it(spark, mlflow_env, tmp_path):
    first, second = tmp_path / "first.csv", tmp_path / "second.parquet"
    _frame(3_000).to_csv(first, index=False)
    _frame(1_000, start=3_000).to_parquet(second, index=False)
    both_embedded = str(tmp_path / "e")
    _run(input=str(first), table=both_embedded, label="y", key="id")
    _run(input=str(second), table=both_embedded, label="y", key="id", mode="append")

    table = str(tmp_path / "s")
    _run(input=str(first), table=table, label="y", key="id", engine="spark")
    before = _rows(table)
    _, appended = _run(input=str(second), table=table, label="y", key="id", mode="append",
                       engine="spark")
    assert appended.version == 1
    pd.testing.assert_frame_equal(_rows(table, version=0), before)   # time travel to v0
    _assert_same_table(both_embedded, table)
    # Spark reads back each version it wrote, as deltalake does
    old = read_delta(spark, table, version=0).toPandas()
    assert sorted(old["id"].tolist()) == list(range(3_000))
    # an overwrite replaces the rows in one more version; the old ones stay readable
    _, replaced = _run(input=str(second), table=table, label="y", key="id", engine="spark")
    assert replaced.version == 2
    assert sorted(_rows(table)["id"].tolist()) == list(range(3_000, 4_000))
    assert len(_rows(table, version=1)) == 4_000


def _dv_input(root: Path) -> tuple:
    """A Delta input written by 'another engine': v0 1,000 rows, v1 deletes 100 of them through a
    deletion vector, v2 appends 500 more. Returns (path, ids alive at v2)."""
    schema = pa.schema([("id", pa.int64()), ("a", pa.float64()), ("y", pa.int64())])
    table = HandWrittenTable(root, schema)

    def rows(start, count):
        ids = np.arange(start, start + count)
        return pa.table({"id": ids, "a": ids * 0.5, "y": ids % 2}, schema=schema)

    first = table.write_file(rows(0, 1_000), row_group_size=300)
    table.commit([table.add(first)])
    deleted = list(range(0, 1_000, 10))
    table.commit([table.remove(first), table.add(first, inline_dv(deleted))], "DELETE")
    table.commit([table.add(table.write_file(rows(1_000, 500)))])
    return str(root), sorted(set(range(1_500)) - set(deleted))


def test_delta_input_with_deletion_vectors_is_read_at_its_pinned_version(spark, mlflow_env,
                                                                         tmp_path):
    source, alive = _dv_input(tmp_path / "dv")
    run, result = _run(input=source, table=str(tmp_path / "s"), label="y", key="id",
                       engine="spark")
    written = _rows(result.table)
    assert sorted(written["id"].tolist()) == alive
    logged_source = json.loads(_inputs(run)["source"].source)
    assert logged_source["version"] == 2
    # the source dataset reloads exactly the rows prepare read (its own, embedded reader)
    pinned_rows = read_version(DeltaTable(source, version=2))
    assert sorted(pinned_rows.column("id").to_pylist()) == alive
    # the split is the one the embedded engine gives these rows
    reference = str(tmp_path / "reference.parquet")
    pq.write_table(pinned_rows, reference)
    _, embedded = _run(input=reference, table=str(tmp_path / "e"), label="y", key="id")
    _assert_same_table(embedded.table, result.table)


def _data_files(table: str) -> set:
    return set(DeltaTable(table).file_uris())


def _late_bad_label(tmp: Path) -> str:
    frame = _frame(40_000).astype({"y": "float"})
    frame.loc[39_990, "y"] = np.nan
    path = tmp / "late_null.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _late_type_change(tmp: Path) -> str:
    path = tmp / "late_type.csv"
    _frame(80_000).to_csv(path, index=False)  # past pyarrow's first 1 MiB block, which sets types
    with open(path, "a") as handle:
        handle.write("oops,1.0,red,False,1\n")
    return str(path)


def _late_latin1(tmp: Path) -> str:
    path = tmp / "late_latin1.csv"
    _frame(80_000).to_csv(path, index=False)
    with open(path, "ab") as handle:
        handle.write("1,1.0,r\u00f6d,False,1\n".encode("latin-1"))
    return str(path)


def _stray_text(tmp: Path) -> str:
    path = tmp / "stray.csv"
    path.write_text("a,b,y\n" + "1,2,0\n" * 50 + "oops,1,0\n")
    return str(path)


def _header_only(tmp: Path) -> str:
    path = tmp / "header_only.csv"
    path.write_text("a,b,y\n")
    return str(path)


def _has_split(tmp: Path) -> str:
    path = tmp / "has_split.csv"
    path.write_text("a,split,y\n1,x,0\n")
    return str(path)


def _other_types(tmp: Path) -> str:
    path = tmp / "other_types.csv"
    path.write_text("id,a,color,flag,y\n1,2.5,red,notabool,0\n")
    return str(path)


BAD_INPUTS = [
    # (case, input builder, mode, expected words)
    ("null-label-in-a-late-partition", _late_bad_label, "overwrite",
     "label column 'y' has 1 null or NaN values in rows"),
    ("type-changes-in-a-late-partition", _late_type_change, "overwrite",
     "cannot be read consistently"),
    ("not-utf8-in-a-late-partition", _late_latin1, "overwrite", "is not valid UTF-8 at line 80002"),
    ("stray-text-in-numbers", _stray_text, "overwrite", "numeric except for values like 'oops'"),
    ("no-rows", _header_only, "overwrite", "has no rows"),
    ("split-column-taken", _has_split, "overwrite", "named 'split'"),
    ("append-of-other-types", _other_types, "append", "does not match the table's column types"),
]


@pytest.mark.parametrize("case, build, mode, expected", BAD_INPUTS,
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gives_one_line_and_commits_nothing(spark, mlflow_env, tmp_path, case, build,
                                                      mode, expected):
    table = str(tmp_path / "f")
    _run(input=str(_write_csv(tmp_path / "good.csv", _frame(200))), table=table, label="y",
         engine="spark")
    files = _data_files(table)
    with _small_partitions(spark), pytest.raises(InvalidInputError) as caught:
        _run(input=build(tmp_path), table=table, label="y", mode=mode, engine="spark")
    message = str(caught.value.message)
    assert expected in message and "\n" not in message, message
    if case == "null-label-in-a-late-partition":
        assert "of Spark partition" in message and "Spark partition 0 " not in message
    with pytest.raises(InvalidInputError) as embedded:     # the embedded engine says the same
        _run(input=build(tmp_path), table=table, label="y", mode=mode)
    assert _without_row_numbers(message) == _without_row_numbers(str(embedded.value.message))
    assert DeltaTable(table).version() == 0
    assert _data_files(table) == files
    assert find_table_spec(table, 0).label == "y"


def _without_row_numbers(message: str) -> str:
    """``message`` without where the rows are (Spark counts them per partition)."""
    return re.sub(r"rows \d+\.\.\d+ of (Spark partition \d+ of )?", "rows of ", message)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_entry_point_runs_prepare_on_spark(mlflow_env, tmp_path):
    table = tmp_path / "features"
    done = run_script("prepare", "--table", str(table), "--engine", "spark",
                      env={**mlflow_env, "MLFLOW_DELTA_SPARK_MASTER": "local[2]",
                           "MLFLOW_DELTA_SPARK_DRIVER_MEMORY": "1g"},
                      cwd=tmp_path, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert DeltaTable(str(table)).version() == 0
    assert len(DeltaTable(str(table)).to_pandas()) == 569
    [run] = mlflow.search_runs(output_format="list")
    assert run.data.params["engine"] == "spark"
    assert commit_metadata(DeltaTable(str(table)).history()[0])[LINEAGE_RUN_ID_KEY] == \
        run.info.run_id
