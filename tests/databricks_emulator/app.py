"""The emulator's HTTP application: one Flask app with every API module mounted, and ``serve``.

Each request passes, in order: the request log, bearer authentication (``auth.py``), injected
faults (``faults.py``), then its endpoint. Errors answer ``{"error_code", "message"}``;
an unknown path answers 404 ENDPOINT_NOT_FOUND like the service.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Optional

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from . import admin, clusters, dbfs, files_api, identity, jobs, mlflow_api, workspace
from .auth import PUBLIC_PREFIXES, check_bearer
from .clusters import ClusterRegistry
from .config import EmulatorConfig
from .errors import ApiError
from .faults import FaultInjector
from .runs import RunRegistry
from .shapes import ShapeError

__all__ = ["Emulator", "create_app", "serve"]

_log = logging.getLogger("databricks_emulator")


@dataclass
class Emulator:
    """A built emulator: the app and the state behind it."""

    app: Flask
    config: EmulatorConfig
    clusters: ClusterRegistry
    runs: RunRegistry
    faults: FaultInjector
    requests: admin.RequestLog


def create_app(config: EmulatorConfig) -> Emulator:
    """Build the emulator for ``config`` (its folders are created)."""
    config.layout.create()
    app = Flask("databricks_emulator")
    app.config["MAX_CONTENT_LENGTH"] = None
    cluster_registry = ClusterRegistry(config)
    run_registry = RunRegistry(config, cluster_registry)
    faults = FaultInjector()
    request_log = admin.RequestLog()

    identity.register(app, config)
    dbfs.register(app, config)
    files_api.register(app, config)
    workspace.register(app, config)
    clusters.register(app, config, cluster_registry)
    jobs.register(app, config, cluster_registry, run_registry)
    mlflow_api.register(app, config)
    admin.register(app, faults, request_log, cluster_registry)

    @app.before_request
    def gatekeeper() -> Optional[Response]:
        g.started = time.perf_counter()
        if request.path.startswith(PUBLIC_PREFIXES):
            return None
        denied = check_bearer(request.headers.get("Authorization"), config.token)
        if denied is not None:
            return denied
        if not request.path.startswith("/__emulator/"):
            fault = faults.take(request.method, request.path)
            if fault is not None:
                return faults.respond(fault, request.method, request.path)
        return None

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("started", time.perf_counter())
        request_log.add(request.method, request.path, response.status_code,
                        (time.perf_counter() - started) * 1000)
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        response = jsonify(error.body())
        response.status_code = error.status
        return response

    @app.errorhandler(ShapeError)
    def shape_error(error: ShapeError):
        _log.error("emulator response off the SDK shape: %s", error)
        response = jsonify({"error_code": "INTERNAL_ERROR",
                            "message": f"Emulator bug: response does not match the SDK: {error}"})
        response.status_code = 500
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 404:
            body = {"error_code": "ENDPOINT_NOT_FOUND",
                    "message": f"No API found for '{request.method} {request.path}'"}
        elif error.code == 405:
            body = {"error_code": "ENDPOINT_NOT_FOUND",
                    "message": f"No API found for '{request.method} {request.path}'"}
        else:
            body = {"error_code": "INTERNAL_ERROR" if (error.code or 500) >= 500 else
                    "BAD_REQUEST", "message": error.description or str(error)}
        response = jsonify(body)
        response.status_code = 404 if error.code == 405 else (error.code or 500)
        return response

    return Emulator(app, config, cluster_registry, run_registry, faults, request_log)


def serve(config: EmulatorConfig, on_ready=None) -> None:
    """Serve ``config``'s workspace until SIGTERM/SIGINT; ``on_ready(config)`` once bound.

    Stopping cancels active runs (their process groups are killed).
    """
    emulator = create_app(config)
    server = make_server(config.host, config.port, emulator.app, threaded=True)
    config.port = server.server_port
    config.base_url = f"http://{config.host}:{config.port}"

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_ready is not None:
        on_ready(config)
    try:
        server.serve_forever()
    finally:
        emulator.runs.cancel_all()
        server.server_close()
