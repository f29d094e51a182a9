"""``DeltaVersionSource``: an MLflow dataset source pinned to one Delta table version."""

import json
from typing import Any, Optional

import pandas as pd
from deltalake import DeltaTable
from mlflow.data.dataset_source import DatasetSource

from mlflow_delta_plugin.delta.reader import FilterSpec, read_version
from mlflow_delta_plugin.delta.table import PinnedVersion, normalize_table_uri, open_table
from mlflow_delta_plugin.errors import TableChangedError

__all__ = ["DELTA_VERSION_SOURCE_TYPE", "DeltaVersionSource"]

DELTA_VERSION_SOURCE_TYPE = "delta_version"
"""Source type recorded in runs. MLflow owns ``delta_table`` (and drops version 0 there)."""


class DeltaVersionSource(DatasetSource):
    """The exact version of a Delta table a run read.

    ``load()`` in any later process returns exactly the rows of that version (time travel), and
    refuses to load if the table at that location was re-created since (its table id changed).

    Args:
        uri: table location (local path, ``file://``, ``s3://``, ``abfss://`` ...).
        version: Delta version number; 0 is a valid version.
        timestamp_ms: commit time of the version, milliseconds since the epoch.
        table_id: Delta table id (``metaData.id``) of the table when the version was pinned.
        catalog_name: optional catalog name (e.g. Unity Catalog ``catalog.schema.table``).
        filters: optional row filters (deltalake DNF form) that narrow the rows, e.g. a split.

    Example:
        >>> import mlflow
        >>> run = mlflow.get_run(run_id)  # doctest: +SKIP
        >>> source = mlflow.data.get_source(run.inputs.dataset_inputs[0])  # doctest: +SKIP
        >>> df = source.load()  # doctest: +SKIP
    """

    def __init__(
        self,
        uri: str,
        version: int,
        timestamp_ms: Optional[int] = None,
        table_id: Optional[str] = None,
        catalog_name: Optional[str] = None,
        filters: Optional[FilterSpec] = None,
    ) -> None:
        self.uri = normalize_table_uri(uri)
        self.version = int(version)
        self.timestamp_ms = timestamp_ms
        self.table_id = table_id
        self.catalog_name = catalog_name
        self.filters = [list(f) for f in filters] if filters else None
        self._preloaded: Optional[DeltaTable] = None

    @classmethod
    def from_pinned(
        cls,
        pinned: PinnedVersion,
        catalog_name: Optional[str] = None,
        filters: Optional[FilterSpec] = None,
    ) -> "DeltaVersionSource":
        """Build a source from a :class:`PinnedVersion`."""
        return cls(pinned.uri, pinned.version, pinned.timestamp_ms, pinned.table_id,
                   catalog_name, filters)

    @classmethod
    def from_opened(
        cls,
        pinned: PinnedVersion,
        table: DeltaTable,
        catalog_name: Optional[str] = None,
        filters: Optional[FilterSpec] = None,
    ) -> "DeltaVersionSource":
        """A source whose first :meth:`open` returns ``table``, the snapshot ``pinned`` was
        resolved from (so pinning and building the dataset load the table only once)."""
        source = cls.from_pinned(pinned, catalog_name=catalog_name, filters=filters)
        source._preloaded = table
        return source

    @staticmethod
    def _get_source_type() -> str:
        return DELTA_VERSION_SOURCE_TYPE

    def open(self) -> DeltaTable:
        """The ``DeltaTable`` loaded at the pinned version, after checking the table id."""
        if self._preloaded is not None:  # handed over once: callers may mutate what they get
            table, self._preloaded = self._preloaded, None
            return table
        table = open_table(self.uri, self.version)
        actual_id = table.metadata().id
        if self.table_id and actual_id != self.table_id:
            raise TableChangedError(
                f"Delta table '{self.uri}' was re-created since version {self.version} was pinned "
                f"(table id {self.table_id} is now {actual_id}); the pinned rows are gone"
            )
        return table

    def load(self, columns: Optional[list] = None) -> pd.DataFrame:
        """Load exactly the pinned version's rows (after ``filters``) as a pandas DataFrame."""
        return read_version(self.open(), columns=columns, filters=self.filters).to_pandas()

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return isinstance(raw_source, PinnedVersion)

    @classmethod
    def _resolve(cls, raw_source: Any) -> "DeltaVersionSource":
        return cls.from_pinned(raw_source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable description stored with the run's dataset input."""
        payload: dict[str, Any] = {
            "uri": self.uri,
            "version": self.version,
            "timestamp_ms": self.timestamp_ms,
            "table_id": self.table_id,
        }
        if self.catalog_name:
            payload["catalog_name"] = self.catalog_name
        if self.filters:
            payload["filters"] = self.filters
        return payload

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> "DeltaVersionSource":
        """Rebuild a source from :meth:`to_dict` output (MLflow calls this in ``get_source``)."""
        return cls(
            uri=source_dict["uri"],
            version=int(source_dict["version"]),
            timestamp_ms=source_dict.get("timestamp_ms"),
            table_id=source_dict.get("table_id"),
            catalog_name=source_dict.get("catalog_name"),
            filters=source_dict.get("filters"),
        )

    def __repr__(self) -> str:
        return f"DeltaVersionSource({json.dumps(self.to_dict())})"
