"""Time travel: every version reads back exactly, the same through deltalake and Spark."""

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from mlflow_delta_plugin.datasets.fingerprint import fingerprint_version
from mlflow_delta_plugin.delta.table import resolve_version
from mlflow_delta_plugin.errors import VersionNotFoundError
from mlflow_delta_plugin.spark import read_delta, write_delta
from tests.spark.rows import sorted_rows, spark_rows


@pytest.fixture(scope="module")
def history(spark, tmp_path_factory) -> str:
    """Versions written by both engines: 0 deltalake, 1 Spark append, 2 deltalake delete
    (rewrites a file), 3 Spark overwrite, 4 deltalake append."""
    path = str(tmp_path_factory.mktemp("travel") / "t")
    write_deltalake(path, pa.table({"id": pa.array(range(10), pa.int64()),
                                    "split": ["train"] * 8 + ["test"] * 2}), partition_by=["split"])
    write_delta(spark.createDataFrame([(i, "test") for i in range(10, 15)],
                                      "id long, split string"), path, "append", None)
    DeltaTable(path).delete("id % 2 = 1")
    write_delta(spark.createDataFrame([(i, "train") for i in range(100, 103)],
                                      "id long, split string"), path, "overwrite", None)
    write_deltalake(path, pa.table({"id": pa.array([200], pa.int64()), "split": ["test"]}),
                    mode="append")
    return path


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_each_version_reads_as_deltalake_reads_it(spark, history, version):
    expected = DeltaTable(history, version=version).to_pyarrow_table()
    frame = read_delta(spark, history, version=version)
    assert spark_rows(frame, "id") == sorted_rows(expected.select(frame.columns), "id")


def test_versions_are_the_numbers_deltalake_reports(history):
    assert DeltaTable(history).version() == 4
    assert [resolve_version(history, version=v).version for v in range(5)] == [0, 1, 2, 3, 4]
    digests = [fingerprint_version(DeltaTable(history, version=v)).digest for v in range(5)]
    assert len(set(digests)) == 5


def test_latest_is_pinned_when_the_frame_is_made(spark, history, tmp_path):
    path = str(tmp_path / "moving")
    write_deltalake(path, pa.table({"id": pa.array([1], pa.int64())}))
    frame = read_delta(spark, path)
    write_deltalake(path, pa.table({"id": pa.array([2], pa.int64())}), mode="append")
    assert [r.id for r in frame.collect()] == [1]
    assert sorted(r.id for r in read_delta(spark, path).collect()) == [1, 2]


def test_missing_version_is_a_clear_error(spark, history):
    with pytest.raises(VersionNotFoundError, match="no version 9"):
        read_delta(spark, history, version=9)
