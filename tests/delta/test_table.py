"""Opening tables and pinning versions: explicit, latest, by timestamp, and the error cases."""

import time
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from mlflow_delta_plugin.delta.table import (
    commit_info,
    normalize_table_uri,
    open_table,
    resolve_version,
)
from mlflow_delta_plugin.errors import TableNotFoundError, VersionNotFoundError


def _append(path, value: int) -> None:
    write_deltalake(str(path), pa.table({"x": [value]}), mode="append")


@pytest.fixture
def three_versions(tmp_path):
    """A table with versions 0, 1, 2 committed ~50 ms apart."""
    path = tmp_path / "t"
    for value in range(3):
        _append(path, value)
        time.sleep(0.05)
    return path


def test_normalize_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_table_uri("data/t/") == str(tmp_path / "data" / "t")
    assert normalize_table_uri(f"file://{tmp_path}/t") == str(tmp_path / "t")
    assert normalize_table_uri("s3://bucket/t/") == "s3://bucket/t"
    assert normalize_table_uri("dbfs:/mnt/t") == "dbfs:/mnt/t"


def test_open_table_rejects_a_folder_without_delta_log(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(TableNotFoundError, match="no Delta table"):
        open_table(str(tmp_path / "plain"))


def test_open_table_rejects_missing_version(three_versions):
    with pytest.raises(VersionNotFoundError, match="no version 7.*0..2"):
        open_table(str(three_versions), 7)


def test_resolve_latest_records_the_number(three_versions):
    pinned = resolve_version(str(three_versions))
    assert pinned.version == 2
    assert pinned.table_id
    assert pinned.timestamp_iso.endswith("Z")


def test_resolve_version_zero_is_a_real_version(three_versions):
    pinned = resolve_version(str(three_versions), version=0)
    assert pinned.version == 0
    assert pinned.timestamp_ms == commit_info(str(three_versions), 0)["timestamp"]


def test_resolve_by_timestamp_picks_the_version_current_then(three_versions):
    version_one_ms = commit_info(str(three_versions), 1)["timestamp"]
    moment = datetime.fromtimestamp((version_one_ms + 10) / 1000, tz=timezone.utc)
    assert resolve_version(str(three_versions), timestamp=moment).version == 1
    assert resolve_version(str(three_versions), timestamp=moment.isoformat()).version == 1


def test_resolve_timestamp_before_the_table_existed_fails(three_versions):
    with pytest.raises(VersionNotFoundError, match="did not exist"):
        resolve_version(str(three_versions), timestamp="2001-01-01T00:00:00Z")


def test_resolve_rejects_bad_timestamp_text(three_versions):
    with pytest.raises(VersionNotFoundError, match="RFC 3339"):
        resolve_version(str(three_versions), timestamp="yesterday")
