"""Emulator controls for tests, under ``/__emulator/`` (same bearer token as the API):

* ``GET|POST|DELETE /__emulator/faults``: list, arm (``{"path", "count", "status" |
  "timeout_seconds", "method"}``) and clear injected faults (``faults.py``).
* ``GET|DELETE /__emulator/requests``: the request log (method, path, status, milliseconds;
  never headers or bodies) and clearing it.
* ``POST /__emulator/clusters``: create an all-purpose cluster directly in a state
  (``{"spec": {...ClusterSpec}, "state": "RUNNING" | "TERMINATED"}``), skipping start-up.
* ``POST /__emulator/clusters/terminate``: make a cluster fail now (``{"cluster_id", "code",
  "type", "message", "parameters"}``: a ``TerminationReason`` code and type, the cluster's
  ``state_message``); a task running on it is stopped and its run ends INTERNAL_ERROR with
  the cluster's message, as when a driver is lost.
"""

from __future__ import annotations

import threading
from collections import deque

from databricks.sdk.service import compute
from flask import Flask, jsonify

from .clusters import ClusterRegistry, validate_cluster_spec
from .errors import invalid_parameter
from .faults import FaultInjector
from .rest import json_body

__all__ = ["RequestLog", "register"]


class RequestLog:
    """The last 10,000 requests: method, path, status and duration, nothing else."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque = deque(maxlen=10_000)

    def add(self, method: str, path: str, status: int, millis: float) -> None:
        with self._lock:
            self._entries.append({"method": method, "path": path, "status": status,
                                  "ms": round(millis, 1)})

    def entries(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def register(app: Flask, faults: FaultInjector, log: RequestLog, clusters: ClusterRegistry) -> None:
    """Add the ``/__emulator/`` endpoints to ``app``."""

    @app.get("/__emulator/faults")
    def list_faults():
        return jsonify({"faults": faults.armed()})

    @app.post("/__emulator/faults")
    def add_fault():
        body = json_body()
        if not isinstance(body, dict) or not body.get("path"):
            raise invalid_parameter("A fault needs a path")
        try:
            fault = faults.add(body["path"], int(body.get("count", 1)),
                               int(body.get("status", 500)), body.get("method"),
                               body.get("timeout_seconds"))
        except ValueError as exc:
            raise invalid_parameter(str(exc)) from None
        return jsonify({"fault_id": fault.fault_id})

    @app.delete("/__emulator/faults")
    def clear_faults():
        faults.clear()
        return jsonify({})

    @app.get("/__emulator/requests")
    def list_requests():
        return jsonify({"requests": log.entries()})

    @app.delete("/__emulator/requests")
    def clear_requests():
        log.clear()
        return jsonify({})

    @app.post("/__emulator/clusters")
    def create_cluster():
        body = json_body()
        spec = body.get("spec") or {}
        validate_cluster_spec(spec, "spec")
        state = body.get("state", "RUNNING")
        if state not in ("RUNNING", "TERMINATED"):
            raise invalid_parameter("state must be RUNNING or TERMINATED")
        cluster = clusters.create(spec, source=body.get("source", "UI"),
                                  state="TERMINATED" if state == "TERMINATED" else "PENDING")
        if state == "RUNNING":
            cluster.ready_at = 0.0
        return jsonify({"cluster_id": cluster.cluster_id})

    @app.post("/__emulator/clusters/terminate")
    def terminate_cluster():
        body = json_body()
        code, kind = body.get("code", "DRIVER_UNREACHABLE"), body.get("type", "SERVICE_FAULT")
        if code not in {c.value for c in compute.TerminationReasonCode}:
            raise invalid_parameter(f"code {code!r} is not a TerminationReasonCode")
        if kind not in {t.value for t in compute.TerminationReasonType}:
            raise invalid_parameter(f"type {kind!r} is not a TerminationReasonType")
        reason = {"code": code, "type": kind}
        if body.get("parameters"):
            reason["parameters"] = {str(k): str(v) for k, v in body["parameters"].items()}
        cluster = clusters.terminate(str(body.get("cluster_id")), body.get(
            "message", "The driver became unreachable"), reason)
        return jsonify(clusters.details(cluster))
