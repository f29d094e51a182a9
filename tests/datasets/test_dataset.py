"""DeltaVersionDataset: log-only digest, schema and profile; constructor arguments."""

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from mlflow.types import DataType

from mlflow_delta_plugin.datasets import load_delta_version, parse_version
from mlflow_delta_plugin.datasets.fingerprint import fingerprint_version
from mlflow_delta_plugin.delta.table import open_table
from mlflow_delta_plugin.errors import InvalidInputError, VersionNotFoundError


@pytest.fixture
def table(tmp_path):
    path = str(tmp_path / "t")
    write_deltalake(path, pa.table({"i": pa.array([1, 2], pa.int64()), "f": [0.5, None],
                                    "s": ["a", "b"], "b": [True, False]}))
    return path


def test_digest_is_stable_and_changes_with_content(table):
    first = load_delta_version(table)
    assert load_delta_version(table, version=0).digest == first.digest
    write_deltalake(table, pa.table({"i": [3], "f": [1.0], "s": ["c"], "b": [True]}), mode="append")
    assert load_delta_version(table).digest != first.digest
    assert load_delta_version(table, version=0).digest == first.digest


def test_digest_needs_no_data_scan(table):
    """Removing the data files must not change the digest: only the log is read."""
    before = fingerprint_version(open_table(table, 0))
    assert before.num_rows == 2 and before.num_files == 1 and before.size_bytes > 0
    assert not before.has_deletion_vectors
    for data_file in Path(table).glob("*.parquet"):
        data_file.unlink()
    assert fingerprint_version(open_table(table, 0)) == before


def test_schema_and_profile_come_from_the_log(table):
    dataset = load_delta_version(table)
    types = {col.name: col.type for col in dataset.schema.inputs}
    assert types == {"i": DataType.long, "f": DataType.double, "s": DataType.string,
                     "b": DataType.boolean}
    assert dataset.profile["num_rows"] == 2
    assert dataset.profile["num_files"] == 1
    assert dataset.name.endswith("@v0")


def test_to_pandas_and_to_arrow_agree(table):
    dataset = load_delta_version(table, targets="i")
    assert dataset.to_arrow().num_rows == len(dataset.to_pandas()) == 2
    assert dataset.to_arrow(columns=["s"]).column_names == ["s"]


def test_unknown_targets_column_is_rejected(table):
    with pytest.raises(InvalidInputError, match="no targets column 'nope'"):
        load_delta_version(table, targets="nope")


def test_version_and_timestamp_are_exclusive(table):
    with pytest.raises(VersionNotFoundError, match="either a version or a timestamp"):
        load_delta_version(table, version=0, timestamp="2030-01-01T00:00:00Z")


@pytest.mark.parametrize("given, expected", [(None, None), ("latest", None), ("", None),
                                             ("3", 3), (0, 0), (" 12 ", 12)])
def test_parse_version_accepts(given, expected):
    assert parse_version(given) == expected


@pytest.mark.parametrize("given", ["-1", "abc", "1.5", -2, True])
def test_parse_version_rejects(given):
    with pytest.raises(InvalidInputError, match="not a Delta version"):
        parse_version(given)
