"""The Files API (``/api/2.0/fs/files/...``, ``/api/2.0/fs/directories/...``).

MLflow's Databricks artifact repositories write run and logged-model artifacts through it
(``/WorkspaceInternal/Mlflow/Artifacts/<experiment>/Runs/<run>/...``); deployment code uses it
for ``/Volumes/...`` and ``/Workspace/...``. Shapes come from ``databricks.sdk.service.files``.
The SDK's optional presigned-URL endpoints (``/api/2.0/fs/endpoints``, ``create-download-url``
...) are not served: the SDK then falls back to these plain endpoints, as it does on
workspaces without them.
"""

from __future__ import annotations

import shutil
from email.utils import formatdate
from pathlib import Path

from flask import Flask, Response, jsonify, request
from databricks.sdk.service import files

from .config import EmulatorConfig
from .errors import ApiError, already_exists, not_found
from .shapes import check_response
from .storage import atomic_write, normalize_path

__all__ = ["register"]

_PAGE_SIZE = 1000


def _no_content() -> Response:
    return Response(status=204)


def _metadata_headers(local: Path) -> dict:
    stat = local.stat()
    return {"Content-Length": str(stat.st_size), "Content-Type": "application/octet-stream",
            "Last-Modified": formatdate(stat.st_mtime, usegmt=True)}


def register(app: Flask, config: EmulatorConfig) -> None:
    """Add the Files API endpoints to ``app``."""
    layout = config.layout

    def file_view(path: str) -> Response:
        service_path = normalize_path("/" + path)
        local = layout.files_api(service_path)
        if request.method == "PUT":
            overwrite = request.args.get("overwrite", "true").lower() == "true"
            if local.is_dir():
                raise already_exists(f"A directory already exists at {service_path}")
            if local.exists() and not overwrite:
                raise ApiError(409, "ALREADY_EXISTS", f"File already exists: {service_path}")
            atomic_write(local, request.get_data())
            return _no_content()
        if not local.is_file():
            if request.method == "HEAD":
                return Response(status=404)
            raise not_found(f"The file {service_path} does not exist", "NOT_FOUND")
        if request.method == "DELETE":
            local.unlink()
            return _no_content()
        headers = _metadata_headers(local)
        if request.method == "HEAD":
            return Response(status=200, headers=headers)
        data = local.read_bytes()
        status = 200
        range_header = request.headers.get("Range", "")
        if range_header.startswith("bytes="):
            start_text, _, end_text = range_header[len("bytes="):].partition("-")
            start = int(start_text or 0)
            end = int(end_text) + 1 if end_text else len(data)
            data, status = data[start:end], 206
            headers["Content-Length"] = str(len(data))
        return Response(data, status=status, headers=headers)

    def directory_view(path: str = "") -> Response:
        service_path = normalize_path("/" + path)
        local = layout.files_api(service_path)
        if request.method == "PUT":
            if local.is_file():
                raise already_exists(f"A file already exists at {service_path}")
            local.mkdir(parents=True, exist_ok=True)
            return _no_content()
        if not local.is_dir():
            if request.method == "HEAD":
                return Response(status=404)
            raise not_found(f"The directory {service_path} does not exist", "NOT_FOUND")
        if request.method == "HEAD":
            return Response(status=200)
        if request.method == "DELETE":
            if any(local.iterdir()):
                raise ApiError(409, "DIRECTORY_NOT_EMPTY",
                               f"The directory {service_path} is not empty")
            shutil.rmtree(local)
            return _no_content()
        children = sorted(c for c in local.iterdir() if not c.name.endswith(".part"))
        start = int(request.args.get("page_token") or 0)
        size = int(request.args.get("page_size") or _PAGE_SIZE)
        page = children[start:start + size]
        contents = []
        for child in page:
            stat = child.stat()
            entry = {"path": service_path.rstrip("/") + "/" + child.name, "name": child.name,
                     "is_directory": child.is_dir(), "last_modified": int(stat.st_mtime * 1000)}
            if child.is_file():
                entry["file_size"] = stat.st_size
            contents.append(entry)
        body: dict = {"contents": contents} if contents else {}
        if start + size < len(children):
            body["next_page_token"] = str(start + size)
        return jsonify(check_response(body, files.ListDirectoryResponse))

    app.add_url_rule("/api/2.0/fs/files/<path:path>", endpoint="fs.files", view_func=file_view,
                     methods=["GET", "HEAD", "PUT", "DELETE"])
    app.add_url_rule("/api/2.0/fs/directories/<path:path>", endpoint="fs.directories",
                     view_func=directory_view, methods=["GET", "HEAD", "PUT", "DELETE"])
