"""Where the emulated workspace keeps its data on disk, and how service paths map onto it.

Everything lives under one root folder, so a test can inspect (or scan) all of it::

    <root>/dbfs/...         DBFS: ``dbfs:/a/b``, DBFS API path ``/a/b``, FUSE path ``/dbfs/a/b``
    <root>/workspace/...    workspace objects (``/Users/...``, ``/Shared/...``), FUSE ``/Workspace``
    <root>/volumes/...      Unity Catalog volumes (``/Volumes/...``), Files API and FUSE
    <root>/files/...        internal Files API paths (``/WorkspaceInternal/...``: MLflow artifacts)
    <root>/mlflow/          the MLflow tracking and registry store (SQLite)
    <root>/state/           jobs, runs, clusters and workspace metadata as JSON
    <root>/runs/<id>/       per run: task logs and the driver sandbox of its job cluster
    <root>/clusters/<id>/   the driver sandbox of an all-purpose cluster
"""

from __future__ import annotations

import json
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import invalid_parameter

__all__ = ["Layout", "atomic_write", "normalize_path", "write_json"]


def normalize_path(path: str, *, what: str = "path") -> str:
    """A clean absolute service path (``/a/b``); ``dbfs:/a/b`` is accepted for DBFS.

    Raises:
        ApiError: INVALID_PARAMETER_VALUE for a relative path or one escaping the root.
    """
    if path.startswith("dbfs:"):
        path = path[len("dbfs:"):]
    if not path.startswith("/"):
        raise invalid_parameter(f"Path must be absolute: {path}")
    clean = posixpath.normpath(path)
    if clean.startswith("//"):
        clean = "/" + clean.lstrip("/")
    if ".." in clean.split("/"):
        raise invalid_parameter(f"Invalid {what}: {path}")
    return clean


@dataclass(frozen=True)
class Layout:
    """The folders of one emulated workspace under ``root``."""

    root: Path

    @property
    def dbfs_root(self) -> Path:
        return self.root / "dbfs"

    @property
    def workspace_root(self) -> Path:
        return self.root / "workspace"

    @property
    def volumes_root(self) -> Path:
        return self.root / "volumes"

    @property
    def internal_root(self) -> Path:
        return self.root / "files"

    @property
    def mlflow_root(self) -> Path:
        return self.root / "mlflow"

    @property
    def state_root(self) -> Path:
        return self.root / "state"

    @property
    def runs_root(self) -> Path:
        return self.root / "runs"

    @property
    def clusters_root(self) -> Path:
        return self.root / "clusters"

    def create(self) -> None:
        """Create the folders."""
        for folder in (self.dbfs_root, self.workspace_root, self.volumes_root, self.internal_root,
                       self.mlflow_root, self.state_root, self.runs_root, self.clusters_root):
            folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _under(base: Path, relative: str) -> Path:
        return base.joinpath(*[p for p in relative.split("/") if p])

    def dbfs(self, path: str) -> Path:
        """The local file of DBFS path ``path`` (``/a/b`` or ``dbfs:/a/b``)."""
        return self._under(self.dbfs_root, normalize_path(path))

    def workspace(self, path: str) -> Path:
        """The local file of workspace path ``path`` (``/Users/...``)."""
        return self._under(self.workspace_root, normalize_path(path))

    def files_api(self, path: str) -> Path:
        """The local file of a Files API path (``/Volumes/...``, ``/Workspace/...``, internal).

        Raises:
            ApiError: INVALID_PARAMETER_VALUE for a path outside those roots.
        """
        clean = normalize_path(path)
        top, _, rest = clean.lstrip("/").partition("/")
        if top == "Volumes":
            return self._under(self.volumes_root, rest)
        if top == "Workspace":
            return self._under(self.workspace_root, rest)
        if top in ("WorkspaceInternal", "DatabricksInternal"):
            return self._under(self.internal_root / top, rest)
        raise invalid_parameter(
            f"Invalid path {path}: the Files API serves /Volumes, /Workspace and internal paths")


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so that readers see the old or the new file, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(target: Path, value: Any) -> None:
    """Atomically write ``value`` as indented JSON."""
    atomic_write(target, json.dumps(value, indent=1, sort_keys=True).encode())
