"""The driver of an emulated cluster: a sandbox folder on this machine that runs task processes.

A Databricks driver sees DBFS, workspace files and volumes as FUSE mounts and keeps its own
local disk under ``/databricks`` and ``/local_disk0``. Here, absolute paths with those roots are
rewritten wherever a task names them: in a ``shell_command_task`` command, in the parameters of
a ``spark_python_task`` / ``python_wheel_task`` and in the text of the Python file a
``spark_python_task`` runs::

    /dbfs/<p>         -> <root>/dbfs/<p>                (the emulator's DBFS)
    /Workspace/<p>    -> <root>/workspace/<p>
    /Volumes/<p>      -> <root>/volumes/<p>
    /databricks/<p>   -> <root>/clusters/<id>/databricks/<p>   (per cluster, fresh per job cluster)
    /local_disk0/<p>  -> <root>/clusters/<id>/local_disk0/<p>

Paths a program builds at run time (``os.path.join("/dbfs", x)``) are not rewritten.

Task processes run the interpreter that runs the emulator (``sys.executable``; its ``bin``
folder is first on PATH, so ``python`` and ``mlflow`` are this virtualenv's) with a clean
environment: no variable of the emulator's own environment leaks in except locale and JAVA_HOME.
They get ``DATABRICKS_HOST``/``DATABRICKS_TOKEN`` of the emulator (a real driver gets the same
credentials from its notebook context), ``DB_HOME``, ``HOME`` and ``TMPDIR`` inside the sandbox,
the cluster's ``spark_env_vars`` and the task's own ``env_vars``. When the machine has no
``rsync`` (MLflow's project extraction calls it), a minimal stand-in is put on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .storage import Layout

__all__ = ["DriverSandbox", "ProcessOutcome", "run_process", "summarize_failure"]

CLUSTER_BIN = Path(sys.executable).parent
_PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "JAVA_HOME", "USER", "LOGNAME", "SHELL")
_MAPPED = re.compile(r"(?<![\w.\-/:$~])/(dbfs|Workspace|Volumes|databricks|local_disk0)"
                     r"(?=/|$|[\s'\"`;:,)&|<>])")
_RSYNC_SHIM = Path(__file__).with_name("cluster_bin") / "rsync"


@dataclass(frozen=True)
class DriverSandbox:
    """The local folders standing in for one cluster's driver."""

    folder: Path
    layout: Layout
    cluster_id: str

    @property
    def site_dir(self) -> Path:
        """Where wheels installed on the cluster are unpacked (on PYTHONPATH)."""
        return self.folder / "libs" / "site"

    @property
    def working_dir(self) -> Path:
        """The working directory of task processes (``/databricks/driver`` on a real driver)."""
        return self.folder / "databricks" / "driver"

    def create(self) -> None:
        """Create the sandbox folders and the PATH shims."""
        for sub in ("databricks/driver", "local_disk0/tmp", "home", "tmp", "bin"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        if shutil.which("rsync") is None and not (self.folder / "bin" / "rsync").exists():
            shutil.copy(_RSYNC_SHIM, self.folder / "bin" / "rsync")
            (self.folder / "bin" / "rsync").chmod(0o755)

    def map_root(self, name: str) -> Path:
        """The local folder standing in for ``/<name>``."""
        return {"dbfs": self.layout.dbfs_root, "Workspace": self.layout.workspace_root,
                "Volumes": self.layout.volumes_root}.get(name, self.folder / name)

    def map_paths(self, text: str) -> str:
        """``text`` with its driver paths (``/dbfs/...``, ``/databricks/...``) made local."""
        return _MAPPED.sub(lambda m: str(self.map_root(m.group(1))), text)

    def environment(self, host: str, token: str, extra: dict[str, str]) -> dict[str, str]:
        """The environment of a task process (see the module docstring)."""
        env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
        system_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update({
            "PATH": os.pathsep.join([str(CLUSTER_BIN), str(self.folder / "bin"), system_path]),
            "HOME": str(self.folder / "home"),
            "TMPDIR": str(self.folder / "tmp"),
            "DB_HOME": str(self.folder / "databricks"),
            "DB_CLUSTER_ID": self.cluster_id,
            "DB_IS_DRIVER": "TRUE",
            "PYTHONUNBUFFERED": "1",
            "DATABRICKS_HOST": host,
            "DATABRICKS_TOKEN": token,
        })
        if self.site_dir.is_dir():
            env["PYTHONPATH"] = str(self.site_dir)
        env.update({k: self.map_paths(v) for k, v in extra.items()})
        return env


@dataclass(frozen=True)
class ProcessOutcome:
    """How a task process ended."""

    exit_code: Optional[int]
    timed_out: bool = False
    canceled: bool = False


def _stop(process: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_process(argv: list[str], sandbox: DriverSandbox, env: dict[str, str], log_file: Path,
                deadline: Optional[float], canceled: Callable[[], bool]) -> ProcessOutcome:
    """Run ``argv`` in the sandbox, stdout and stderr into ``log_file``, in its own process
    group; stop the whole group at ``deadline`` (epoch seconds) or when ``canceled()``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as log:
        process = subprocess.Popen(argv, cwd=sandbox.working_dir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        while True:
            try:
                code = process.wait(0.1)
                return ProcessOutcome(code)
            except subprocess.TimeoutExpired:
                pass
            if canceled():
                _stop(process)
                return ProcessOutcome(process.returncode, canceled=True)
            if deadline is not None and time.time() >= deadline:
                _stop(process)
                return ProcessOutcome(process.returncode, timed_out=True)


def summarize_failure(log_text: str, exit_code: Optional[int]) -> tuple[str, str]:
    """(error, error_trace) of a failed task, from its combined output.

    ``error`` is the exception line of the last Python traceback (``ValueError: ...``) or the
    last non-empty output line; ``error_trace`` the last traceback, or the output's tail.
    """
    lines = [line for line in log_text.splitlines() if line.strip()]
    start = log_text.rfind("Traceback (most recent call last)")
    trace = log_text[start:] if start >= 0 else "\n".join(lines[-40:])
    error = ""
    for line in reversed(trace.splitlines()):
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b.*", line.strip()):
            error = line.strip()
            break
    if not error:
        error = lines[-1].strip() if lines else ""
    suffix = f"exit code {exit_code}" if exit_code is not None else "stopped"
    return (f"{error} ({suffix})" if error else f"Command failed with {suffix}"), trace[-20000:]
