"""DBFS of the workspace emulator: the ``/api/2.0/dbfs/*`` API, raw ``/dbfs/<path>`` and limits."""

from __future__ import annotations

import base64
import io
import os

import pytest
from databricks.sdk.errors import NotFound, ResourceAlreadyExists


def test_missing_path_is_resource_does_not_exist(emulator, sdk):
    response = emulator.request("GET", "/api/2.0/dbfs/get-status", params={"path": "/nope"})
    assert response.status_code == 404
    assert response.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                               "message": "No file or directory exists on path /nope."}
    with pytest.raises(NotFound):
        sdk.dbfs.get_status("/nope")


def test_get_status_accepts_a_json_body_on_get_like_mlflow_sends(emulator):
    emulator.call("POST", "/api/2.0/dbfs/mkdirs", json={"path": "/mlflow-experiments/1"})
    status = emulator.call("GET", "/api/2.0/dbfs/get-status", json={"path": "/mlflow-experiments/1"})
    assert status["is_dir"] is True and status["path"] == "/mlflow-experiments/1"


def test_sdk_upload_of_several_blocks_round_trips(emulator, sdk):
    data = os.urandom(2 * 1024 * 1024 + 123)
    sdk.dbfs.upload("/data/blob.bin", io.BytesIO(data), overwrite=True)
    assert sdk.dbfs.download("/data/blob.bin").read() == data
    assert sdk.dbfs.get_status("dbfs:/data/blob.bin").file_size == len(data)
    assert (emulator.root / "dbfs" / "data" / "blob.bin").read_bytes() == data
    used = {r["path"] for r in emulator.request_log()}
    assert {"/api/2.0/dbfs/create", "/api/2.0/dbfs/add-block", "/api/2.0/dbfs/close"} <= used


def test_put_read_and_list(emulator, sdk):
    emulator.call("POST", "/api/2.0/dbfs/put", json={
        "path": "/listing/a.txt", "contents": base64.b64encode(b"hello world").decode()})
    emulator.call("POST", "/api/2.0/dbfs/mkdirs", json={"path": "/listing/sub"})
    chunk = emulator.call("GET", "/api/2.0/dbfs/read",
                          params={"path": "/listing/a.txt", "offset": 6, "length": 5})
    assert chunk == {"bytes_read": 5, "data": base64.b64encode(b"world").decode()}
    listing = {f.path: f.is_dir for f in sdk.dbfs.list("/listing")}
    assert listing == {"/listing/a.txt": False, "/listing/sub": True}
    assert emulator.call("GET", "/api/2.0/dbfs/list", params={"path": "/listing/sub"}) == {}
    (only,) = emulator.call("GET", "/api/2.0/dbfs/list", params={"path": "/listing/a.txt"})["files"]
    assert only["path"] == "/listing/a.txt" and only["file_size"] == 11


def test_put_refuses_to_overwrite_unless_told(emulator, sdk):
    body = {"path": "/once.txt", "contents": base64.b64encode(b"1").decode()}
    emulator.call("POST", "/api/2.0/dbfs/put", json=body)
    again = emulator.request("POST", "/api/2.0/dbfs/put", json=body)
    assert again.status_code == 409 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    emulator.call("POST", "/api/2.0/dbfs/put", json={**body, "overwrite": True})
    with pytest.raises(ResourceAlreadyExists):
        sdk.dbfs.put("/once.txt", contents=base64.b64encode(b"2").decode())


def test_multipart_put(emulator):
    response = emulator.request("POST", "/api/2.0/dbfs/put", data={"path": "/form.bin", "overwrite": "true"},
                                files={"contents": ("form.bin", b"\x00\x01form")})
    assert response.status_code == 200, response.text
    assert (emulator.root / "dbfs" / "form.bin").read_bytes() == b"\x00\x01form"


def test_limits_of_one_megabyte(emulator):
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    put = emulator.request("POST", "/api/2.0/dbfs/put", json={"path": "/big.txt", "contents": big})
    assert put.status_code == 400 and put.json()["error_code"] == "MAX_BLOCK_SIZE_EXCEEDED"
    emulator.call("POST", "/api/2.0/dbfs/put", json={"path": "/small.txt", "contents": "eA=="})
    read = emulator.request("GET", "/api/2.0/dbfs/read",
                            params={"path": "/small.txt", "length": 2 * 1024 * 1024})
    assert read.status_code == 400 and read.json()["error_code"] == "MAX_READ_SIZE_EXCEEDED"


def test_delete_needs_recursive_for_a_full_directory(emulator):
    emulator.call("POST", "/api/2.0/dbfs/put", json={"path": "/tree/leaf.txt", "contents": "eA=="})
    refused = emulator.request("POST", "/api/2.0/dbfs/delete", json={"path": "/tree"})
    assert refused.status_code == 400 and refused.json()["error_code"] == "IO_ERROR"
    emulator.call("POST", "/api/2.0/dbfs/delete", json={"path": "/tree", "recursive": True})
    assert not (emulator.root / "dbfs" / "tree").exists()


def test_mkdirs_over_a_file_and_move(emulator):
    emulator.call("POST", "/api/2.0/dbfs/put", json={"path": "/f.txt", "contents": "eA=="})
    clash = emulator.request("POST", "/api/2.0/dbfs/mkdirs", json={"path": "/f.txt/sub"})
    assert clash.status_code == 409
    emulator.call("POST", "/api/2.0/dbfs/move",
                  json={"source_path": "/f.txt", "destination_path": "/moved/f.txt"})
    assert (emulator.root / "dbfs" / "moved" / "f.txt").read_bytes() == b"x"


def test_relative_paths_and_escapes_are_refused_or_contained(emulator):
    relative = emulator.request("GET", "/api/2.0/dbfs/get-status", params={"path": "a/b"})
    assert relative.status_code == 400
    assert relative.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                               "message": "Path must be absolute: a/b"}
    emulator.call("POST", "/api/2.0/dbfs/put",
                  json={"path": "/../../outside.txt", "contents": "eA=="})
    assert (emulator.root / "dbfs" / "outside.txt").exists()
    assert not (emulator.root.parent / "outside.txt").exists()


def test_raw_fuse_endpoint_uploads_once_and_downloads(emulator):
    """What ``mlflow run -b databricks`` and MLflow's DBFS artifact repository use."""
    first = emulator.request("POST", "/dbfs/projects/p.tar.gz", data=b"tarball")
    assert first.status_code == 200
    second = emulator.request("POST", "/dbfs/projects/p.tar.gz", data=b"other")
    assert second.status_code == 409
    assert second.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert emulator.request("GET", "/dbfs/projects/p.tar.gz").content == b"tarball"
    assert emulator.call("GET", "/api/2.0/dbfs/get-status",
                         params={"path": "/projects/p.tar.gz"})["file_size"] == 7
