"""The Jobs API: jobs (create, get, list, reset, update, delete, run-now) and runs (submit, get,
get-output, cancel, list, delete), under ``/api/2.0``, ``/api/2.1`` and ``/api/2.2``.

Shapes are the parameters of ``databricks.sdk.service.jobs.JobsAPI`` methods. Under
``/api/2.0`` the Jobs 2.0 single-task form is accepted too: the fields of one ``SubmitTask`` /
``Task`` at the top level of the request (``new_cluster``, ``libraries``, ``spark_python_task``,
MLflow's ``shell_command_task``...). The emulator turns it into a one-task job whose task key is
the run or job name, as ``tasks`` would have it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Mapping

from flask import Flask, request
from databricks.sdk.service import jobs

from .clusters import ClusterRegistry
from .config import EmulatorConfig
from .errors import invalid_parameter
from .rest import api_paths, endpoint, request_fields
from .runs import RunRegistry
from .shapes import Field, dataclass_fields, method_fields
from .storage import write_json
from .tasks import validate_tasks

__all__ = ["JobRegistry", "register"]

_VERSIONS = ("2.0", "2.1", "2.2")
_SUBMIT = dict(method_fields(jobs.JobsAPI.submit))
_CREATE = dict(method_fields(jobs.JobsAPI.create))
_LEGACY_SUBMIT = {k: f for k, f in dataclass_fields(jobs.SubmitTask).items()
                  if k not in _SUBMIT and k != "task_key"}
_LEGACY_CREATE = {k: f for k, f in dataclass_fields(jobs.Task).items()
                  if k not in _CREATE and k != "task_key"}
_BASE_JOB_SETTINGS = {"name", "tags", "timeout_seconds", "max_concurrent_runs", "format",
                      "schedule", "email_notifications", "queue", "run_as", "parameters"}
_RUN_PARAMETERS = set(dataclass_fields(jobs.RunParameters))


def _v20() -> bool:
    return request.path.startswith("/api/2.0/")


def _shape(modern: Mapping[str, Field], legacy: Mapping[str, Field]) -> Mapping[str, Field]:
    return {**modern, **legacy} if _v20() else modern


def _task_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:100] or "task"


def _single_task_to_tasks(fields: dict, legacy: Mapping[str, Field], name: str) -> dict:
    """Move Jobs 2.0 single-task fields into ``tasks``."""
    task = {k: fields.pop(k) for k in list(fields) if k in legacy}
    if task:
        if fields.get("tasks"):
            raise invalid_parameter("A request with tasks cannot also have single-task fields "
                                    f"({', '.join(sorted(task))})")
        task["task_key"] = _task_key(name)
        fields["tasks"] = [task]
    return fields


@dataclass
class Job:
    """One job."""

    job_id: int
    created_time: int
    settings: dict


class JobRegistry:
    """All jobs, persisted in ``state/jobs/<job_id>.json``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.folder = config.layout.state_root / "jobs"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jobs = {j.job_id: j for j in (Job(**json.loads(p.read_text()))
                                           for p in self.folder.glob("*.json"))}
        self.ids = itertools.count(max(self.jobs, default=100) + 1)

    def new_id(self) -> int:
        with self.lock:
            return next(self.ids)

    def _save(self, job: Job) -> None:
        write_json(self.folder / f"{job.job_id}.json", asdict(job))

    def create(self, settings: dict) -> Job:
        with self.lock:
            job = Job(self.new_id(), int(time.time() * 1000), settings)
            self.jobs[job.job_id] = job
            self._save(job)
            return job

    def get(self, job_id: int) -> Job:
        """The job.

        Raises:
            ApiError: INVALID_PARAMETER_VALUE "Job X does not exist." as the service answers.
        """
        with self.lock:
            if job_id not in self.jobs:
                raise invalid_parameter(f"Job {job_id} does not exist.")
            return self.jobs[job_id]

    def replace(self, job_id: int, settings: dict) -> None:
        with self.lock:
            job = self.get(job_id)
            job.settings = settings
            self._save(job)

    def delete(self, job_id: int) -> None:
        with self.lock:
            self.get(job_id)
            del self.jobs[job_id]
            (self.folder / f"{job_id}.json").unlink(missing_ok=True)

    def view(self, job: Job, *, full: bool = True) -> dict:
        """The ``Job`` view (``full``) or the ``BaseJob`` view of ``jobs/list``."""
        settings = job.settings if full else {k: v for k, v in job.settings.items()
                                              if k in _BASE_JOB_SETTINGS}
        body = {"job_id": job.job_id, "created_time": job.created_time,
                "creator_user_name": self.config.user_name, "settings": settings}
        if full:
            body["run_as_user_name"] = self.config.user_name
        return body


def _merge_by_key(current: list[dict], updates: list[dict], key: str) -> list[dict]:
    merged = {item[key]: item for item in current}
    merged.update({item[key]: item for item in updates})
    return list(merged.values())


def register(app: Flask, config: EmulatorConfig, clusters: ClusterRegistry,
             runs: RunRegistry) -> JobRegistry:
    """Add the Jobs endpoints to ``app``; returns the job registry."""
    registry = JobRegistry(config)

    def check_settings(settings: dict) -> None:
        validate_tasks(settings.get("tasks") or [], settings.get("job_clusters") or [],
                       clusters.get)

    @endpoint(app, ["POST"], api_paths("jobs/create", _VERSIONS), request_shape=None,
              response=jobs.CreateResponse)
    def create(_: dict) -> dict:
        fields = request_fields(_shape(_CREATE, _LEGACY_CREATE))
        settings = _single_task_to_tasks(fields, _LEGACY_CREATE, fields.get("name") or "Untitled")
        settings.pop("access_control_list", None)
        check_settings(settings)
        return {"job_id": registry.create(settings).job_id}

    @endpoint(app, ["GET"], api_paths("jobs/get", _VERSIONS), request_shape=jobs.JobsAPI.get,
              response=jobs.Job)
    def get(fields: dict) -> dict:
        return registry.view(registry.get(fields["job_id"]))

    @endpoint(app, ["GET"], api_paths("jobs/list", _VERSIONS), request_shape=jobs.JobsAPI.list,
              response=jobs.ListJobsResponse)
    def list_(fields: dict) -> dict:
        limit = fields.get("limit") or 20
        if not 1 <= limit <= 100:
            raise invalid_parameter("limit must be between 1 and 100")
        offset = int(fields.get("page_token") or fields.get("offset") or 0)
        with registry.lock:
            found = sorted(registry.jobs.values(), key=lambda j: j.job_id)
        if fields.get("name"):
            found = [j for j in found if (j.settings.get("name") or "").lower()
                     == fields["name"].lower()]
        page = found[offset:offset + limit]
        body: dict = {"has_more": offset + limit < len(found)}
        if page:
            body["jobs"] = [registry.view(j, full=False) for j in page]
            if fields.get("expand_tasks"):
                for view, job in zip(body["jobs"], page):
                    view["settings"]["tasks"] = job.settings.get("tasks", [])
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return body

    @endpoint(app, ["POST"], api_paths("jobs/reset", _VERSIONS), request_shape=jobs.JobsAPI.reset)
    def reset(fields: dict) -> dict:
        registry.get(fields["job_id"])
        check_settings(fields["new_settings"])
        registry.replace(fields["job_id"], fields["new_settings"])
        return {}

    @endpoint(app, ["POST"], api_paths("jobs/update", _VERSIONS), request_shape=jobs.JobsAPI.update)
    def update(fields: dict) -> dict:
        settings = json.loads(json.dumps(registry.get(fields["job_id"]).settings))
        for name in fields.get("fields_to_remove") or []:
            settings.pop(name, None)
        for name, value in (fields.get("new_settings") or {}).items():
            if name == "tasks":
                value = _merge_by_key(settings.get("tasks", []), value, "task_key")
            elif name == "job_clusters":
                value = _merge_by_key(settings.get("job_clusters", []), value, "job_cluster_key")
            settings[name] = value
        check_settings(settings)
        registry.replace(fields["job_id"], settings)
        return {}

    @endpoint(app, ["POST"], api_paths("jobs/delete", _VERSIONS), request_shape=jobs.JobsAPI.delete)
    def delete(fields: dict) -> dict:
        registry.delete(fields["job_id"])
        return {}

    @endpoint(app, ["POST"], api_paths("jobs/run-now", _VERSIONS),
              request_shape=jobs.JobsAPI.run_now, response=jobs.RunNowResponse)
    def run_now(fields: dict) -> dict:
        job = registry.get(fields["job_id"])
        settings = job.settings
        tasks = settings.get("tasks") or []
        if fields.get("only"):
            tasks = [t for t in tasks if t["task_key"] in fields["only"]]
        if not tasks:
            raise invalid_parameter(f"Job {job.job_id} has no tasks to run")
        overrides = {k: v for k, v in fields.items() if k in _RUN_PARAMETERS and v}
        limit = settings.get("max_concurrent_runs") or 1
        queued = (fields.get("queue") or settings.get("queue") or {}).get("enabled")
        skip = None
        if runs.active_runs_of(job.job_id) >= limit and not queued:
            skip = (f"Skipped because the maximum number of concurrent runs ({limit}) "
                    "of this job is reached")
        with runs.lock:
            number = 1 + sum(1 for r in runs.runs.values() if r.job_id == job.job_id)
        run = runs.start(job_id=job.job_id, run_name=settings.get("name") or "Untitled",
                         run_type="JOB_RUN", trigger="ONE_TIME", tasks=tasks,
                         job_clusters=settings.get("job_clusters") or [],
                         timeout_seconds=settings.get("timeout_seconds") or 0,
                         overrides=overrides, number_in_job=number, skip_reason=skip,
                         queue_limit=limit if queued else 0)
        return {"run_id": run.run_id, "number_in_job": run.number_in_job}

    @endpoint(app, ["POST"], api_paths("jobs/runs/submit", _VERSIONS), request_shape=None,
              response=jobs.SubmitRunResponse)
    def submit(_: dict) -> dict:
        fields = request_fields(_shape(_SUBMIT, _LEGACY_SUBMIT))
        name = fields.get("run_name") or "Untitled"
        fields = _single_task_to_tasks(fields, _LEGACY_SUBMIT, name)
        if not fields.get("tasks"):
            raise invalid_parameter("A run needs at least one task")
        check_settings(fields)
        run = runs.start(job_id=registry.new_id(), run_name=name, run_type="SUBMIT_RUN",
                         trigger="ONE_TIME", tasks=fields["tasks"], job_clusters=[],
                         timeout_seconds=fields.get("timeout_seconds") or 0, overrides={})
        return {"run_id": run.run_id}

    @endpoint(app, ["GET"], api_paths("jobs/runs/get", _VERSIONS),
              request_shape=jobs.JobsAPI.get_run, response=jobs.Run)
    def get_run(fields: dict) -> dict:
        run, task = runs.find(fields["run_id"])
        return runs.api_run(run) if task is None else runs.api_task_run(run, task)

    @endpoint(app, ["GET"], api_paths("jobs/runs/get-output", _VERSIONS),
              request_shape=jobs.JobsAPI.get_run_output, response=jobs.RunOutput)
    def get_output(fields: dict) -> dict:
        return runs.api_output(fields["run_id"])

    @endpoint(app, ["POST"], api_paths("jobs/runs/cancel", _VERSIONS),
              request_shape=jobs.JobsAPI.cancel_run)
    def cancel(fields: dict) -> dict:
        runs.cancel(fields["run_id"])
        return {}

    @endpoint(app, ["POST"], api_paths("jobs/runs/delete", _VERSIONS),
              request_shape=jobs.JobsAPI.delete_run)
    def delete_run(fields: dict) -> dict:
        runs.delete(fields["run_id"])
        return {}

    @endpoint(app, ["GET"], api_paths("jobs/runs/list", _VERSIONS),
              request_shape=jobs.JobsAPI.list_runs, response=jobs.ListRunsResponse)
    def list_runs(fields: dict) -> dict:
        if fields.get("active_only") and fields.get("completed_only"):
            raise invalid_parameter("active_only and completed_only cannot both be true")
        limit = fields.get("limit") or 25
        if not 1 <= limit <= 25:
            raise invalid_parameter("limit must be between 1 and 25")
        offset = int(fields.get("page_token") or fields.get("offset") or 0)
        with runs.lock:
            found = sorted(runs.runs.values(), key=lambda r: r.run_id, reverse=True)
        if fields.get("job_id") is not None:
            found = [r for r in found if r.job_id == fields["job_id"]]
        if fields.get("run_type"):
            found = [r for r in found if r.run_type == fields["run_type"]]
        active = ("QUEUED", "PENDING", "RUNNING", "TERMINATING")
        if fields.get("active_only"):
            found = [r for r in found if r.life in active]
        if fields.get("completed_only"):
            found = [r for r in found if r.life not in active]
        if fields.get("start_time_from"):
            found = [r for r in found if r.start_time >= fields["start_time_from"]]
        if fields.get("start_time_to"):
            found = [r for r in found if r.start_time <= fields["start_time_to"]]
        page = found[offset:offset + limit]
        body: dict = {"has_more": offset + limit < len(found)}
        if page:
            body["runs"] = [runs.api_base_run(r, bool(fields.get("expand_tasks"))) for r in page]
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return body

    return registry
