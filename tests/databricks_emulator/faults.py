"""Fault injection: make the next N calls of an endpoint fail with 429/5xx or time out.

A fault matches a request by ``path`` and optionally ``method``. ``path`` is one of:

* a full path, ``/api/2.0/jobs/runs/get``;
* a path without its API version, ``jobs/runs/get`` (matches ``/api/2.0/...`` and ``/api/2.2/...``);
* a prefix ending in ``*``, ``/api/2.0/fs/files/*``.

``status`` 429 answers REQUEST_LIMIT_EXCEEDED with ``Retry-After: 1``, 500 INTERNAL_ERROR, 502/503/504
TEMPORARILY_UNAVAILABLE. ``timeout_seconds`` instead holds the request that long (past the
client's read timeout) and then answers 504, as a gateway would.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Optional

from flask import Response, jsonify

__all__ = ["Fault", "FaultInjector"]

_ERRORS = {429: "REQUEST_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 502: "TEMPORARILY_UNAVAILABLE",
           503: "TEMPORARILY_UNAVAILABLE", 504: "TEMPORARILY_UNAVAILABLE"}
_VERSION = re.compile(r"^/api/\d+\.\d+/")


@dataclass
class Fault:
    """One armed fault."""

    fault_id: int
    path: str
    remaining: int
    status: int = 500
    method: Optional[str] = None
    timeout_seconds: Optional[float] = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        if self.path.startswith("/"):
            return path == self.path
        return _VERSION.sub("", path) == self.path.lstrip("/")


class FaultInjector:
    """The armed faults of the emulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: list[Fault] = []

    def add(self, path: str, count: int = 1, status: int = 500, method: Optional[str] = None,
            timeout_seconds: Optional[float] = None) -> Fault:
        """Arm a fault for the next ``count`` matching calls."""
        if timeout_seconds is None and status not in _ERRORS:
            raise ValueError(f"status must be one of {sorted(_ERRORS)}")
        with self._lock:
            fault = Fault(next(self._ids), path, count, status, method, timeout_seconds)
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def armed(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Optional[Fault]:
        """The fault this call triggers (one use of it is spent), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def respond(fault: Fault, method: str, path: str) -> Response:
        """The failure response of ``fault``."""
        if fault.timeout_seconds is not None:
            time.sleep(fault.timeout_seconds)
            status, code = 504, "TEMPORARILY_UNAVAILABLE"
        else:
            status, code = fault.status, _ERRORS[fault.status]
        response = jsonify({"error_code": code,
                            "message": f"Injected fault {fault.fault_id} for {method} {path}"})
        response.status_code = status
        if status == 429:
            response.headers["Retry-After"] = "1"
        return response
