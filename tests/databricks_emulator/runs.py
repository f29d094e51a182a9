"""Job runs: their life cycle, their execution on emulated clusters and their API views.

A run goes PENDING (waiting for its cluster) -> RUNNING -> TERMINATED with a result_state of
SUCCESS, FAILED, TIMEDOUT or CANCELED; a task whose libraries cannot be installed ends in
INTERNAL_ERROR. Tasks run one after another in dependency order (``run_if`` honoured), each as a
real process on its cluster's driver sandbox (``driver.py``). Every change is written to
``<root>/state/runs/<run_id>.json``; task output goes to ``<root>/runs/<task_run_id>/output.log``
and is served by ``runs/get-output`` (last 5 MB), with ``error`` and ``error_trace``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

from databricks.sdk.service import jobs

from .clusters import ClusterRegistry
from .config import EmulatorConfig
from .driver import DriverSandbox, run_process, summarize_failure
from .errors import invalid_parameter, invalid_state
from .shapes import dataclass_fields
from .storage import write_json
from .tasks import TaskError, task_command

__all__ = ["JobRun", "RunRegistry", "TaskRun"]

_LOG_LIMIT = 5 * 1024 * 1024
_RUN_TASK_FIELDS = set(dataclass_fields(jobs.RunTask))
_BASE_RUN_FIELDS = set(dataclass_fields(jobs.BaseRun))
_ACTIVE = ("QUEUED", "PENDING", "RUNNING", "TERMINATING")
_V2_STATE = {"QUEUED": "QUEUED", "PENDING": "PENDING", "RUNNING": "RUNNING",
             "TERMINATING": "TERMINATING", "TERMINATED": "TERMINATED",
             "INTERNAL_ERROR": "TERMINATED", "SKIPPED": "TERMINATED"}


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRun:
    """One task of a run."""

    task_key: str
    spec: dict
    run_id: int
    life: str = "PENDING"
    result: Optional[str] = None
    message: str = ""
    code: Optional[str] = None  # termination code (jobs.TerminationCodeCode)
    start_time: int = 0
    execution_start: int = 0
    end_time: int = 0
    cluster_id: Optional[str] = None
    error: Optional[str] = None
    error_trace: Optional[str] = None


@dataclass
class JobRun:
    """One run of a job or one submitted run."""

    run_id: int
    job_id: int
    run_name: str
    run_type: str
    trigger: str
    number_in_job: int
    tasks: list[TaskRun]
    job_clusters: list[dict] = field(default_factory=list)
    timeout_seconds: int = 0
    overrides: dict = field(default_factory=dict)
    life: str = "PENDING"
    result: Optional[str] = None
    message: str = "Waiting for cluster"
    code: Optional[str] = None
    start_time: int = field(default_factory=_now_ms)
    execution_start: int = 0
    end_time: int = 0
    cancel_requested: bool = False
    queue_limit: int = 0  # > 0: wait QUEUED while the job has this many other active runs


class RunRegistry:
    """All runs; starts a thread per run that drives it to its end."""

    def __init__(self, config: EmulatorConfig, clusters: ClusterRegistry) -> None:
        self.config = config
        self.clusters = clusters
        self.lock = threading.RLock()
        self.runs: dict[int, JobRun] = {}
        self.tasks: dict[int, tuple[JobRun, TaskRun]] = {}
        self.state_dir = config.layout.state_root / "runs"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ids = itertools.count(self._highest_saved_id() + 1)
        self.threads: list[threading.Thread] = []

    def _highest_saved_id(self) -> int:
        ids = [int(p.stem) for p in self.state_dir.glob("*.json") if p.stem.isdigit()]
        for path in self.state_dir.glob("*.json"):
            ids += [t.get("run_id", 0) for t in json.loads(path.read_text()).get("tasks", [])]
        return max(ids, default=1000)

    def new_id(self) -> int:
        """A fresh run id (job runs and task runs share one sequence, as in the service)."""
        with self.lock:
            return next(self.ids)

    # -- life cycle -------------------------------------------------------------------------

    def start(self, *, job_id: int, run_name: str, run_type: str, trigger: str, tasks: list[dict],
              job_clusters: list[dict], timeout_seconds: int, overrides: dict,
              number_in_job: int = 1, skip_reason: Optional[str] = None,
              queue_limit: int = 0) -> JobRun:
        """Create a run of ``tasks`` and start executing it (or record it SKIPPED); with
        ``queue_limit`` it first waits QUEUED until fewer runs of its job are active."""
        with self.lock:
            run = JobRun(run_id=self.new_id(), job_id=job_id, run_name=run_name, run_type=run_type,
                         trigger=trigger, number_in_job=number_in_job,
                         tasks=[TaskRun(t["task_key"], t, self.new_id()) for t in tasks],
                         job_clusters=job_clusters, timeout_seconds=timeout_seconds or 0,
                         overrides=overrides, queue_limit=queue_limit)
            self.runs[run.run_id] = run
            for task in run.tasks:
                self.tasks[task.run_id] = (run, task)
            if skip_reason:
                run.life, run.message, run.end_time = "SKIPPED", skip_reason, _now_ms()
                run.code = "MAX_CONCURRENT_RUNS_EXCEEDED"
                for task in run.tasks:
                    task.life, task.message = "SKIPPED", skip_reason
                self._save(run)
                return run
            self._save(run)
        thread = threading.Thread(target=self._execute, args=(run,), name=f"run-{run.run_id}",
                                  daemon=True)
        self.threads.append(thread)
        thread.start()
        return run

    def cancel(self, run_id: int) -> None:
        """Ask a run (or the run of a task run id) to stop; a finished run is left as it is."""
        with self.lock:
            run = self.find(run_id)[0]
            run.cancel_requested = True

    def cancel_all(self) -> None:
        """Cancel every active run (used when the emulator stops)."""
        with self.lock:
            for run in self.runs.values():
                run.cancel_requested = True
        for thread in self.threads:
            thread.join(timeout=15)

    def active_runs_of(self, job_id: int) -> int:
        with self.lock:
            return sum(1 for r in self.runs.values() if r.job_id == job_id and r.life in _ACTIVE)

    def find(self, run_id: int) -> tuple[JobRun, Optional[TaskRun]]:
        """(run, None) for a run id, (run, task) for a task run id.

        Raises:
            ApiError: INVALID_PARAMETER_VALUE "Run X does not exist." (the service's answer).
        """
        with self.lock:
            if run_id in self.runs:
                return self.runs[run_id], None
            if run_id in self.tasks:
                return self.tasks[run_id]
        raise invalid_parameter(f"Run {run_id} does not exist.")

    def delete(self, run_id: int) -> None:
        """Forget a finished run."""
        with self.lock:
            run, task = self.find(run_id)
            if task is not None:
                raise invalid_parameter(f"Run {run_id} is a task run; delete its job run")
            if run.life in _ACTIVE:
                raise invalid_state(f"Run {run_id} is still active; cancel it first")
            del self.runs[run_id]
            for t in run.tasks:
                self.tasks.pop(t.run_id, None)
            (self.state_dir / f"{run_id}.json").unlink(missing_ok=True)

    # -- execution --------------------------------------------------------------------------

    def _save(self, run: JobRun) -> None:
        write_json(self.state_dir / f"{run.run_id}.json", self.api_run(run))

    def _set(self, run: JobRun, task: Optional[TaskRun] = None, **changes) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(task if task is not None else run, name, value)
            self._save(run)

    def _deadline(self, run: JobRun, task: TaskRun) -> Optional[float]:
        limits = []
        if run.timeout_seconds:
            limits.append(run.start_time / 1000 + run.timeout_seconds)
        if task.spec.get("timeout_seconds"):
            limits.append(time.time() + task.spec["timeout_seconds"])
        return min(limits) if limits else None

    def _cluster_for(self, run: JobRun, task: TaskRun, job_clusters: dict[str, str]) -> str:
        spec = task.spec
        if spec.get("existing_cluster_id"):
            return spec["existing_cluster_id"]
        if spec.get("job_cluster_key"):
            key = spec["job_cluster_key"]
            if key not in job_clusters:
                definition = next(c for c in run.job_clusters if c["job_cluster_key"] == key)
                job_clusters[key] = self.clusters.create(definition["new_cluster"], source="JOB").cluster_id
            return job_clusters[key]
        cluster = self.clusters.create(spec["new_cluster"], source="JOB")
        job_clusters[f"task:{task.task_key}"] = cluster.cluster_id
        return cluster.cluster_id

    def _runnable(self, task: TaskRun, results: dict[str, Optional[str]]) -> Optional[str]:
        """None if ``task`` may run, else the result_state it ends with unrun."""
        deps = task.spec.get("depends_on") or []
        if not deps:
            return None
        outcomes = [results.get(d["task_key"]) for d in deps]
        ok = [o == "SUCCESS" for o in outcomes]
        rule = task.spec.get("run_if") or "ALL_SUCCESS"
        allowed = {"ALL_SUCCESS": all(ok), "ALL_DONE": True, "NONE_FAILED": all(
            o in ("SUCCESS", "EXCLUDED") for o in outcomes), "AT_LEAST_ONE_SUCCESS": any(ok),
            "ALL_FAILED": not any(ok), "AT_LEAST_ONE_FAILED": not all(ok)}.get(rule, all(ok))
        if allowed:
            return None
        if any(o in ("CANCELED", "UPSTREAM_CANCELED") for o in outcomes):
            return "UPSTREAM_CANCELED"
        return "UPSTREAM_FAILED" if rule in ("ALL_SUCCESS", "NONE_FAILED") else "EXCLUDED"

    def _ahead_in_queue(self, run: JobRun) -> int:
        """Runs of the same job that go before ``run``: active ones, and queued older ones."""
        with self.lock:
            return sum(1 for r in self.runs.values()
                       if r.job_id == run.job_id and r.run_id != run.run_id and r.life in _ACTIVE
                       and (r.life != "QUEUED" or r.run_id < run.run_id))

    def _wait_in_queue(self, run: JobRun) -> None:
        while (run.queue_limit and not run.cancel_requested
               and self._ahead_in_queue(run) >= run.queue_limit):
            if run.life != "QUEUED":
                self._set(run, life="QUEUED", message="Queued: the job's maximum number of "
                                                      "concurrent runs is reached")
            time.sleep(0.1)
        if run.life == "QUEUED":
            self._set(run, life="PENDING", message="Waiting for cluster")

    def _execute(self, run: JobRun) -> None:
        job_clusters: dict[str, str] = {}
        try:
            self._wait_in_queue(run)
            self._execute_tasks(run, job_clusters)
        except Exception as exc:  # an emulator bug: end the run visibly rather than hang it
            self._set(run, life="INTERNAL_ERROR", result="FAILED", code="INTERNAL_ERROR",
                      message=f"Emulator error: {exc!r}", end_time=_now_ms())
        finally:
            for cluster_id in job_clusters.values():
                self.clusters.terminate(cluster_id, "Job finished")

    def _execute_tasks(self, run: JobRun, job_clusters: dict[str, str]) -> None:
        results: dict[str, Optional[str]] = {}
        order = self._order(run.tasks)
        for task in order:
            skipped = self._runnable(task, results)
            if run.cancel_requested:
                skipped = "CANCELED"
            if skipped:
                self._set(run, task, life="TERMINATED", result=skipped, code="SKIPPED" if
                          skipped != "CANCELED" else "USER_CANCELED", end_time=_now_ms(),
                          message="Run was canceled" if skipped == "CANCELED" else
                          "Skipped because an upstream task did not succeed")
                results[task.task_key] = skipped
                continue
            results[task.task_key] = self._run_task(run, task, job_clusters)
        self._finish(run, order)

    def _run_task(self, run: JobRun, task: TaskRun, job_clusters: dict[str, str]) -> str:
        self._set(run, task, start_time=_now_ms(), message="Waiting for cluster")
        cluster_id = self._cluster_for(run, task, job_clusters)
        self._set(run, task, cluster_id=cluster_id)
        cluster = self.clusters.ensure_running(cluster_id, lambda: run.cancel_requested)
        if run.cancel_requested:
            self._set(run, task, life="TERMINATED", result="CANCELED", code="USER_CANCELED",
                      message="Run was canceled", end_time=_now_ms())
            return "CANCELED"
        sandbox = DriverSandbox(self.clusters.sandbox_folder(cluster), self.config.layout, cluster_id)
        sandbox.create()
        failed = [s for s in self.clusters.install(cluster_id, task.spec.get("libraries") or [])
                  if s["status"] == "FAILED"]
        if failed:
            message = failed[0]["messages"][0]
            self._set(run, task, life="INTERNAL_ERROR", result="FAILED",
                      code="LIBRARY_INSTALLATION_ERROR", message=message, error=message,
                      end_time=_now_ms())
            return "FAILED"
        if run.life == "PENDING":
            self._set(run, life="RUNNING", message="", execution_start=_now_ms())
        self._set(run, task, life="RUNNING", message="", execution_start=_now_ms())
        log_file = self.log_file(task)
        try:
            spark_env = cluster.spec.get("spark_env_vars") or {}
            argv, task_env = task_command(task.spec, sandbox, task.run_id, run.overrides)
            env = sandbox.environment(self.config.base_url, self.config.token,
                                      {**spark_env, **task_env})
        except TaskError as exc:
            self._set(run, task, life="INTERNAL_ERROR", result="FAILED", code="RESOURCE_NOT_FOUND",
                      message=str(exc), error=str(exc), end_time=_now_ms())
            return "FAILED"
        outcome = run_process(argv, sandbox, env, log_file, self._deadline(run, task),
                              lambda: run.cancel_requested or bool(self.clusters.lost(cluster_id)))
        lost = None if run.cancel_requested else self.clusters.lost(cluster_id)
        if lost:  # the cluster failed under the task: the service ends it INTERNAL_ERROR
            self._set(run, task, life="INTERNAL_ERROR", result="FAILED", code="CLUSTER_ERROR",
                      message=lost, end_time=_now_ms())
            return "FAILED"
        if outcome.exit_code == 0 and not (outcome.canceled or outcome.timed_out):
            self._set(run, task, life="TERMINATED", result="SUCCESS", code="SUCCESS",
                      end_time=_now_ms())
            return "SUCCESS"
        error, trace = summarize_failure(self.read_log(task)[0], outcome.exit_code)
        if outcome.canceled:
            result, code, message = "CANCELED", "USER_CANCELED", "Run was canceled"
        elif outcome.timed_out:
            result, code, message = "TIMEDOUT", "RUN_EXECUTION_ERROR", "Run timed out"
        else:
            result, code = "FAILED", "RUN_EXECUTION_ERROR"
            message = "Workload failed, see run output for details"
        self._set(run, task, life="TERMINATED", result=result, code=code, message=message,
                  error=error, error_trace=trace, end_time=_now_ms())
        return result

    @staticmethod
    def _order(tasks: list[TaskRun]) -> list[TaskRun]:
        by_key = {t.task_key: t for t in tasks}
        ordered: list[TaskRun] = []

        def visit(task: TaskRun) -> None:
            if task in ordered:
                return
            for dep in task.spec.get("depends_on") or []:
                visit(by_key[dep["task_key"]])
            ordered.append(task)

        for task in tasks:
            visit(task)
        return ordered

    def _finish(self, run: JobRun, tasks: list[TaskRun]) -> None:
        results = [t.result for t in tasks]
        failed = next((t for t in tasks if t.result not in ("SUCCESS", "EXCLUDED")), None)
        if run.cancel_requested or "CANCELED" in results:
            result, code, message = "CANCELED", "USER_CANCELED", "Run was canceled"
        elif "TIMEDOUT" in results:
            result, code, message = "TIMEDOUT", "RUN_EXECUTION_ERROR", "Run timed out"
        elif failed is None:
            result, code, message = "SUCCESS", "SUCCESS", ""
        else:
            result, code = "FAILED", failed.code or "RUN_EXECUTION_ERROR"
            message = f"Task {failed.task_key} failed with message: {failed.message}."
            if len(tasks) > 1:
                message += " This caused all downstream tasks to get skipped."
        life = "INTERNAL_ERROR" if any(t.life == "INTERNAL_ERROR" for t in tasks) else "TERMINATED"
        self._set(run, life=life, result=result, code=code, message=message, end_time=_now_ms())

    # -- views ------------------------------------------------------------------------------

    def log_file(self, task: TaskRun):
        return self.config.layout.runs_root / str(task.run_id) / "output.log"

    def read_log(self, task: TaskRun) -> tuple[str, bool]:
        """(the task's output, last 5 MB; whether it was truncated)."""
        path = self.log_file(task)
        if not path.exists():
            return "", False
        size = path.stat().st_size
        with path.open("rb") as handle:
            handle.seek(max(0, size - _LOG_LIMIT))
            return handle.read().decode("utf-8", "replace"), size > _LOG_LIMIT

    def page_url(self, run: JobRun, run_id: int) -> str:
        return (f"{self.config.base_url}/?o={self.config.workspace_id}"
                f"#job/{run.job_id}/run/{run_id}")

    @staticmethod
    def _state(life: str, result: Optional[str], message: str, code: Optional[str]) -> tuple[dict, dict]:
        state: dict = {"life_cycle_state": life, "state_message": message,
                       "user_cancelled_or_timedout": result in ("CANCELED", "TIMEDOUT")}
        if result and life not in _ACTIVE:
            state["result_state"] = result
        status: dict = {"state": _V2_STATE[life]}
        if life not in _ACTIVE:
            kind = ("SUCCESS" if code == "SUCCESS" else "INTERNAL_ERROR" if code == "INTERNAL_ERROR"
                    else "CLOUD_FAILURE" if code == "CLUSTER_ERROR" else "CLIENT_ERROR")
            status["termination_details"] = {"code": code or "SKIPPED", "type": kind,
                                             "message": message}
        return state, status

    def _times(self, item, body: dict) -> None:
        body["start_time"] = item.start_time
        if item.execution_start:
            body["setup_duration"] = item.execution_start - item.start_time
        if item.end_time:
            body["end_time"] = item.end_time
            body["execution_duration"] = (item.end_time - item.execution_start
                                          if item.execution_start else 0)
            body["cleanup_duration"] = 0
            body["run_duration"] = item.end_time - item.start_time

    def api_task(self, run: JobRun, task: TaskRun) -> dict:
        """The ``RunTask`` view of a task run."""
        body = {k: v for k, v in task.spec.items() if k in _RUN_TASK_FIELDS}
        state, status = self._state(task.life, task.result, task.message, task.code)
        body.update({"run_id": task.run_id, "state": state, "status": status, "attempt_number": 0,
                     "run_page_url": self.page_url(run, task.run_id)})
        if task.start_time:
            self._times(task, body)
        if task.cluster_id:
            body["cluster_instance"] = {"cluster_id": task.cluster_id,
                                        "spark_context_id": str(task.run_id)}
        return body

    def api_run(self, run: JobRun) -> dict:
        """The ``Run`` view of a run (``runs/get``)."""
        state, status = self._state(run.life, run.result, run.message, run.code)
        body = {"job_id": run.job_id, "run_id": run.run_id, "run_name": run.run_name,
                "number_in_job": run.number_in_job, "original_attempt_run_id": run.run_id,
                "creator_user_name": self.config.user_name, "run_type": run.run_type,
                "trigger": run.trigger, "attempt_number": 0, "state": state, "status": status,
                "run_page_url": self.page_url(run, run.run_id),
                "tasks": [self.api_task(run, t) for t in run.tasks]}
        if run.job_clusters:
            body["job_clusters"] = run.job_clusters
        if run.overrides:
            body["overriding_parameters"] = run.overrides
        self._times(run, body)
        if len(run.tasks) == 1 and run.tasks[0].cluster_id:
            body["cluster_instance"] = body["tasks"][0]["cluster_instance"]
        return body

    def api_task_run(self, run: JobRun, task: TaskRun) -> dict:
        """The ``Run`` view of one task run (``runs/get`` with a task's run id)."""
        body = {k: v for k, v in self.api_run(run).items()
                if k not in ("tasks", "cluster_instance", "setup_duration", "execution_duration",
                             "cleanup_duration", "run_duration", "end_time")}
        body.update({"run_id": task.run_id, "run_name": task.task_key,
                     "tasks": [self.api_task(run, task)],
                     "run_page_url": self.page_url(run, task.run_id)})
        body["state"], body["status"] = self._state(task.life, task.result, task.message, task.code)
        if task.start_time:
            self._times(task, body)
        if task.cluster_id:
            body["cluster_instance"] = body["tasks"][0]["cluster_instance"]
        return body

    def api_base_run(self, run: JobRun, expand_tasks: bool) -> dict:
        """The ``BaseRun`` view (``runs/list``)."""
        body = {k: v for k, v in self.api_run(run).items() if k in _BASE_RUN_FIELDS}
        if not expand_tasks:
            body.pop("tasks", None)
        return body

    def api_output(self, run_id: int) -> dict:
        """The ``RunOutput`` view (``runs/get-output``) of a task run, or of a one-task run.

        Raises:
            ApiError: INVALID_PARAMETER_VALUE for a run with several tasks.
        """
        run, task = self.find(run_id)
        if task is None:
            if len(run.tasks) != 1:
                raise invalid_parameter(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead.")
            task = run.tasks[0]
            metadata = self.api_run(run)
        else:
            metadata = self.api_task_run(run, task)
        logs, truncated = self.read_log(task)
        body: dict = {"metadata": metadata, "logs": logs, "logs_truncated": truncated}
        if task.error:
            body["error"] = task.error
        if task.error_trace:
            body["error_trace"] = task.error_trace
        return body

