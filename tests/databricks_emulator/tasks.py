"""Task settings: the checks the Jobs service makes on ``tasks`` and how each task type runs.

Supported task types (what ``mlflow run -b databricks`` and deployment jobs submit):

* ``shell_command_task`` (MLflow's classic project runs): the command list, paths mapped.
* ``spark_python_task``: ``python <file> <parameters>``; the file may be ``dbfs:/``, ``/dbfs/``,
  ``/Workspace/`` or ``/Volumes/``; it runs from a path-mapped copy (see ``driver.py``).
* ``python_wheel_task``: the entry point of a wheel installed as a task library.

Other task types are valid for the service but answered with 501 NOT_IMPLEMENTED.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

from databricks.sdk.service import jobs

from .clusters import validate_cluster_spec
from .driver import DriverSandbox
from .errors import invalid_parameter, not_implemented
from .libraries import LibraryError, read_library_file
from .shapes import dataclass_fields

__all__ = ["SUPPORTED_TASK_TYPES", "TaskError", "task_command", "task_type", "validate_tasks"]

SUPPORTED_TASK_TYPES = ("shell_command_task", "spark_python_task", "python_wheel_task")
_TASK_TYPES = sorted({name for name in dataclass_fields(jobs.Task) if name.endswith("_task")})
_WHEEL_RUNNER = Path(__file__).with_name("cluster_bin") / "python_wheel_task.py"


class TaskError(Exception):
    """A task cannot start (its file is missing, ...): the task run fails with this message."""


def task_type(task: dict) -> Optional[str]:
    """The one ``*_task`` key of ``task``."""
    found = [name for name in _TASK_TYPES if task.get(name) is not None]
    return found[0] if len(found) == 1 else None


def _check_order(tasks: list[dict]) -> None:
    keys = {t["task_key"] for t in tasks}
    graph = {t["task_key"]: [d["task_key"] for d in t.get("depends_on") or []] for t in tasks}
    for key, deps in graph.items():
        for dep in deps:
            if dep not in keys:
                raise invalid_parameter(f"Task {key} depends on {dep}, which is not a task of this job")
    visiting, done = set(), set()

    def visit(key: str) -> None:
        if key in done:
            return
        if key in visiting:
            raise invalid_parameter(f"The task dependency graph has a cycle through {key}")
        visiting.add(key)
        for dep in graph[key]:
            visit(dep)
        done.add(key)

    for key in graph:
        visit(key)


def validate_tasks(tasks: list[dict], job_clusters: list[dict],
                   cluster_exists: Callable[[str], None]) -> None:
    """Check ``tasks`` the way the service does before it accepts a job or run.

    Raises:
        ApiError: INVALID_PARAMETER_VALUE, or NOT_IMPLEMENTED for task types the emulator
        cannot run.
    """
    seen: set[str] = set()
    cluster_keys = {c["job_cluster_key"] for c in job_clusters}
    for i, cluster in enumerate(job_clusters):
        if cluster.get("new_cluster"):
            validate_cluster_spec(cluster["new_cluster"], f"job_clusters[{i}].new_cluster")
    for i, task in enumerate(tasks):
        key = task["task_key"]
        if key in seen:
            raise invalid_parameter(f"Task key {key} is used by more than one task")
        seen.add(key)
        kind = task_type(task)
        if kind is None:
            raise invalid_parameter(f"Task {key} must have exactly one task type "
                                    "(spark_python_task, python_wheel_task, ...)")
        if kind not in SUPPORTED_TASK_TYPES:
            raise not_implemented(f"Task {key}: {kind} is not supported by the emulator; it runs "
                                  f"{', '.join(SUPPORTED_TASK_TYPES)}")
        computes = [c for c in ("job_cluster_key", "new_cluster", "existing_cluster_id") if task.get(c)]
        if len(computes) != 1:
            raise invalid_parameter(
                "One of job_cluster_key, new_cluster, or existing_cluster_id must be specified."
                if not computes else f"Task {key}: only one of {computes} may be specified.")
        if task.get("new_cluster"):
            validate_cluster_spec(task["new_cluster"], f"tasks[{i}].new_cluster")
        if task.get("job_cluster_key") and task["job_cluster_key"] not in cluster_keys:
            raise invalid_parameter(f"Task {key}: job cluster {task['job_cluster_key']} is not "
                                    "defined in job_clusters")
        if task.get("existing_cluster_id"):
            cluster_exists(task["existing_cluster_id"])
        wheel = task.get("python_wheel_task") or {}
        if wheel.get("parameters") and wheel.get("named_parameters"):
            raise invalid_parameter(f"Task {key}: python_wheel_task takes parameters or "
                                    "named_parameters, not both")
    _check_order(tasks)


def _python_file(task: dict, sandbox: DriverSandbox, task_run_id: int) -> Path:
    uri = task["spark_python_task"]["python_file"]
    if uri.startswith("/dbfs/"):
        uri = "dbfs:" + uri[len("/dbfs"):]
    if not (uri.startswith("dbfs:/") or uri.startswith("/Workspace/") or uri.startswith("/Volumes/")):
        raise TaskError(f"python_file {uri}: the emulator runs files from dbfs:/, /Workspace/ "
                        "and /Volumes/ (no git_source, no cloud storage)")
    try:
        source = read_library_file(sandbox.layout, uri).decode("utf-8")
    except LibraryError as exc:
        raise TaskError(f"Cannot read python_file {exc}") from None
    local = sandbox.folder / "local_disk0" / "tmp" / f"task-{task_run_id}" / Path(uri).name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(sandbox.map_paths(source))
    return local


def task_command(task: dict, sandbox: DriverSandbox, task_run_id: int,
                 overrides: dict) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) that run ``task`` on the sandbox's driver.

    ``overrides`` are run-now parameters (``python_params``, ``python_named_params``).

    Raises:
        TaskError: the task cannot start.
    """
    kind = task_type(task)
    if kind == "shell_command_task":
        spec = task["shell_command_task"]
        return [sandbox.map_paths(a) for a in spec["command"]], dict(spec.get("env_vars") or {})
    if kind == "spark_python_task":
        params = overrides.get("python_params") or task["spark_python_task"].get("parameters") or []
        python_file = _python_file(task, sandbox, task_run_id)
        return [sys.executable, str(python_file), *[sandbox.map_paths(p) for p in params]], {}
    if kind == "python_wheel_task":
        spec = task["python_wheel_task"]
        named = overrides.get("python_named_params") or spec.get("named_parameters")
        params = ([f"--{k}={v}" for k, v in named.items()] if named
                  else overrides.get("python_params") or spec.get("parameters") or [])
        return [sys.executable, str(_WHEEL_RUNNER), spec["package_name"], spec["entry_point"],
                *[sandbox.map_paths(p) for p in params]], {}
    raise TaskError(f"{kind} is not supported by the emulator")

