"""Writing finished runs off the caller's process: a writer process, with this one as fallback.

MLflow's client spends 20-30 ms of Python per complete run (four store calls, each a SQLAlchemy
transaction or an HTTP request) and holds the GIL meanwhile, so on a background thread that time
comes out of the work the caller is doing: a 115 ms tuning trial took 26 ms longer. A writer
process (:mod:`~mlflow_delta_plugin.tracking.run_writer_process`) does the writes on another core instead.

The writer needs about 2 s to start (a fresh interpreter imports MLflow and opens the store), so
records wait in a backlog until it is up. Whatever it has not taken when the caller flushes is
written in this process, so a short search never waits for the writer to start. If the writer
cannot start (for instance, it cannot reach the tracking store with the credentials it
inherited), records are written on a thread of this process. If it fails a record or dies, the
runs it had not confirmed are completed here by their identity tags
(:func:`~mlflow_delta_plugin.tracking.run_records.complete_run`): none lost, none written twice.

The writer pays off only on a core the caller's own work leaves idle; without one, its start-up
(about 2 s of CPU) is taken from that work. :func:`writer_mode` therefore picks ``process`` only
when this process may use more cores than the caller keeps busy, ``thread`` otherwise.
``MLFLOW_DELTA_RUN_WRITER=process|thread`` overrides the choice.
"""

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Hashable, Optional

import mlflow
from mlflow import MlflowClient

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tracking.run_records import RunRecord, complete_run, write_run
from mlflow_delta_plugin.tracking.run_writer_process import WriterProcess, WriterStopped

__all__ = ["PROCESS", "RUN_WRITER_ENV", "THREAD", "RunWriter", "usable_cores", "writer_mode"]

PROCESS = "process"
THREAD = "thread"
RUN_WRITER_ENV = "MLFLOW_DELTA_RUN_WRITER"
"""Environment variable forcing the writer: ``process`` or ``thread`` (default: chosen, see
:func:`writer_mode`)."""

_STARTING, _READY, _OFF = "starting", "ready", "off"

_log = logging.getLogger(__name__)


def usable_cores() -> int:
    """How many cores this process may run on (its CPU affinity where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def writer_mode(mode: Optional[str] = None, busy_cores: int = 1) -> str:
    """The writer to use: ``mode`` if given, else ``$MLFLOW_DELTA_RUN_WRITER`` if set, else
    ``process`` when :func:`usable_cores` exceeds ``busy_cores`` (the cores the caller's own
    work keeps busy) and ``thread`` when it does not.

    Raises:
        InvalidInputError: a given mode that is neither ``process`` nor ``thread``.
    """
    value = (mode or os.environ.get(RUN_WRITER_ENV) or "").strip().lower()
    if not value:
        return PROCESS if usable_cores() > busy_cores else THREAD
    if value not in (PROCESS, THREAD):
        raise InvalidInputError(
            f"run writer '{value}' (from {'the argument' if mode else RUN_WRITER_ENV}) is "
            f"unknown; use {PROCESS} or {THREAD}"
        )
    return value


class RunWriter:
    """Writes :class:`~mlflow_delta_plugin.tracking.run_records.RunRecord` s in the background.

    Args:
        experiment_id: the experiment the runs go to (the writer checks it can reach it).
        tracking_uri: the tracking store (default: this process's).
        mode: ``process`` or ``thread`` (default: :func:`writer_mode` with ``busy_cores``).
        busy_cores: how many cores the caller's own work keeps busy meanwhile.

    Attributes:
        run_ids: key -> run id of each record written (complete after :meth:`flush`).
        process_writes: how many of those the writer process wrote (the rest were written in
            this process: in thread mode, before the writer was up, or after it failed).
    """

    def __init__(self, experiment_id: str, tracking_uri: Optional[str] = None,
                 mode: Optional[str] = None, busy_cores: int = 1) -> None:
        chosen = writer_mode(mode, busy_cores)
        self._client = MlflowClient(tracking_uri)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-writer")
        self._lock = threading.Lock()
        self._backlog: list[tuple[Hashable, RunRecord]] = []
        self._pending: list[tuple[Hashable, RunRecord, Future, bool]] = []
        self._process: Optional[WriterProcess] = None
        if chosen == PROCESS:
            try:
                self._process = WriterProcess(tracking_uri or mlflow.get_tracking_uri(),
                                              experiment_id)
            except OSError as exc:  # e.g. no process may be started here
                _log.warning("the run writer process could not start (%s); writing runs in "
                             "this process", exc)
        self.run_ids: dict = {}
        self.process_writes = 0

    @property
    def process_state(self) -> str:
        """``starting``, ``ready``, or ``off`` (thread mode, or the writer failed or died)."""
        with self._lock:
            return self._state()

    @property
    def writer_pid(self) -> Optional[int]:
        """The writer process's id while this writer uses one (None in thread mode)."""
        with self._lock:
            return self._process.pid if self._process is not None else None

    def submit(self, key: Hashable, record: RunRecord) -> None:
        """Queue ``record``; its run id lands in ``run_ids[key]`` once written."""
        with self._lock:
            self._backlog.append((key, record))
            self._dispatch(final=False)

    def flush(self) -> None:
        """Write everything queued and wait for it; re-raise the first write error."""
        with self._lock:
            self._dispatch(final=True)
            pending, self._pending = self._pending, []
        errors = []
        for key, record, future, in_writer in pending:
            try:
                self.run_ids[key] = future.result()
                if in_writer:
                    self.process_writes += 1
                continue
            except Exception as exc:  # noqa: BLE001
                if not in_writer:
                    errors.append(exc)
                    continue
                if isinstance(exc, WriterStopped):
                    with self._lock:
                        self._drop_process(f"stopped ({exc})")
            try:  # the writer failed it or died: finish it here (a store error shows again)
                self.run_ids[key] = complete_run(self._client, record)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Flush, then stop the thread and the writer process."""
        try:
            self.flush()
        finally:
            self._thread.shutdown(wait=True)
            with self._lock:
                if self._process is not None:
                    self._process.close()
                    self._process = None

    def _state(self) -> str:
        if self._process is None:
            return _OFF
        if not self._process.started.done():
            return _STARTING
        try:
            error = self._process.started.result()
        except WriterStopped as exc:
            error = str(exc)
        if error:
            self._drop_process(f"could not start ({error})")
            return _OFF
        return _READY

    def _drop_process(self, why: str) -> None:
        if self._process is not None:
            _log.warning("the run writer process %s; writing runs in this process", why)
            self._process.close()
            self._process = None

    def _dispatch(self, final: bool) -> None:
        """Hand the backlog to the writer when it is up; to the thread when there is none, or
        when ``final`` and it is still starting."""
        state = self._state()
        if state == _STARTING and not final:
            return
        for key, record in self._backlog:
            future = None
            if state == _READY:
                try:
                    future = self._process.submit(record)
                except WriterStopped as exc:
                    self._drop_process(f"stopped ({exc})")
                    state = _OFF
            if future is None:
                future = self._thread.submit(write_run, self._client, record)
            self._pending.append((key, record, future, state == _READY))
        self._backlog = []
