"""``DeltaVersionDataset``: an MLflow dataset that is one exact version of a Delta table."""

import hashlib
import json
from functools import cached_property
from typing import Any, Optional

import pandas as pd
import pyarrow as pa
from mlflow.data.dataset import Dataset
from mlflow.data.evaluation_dataset import EvaluationDataset
from mlflow.data.pyfunc_dataset_mixin import PyFuncConvertibleDatasetMixin, PyFuncInputsOutputs
from mlflow.types import Schema

from mlflow_delta_plugin.datasets.fingerprint import VersionStats, fingerprint_version
from mlflow_delta_plugin.datasets.schema import mlflow_schema_from_arrow
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.reader import read_version
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["DeltaVersionDataset"]

_DIGEST_LENGTH = 16


class DeltaVersionDataset(Dataset, PyFuncConvertibleDatasetMixin):
    """One exact version of a Delta table, for ``mlflow.log_input`` and ``mlflow.models.evaluate``.

    The digest is a content fingerprint computed from the Delta log (no data scan); the schema
    comes from the Delta schema; the profile from log statistics. Rows are read only when asked
    for (``to_pandas``, ``to_arrow``, evaluation).

    Args:
        source: the pinned version.
        targets: label column, for evaluation. Optional.
        name: dataset name; defaults to the table's folder name and version.
        digest: precomputed digest; computed from the log when omitted.
        predictions: column holding model predictions, for evaluation. Optional.
    """

    def __init__(
        self,
        source: DeltaVersionSource,
        targets: Optional[str] = None,
        name: Optional[str] = None,
        digest: Optional[str] = None,
        predictions: Optional[str] = None,
    ) -> None:
        self._table = source.open()
        columns = set(self._table.schema().to_arrow().names) if targets or predictions else set()
        for role, column in (("targets", targets), ("predictions", predictions)):
            if column is not None and column not in columns:
                raise InvalidInputError(
                    f"Delta table '{source.uri}' version {source.version} has no {role} column "
                    f"'{column}'; columns are {sorted(columns)}"
                )
        self._targets = targets
        self._predictions = predictions
        self._frame: Optional[pd.DataFrame] = None
        default_name = f"{source.uri.rstrip('/').rsplit('/', 1)[-1]}@v{source.version}"
        super().__init__(source=source, name=name or default_name, digest=digest)

    @cached_property
    def stats(self) -> VersionStats:
        """Log statistics and fingerprint of the pinned version."""
        return fingerprint_version(self._table)

    def _compute_digest(self) -> str:
        hasher = hashlib.sha256(self.stats.digest.encode())
        if self.source.filters:
            hasher.update(json.dumps(self.source.filters, default=str).encode())
        return hasher.hexdigest()[:_DIGEST_LENGTH]

    @property
    def source(self) -> DeltaVersionSource:
        """The pinned Delta version."""
        return self._source

    @property
    def version(self) -> int:
        """The pinned Delta version number."""
        return self._source.version

    @property
    def targets(self) -> Optional[str]:
        """The label column, if any."""
        return self._targets

    @property
    def predictions(self) -> Optional[str]:
        """The predictions column, if any."""
        return self._predictions

    @property
    def profile(self) -> Optional[Any]:
        """Rows, files and bytes from the Delta log statistics (no data scan)."""
        stats = self.stats
        return {
            "num_rows": stats.num_rows,
            "num_files": stats.num_files,
            "size_bytes": stats.size_bytes,
            "delta_version": self.version,
            "has_deletion_vectors": stats.has_deletion_vectors,
        }

    @cached_property
    def schema(self) -> Optional[Schema]:
        """MLflow schema mapped from the Delta schema of the pinned version."""
        return mlflow_schema_from_arrow(pa.schema(self._table.schema().to_arrow()))

    def to_dict(self) -> dict[str, str]:
        """Config stored with the run's dataset input (name, digest, source, schema, profile)."""
        config = super().to_dict()
        config.update({
            "schema": json.dumps({"mlflow_colspec": self.schema.to_dict()}),
            "profile": json.dumps(self.profile),
        })
        return config

    def to_arrow(self, columns: Optional[list] = None, filters: Optional[list] = None) -> pa.Table:
        """The pinned version's rows as an Arrow table.

        Args:
            columns: columns to read (all by default).
            filters: extra conjunctive filters, applied on top of the source's own.
        """
        combined = [*(self.source.filters or []), *(filters or [])]
        return read_version(self._table, columns=columns, filters=combined or None)

    def to_pandas(self) -> pd.DataFrame:
        """The pinned version's rows (after the source's filters) as a pandas DataFrame."""
        if self._frame is None:
            self._frame = self.to_arrow().to_pandas()
        return self._frame

    def to_pyfunc(self) -> PyFuncInputsOutputs:
        """Inputs (and outputs when ``targets`` is set) for pyfunc models."""
        frame = self.to_pandas()
        if self._targets:
            return PyFuncInputsOutputs(frame.drop(columns=[self._targets]), frame[self._targets])
        return PyFuncInputsOutputs(frame)

    def to_evaluation_dataset(self, path=None, feature_names=None) -> EvaluationDataset:
        """The dataset as MLflow's ``EvaluationDataset`` (used by ``mlflow.models.evaluate``)."""
        return EvaluationDataset(
            data=self.to_pandas(),
            targets=self._targets,
            path=path,
            feature_names=feature_names,
            predictions=self._predictions,
            name=self.name,
            digest=self.digest,
        )
