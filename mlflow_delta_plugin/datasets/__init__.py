"""Delta-version-tracked MLflow datasets: source, dataset and constructor plugins."""

from mlflow_delta_plugin.datasets.constructor import load_delta_version, parse_version
from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.fingerprint import VersionStats, fingerprint_version
from mlflow_delta_plugin.datasets.source import DELTA_VERSION_SOURCE_TYPE, DeltaVersionSource

__all__ = [
    "DELTA_VERSION_SOURCE_TYPE",
    "DeltaVersionDataset",
    "DeltaVersionSource",
    "VersionStats",
    "fingerprint_version",
    "load_delta_version",
    "parse_version",
]
