"""The Workspace API: import, export, get-status, list, mkdirs, delete.

Objects are files and folders under ``<root>/workspace``; what a file is (notebook or plain
file, its language, its object id) is kept in ``<root>/state/workspace_objects.json``. A
notebook imported as ``SOURCE`` is stored under its path without extension, like the service
does. Shapes come from ``databricks.sdk.service.workspace.WorkspaceAPI``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import shutil
import threading
import time
from pathlib import Path

from flask import Flask
from databricks.sdk.service import workspace

from .config import EmulatorConfig
from .errors import ApiError, already_exists, invalid_parameter, not_found
from .rest import api_paths, endpoint
from .storage import normalize_path, write_json

__all__ = ["register"]

_NOTEBOOK_HEADERS = {"PYTHON": "# Databricks notebook source", "SQL": "-- Databricks notebook source",
                     "SCALA": "// Databricks notebook source", "R": "# Databricks notebook source"}
_EXTENSIONS = {".py": "PYTHON", ".sql": "SQL", ".scala": "SCALA", ".r": "R"}


class _Objects:
    """Object metadata (type, language, id, times) by workspace path, persisted as JSON."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.layout = config.layout
        self.file = self.layout.state_root / "workspace_objects.json"
        self.lock = threading.RLock()
        self.meta: dict[str, dict] = json.loads(self.file.read_text()) if self.file.exists() else {}
        self.ids = itertools.count(max([m["object_id"] for m in self.meta.values()] or [1000]) + 1)
        for home in ("/Users", f"/Users/{config.user_name}", "/Shared"):
            self.layout.workspace(home).mkdir(parents=True, exist_ok=True)

    def save(self) -> None:
        write_json(self.file, self.meta)

    def info(self, path: str) -> dict:
        local = self.layout.workspace(path)
        if not local.exists():
            raise not_found(f"Path ({path}) doesn't exist.")
        with self.lock:
            meta = self.meta.setdefault(path, {"object_id": next(self.ids),
                                               "created_at": int(time.time() * 1000)})
        info = {"path": path, "object_id": meta["object_id"], "created_at": meta["created_at"],
                "resource_id": str(meta["object_id"])}
        if local.is_dir():
            info["object_type"] = "DIRECTORY"
            return info
        info["object_type"] = meta.get("object_type", "FILE")
        info["modified_at"] = int(local.stat().st_mtime * 1000)
        info["size"] = local.stat().st_size
        if meta.get("language"):
            info["language"] = meta["language"]
        return info

    def put(self, path: str, data: bytes, object_type: str, language: str | None) -> None:
        local = self.layout.workspace(path)
        local.write_bytes(data)
        with self.lock:
            self.meta[path] = {"object_id": next(self.ids), "created_at": int(time.time() * 1000),
                               "object_type": object_type, **({"language": language} if language else {})}
            self.save()

    def forget(self, path: str) -> None:
        with self.lock:
            for key in [k for k in self.meta if k == path or k.startswith(path.rstrip("/") + "/")]:
                del self.meta[key]
            self.save()


def _decode(content: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter("Field 'content' is not valid base64") from None


def _resolve_import(path: str, data: bytes, fmt: str, language: str | None) -> tuple[str, str, str | None]:
    """(stored path, object type, language) of an import, as the service decides them."""
    suffix = Path(path).suffix.lower()
    if fmt == "SOURCE":
        language = language or _EXTENSIONS.get(suffix)
        if language is None:
            raise invalid_parameter("The language field is required when importing SOURCE "
                                    "content without a known file extension")
        stored = path[: -len(suffix)] if suffix in _EXTENSIONS else path
        return stored, "NOTEBOOK", language
    if fmt == "AUTO" and suffix in _EXTENSIONS:
        header = _NOTEBOOK_HEADERS[_EXTENSIONS[suffix]].encode()
        if data.lstrip().startswith(header):
            return path[: -len(suffix)], "NOTEBOOK", _EXTENSIONS[suffix]
    if fmt in ("AUTO", "RAW"):
        return path, "FILE", None
    raise ApiError(501, "NOT_IMPLEMENTED", f"Import format {fmt} is not supported by the emulator")


def register(app: Flask, config: EmulatorConfig) -> None:
    """Add the Workspace endpoints to ``app``."""
    objects = _Objects(config)
    layout = config.layout

    @endpoint(app, ["POST"], api_paths("workspace/import"), request_shape=workspace.WorkspaceAPI.import_)
    def import_(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        data = _decode(fields.get("content") or "")
        stored, object_type, language = _resolve_import(
            path, data, fields.get("format") or "SOURCE", fields.get("language"))
        local = layout.workspace(stored)
        if not local.parent.is_dir():
            raise not_found(f"The parent folder ({str(Path(stored).parent)}) does not exist.")
        if local.is_dir() or (local.exists() and not fields.get("overwrite")):
            raise already_exists(f"{stored} already exists; pass overwrite=true to replace it")
        objects.put(stored, data, object_type, language)
        return {}

    @endpoint(app, ["GET"], api_paths("workspace/get-status"),
              request_shape=workspace.WorkspaceAPI.get_status, response=workspace.ObjectInfo)
    def get_status(fields: dict) -> dict:
        return objects.info(normalize_path(fields["path"]))

    @endpoint(app, ["GET"], api_paths("workspace/list"), request_shape=workspace.WorkspaceAPI.list,
              response=workspace.ListResponse)
    def list_(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.workspace(path)
        if not local.is_dir():
            raise not_found(f"Path ({path}) doesn't exist.")
        children = [objects.info(path.rstrip("/") + "/" + c.name) for c in sorted(local.iterdir())]
        return {"objects": children} if children else {}

    @endpoint(app, ["POST"], api_paths("workspace/mkdirs"), request_shape=workspace.WorkspaceAPI.mkdirs)
    def mkdirs(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.workspace(path)
        for candidate in [local, *local.parents]:
            if candidate == layout.workspace_root:
                break
            if candidate.is_file():
                raise already_exists(f"Cannot create directory {path}: a file exists at "
                                     f"{'/' + str(candidate.relative_to(layout.workspace_root))}")
        local.mkdir(parents=True, exist_ok=True)
        return {}

    @endpoint(app, ["GET"], api_paths("workspace/export"), request_shape=workspace.WorkspaceAPI.export,
              response=workspace.ExportResponse)
    def export(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        info = objects.info(path)
        if info["object_type"] == "DIRECTORY":
            raise ApiError(501, "NOT_IMPLEMENTED", "Exporting a folder is not supported by the emulator")
        data = layout.workspace(path).read_bytes()
        file_type = {"PYTHON": "py", "SQL": "sql", "SCALA": "scala", "R": "r"}.get(info.get("language", ""), "")
        return {"content": base64.b64encode(data).decode(), "file_type": file_type}

    @endpoint(app, ["POST"], api_paths("workspace/delete"), request_shape=workspace.WorkspaceAPI.delete)
    def delete(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.workspace(path)
        if not local.exists():
            raise not_found(f"Path ({path}) doesn't exist.")
        if local.is_dir():
            if any(local.iterdir()) and not fields.get("recursive"):
                raise ApiError(400, "DIRECTORY_NOT_EMPTY",
                               f"Folder ({path}) is not empty; set recursive to delete it")
            shutil.rmtree(local)
        else:
            local.unlink()
        objects.forget(path)
        return {}
