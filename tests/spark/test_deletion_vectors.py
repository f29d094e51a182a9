"""Deletion vectors written by another engine: delta-rs and the Spark reader drop the same rows.

The table is written by hand (see ``dv_tables``) the way Spark / Databricks write DVs: version 0
adds two partitions' files, later versions attach deletion vectors of every storage form and
container kind: inline array containers, a DV file (with a prefix folder) holding two DVs at
different offsets, inline run containers, and a bitmap container (more than 4096 deletes in
one 64Ki-row block), plus a partition value that needs URL-encoding.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder

from mlflow_delta_plugin.datasets.fingerprint import fingerprint_version
from mlflow_delta_plugin.spark import read_delta
from mlflow_delta_plugin.spark.deletion_vectors import DeletedRows
from tests.spark.dv_tables import HandWrittenTable, file_dvs, inline_dv

ROWS = 10_000
SCHEMA = pa.schema([("id", pa.int64()), ("score", pa.float64()), ("split", pa.string())])


def _rows(first_id: int, split: str) -> pa.Table:
    ids = np.arange(first_id, first_id + ROWS)
    return pa.table({"id": ids, "score": ids * 0.5, "split": [split] * ROWS}, schema=SCHEMA)


@pytest.fixture(scope="module")
def dv_table(tmp_path_factory) -> tuple:
    """(path, {version: ids alive at that version}) of a table with DVs in versions 1-4."""
    table = HandWrittenTable(Path(tmp_path_factory.mktemp("dv")) / "t", SCHEMA, ["split"])
    train = table.write_file(_rows(0, "train"), {"split": "train"}, row_group_size=3_000)
    test = table.write_file(_rows(ROWS, "test"), {"split": "test"})
    odd = table.write_file(_rows(2 * ROWS, "a b%c"), {"split": "a b%c"})
    odd["path"] = odd["path"].replace("a b%c", "a%20b%25c")  # the log holds URL-encoded paths
    alive = {0: set(range(3 * ROWS))}
    table.commit([table.add(train), table.add(test), table.add(odd)])

    first = inline_dv([0, 5, 7, ROWS - 1])  # inline, array container
    table.commit([table.remove(train), table.add(train, first)], "DELETE")
    alive[1] = alive[0] - {0, 5, 7, ROWS - 1}

    in_file, on_odd = file_dvs(table.root, [range(6_000), range(100, 200)], prefix="ab")
    table.commit([table.remove(test), table.add(test, in_file),
                  table.remove(odd), table.add(odd, on_odd)], "DELETE")
    alive[2] = alive[1] - {ROWS + i for i in range(6_000)} - {2 * ROWS + i for i in range(100, 200)}

    runs = list(range(10, 20)) + list(range(30, 5_000, 7))  # replaces the first DV of 'train'
    second = inline_dv(runs, runs=True)
    table.commit([table.remove(dict(train, deletionVector=first)), table.add(train, second)],
                 "DELETE")
    alive[3] = (alive[2] | {0, 5, 7, ROWS - 1}) - set(runs)

    dense = inline_dv(range(1_000, 9_000))  # 8,000 deletes in one block: a bitmap container
    table.commit([table.remove(dict(train, deletionVector=second)), table.add(train, dense)],
                 "DELETE")
    alive[4] = (alive[3] | set(runs)) - set(range(1_000, 9_000))
    return str(table.root), alive


def _deltalake_ids(path: str, version: int) -> set:
    loaded = DeltaTable(path, version=version)
    scanned = pa.table(loaded.scan(columns=["id"]).read_all())
    via_sql = pa.table(QueryBuilder().register("t", loaded).execute("select id from t").read_all())
    assert sorted(scanned["id"].to_pylist()) == sorted(via_sql["id"].to_pylist())
    return set(scanned["id"].to_pylist())


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_deltalake_honours_the_hand_written_deletion_vectors(dv_table, version):
    path, alive = dv_table
    assert _deltalake_ids(path, version) == alive[version]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_spark_reader_returns_the_rows_deltalake_returns(spark, dv_table, version):
    path, alive = dv_table
    frame = read_delta(spark, path, version=version)
    ids = [row.id for row in frame.select("id").collect()]
    assert len(ids) == len(set(ids)) and set(ids) == alive[version]


def test_deletion_vectors_with_filters_columns_and_small_splits(spark, dv_table):
    path, alive = dv_table
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "16k")  # cut files into row group ranges
    try:
        frame = read_delta(spark, path, version=3, columns=["split", "id"],
                           filters=[("split", "in", ["train", "a b%c"]), ("score", ">=", 5.0)])
        rows = frame.collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    expected = {i for i in alive[3] if (i < ROWS or i >= 2 * ROWS) and i * 0.5 >= 5.0}
    assert sorted(r.id for r in rows) == sorted(expected)
    assert {r.split for r in rows} == {"train", "a b%c"}


def test_count_of_only_partition_columns_honours_deletion_vectors(spark, dv_table):
    path, alive = dv_table
    assert read_delta(spark, path, version=4, columns=["split"]).count() == len(alive[4])


def test_deleted_rows_forms_give_the_same_masks():
    keep = np.ones(70_000, dtype=bool)
    keep[[3, 4, 65_536, 69_999]] = False
    sparse = DeletedRows.from_selection(keep)
    dense_keep = keep.copy()
    dense_keep[10_000:40_000] = False
    dense = DeletedRows.from_selection(dense_keep)
    assert sparse.positions is not None and dense.packed is not None
    for start, stop in [(0, 10), (60_000, 70_000), (5, 65_536), (69_999, 70_000)]:
        got = sparse.keep_mask(start, stop)
        assert np.array_equal(keep[start:stop] if got is not None else np.ones(stop - start, bool),
                              keep[start:stop])
        got = dense.keep_mask(start, stop)
        assert np.array_equal(got if got is not None else np.ones(stop - start, bool),
                              dense_keep[start:stop])
    short = DeletedRows.from_selection(np.array([True, False]))  # rows past the vector stay
    assert short.keep_mask(0, 4).tolist() == [True, False, True, True]


def test_fingerprint_tells_versions_apart_by_their_deletion_vectors(dv_table):
    path, _ = dv_table
    stats = [fingerprint_version(DeltaTable(path, version=v)) for v in range(5)]
    assert len({s.digest for s in stats}) == 5
    assert [s.has_deletion_vectors for s in stats] == [False, True, True, True, True]
    _, alive = dv_table
    assert [s.num_rows for s in stats] == [len(alive[v]) for v in range(5)]


@pytest.mark.parametrize("version", [0, 2, 4])
def test_dataset_source_loads_exactly_the_rows_left_by_deletion_vectors(dv_table, version):
    """The embedded reader behind DeltaVersionSource.load() honours DVs written by other engines."""
    from mlflow_delta_plugin.datasets import load_delta_version

    path, alive = dv_table
    dataset = load_delta_version(path, version=version)
    assert set(dataset.source.load()["id"]) == alive[version]
    test_rows = load_delta_version(path, version=version, filters=[("split", "=", "test")])
    assert set(test_rows.to_pandas()["id"]) == {i for i in alive[version] if ROWS <= i < 2 * ROWS}
    assert dataset.profile["num_rows"] == len(alive[version])
