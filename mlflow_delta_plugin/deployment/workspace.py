"""databricks-sdk calls of the deployment target: staging files, running jobs, waiting, errors.

Every call goes through :func:`call`, which turns SDK errors into :class:`WorkspaceCallError`
(one line, never the token) and retries server errors (HTTP 500) of calls that are safe to
repeat.

Retry budget: one API call of the target retries for at most :func:`retry_budget_seconds`
(default 120 s; ``MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS`` sets it) in total. Within it the SDK
retries 429 and 503 answers (sleeping ``Retry-After``, default 1 s, plus up to 1 s of jitter)
and connection errors, as its ``retry_timeout_seconds`` (which the client gets set to the
budget; the SDK's own default is 300 s); :func:`call` retries HTTP 500 of calls that are safe
to repeat, while the budget lasts. Past it the call fails with one line naming the operation
and the last error. A call thus gives up within the budget plus one request's HTTP timeout
(SDK default 60 s) and one back-off sleep.
"""

import io
import logging
import os
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from databricks.sdk import WorkspaceClient
from databricks.sdk.config import Config
from databricks.sdk.errors import DatabricksError, InternalError, NotFound, ResourceDoesNotExist
from databricks.sdk.service import jobs

from mlflow_delta_plugin.deployment.code_bundle import DRIVER_SCRIPT, build_wheel
from mlflow_delta_plugin.errors import DeploymentRunError, InvalidInputError, WorkspaceCallError

__all__ = ["RETRY_BUDGET_ENV", "StagedCode", "call", "driver_path", "download", "remove",
           "retry_budget_seconds", "run_and_wait", "stage_code", "upload", "wait_for_run",
           "workspace_client"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
_SERVER_ERROR_ATTEMPTS = 4
RETRY_BUDGET_ENV = "MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS"
_DEFAULT_RETRY_BUDGET_S = 120
_TERMINAL_STATES = {jobs.RunLifeCycleState.TERMINATED, jobs.RunLifeCycleState.SKIPPED,
                    jobs.RunLifeCycleState.INTERNAL_ERROR}


def retry_budget_seconds() -> int:
    """Seconds one API call may spend retrying (``MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS``).

    Raises:
        InvalidInputError: the variable is not a positive whole number.
    """
    text = os.environ.get(RETRY_BUDGET_ENV, "").strip()
    if not text:
        return _DEFAULT_RETRY_BUDGET_S
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"{RETRY_BUDGET_ENV}={text!r} is not a positive whole number of "
                                "seconds; unset it for the default of "
                                f"{_DEFAULT_RETRY_BUDGET_S}")
    return int(text)


def workspace_client(profile: Optional[str] = None) -> WorkspaceClient:
    """A client from the environment (``DATABRICKS_HOST``/``DATABRICKS_TOKEN``, ...) or a
    ``~/.databrickscfg`` profile, retrying within :func:`retry_budget_seconds`."""
    budget = retry_budget_seconds()
    try:
        options = {"profile": profile} if profile else {}
        return WorkspaceClient(config=Config(retry_timeout_seconds=budget, **options))
    except Exception as exc:  # noqa: BLE001 - ValueError of the SDK's config resolution
        raise WorkspaceCallError(f"cannot reach a Databricks workspace: {_redact(str(exc))}; set "
                                 "DATABRICKS_HOST and DATABRICKS_TOKEN or a profile") from None


def _redact(text: str) -> str:
    token = os.environ.get("DATABRICKS_TOKEN")
    first_line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first_line.replace(token, "<token>") if token else first_line


def call(operation: str, function: Callable[..., T], *args: Any, retry_server_errors: bool = True,
         **kwargs: Any) -> T:
    """``function(*args, **kwargs)``; a Databricks error becomes :class:`WorkspaceCallError`.

    Args:
        operation: what the call does, for the error message ("create job 'x'").
        retry_server_errors: retry HTTP 500 answers (only for calls that are safe to repeat).
    """
    attempts = _SERVER_ERROR_ATTEMPTS if retry_server_errors else 1
    budget = retry_budget_seconds()
    deadline = time.monotonic() + budget
    for attempt in range(1, attempts + 1):
        try:
            return function(*args, **kwargs)
        except InternalError as exc:
            pause = min(2 ** (attempt - 1), 8)
            if attempt == attempts or time.monotonic() + pause > deadline:
                raise WorkspaceCallError(f"Databricks could not {operation}: {_redact(str(exc))}"
                                         ) from None
            _log.info("Retrying '%s' after a server error (attempt %d)", operation, attempt)
            time.sleep(pause)
        except DatabricksError as exc:
            raise WorkspaceCallError(f"Databricks could not {operation}: {_redact(str(exc))}"
                                     ) from None
        except (TimeoutError, RuntimeError) as exc:  # the SDK's retries ran out of budget
            if exc.__cause__ is None:
                raise
            last = exc.__cause__
            raise WorkspaceCallError(
                f"Databricks could not {operation}: still failing after {budget} s of retries "
                f"({RETRY_BUDGET_ENV}): {_redact(str(last))}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _dbfs_api_path(path: str) -> str:
    return path[len("dbfs:"):] if path.startswith("dbfs:/") else path


def driver_path(path: str) -> str:
    """The path a driver process sees for a staged file: ``dbfs:/x`` -> ``/dbfs/x``."""
    return "/dbfs" + _dbfs_api_path(path) if path.startswith("dbfs:/") else path


def upload(client: WorkspaceClient, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (``dbfs:/`` or ``/Volumes/``), replacing it."""
    call(f"upload {path}", lambda: client.dbfs.upload(_dbfs_api_path(path), io.BytesIO(data),
                                                      overwrite=True))


def download(client: WorkspaceClient, path: str) -> bytes:
    """The bytes of the file at ``path``."""
    def read() -> bytes:
        with client.dbfs.download(_dbfs_api_path(path)) as handle:
            return handle.read()
    return call(f"download {path}", read)


def remove(client: WorkspaceClient, path: str) -> None:
    """Delete ``path`` recursively; a missing path is fine."""
    try:
        call(f"delete {path}", client.dbfs.delete, _dbfs_api_path(path), recursive=True)
    except WorkspaceCallError as exc:
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "does not exist" not in str(exc).lower():
            raise


def _exists(client: WorkspaceClient, path: str) -> bool:
    try:
        client.dbfs.get_status(_dbfs_api_path(path))
        return True
    except (NotFound, ResourceDoesNotExist):
        return False


@dataclass(frozen=True)
class StagedCode:
    """Where the job finds the code: the driver script and the wheel library."""

    python_file: str
    wheel: str


def stage_code(client: WorkspaceClient, staging_dir: str) -> StagedCode:
    """Upload the package wheel (once per content digest) and the driver script."""
    wheel = build_wheel()
    wheel_path = f"{staging_dir}/wheels/{wheel.digest[:16]}/{wheel.filename}"
    if not call(f"check {wheel_path}", _exists, client, wheel_path):
        upload(client, wheel_path, wheel.content)
    script_path = f"{staging_dir}/driver/score_delta.py"
    upload(client, script_path, DRIVER_SCRIPT.encode())
    return StagedCode(python_file=script_path, wheel=wheel_path)


def _task_run_id(run: jobs.Run) -> int:
    return run.tasks[0].run_id if run.tasks and run.tasks[0].run_id else run.run_id


def _failure_message(client: WorkspaceClient, run: jobs.Run, what: str) -> str:
    state = run.state or jobs.RunState()
    result = state.result_state.value if state.result_state else (
        state.life_cycle_state.value if state.life_cycle_state else "UNKNOWN")
    detail = ""
    try:
        output = client.jobs.get_run_output(_task_run_id(run))
        detail = output.error or ""
    except DatabricksError:
        pass
    detail = detail or state.state_message or "no error message"
    return (f"{what}: job run {run.run_id} ended {result}: {_redact(detail)} "
            f"(run page: {run.run_page_url})")


def wait_for_run(client: WorkspaceClient, run_id: int, timeout_seconds: float,
                 what: str) -> jobs.Run:
    """Poll run ``run_id`` until it ends; return it when it succeeded.

    Raises:
        DeploymentRunError: it failed, was skipped or cancelled, or outlived the timeout (then it
            is cancelled); the message has the run page URL and the cluster's error.
        WorkspaceCallError: polling failed past the retry budget (the run is cancelled, best
            effort, so it does not write after the caller gave up).
    """
    deadline = time.monotonic() + timeout_seconds
    pause = 0.5
    while True:
        try:
            run = call(f"get job run {run_id}", client.jobs.get_run, run_id)
        except WorkspaceCallError:  # lost sight of the run: stop it rather than let it write
            with suppress(WorkspaceCallError):
                call(f"cancel job run {run_id}", client.jobs.cancel_run, run_id)
            raise
        state = run.state or jobs.RunState()
        if state.life_cycle_state in _TERMINAL_STATES:
            if state.result_state == jobs.RunResultState.SUCCESS:
                return run
            raise DeploymentRunError(_failure_message(client, run, what), run.run_page_url)
        if time.monotonic() > deadline:
            call(f"cancel job run {run_id}", client.jobs.cancel_run, run_id)
            raise DeploymentRunError(f"{what}: job run {run_id} did not finish within "
                                     f"{timeout_seconds:.0f} s and was cancelled "
                                     f"(run page: {run.run_page_url})", run.run_page_url)
        time.sleep(pause)
        pause = min(pause * 1.5, 10.0)


def run_and_wait(client: WorkspaceClient, job_id: int, timeout_seconds: float,
                 what: str) -> jobs.Run:
    """Trigger job ``job_id`` now and wait for the run (see :func:`wait_for_run`)."""
    token = uuid.uuid4().hex  # makes a repeated run-now after a server error start one run only
    started = call(f"start a run of job {job_id}", client.jobs.run_now, job_id,
                   idempotency_token=token)
    return wait_for_run(client, started.run_id, timeout_seconds, what)
