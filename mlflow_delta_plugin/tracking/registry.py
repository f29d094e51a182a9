"""Registering models with their data lineage."""

from typing import Optional

import mlflow
from mlflow.entities.model_registry import ModelVersion

from mlflow_delta_plugin.delta.table import PinnedVersion

__all__ = ["register_with_lineage"]


def register_with_lineage(model_uri: str, name: str, pinned: PinnedVersion,
                          run_id: Optional[str] = None) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name``, tagged with the Delta version it saw."""
    tags = {
        "delta.table": pinned.uri,
        "delta.version": str(pinned.version),
        "delta.table_id": pinned.table_id,
    }
    if run_id:
        tags["source_run_id"] = run_id
    return mlflow.register_model(model_uri, name, tags=tags)
