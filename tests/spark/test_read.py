"""Reading Delta tables written by deltalake through the Spark Python Data Source."""

import datetime
import decimal
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, WriterProperties, write_deltalake
from pyspark.sql import types as T

from mlflow_delta_plugin.datasets.fingerprint import fingerprint_version
from mlflow_delta_plugin.errors import InvalidInputError, TableNotFoundError, VersionNotFoundError
from mlflow_delta_plugin.spark import read_delta, session_has_native_delta
from mlflow_delta_plugin.spark.datasource import DeltaLakeReader
from mlflow_delta_plugin.spark.file_reader import read_slice
from mlflow_delta_plugin.spark.filters import parse_filters
from mlflow_delta_plugin.spark.native import narrow
from mlflow_delta_plugin.spark.scan import SplitSizing, list_files, pack_slices
from mlflow_delta_plugin.spark.schema import delta_to_spark, project
from tests.spark.dv_tables import HandWrittenTable
from tests.spark.rows import sorted_rows, spark_rows

UTC = datetime.timezone.utc


def _typed_rows(count: int, offset: int = 0) -> pa.Table:
    ids = list(range(offset, offset + count))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "score": pa.array([i / 4 for i in ids], pa.float64()),
        "label": pa.array([f"label-{i % 3}" for i in ids], pa.string()),
        "flag": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
        "amount": pa.array([decimal.Decimal(i) / 100 for i in ids], pa.decimal128(10, 2)),
        "seen": pa.array([datetime.datetime(2024, 1, 1, tzinfo=UTC) + datetime.timedelta(hours=i)
                          for i in ids], pa.timestamp("us", tz="UTC")),
        "day": pa.array([datetime.date(2024, 1, 1 + i % 2) for i in ids], pa.date32()),
        "split": pa.array(["test" if i % 5 == 0 else "train" for i in ids], pa.string()),
    })


@pytest.fixture(scope="module")
def typed_table(tmp_path_factory) -> str:
    """Versions 0 (200 rows) and 1 (+100 rows), partitioned by a string and a date column."""
    path = str(tmp_path_factory.mktemp("read") / "typed")
    write_deltalake(path, _typed_rows(200), partition_by=["split", "day"])
    write_deltalake(path, _typed_rows(100, offset=200), mode="append")
    return path


def _reader(uri: str, version=None, columns=None, filters=None, **sizing) -> DeltaLakeReader:
    table = DeltaTable(uri, version=version)
    schema = project(delta_to_spark(table.schema()), columns)
    options = {"path": uri, "versionAsOf": str(table.version()),
               "filters": json.dumps(filters or []), **{k: str(v) for k, v in sizing.items()}}
    return DeltaLakeReader(options, schema)


def test_session_without_delta_jars_is_not_native(spark):
    assert session_has_native_delta(spark) is False


def test_reads_the_same_rows_and_types_as_deltalake(spark, typed_table):
    frame = read_delta(spark, typed_table)
    expected = DeltaTable(typed_table).to_pyarrow_table()
    assert spark_rows(frame, "id") == sorted_rows(expected.select(frame.columns), "id")
    types = {f.name: f.dataType for f in frame.schema.fields}
    assert types["day"] == T.DateType() and types["split"] == T.StringType()  # partition columns
    assert types["seen"] == T.TimestampType() and types["amount"] == T.DecimalType(10, 2)
    assert frame.columns == [f.name for f in DeltaTable(typed_table).schema().fields]


def test_columns_are_projected_in_the_given_order(spark, typed_table):
    frame = read_delta(spark, typed_table, columns=["split", "id", "day"])
    assert frame.columns == ["split", "id", "day"]
    assert frame.count() == 300
    only_partitions = read_delta(spark, typed_table, columns=["day"])
    assert only_partitions.count() == 300  # row counts come from the Parquet footers


def test_partition_filter_prunes_files(spark, typed_table):
    everything = _reader(typed_table).plan().files
    pruned = _reader(typed_table, filters=[["split", "=", "test"]]).plan().files
    assert 0 < len(pruned) < len(everything)
    assert all(f.partition_values[0] == "test" for f in pruned)
    frame = read_delta(spark, typed_table, filters=[("split", "=", "test")])
    assert sorted(r.id for r in frame.collect()) == [i for i in range(300) if i % 5 == 0]


def test_date_partition_filter_given_as_text(spark, typed_table):
    frame = read_delta(spark, typed_table, filters=[("day", "=", "2024-01-02")])
    assert sorted(r.id for r in frame.collect()) == [i for i in range(300) if i % 2 == 1]


def test_data_and_disjunctive_filters(spark, typed_table):
    frame = read_delta(spark, typed_table, columns=["id"],
                       filters=[("split", "=", "train"), ("id", "<", 10)])
    assert sorted(r.id for r in frame.collect()) == [1, 2, 3, 4, 6, 7, 8, 9]
    either = read_delta(spark, typed_table, columns=["id"],
                        filters=[[("split", "=", "test")], [("id", "in", [1, 2])]])
    assert sorted(r.id for r in either.collect()) == sorted(
        [i for i in range(300) if i % 5 == 0] + [1, 2])


def test_filters_match_deltalake_and_spark_conditions(spark, typed_table):
    filters = [("label", "!=", "label-0"), ("score", ">=", 10.5), ("split", "not in", ["test"])]
    ours = sorted(r.id for r in read_delta(spark, typed_table, filters=filters).collect())
    theirs = sorted(DeltaTable(typed_table).to_pyarrow_table(filters=filters)["id"].to_pylist())
    assert ours == theirs
    plain = spark.createDataFrame(DeltaTable(typed_table).to_pandas())
    parsed = parse_filters(filters, plain.columns)
    assert sorted(r.id for r in narrow(plain, ["id"], parsed).collect()) == theirs


def test_reads_exactly_the_files_the_fingerprint_hashes(typed_table, tmp_path):
    path = str(tmp_path / "rewritten")
    write_deltalake(path, _typed_rows(50), partition_by=["split"])
    write_deltalake(path, _typed_rows(30, offset=50), mode="append")
    DeltaTable(path).delete("id < 10")  # rewrites files: remove actions in the log
    table = DeltaTable(path)
    planned = sorted(f.location for f in _reader(path).plan().files)
    expected = sorted(f"{path}/{p}" for p in pa.table(table.get_add_actions(flatten=True))["path"]
                      .to_pylist())
    assert planned == expected
    assert fingerprint_version(table).num_files == len(planned)


def test_large_files_are_cut_into_row_group_ranges(spark, tmp_path):
    path = str(tmp_path / "wide")
    rows = pa.table({"id": pa.array(range(200_000), pa.int64()),
                     "text": pa.array([f"value-{i:08d}" for i in range(200_000)])})
    write_deltalake(path, rows, writer_properties=WriterProperties(max_row_group_size=20_000))
    file = DeltaTable(path).file_uris()[0]
    assert pq.ParquetFile(file).num_row_groups == 10
    size = pa.OSFile(file).size()
    reader = _reader(path, maxPartitionBytes=size // 4, openCostInBytes=1, minPartitions=1)
    plan = reader.plan()
    assert len(plan.partitions) >= 4
    ids = []
    for partition in plan.partitions:
        for piece in partition.slices:
            ids.extend(b.column("id").to_pylist() for b in read_slice(piece, reader.layout))
    flat = sorted(i for chunk in ids for i in chunk)
    assert flat == list(range(200_000))  # every row exactly once


def test_packing_follows_spark_split_sizes(typed_table):
    files = list_files(DeltaTable(typed_table))
    one_task = pack_slices(files, SplitSizing(128 << 20, 4 << 20, min_partitions=1))
    assert len(one_task) == 1
    spread = pack_slices(files, SplitSizing(128 << 20, 1, min_partitions=4))
    assert len(spread) >= 4
    assert sorted(s.file.location for p in spread for s in p.slices) == sorted(
        f.location for f in files)


def test_column_added_later_reads_as_null_in_old_files(spark, tmp_path):
    path = str(tmp_path / "evolved")
    write_deltalake(path, pa.table({"id": [1, 2]}))
    write_deltalake(path, pa.table({"id": [3], "extra": ["x"]}), mode="append",
                    schema_mode="merge")
    rows = spark_rows(read_delta(spark, path), "id")
    assert rows == [{"id": 1, "extra": None}, {"id": 2, "extra": None}, {"id": 3, "extra": "x"}]


def test_special_and_null_partition_values(spark, tmp_path):
    path = str(tmp_path / "odd")
    write_deltalake(path, pa.table({"id": [1, 2, 3, 4], "p": ["a b:c", "x/y=z%", "ü", None]}),
                    partition_by=["p"])
    assert spark_rows(read_delta(spark, path), "id") == [
        {"id": 1, "p": "a b:c"}, {"id": 2, "p": "x/y=z%"}, {"id": 3, "p": "ü"},
        {"id": 4, "p": None}]
    nulls = read_delta(spark, path, filters=[("p", "=", None)])
    assert [r.id for r in nulls.collect()] == [4]


def test_version_without_files_reads_empty(spark, tmp_path):
    path = str(tmp_path / "emptied")
    write_deltalake(path, pa.table({"id": [1, 2]}))
    DeltaTable(path).delete()
    frame = read_delta(spark, path)
    assert frame.columns == ["id"] and frame.count() == 0
    assert read_delta(spark, path, version=0).count() == 2


@pytest.mark.parametrize("call, error", [
    (dict(uri="missing"), TableNotFoundError),
    (dict(version=7), VersionNotFoundError),
    (dict(columns=["nope"]), InvalidInputError),
    (dict(filters=[("nope", "=", 1)]), InvalidInputError),
    (dict(filters=[("id", "~", 1)]), InvalidInputError),
    (dict(filters=[("id", "in", 1)]), InvalidInputError),
    (dict(filters=[("id", "=", "abc")]), InvalidInputError),
])
def test_bad_reads_fail_with_one_line(spark, typed_table, tmp_path, call, error):
    uri = str(tmp_path / call.pop("uri")) if "uri" in call else typed_table
    with pytest.raises(error) as raised:
        read_delta(spark, uri, **call)
    assert "\n" not in str(raised.value.message)


@pytest.fixture(scope="module")
def nullable_table(tmp_path_factory) -> str:
    """Nulls in data and partition columns, and partition values Spark's folder decoding gets
    right ('a b:c', null) or wrong ('ü', which delta-rs spells as UTF-8 bytes)."""
    path = str(tmp_path_factory.mktemp("nulls") / "t")
    write_deltalake(path, pa.table({
        "id": pa.array(range(8), pa.int64()),
        "label": ["x", None, "y", "x", None, "z", "y", "x"],
        "p": ["a b:c", "a b:c", None, None, "ü", "ü", "plain", "plain"],
    }), partition_by=["p"])
    return path


def test_fast_path_takes_only_files_spark_reads_exactly(nullable_table):
    from mlflow_delta_plugin.spark.parquet_scan import split_spark_readable

    table = DeltaTable(nullable_table)
    schema = delta_to_spark(table.schema())
    plain, rest = split_spark_readable(list_files(table), nullable_table, schema, ["p"], {})
    assert {f.partition_values for f in plain} == {("a b:c",), (None,), ("plain",)}
    assert [f.partition_values for f in rest] == [("ü",)]
    mapped, everything = split_spark_readable(list_files(table), nullable_table, schema, ["p"],
                                              {"delta.columnMapping.mode": "name"})
    assert mapped == [] and len(everything) == 4


@pytest.mark.parametrize("filters", [
    None,
    [("label", "not in", ["x"])],
    [("label", "in", ["x", None])],
    [("label", "not in", ["x", None])],
    [("label", "!=", "x")],
    [("label", "=", None)],
    [("p", "not in", ["plain"])],
    [[("p", "=", "ü")], [("label", "=", "z")]],
])
def test_both_readers_and_deltalake_keep_the_same_rows(spark, nullable_table, filters):
    fast = read_delta(spark, nullable_table, filters=filters)
    slow = read_delta(spark, nullable_table, filters=filters, parquet_fast_path=False)
    assert fast.schema == slow.schema
    ids = sorted(r.id for r in fast.collect())
    assert ids == sorted(r.id for r in slow.collect())
    plain_filters = [f for f in (filters or []) if not isinstance(f, list)]
    if plain_filters and not any(v is None or (isinstance(v, list) and None in v)
                                 for _, _, v in plain_filters):
        expected = DeltaTable(nullable_table).to_pyarrow_table(filters=plain_filters)
        assert ids == sorted(expected["id"].to_pylist())


def test_column_mapping_reads_physical_columns_under_logical_names(spark, tmp_path):
    fields = [{"name": name, "type": kind, "nullable": True,
               "metadata": {"delta.columnMapping.id": index,
                            "delta.columnMapping.physicalName": f"col-{index}"}}
              for index, (name, kind) in enumerate(
                  [("id", "long"), ("score", "double"), ("split", "string")], start=1)]
    table = HandWrittenTable(
        tmp_path / "mapped", pa.schema([("id", pa.int64())]), ["split"],
        features=["columnMapping"], schema_string=json.dumps({"type": "struct", "fields": fields}),
        configuration={"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "3"})
    files = [table.write_file(pa.table({"col-1": [i, i + 10], "col-2": [i / 2, i / 4],
                                        "col-3": [split, split]}), {"col-3": split})
             for i, split in [(1, "train"), (2, "test")]]
    table.commit([table.add(f) for f in files])
    path = str(table.root)
    expected = pa.table(DeltaTable(path).scan().read_all())
    frame = read_delta(spark, path, filters=[("score", ">", 0.3)])
    assert frame.columns == ["id", "score", "split"]
    assert spark_rows(frame, "id") == sorted(
        (dict(id=i, score=s, split=p) for i, s, p in zip(*expected.to_pydict().values())
         if s > 0.3), key=lambda row: row["id"])


def test_glob_characters_keep_a_file_off_the_parquet_path(tmp_path):
    from mlflow_delta_plugin.spark.parquet_scan import spark_parquet_readable
    from mlflow_delta_plugin.spark.scan import LiveFile

    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("p", T.StringType())])
    plain = LiveFile(f"{tmp_path}/p=a/part-0.parquet", 10, 1, ("a",))
    globbed = LiveFile(f"{tmp_path}/p=a/part-[0].parquet", 10, 1, ("a",))
    assert spark_parquet_readable(plain, str(tmp_path), schema, ["p"])
    assert not spark_parquet_readable(globbed, str(tmp_path), schema, ["p"])
    assert not spark_parquet_readable(plain, str(tmp_path), schema, [])  # folders, no columns
