"""``WorkspaceEmulator``: start the emulator in its own process and talk to it from a test.

    with WorkspaceEmulator(root=tmp_path, token="dapi-test") as ws:
        env = ws.env()            # {"DATABRICKS_HOST": ws.host, "DATABRICKS_TOKEN": ...}
        ws.inject_fault("jobs/runs/get", status=429, count=2)

The server runs as ``python -m tests.databricks_emulator`` in a child process (MLflow's server
handlers keep process-wide state, and task processes must not share the test's environment).
Its environment drops every ``MLFLOW_*``/``DATABRICKS_*`` variable of the test process; the
token reaches it through ``EMULATOR_TOKEN``, never the command line or a file. Its log is
``<root>/emulator.log``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import requests

__all__ = ["EmulatorError", "WorkspaceEmulator"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TERMINAL_STATES = ("TERMINATED", "SKIPPED", "INTERNAL_ERROR")


class EmulatorError(RuntimeError):
    """The emulator did not start, or a control call failed."""


class WorkspaceEmulator:
    """A running emulated Databricks workspace (a context manager).

    Args:
        root: folder holding all its data (created).
        token: the bearer token it accepts (default: a random ``dapi...`` token).
        port: port on 127.0.0.1 (0: a free one).
        cluster_start_seconds: how long clusters stay PENDING.
        startup_timeout: seconds to wait for the server to listen.
    """

    def __init__(self, root: Path, token: Optional[str] = None, *, port: int = 0,
                 cluster_start_seconds: float = 0.5, startup_timeout: float = 90.0) -> None:
        self.root = Path(root).resolve()
        self.token = token or f"dapi{secrets.token_hex(16)}"
        self.port = port
        self.cluster_start_seconds = cluster_start_seconds
        self.startup_timeout = startup_timeout
        self.process: Optional[subprocess.Popen] = None
        self.host = ""
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    # -- process ----------------------------------------------------------------------------

    def __enter__(self) -> "WorkspaceEmulator":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def log_file(self) -> Path:
        return self.root / "emulator.log"

    def start(self) -> None:
        """Start the server process and wait until it listens.

        Raises:
            EmulatorError: it exited or did not listen within ``startup_timeout``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        ready = self.root / "emulator.ready.json"
        ready.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MLFLOW_", "_MLFLOW", "DATABRICKS_"))}
        env["EMULATOR_TOKEN"] = self.token
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.databricks_emulator", "--root", str(self.root),
                 "--port", str(self.port), "--ready-file", str(ready),
                 "--cluster-start-seconds", str(self.cluster_start_seconds)],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + self.startup_timeout
        while not ready.exists():
            if self.process.poll() is not None:
                raise EmulatorError(f"emulator exited with {self.process.returncode}:\n"
                                    f"{self.log_tail()}")
            if time.time() > deadline:
                self.stop()
                raise EmulatorError(f"emulator did not listen within {self.startup_timeout}s:\n"
                                    f"{self.log_tail()}")
            time.sleep(0.1)
        info = json.loads(ready.read_text())
        self.port, self.host = info["port"], info["base_url"]

    def stop(self) -> None:
        """Stop the server (active runs are canceled first)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the emulator's log."""
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # -- talking to it ----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """``DATABRICKS_HOST`` and ``DATABRICKS_TOKEN`` pointing at this workspace."""
        return {"DATABRICKS_HOST": self.host, "DATABRICKS_TOKEN": self.token}

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated HTTP request to ``path`` (``requests`` keyword arguments)."""
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.host}{path}", **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> dict:
        """Like ``request`` but returns the JSON body; raises ``EmulatorError`` on an error."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else {}

    def inject_fault(self, path: str, *, status: int = 500, count: int = 1,
                     method: Optional[str] = None, timeout_seconds: Optional[float] = None) -> int:
        """Make the next ``count`` calls of ``path`` fail (see ``faults.py``); returns its id."""
        body = {"path": path, "status": status, "count": count, "method": method,
                "timeout_seconds": timeout_seconds}
        return self.call("POST", "/__emulator/faults", json=body)["fault_id"]

    def clear_faults(self) -> None:
        self.call("DELETE", "/__emulator/faults")

    def armed_faults(self) -> list[dict]:
        return self.call("GET", "/__emulator/faults")["faults"]

    def request_log(self) -> list[dict]:
        """Requests served so far: ``{"method", "path", "status", "ms"}``."""
        return self.call("GET", "/__emulator/requests")["requests"]

    def clear_request_log(self) -> None:
        self.call("DELETE", "/__emulator/requests")

    def create_cluster(self, name: str = "emulated-cluster", *, state: str = "RUNNING",
                       **spec: Any) -> str:
        """An all-purpose cluster already RUNNING (or TERMINATED); returns its id."""
        full = {"cluster_name": name, "spark_version": "15.4.x-scala2.12",
                "node_type_id": "i3.xlarge", "num_workers": 0, **spec}
        return self.call("POST", "/__emulator/clusters",
                         json={"spec": full, "state": state})["cluster_id"]

    def terminate_cluster(self, cluster_id: str, *, code: str = "DRIVER_UNREACHABLE",
                          type_: str = "SERVICE_FAULT", message: str = "Driver is unreachable",
                          parameters: Optional[dict] = None) -> dict:
        """Make the cluster fail now (see ``admin.py``); returns its ``ClusterDetails``."""
        return self.call("POST", "/__emulator/clusters/terminate", json={
            "cluster_id": cluster_id, "code": code, "type": type_, "message": message,
            "parameters": parameters or {}})

    def get_run(self, run_id: int) -> dict:
        return self.call("GET", "/api/2.1/jobs/runs/get", params={"run_id": run_id})

    def wait_for_run(self, run_id: int, timeout: float = 300.0, poll: float = 0.2) -> dict:
        """Poll ``runs/get`` until the run is over; returns the last ``Run``.

        Raises:
            EmulatorError: still running after ``timeout`` seconds.
        """
        deadline = time.time() + timeout
        while True:
            run = self.get_run(run_id)
            if run["state"]["life_cycle_state"] in TERMINAL_STATES:
                return run
            if time.time() > deadline:
                raise EmulatorError(f"run {run_id} still {run['state']} after {timeout}s")
            time.sleep(poll)
