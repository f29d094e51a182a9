"""read_version: the rows of a pinned version, with deletion vectors and filters honoured."""

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable

from mlflow_delta_plugin.delta.reader import read_version
from tests.spark.dv_tables import HandWrittenTable, inline_dv


def _dv_table(root: Path) -> DeltaTable:
    """Ids 0..9 split 'a' (ids 2 and 5 deleted by a deletion vector) and 10..14 split 'b'."""
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("split", pa.string())])
    table = HandWrittenTable(root / "dv", schema, ["split"])

    def rows(ids, split):
        return pa.table({"id": ids, "x": [i / 2 for i in ids], "split": [split] * len(ids)},
                        schema=schema)

    first = table.write_file(rows(list(range(10)), "a"), {"split": "a"})
    second = table.write_file(rows(list(range(10, 15)), "b"), {"split": "b"})
    table.commit([table.add(first), table.add(second)])
    table.commit([table.remove(first), table.add(first, inline_dv([2, 5]))], "DELETE")
    return DeltaTable(str(table.root))


def test_deletion_vectors_are_applied(tmp_path):
    rows = read_version(_dv_table(tmp_path))
    assert sorted(rows.column("id").to_pylist()) == [0, 1, 3, 4, 6, 7, 8, 9, *range(10, 15)]


def test_filter_on_a_column_that_is_not_selected(tmp_path):
    rows = read_version(_dv_table(tmp_path), columns=["x"], filters=[("split", "=", "a")])
    assert rows.column_names == ["x"]
    assert sorted(rows.column("x").to_pylist()) == [i / 2 for i in (0, 1, 3, 4, 6, 7, 8, 9)]


def test_older_version_without_the_deletion(tmp_path):
    table = _dv_table(tmp_path)
    table.load_as_version(0)
    rows = read_version(table, columns=["id"], filters=[("split", "=", "a")])
    assert sorted(rows.column("id").to_pylist()) == list(range(10))
