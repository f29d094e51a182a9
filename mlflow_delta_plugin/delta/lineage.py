"""Reverse lineage and feature-table spec carried in Delta commit metadata.

Every commit this project writes carries the MLflow run id and entry point that wrote it, so
``DeltaTable(uri).history()`` answers "which run produced this version?". Commits written by
``prepare`` also carry the :class:`TableSpec` (label, features, split column): it is stored per
commit rather than as table properties because delta-rs rejects custom table properties in the
same commit as the data, and a spec tied to a version stays right under time travel.

delta-rs writes the metadata as top-level keys of ``commitInfo``; Delta Lake on Spark
(Databricks) keeps free-form metadata in one string, ``userMetadata``, where this project stores
the same keys as a JSON object (see :mod:`mlflow_delta_plugin.spark.native`). The readers here
accept both.
"""

import json
from dataclasses import asdict, dataclass
from typing import Optional

from deltalake import CommitProperties

from mlflow_delta_plugin.delta.table import _local_commit_info, normalize_table_uri, open_table
from mlflow_delta_plugin.errors import VersionNotFoundError

__all__ = [
    "LINEAGE_ENTRY_POINT_KEY",
    "LINEAGE_RUN_ID_KEY",
    "TABLE_SPEC_KEY",
    "TableSpec",
    "USER_METADATA_KEY",
    "WRITE_ID_KEY",
    "commit_metadata",
    "commit_properties",
    "find_table_spec",
    "find_write",
]

LINEAGE_RUN_ID_KEY = "mlflow.runId"
LINEAGE_ENTRY_POINT_KEY = "mlflow.entryPoint"
TABLE_SPEC_KEY = "mlflow_delta_plugin.tableSpec"
WRITE_ID_KEY = "mlflow_delta_plugin.writeId"
USER_METADATA_KEY = "userMetadata"
_WRITE_SEARCH_DEPTH = 1000


@dataclass(frozen=True)
class TableSpec:
    """What ``train`` needs to know about a feature table, recorded by ``prepare``.

    Attributes:
        label: the label (target) column.
        features: feature columns, in order.
        split_column: the column holding ``train`` / ``test``.
        key: the column the split was derived from, or None when it came from row content.
    """

    label: str
    features: tuple
    split_column: str = "split"
    key: Optional[str] = None

    def to_json(self) -> str:
        """Serialize to the JSON stored in commit metadata."""
        payload = asdict(self)
        payload["features"] = list(self.features)
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TableSpec":
        """Parse the JSON stored in commit metadata."""
        payload = json.loads(text)
        return cls(
            label=payload["label"],
            features=tuple(payload["features"]),
            split_column=payload.get("split_column", "split"),
            key=payload.get("key"),
        )


def commit_properties(
    run_id: Optional[str],
    entry_point: str,
    spec: Optional[TableSpec] = None,
    write_id: Optional[str] = None,
) -> CommitProperties:
    """Commit properties that tag a Delta commit with the MLflow run and entry point writing it.

    ``write_id`` (a fresh UUID per write) lets the writer find its own version afterwards even
    when other writers committed in between.
    """
    metadata = {LINEAGE_ENTRY_POINT_KEY: entry_point}
    if write_id:
        metadata[WRITE_ID_KEY] = write_id
    if run_id:
        metadata[LINEAGE_RUN_ID_KEY] = run_id
    if spec is not None:
        metadata[TABLE_SPEC_KEY] = spec.to_json()
    return CommitProperties(custom_metadata=metadata)


def commit_metadata(info: dict) -> dict:
    """The metadata of a commit (a ``commitInfo`` or a ``history()`` entry), with the keys of a
    JSON object in its ``userMetadata`` (native Delta) added to its own top-level keys.

    Example:
        >>> commit_metadata({"userMetadata": '{"mlflow.runId": "abc"}', "version": 3})
        {'userMetadata': '{"mlflow.runId": "abc"}', 'version': 3, 'mlflow.runId': 'abc'}
    """
    text = info.get(USER_METADATA_KEY)
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return info
    try:
        stored = json.loads(text)
    except ValueError:
        return info
    if not isinstance(stored, dict):
        return info
    return {**info, **{k: v for k, v in stored.items() if k not in info}}


def find_table_spec(uri: str, version: int) -> Optional[TableSpec]:
    """The spec recorded by the newest commit at or before ``version``, or None if none has one.

    Local tables: reads the commit files from ``version`` down and stops at the first spec
    (normally ``version`` itself). Otherwise, or when a commit file cannot be read: the table's
    history (all of it).
    """
    location = normalize_table_uri(uri)
    for candidate in range(version, -1, -1):
        info = _local_commit_info(location, candidate, require_timestamp=False)
        if info is None:
            break  # remote, or a commit without readable commitInfo: ask delta-rs
        info = commit_metadata(info)
        if TABLE_SPEC_KEY in info:
            return TableSpec.from_json(info[TABLE_SPEC_KEY])
    else:
        return None
    table = open_table(uri)
    for entry in map(commit_metadata, table.history()):  # newest first
        if entry.get("version", -1) > version:
            continue
        if TABLE_SPEC_KEY in entry:
            return TableSpec.from_json(entry[TABLE_SPEC_KEY])
    return None


def find_write(uri: str, write_id: str) -> int:
    """The version committed with ``write_id`` (searching the newest commits first).

    Local tables: reads the commit files from the latest version down, so the number is exact
    even when other writers commit meanwhile (delta-rs's ``history()`` labels the newest commits
    from the version the table object was loaded at, which is off by the commits that landed
    after it). Otherwise: ``history()``.

    Raises:
        VersionNotFoundError: no recent commit carries ``write_id``.
    """
    table = open_table(uri)
    latest = table.version()
    location = normalize_table_uri(uri)
    oldest = max(-1, latest - _WRITE_SEARCH_DEPTH)
    for candidate in range(latest, oldest, -1):
        info = _local_commit_info(location, candidate, require_timestamp=False)
        if info is None:
            break
        if commit_metadata(info).get(WRITE_ID_KEY) == write_id:
            return candidate
    else:
        raise VersionNotFoundError(
            f"no commit of Delta table '{uri}' carries write id {write_id}; the write did not land"
        )
    for entry in table.history(limit=_WRITE_SEARCH_DEPTH):
        if commit_metadata(entry).get(WRITE_ID_KEY) == write_id:
            return int(entry["version"])
    raise VersionNotFoundError(
        f"no commit of Delta table '{uri}' carries write id {write_id}; the write did not land"
    )
