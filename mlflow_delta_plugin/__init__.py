"""mlflow-delta-plugin: Delta-version-tracked datasets and Databricks deployment for MLflow.

Public API (everything else is internal):

- :func:`load_delta_version`, :class:`DeltaVersionDataset`, :class:`DeltaVersionSource`
- the error hierarchy in :mod:`mlflow_delta_plugin.errors`
"""

# mlflow.data loads this package's dataset constructor through its entry point while it
# initializes; importing it first keeps that from meeting a half-initialized package.
import mlflow.data  # noqa: F401  isort: skip

from mlflow_delta_plugin.datasets import DeltaVersionDataset, DeltaVersionSource, load_delta_version
from mlflow_delta_plugin.errors import (
    DeltaPluginError,
    InvalidInputError,
    TableChangedError,
    TableNotFoundError,
    VersionNotFoundError,
)

__version__ = "0.1.0"

__all__ = [
    "DeltaPluginError",
    "DeltaVersionDataset",
    "DeltaVersionSource",
    "InvalidInputError",
    "TableChangedError",
    "TableNotFoundError",
    "VersionNotFoundError",
    "__version__",
    "load_delta_version",
]
