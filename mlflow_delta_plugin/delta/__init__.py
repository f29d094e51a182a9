"""Delta table access for the embedded engine (deltalake / delta-rs, no JVM)."""

from mlflow_delta_plugin.delta.lineage import (
    LINEAGE_ENTRY_POINT_KEY,
    LINEAGE_RUN_ID_KEY,
    TABLE_SPEC_KEY,
    TableSpec,
    commit_properties,
    find_table_spec,
)
from mlflow_delta_plugin.delta.table import (
    PinnedVersion,
    commit_info,
    is_delta_table,
    normalize_table_uri,
    open_table,
    resolve_version,
)

__all__ = [
    "LINEAGE_ENTRY_POINT_KEY",
    "LINEAGE_RUN_ID_KEY",
    "TABLE_SPEC_KEY",
    "PinnedVersion",
    "TableSpec",
    "commit_info",
    "commit_properties",
    "find_table_spec",
    "is_delta_table",
    "normalize_table_uri",
    "open_table",
    "resolve_version",
]
