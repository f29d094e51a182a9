"""Writing Delta tables from Spark: executors write Parquet, the driver commits one version."""

import datetime
import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from mlflow_delta_plugin.delta.lineage import (
    LINEAGE_ENTRY_POINT_KEY,
    LINEAGE_RUN_ID_KEY,
    TABLE_SPEC_KEY,
    WRITE_ID_KEY,
    TableSpec,
    commit_properties,
    find_table_spec,
)
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.spark import read_delta, write_delta
from tests.spark.rows import sorted_rows, spark_rows

SPEC = TableSpec(label="y", features=("x", "day"), split_column="split")


def _frame(spark, count: int, offset: int = 0):
    return (spark.range(offset, offset + count, numPartitions=2)
            .withColumn("x", (F.col("id") % 7).cast("double"))
            .withColumn("y", (F.col("id") % 2).cast("long"))
            .withColumn("day", F.date_add(F.lit(datetime.date(2024, 1, 1)),
                                          (F.col("id") % 3).cast("int")))
            .withColumn("split", F.when(F.col("id") % 5 == 0, "test").otherwise("train")))


def _data_files(path: str) -> set:
    return {str(p.relative_to(path)) for p in Path(path).rglob("*.parquet")}


def test_new_table_is_one_commit_with_lineage(spark, tmp_path):
    path = str(tmp_path / "features")
    version = write_delta(_frame(spark, 1_000), path, "overwrite",
                          commit_properties("run-1", "prepare", SPEC), partition_by=["split"])
    assert version == 0
    table = DeltaTable(path)
    assert table.version() == 0 and table.metadata().partition_columns == ["split"]
    [entry] = table.history()
    assert entry[LINEAGE_RUN_ID_KEY] == "run-1" and entry[LINEAGE_ENTRY_POINT_KEY] == "prepare"
    assert WRITE_ID_KEY in entry and TableSpec.from_json(entry[TABLE_SPEC_KEY]) == SPEC
    assert find_table_spec(path, 0) == SPEC
    expected = _frame(spark, 1_000).toArrow()
    assert sorted_rows(table.to_pyarrow_table().select(expected.column_names), "id") == \
        sorted_rows(expected, "id")


def test_add_actions_carry_stats_and_encoded_partitions(spark, tmp_path):
    path = str(tmp_path / "stats")
    frame = spark.createDataFrame([(1, "a b:c", 0.5), (2, "a b:c", 1.5), (3, None, None)],
                                  "id long, p string, v double").coalesce(1)
    write_delta(frame, path, "append", None, partition_by=["p"])
    table = DeltaTable(path)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    assert sum(a["num_records"] for a in actions) == 3
    by_partition = {a["partition.p"]: a for a in actions}
    assert by_partition["a b:c"]["min.id"] == 1 and by_partition["a b:c"]["max.v"] == 1.5
    assert by_partition[None]["null_count.v"] == 1
    assert sorted(table.to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3]
    assert table.to_pyarrow_table(filters=[("p", "=", "a b:c")]).num_rows == 2
    assert sorted(table.to_pyarrow_table(filters=[("id", ">", 1)])["id"].to_pylist()) == [2, 3]


def test_append_and_overwrite_make_consecutive_versions(spark, tmp_path):
    path = str(tmp_path / "versions")
    assert write_delta(_frame(spark, 100), path, "append", None, partition_by=["split"]) == 0
    assert write_delta(_frame(spark, 50, offset=100), path, "append",
                       commit_properties("run-2", "prepare")) == 1
    assert write_delta(_frame(spark, 10, offset=1_000), path, "overwrite",
                       commit_properties("run-3", "prepare")) == 2
    assert [DeltaTable(path, version=v).to_pyarrow_table().num_rows for v in range(3)] == \
        [100, 150, 10]
    assert [h.get(LINEAGE_RUN_ID_KEY) for h in DeltaTable(path).history()] == \
        ["run-3", "run-2", None]


def test_written_table_reads_back_through_spark(spark, tmp_path):
    path = str(tmp_path / "roundtrip")
    frame = _frame(spark, 500)
    write_delta(frame, path, "overwrite", None, partition_by=["split", "day"])
    back = read_delta(spark, path)
    assert back.schema["day"].dataType == frame.schema["day"].dataType
    assert spark_rows(back.select(*frame.columns), "id") == spark_rows(frame, "id")


def test_overwrite_may_change_schema_but_not_partitioning(spark, tmp_path):
    path = str(tmp_path / "reshaped")
    write_delta(_frame(spark, 20), path, "overwrite", None, partition_by=["split"])
    narrower = _frame(spark, 5).select("id", "split")
    assert write_delta(narrower, path, "overwrite", None) == 1
    assert [f.name for f in DeltaTable(path).schema().fields] == ["id", "split"]
    with pytest.raises(InvalidInputError, match="partitioned by"):
        write_delta(narrower, path, "overwrite", None, partition_by=["id"])
    assert DeltaTable(path).version() == 1


@pytest.mark.parametrize("change, message", [
    (lambda df: df.drop("x"), "lacks columns"),
    (lambda df: df.withColumn("extra", F.lit(1)), "extra columns"),
    (lambda df: df.withColumn("x", F.col("x").cast("string")), "types differ"),
])
def test_bad_appends_write_nothing(spark, tmp_path, change, message):
    path = str(tmp_path / "strict")
    write_delta(_frame(spark, 10), path, "append", None, partition_by=["split"])
    before = _data_files(path)
    with pytest.raises(InvalidInputError, match=message):
        write_delta(change(_frame(spark, 10)), path, "append", None)
    assert DeltaTable(path).version() == 0 and _data_files(path) == before


def test_bad_mode_and_partition_columns(spark, tmp_path):
    with pytest.raises(InvalidInputError, match="mode"):
        write_delta(_frame(spark, 1), str(tmp_path / "a"), "upsert", None)
    with pytest.raises(InvalidInputError, match="not in the data"):
        write_delta(_frame(spark, 1), str(tmp_path / "b"), "append", None, partition_by=["nope"])
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")


def test_failing_task_commits_nothing_and_leaves_no_files(spark, tmp_path):
    path = str(tmp_path / "failing")
    write_delta(_frame(spark, 10), path, "append", None, partition_by=["split"])
    before = _data_files(path)

    @F.udf("double")
    def explode_on_last(value):
        if value == 399:
            raise ValueError("boom")
        return float(value)

    broken = _frame(spark, 400).withColumn("x", explode_on_last(F.col("id")))
    with pytest.raises(Exception, match="boom"):
        write_delta(broken, path, "append", None)
    assert DeltaTable(path).version() == 0
    assert _data_files(path) == before


def test_not_null_columns_are_enforced(spark, tmp_path):
    path = str(tmp_path / "not_null")
    schema = StructType([StructField("id", LongType(), False), StructField("s", StringType())])
    write_delta(spark.createDataFrame([(1, "a")], schema), path, "append", None)
    assert json.loads(DeltaTable(path).schema().to_json())["fields"][0]["nullable"] is False
    nullable = spark.createDataFrame([(None, "b")], "id long, s string")
    with pytest.raises(Exception, match="NOT NULL"):
        write_delta(nullable, path, "append", None)
    assert DeltaTable(path).version() == 0


def test_append_to_a_table_written_by_deltalake(spark, tmp_path):
    path = str(tmp_path / "mixed")
    write_deltalake(path, pa.table({"id": pa.array([1, 2], pa.int64()),
                                    "split": ["train", "test"]}), partition_by=["split"])
    frame = spark.createDataFrame([(3, "train")], "id long, split string")
    assert write_delta(frame, path, "append", commit_properties("run-9", "train")) == 1
    assert sorted(DeltaTable(path).to_pyarrow_table()["id"].to_pylist()) == [1, 2, 3]


def test_empty_frame_creates_an_empty_version(spark, tmp_path):
    path = str(tmp_path / "empty")
    empty = spark.createDataFrame([], "id long, split string")
    assert write_delta(empty, path, "append", None, partition_by=["split"]) == 0
    table = DeltaTable(path)
    assert table.metadata().partition_columns == ["split"] and table.to_pyarrow_table().num_rows == 0
    assert read_delta(spark, path).columns == ["id", "split"]
