"""DBFS: the ``/api/2.0/dbfs/*`` API and the raw ``/dbfs/<path>`` upload/download endpoint.

Shapes come from ``databricks.sdk.service.files.DbfsAPI``. Limits follow the service: ``read``
returns at most 1 MB, ``put`` with inline contents and ``add-block`` take at most 1 MB.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import shutil
import threading
from pathlib import Path

from flask import Flask, Response, request
from databricks.sdk.service import files

from .config import EmulatorConfig
from .errors import ApiError, already_exists, invalid_parameter, not_found
from .rest import api_paths, endpoint, request_fields
from .shapes import method_fields
from .storage import Layout, atomic_write, normalize_path

__all__ = ["register"]

ONE_MB = 1024 * 1024


def _file_info(path: str, local: Path) -> dict:
    stat = local.stat()
    info = {"path": path, "is_dir": local.is_dir(), "modification_time": int(stat.st_mtime * 1000)}
    info["file_size"] = 0 if local.is_dir() else stat.st_size
    return info


def _missing(path: str) -> ApiError:
    return not_found(f"No file or directory exists on path {path}.")


def _decode(data: str, field: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter(f"Field '{field}' is not valid base64") from None


def _too_big(what: str) -> ApiError:
    return ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED",
                    f"The {what} exceeds the 1 MB limit; use create, add-block and close")


class _Handles:
    """Open streaming uploads of ``create``/``add-block``/``close``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._open: dict[int, tuple[str, Path, bytearray]] = {}

    def open(self, path: str, local: Path) -> int:
        with self._lock:
            handle = next(self._ids)
            self._open[handle] = (path, local, bytearray())
            return handle

    def get(self, handle: int) -> tuple[str, Path, bytearray]:
        with self._lock:
            if handle not in self._open:
                raise not_found(f"Handle {handle} is not open", "RESOURCE_DOES_NOT_EXIST")
            return self._open[handle]

    def close(self, handle: int) -> tuple[str, Path, bytearray]:
        with self._lock:
            if handle not in self._open:
                raise not_found(f"Handle {handle} is not open", "RESOURCE_DOES_NOT_EXIST")
            return self._open.pop(handle)


def _check_writable(layout: Layout, path: str, local: Path, overwrite: bool) -> None:
    if local.is_dir():
        raise already_exists(f"A directory already exists at {path}")
    if local.exists() and not overwrite:
        raise already_exists(f"File already exists: {path}")
    for parent in local.parents:
        if parent == layout.dbfs_root:
            break
        if parent.is_file():
            raise already_exists(f"A file already exists at the parent path of {path}")


def register(app: Flask, config: EmulatorConfig) -> None:
    """Add the DBFS endpoints to ``app``."""
    layout = config.layout
    handles = _Handles()

    @endpoint(app, ["GET"], api_paths("dbfs/get-status"), request_shape=files.DbfsAPI.get_status,
              response=files.FileInfo)
    def get_status(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        if not local.exists():
            raise _missing(path)
        return _file_info(path, local)

    @endpoint(app, ["GET"], api_paths("dbfs/list"), request_shape=files.DbfsAPI.list,
              response=files.ListStatusResponse)
    def list_(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        if not local.exists():
            raise _missing(path)
        if local.is_file():
            return {"files": [_file_info(path, local)]}
        children = sorted(local.iterdir())
        entries = [_file_info(path.rstrip("/") + "/" + c.name, c) for c in children
                   if not c.name.endswith(".part")]
        return {"files": entries} if entries else {}

    @endpoint(app, ["POST"], api_paths("dbfs/mkdirs"), request_shape=files.DbfsAPI.mkdirs)
    def mkdirs(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        for candidate in [local, *local.parents]:
            if candidate == layout.dbfs_root:
                break
            if candidate.is_file():
                raise already_exists(f"A file or directory already exists at the input path {path}.")
        local.mkdir(parents=True, exist_ok=True)
        return {}

    @endpoint(app, ["POST"], api_paths("dbfs/delete"), request_shape=files.DbfsAPI.delete)
    def delete(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        if path == "/":
            raise invalid_parameter("Cannot delete the DBFS root")
        if local.is_dir():
            if any(local.iterdir()) and not fields.get("recursive"):
                raise ApiError(400, "IO_ERROR", f"Directory {path} is not empty; "
                                                "set recursive to delete it")
            shutil.rmtree(local)
        elif local.exists():
            local.unlink()
        return {}

    @endpoint(app, ["POST"], api_paths("dbfs/move"), request_shape=files.DbfsAPI.move)
    def move(fields: dict) -> dict:
        source = normalize_path(fields["source_path"])
        target = normalize_path(fields["destination_path"])
        local_source, local_target = layout.dbfs(source), layout.dbfs(target)
        if not local_source.exists():
            raise _missing(source)
        if local_target.exists():
            raise already_exists(f"A file or directory already exists at {target}")
        local_target.parent.mkdir(parents=True, exist_ok=True)
        local_source.rename(local_target)
        return {}

    @endpoint(app, ["GET"], api_paths("dbfs/read"), request_shape=files.DbfsAPI.read,
              response=files.ReadResponse)
    def read(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        if not local.exists():
            raise _missing(path)
        if local.is_dir():
            raise invalid_parameter(f"Cannot read a directory: {path}")
        offset = fields.get("offset") or 0
        length = fields.get("length") or 512 * 1024
        if length > ONE_MB:
            raise ApiError(400, "MAX_READ_SIZE_EXCEEDED",
                           f"Cannot read more than 1 MB at once (length {length})")
        if offset < 0 or length < 0:
            raise invalid_parameter("offset and length must not be negative")
        with local.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        return {"bytes_read": len(data), "data": base64.b64encode(data).decode()}

    @endpoint(app, ["POST"], api_paths("dbfs/put"), request_shape=None)
    def put(_: dict) -> dict:
        if request.mimetype == "multipart/form-data":
            path = request.form.get("path")
            upload = request.files.get("contents")
            if not path:
                raise invalid_parameter("Missing required field: path")
            data = upload.read() if upload is not None else _decode(
                request.form.get("contents", ""), "contents")
            overwrite = request.form.get("overwrite", "false").lower() == "true"
        else:
            fields = request_fields(method_fields(files.DbfsAPI.put))
            path = fields["path"]
            data = _decode(fields.get("contents") or "", "contents")
            if len(data) > ONE_MB:
                raise _too_big("inline contents")
            overwrite = bool(fields.get("overwrite"))
        path = normalize_path(path)
        local = layout.dbfs(path)
        _check_writable(layout, path, local, overwrite)
        atomic_write(local, data)
        return {}

    @endpoint(app, ["POST"], api_paths("dbfs/create"), request_shape=files.DbfsAPI.create,
              response=files.CreateResponse)
    def create(fields: dict) -> dict:
        path = normalize_path(fields["path"])
        local = layout.dbfs(path)
        _check_writable(layout, path, local, bool(fields.get("overwrite")))
        return {"handle": handles.open(path, local)}

    @endpoint(app, ["POST"], api_paths("dbfs/add-block"), request_shape=files.DbfsAPI.add_block)
    def add_block(fields: dict) -> dict:
        data = _decode(fields["data"], "data")
        if len(data) > ONE_MB:
            raise _too_big("block")
        handles.get(fields["handle"])[2].extend(data)
        return {}

    @endpoint(app, ["POST"], api_paths("dbfs/close"), request_shape=files.DbfsAPI.close)
    def close(fields: dict) -> dict:
        _, local, data = handles.close(fields["handle"])
        atomic_write(local, bytes(data))
        return {}

    def fuse_upload(path: str) -> Response:
        dbfs_path = normalize_path("/" + path)
        local = layout.dbfs(dbfs_path)
        if request.method == "GET":
            if not local.is_file():
                raise _missing(dbfs_path)
            return Response(local.read_bytes(), mimetype="application/octet-stream")
        _check_writable(layout, dbfs_path, local, overwrite=False)
        atomic_write(local, request.get_data())
        return Response("{}", mimetype="application/json")

    app.add_url_rule("/dbfs/<path:path>", endpoint="dbfs.fuse", view_func=fuse_upload,
                     methods=["GET", "POST"])
