"""``mlflow.data.load_delta_version``: the dataset constructor MLflow exposes from this plugin.

MLflow inspects this function's signature when registering it (entry point
``mlflow.dataset_constructor``): it must take ``name`` and ``digest`` and carry a real return
annotation, so this module must not use ``from __future__ import annotations``.
"""

import datetime
from typing import Optional, Union

from mlflow_delta_plugin.datasets.dataset import DeltaVersionDataset
from mlflow_delta_plugin.datasets.source import DeltaVersionSource
from mlflow_delta_plugin.delta.reader import FilterSpec
from mlflow_delta_plugin.delta.table import pin_and_open
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["load_delta_version", "parse_version"]


def parse_version(version: Union[int, str, None]) -> Optional[int]:
    """Turn a version parameter (``3``, ``"3"``, ``"latest"``, ``""``, None) into a number or None.

    Raises:
        InvalidInputError: the value is neither a non-negative integer nor ``latest``.
    """
    if version is None or (isinstance(version, str) and version.strip().lower() in ("", "latest")):
        return None
    try:
        number = int(str(version).strip()) if not isinstance(version, int) else version
    except ValueError:
        number = -1
    if isinstance(version, bool) or number < 0:
        raise InvalidInputError(
            f"version '{version}' is not a Delta version; pass a non-negative integer or 'latest'"
        )
    return number


def load_delta_version(
    uri: str,
    version: Union[int, str, None] = None,
    timestamp: Union[str, datetime.datetime, None] = None,
    targets: Optional[str] = None,
    name: Optional[str] = None,
    digest: Optional[str] = None,
    predictions: Optional[str] = None,
    catalog_name: Optional[str] = None,
    filters: Optional[FilterSpec] = None,
) -> DeltaVersionDataset:
    """A dataset pinned to one exact version of the Delta table at ``uri``.

    ``version=None`` (or ``"latest"``) resolves the latest version now and records its number;
    ``timestamp`` resolves the version current at that time and fails if the table did not
    exist yet.

    Args:
        uri: table location.
        version: version number, ``"latest"`` or None.
        timestamp: RFC 3339 string or datetime (naive means UTC); exclusive with ``version``.
        targets: label column, for ``mlflow.models.evaluate``.
        name: dataset name.
        digest: precomputed digest (normally computed from the Delta log).
        predictions: predictions column, for ``mlflow.models.evaluate``.
        catalog_name: catalog name of the table, recorded for humans and Unity Catalog.
        filters: row filters in deltalake DNF form, e.g. ``[("split", "=", "test")]``.

    Example:
        >>> import mlflow
        >>> ds = mlflow.data.load_delta_version("data/features", version=0, targets="label")  # doctest: +SKIP
        >>> with mlflow.start_run():  # doctest: +SKIP
        ...     mlflow.log_input(ds, context="training")
    """
    pinned, table = pin_and_open(uri, version=parse_version(version), timestamp=timestamp)
    source = DeltaVersionSource.from_opened(pinned, table, catalog_name=catalog_name,
                                             filters=filters)
    return DeltaVersionDataset(source, targets=targets, name=name, digest=digest,
                               predictions=predictions)
