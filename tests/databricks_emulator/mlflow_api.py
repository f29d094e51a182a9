"""The MLflow REST API of the workspace: MLflow's own server handlers on a local store, plus the
Databricks-only artifact endpoints, so ``MLFLOW_TRACKING_URI=databricks`` works for real.

* Tracking and (workspace) model registry: every ``/api/2.0/mlflow/...`` and
  ``/api/3.0/mlflow/...`` handler of ``mlflow.server.handlers``, on a SQLite store in
  ``<root>/mlflow/mlflow.db``.
* Artifacts are laid out as on Databricks: the default artifact root is
  ``dbfs:/databricks/mlflow-tracking``, so experiments live at ``.../<experiment_id>``, runs at
  ``.../<experiment_id>/<run_id>/artifacts`` and logged models at
  ``.../<experiment_id>/logged_models/<model_id>/artifacts``. MLflow's client writes those
  through the Files API at ``/WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs|LoggedModels/...``
  (``files_api.py``) and, when that fails, falls back to ``credentials-for-write`` /
  ``credentials-for-read``: those answer ``AWS_PRESIGNED_URL`` credentials whose signed URLs
  point back at this server (``/__signed/...``) and reach the same files.
* ``artifacts/list`` and logged-model ``artifacts/directories`` list those files (MLflow's own
  handlers would try to reach DBFS from the server).
* The workspace model registry's artifact endpoints (``model-versions/list-artifacts``,
  ``model-versions/get-signed-download-uri``) serve ``models:/<name>/<version>`` downloads
  with ``MLFLOW_REGISTRY_URI=databricks``. Unity Catalog (``databricks-uc``) is not emulated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional

from flask import Flask, Response, jsonify, request

from .config import EmulatorConfig
from .errors import ApiError, invalid_parameter, not_found
from .rest import json_body
from .storage import atomic_write

__all__ = ["ArtifactLocator", "register"]

ARTIFACT_ROOT = "dbfs:/databricks/mlflow-tracking"
_SIGNED_TTL_SECONDS = 15 * 60
_ARTIFACT_URI = re.compile(r"^dbfs:/databricks/mlflow-tracking/(?P<exp>[^/]+)/"
                           r"(?:logged_models/(?P<model>[^/]+)|(?P<run>[^/]+))(?P<rest>/.*)?$")


class ArtifactLocator:
    """Maps MLflow artifact URIs to Files API paths and signs URLs for them."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.secret = secrets.token_bytes(32)

    @staticmethod
    def internal_path(artifact_uri: str) -> str:
        """``dbfs:/databricks/mlflow-tracking/<exp>/<run>/artifacts/x`` ->
        ``/WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/artifacts/x``.

        Raises:
            ApiError: INVALID_PARAMETER_VALUE for another location.
        """
        match = _ARTIFACT_URI.match(artifact_uri.rstrip("/"))
        if not match:
            raise invalid_parameter(f"{artifact_uri} is not an MLflow artifact location of this "
                                    "workspace")
        kind, ident = (("LoggedModels", match["model"]) if match["model"]
                       else ("Runs", match["run"]))
        return f"/WorkspaceInternal/Mlflow/Artifacts/{match['exp']}/{kind}/{ident}{match['rest'] or ''}"

    def local(self, artifact_uri: str, relative: str = "") -> Path:
        """The local file of ``relative`` under ``artifact_uri``."""
        path = self.internal_path(artifact_uri).rstrip("/")
        if relative.strip("/"):
            path += "/" + relative.strip("/")
        return self.config.layout.files_api(path)

    def sign(self, local: Path, method: str) -> str:
        """A URL that lets anyone ``method`` (PUT/GET) ``local`` for 15 minutes, no token."""
        relative = str(local.relative_to(self.config.layout.root))
        payload = base64.urlsafe_b64encode(json.dumps(
            {"p": relative, "m": method, "e": int(time.time()) + _SIGNED_TTL_SECONDS}).encode()).decode()
        signature = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{self.config.base_url}/__signed/{payload}.{signature}"

    def verify(self, token: str, method: str) -> Path:
        """The local file a signed URL grants ``method`` on.

        Raises:
            ApiError: 403 for a bad, expired or wrong-method signature.
        """
        payload, _, signature = token.rpartition(".")
        expected = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        if not payload or not hmac.compare_digest(signature, expected):
            raise ApiError(403, "PERMISSION_DENIED", "Signature does not match")
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
        if claims["e"] < time.time():
            raise ApiError(403, "PERMISSION_DENIED", "Request has expired")
        if claims["m"] != method and not (claims["m"] == "PUT" and method == "DELETE"):
            raise ApiError(403, "PERMISSION_DENIED", f"Signed for {claims['m']}, not {method}")
        return self.config.layout.root / claims["p"]


def _template_database() -> Path:
    """Where a freshly migrated, empty store is cached (migrating a new one takes ~6 s)."""
    import mlflow

    return (Path(tempfile.gettempdir()) / "databricks-emulator-cache"
            / f"mlflow-{mlflow.__version__}-{ARTIFACT_ROOT.replace(':', '').replace('/', '_')}.db")


def _save_template(db_file: Path, template: Path) -> None:
    template.parent.mkdir(parents=True, exist_ok=True)
    partial = template.with_suffix(f".{os.getpid()}.part")
    shutil.copy(db_file, partial)
    os.replace(partial, template)


def _list_files(base: Path, relative: str) -> list[dict]:
    folder = base / relative.strip("/") if relative.strip("/") else base
    if folder.is_file():
        return [{"path": relative.strip("/"), "is_dir": False, "file_size": folder.stat().st_size}]
    if not folder.is_dir():
        return []
    files = []
    for child in sorted(folder.iterdir()):
        if child.name.endswith(".part"):
            continue
        path = f"{relative.strip('/')}/{child.name}".lstrip("/")
        entry = {"path": path, "is_dir": child.is_dir()}
        if child.is_file():
            entry["file_size"] = child.stat().st_size
        files.append(entry)
    return files


def register(app: Flask, config: EmulatorConfig) -> ArtifactLocator:
    """Mount MLflow's handlers and the Databricks artifact endpoints on ``app``."""
    from mlflow.server import handlers
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    # Databricks keeps logged models under <experiment>/logged_models/<id>; MLflow's OSS store
    # names that folder "models". This process serves only the emulator, so set the layout.
    SqlAlchemyStore.MODELS_FOLDER_NAME = "logged_models"
    db_file = config.layout.mlflow_root / "mlflow.db"
    fresh = not db_file.exists()
    template = _template_database()
    if fresh and template.exists():
        shutil.copy(template, db_file)
    database = f"sqlite:///{db_file}"
    handlers.initialize_backend_stores(database, database, ARTIFACT_ROOT)
    if fresh and not template.exists():
        _save_template(db_file, template)
    store = handlers._get_tracking_store()
    locator = ArtifactLocator(config)

    overridden = {"/api/2.0/mlflow/artifacts/list",
                  "/api/2.0/mlflow/logged-models/<model_id>/artifacts/directories"}
    for path, handler, methods in handlers.get_endpoints():
        if path.startswith("/api/") and path not in overridden:
            app.add_url_rule(path, endpoint=f"mlflow:{path}:{handler.__name__}",
                             view_func=handler, methods=methods)

    def run_artifact_uri(run_id: Optional[str]) -> str:
        if not run_id:
            raise invalid_parameter("Missing required field: run_id")
        try:
            return store.get_run(run_id).info.artifact_uri
        except Exception:
            raise not_found(f"Run '{run_id}' not found.") from None

    def model_artifact_uri(model_id: str) -> str:
        try:
            return store.get_logged_model(model_id).artifact_location
        except Exception:
            raise not_found(f"Logged model '{model_id}' not found.") from None

    def credential(local: Path, method: str) -> dict:
        return {"signed_uri": locator.sign(local, method), "type": "AWS_PRESIGNED_URL",
                "headers": []}

    def run_credentials(method: str) -> Response:
        body = json_body()
        uri = run_artifact_uri(body.get("run_id"))
        paths = body.get("path") or []
        infos = [{"run_id": body["run_id"], "path": p,
                  **credential(locator.local(uri, p), method)} for p in paths]
        return jsonify({"credential_infos": infos})

    @app.post("/api/2.0/mlflow/artifacts/credentials-for-write")
    def credentials_for_write():
        return run_credentials("PUT")

    @app.post("/api/2.0/mlflow/artifacts/credentials-for-read")
    def credentials_for_read():
        return run_credentials("GET")

    def model_credentials(model_id: str, method: str) -> Response:
        uri = model_artifact_uri(model_id)
        paths = json_body().get("paths") or []
        return jsonify({"credentials": [
            {"model_id": model_id, "credential_info": {"path": p, **credential(
                locator.local(uri, p), method)}} for p in paths]})

    @app.post("/api/2.0/mlflow/logged-models/<model_id>/artifacts/credentials-for-upload")
    def credentials_for_model_upload(model_id: str):
        return model_credentials(model_id, "PUT")

    @app.post("/api/2.0/mlflow/logged-models/<model_id>/artifacts/credentials-for-download")
    def credentials_for_model_download(model_id: str):
        return model_credentials(model_id, "GET")

    @app.get("/api/2.0/mlflow/artifacts/list")
    def list_run_artifacts():
        fields = {**request.args.to_dict(), **(json_body() or {})}
        uri = run_artifact_uri(fields.get("run_id") or fields.get("run_uuid"))
        files = _list_files(locator.local(uri), fields.get("path") or "")
        return jsonify({"root_uri": uri, "files": files})

    @app.get("/api/2.0/mlflow/logged-models/<model_id>/artifacts/directories")
    def list_model_artifacts(model_id: str):
        uri = model_artifact_uri(model_id)
        path = request.args.get("artifact_directory_path") or ""
        return jsonify({"root_uri": uri, "files": _list_files(locator.local(uri), path)})

    def model_version_artifact_uri(fields: dict) -> str:
        registry = handlers._get_model_registry_store()
        try:
            source = registry.get_model_version(fields.get("name"), fields.get("version")).source
        except Exception:
            raise not_found(f"Model version {fields.get('name')} {fields.get('version')} "
                            "not found.") from None
        if source.startswith("models:/m-"):
            return model_artifact_uri(source[len("models:/"):])
        return source

    @app.get("/api/2.0/mlflow/model-versions/list-artifacts")
    def list_model_version_artifacts():
        fields = {**request.args.to_dict(), **(json_body() or {})}
        uri = model_version_artifact_uri(fields)
        return jsonify({"files": _list_files(locator.local(uri), fields.get("path") or "")})

    @app.get("/api/2.0/mlflow/model-versions/get-signed-download-uri")
    def model_version_download_uri():
        fields = {**request.args.to_dict(), **(json_body() or {})}
        local = locator.local(model_version_artifact_uri(fields), fields.get("path") or "")
        return jsonify({"signed_uri": locator.sign(local, "GET"), "headers": []})

    def signed(token: str) -> Response:
        local = locator.verify(token, request.method)
        if request.method == "PUT":
            atomic_write(local, request.get_data())
            return Response(status=200, headers={"ETag": hashlib.md5(
                local.read_bytes()).hexdigest()})
        if request.method == "DELETE":
            return Response(status=204)
        if not local.is_file():
            raise not_found("The specified key does not exist.", "NOT_FOUND")
        return Response(local.read_bytes(), mimetype="application/octet-stream")

    app.add_url_rule("/__signed/<token>", endpoint="signed", view_func=signed,
                     methods=["GET", "PUT", "DELETE"])
    return locator
