"""Where trials run: inline in this process, or ``parallelism`` at a time concurrently.

Concurrent trials run in one thread of this process plus ``parallelism - 1`` worker processes.
Workers start with the ``spawn`` method (see :mod:`~mlflow_delta_plugin.tuning.worker_processes`), which
costs each a fresh interpreter and the imports of scikit-learn, MLflow and this
package: seconds. A worker counts as a trial slot only once it is up, so the search runs trials
in this process meanwhile and never waits on start-up (a short search may finish before any
worker is ready). Workers load the objective (with its data) once, from a private temporary
file: passed as a start-up argument it would go through a pipe that the child reads only after
its imports, and a large one would block the parent until then. Native thread pools (OpenMP,
BLAS) are capped at each slot's share of the CPUs so concurrent trials do not oversubscribe them.
"""

import os
import pickle
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Iterator, Optional, Protocol

from mlflow_delta_plugin.tuning.base import Objective, TrialResult
from mlflow_delta_plugin.tuning.worker_processes import spawn_pool

__all__ = ["INLINE", "PROCESSES", "TrialExecutor", "open_executor"]

INLINE = "inline"
PROCESSES = "processes"

_worker_objective: Optional[Objective] = None


class TrialExecutor(Protocol):
    """Runs trials of one objective; ``submit`` returns a future of the :class:`TrialResult`.

    The caller keeps at most ``capacity()`` trials in flight and, while waiting for trials,
    also wakes up on ``wakeups()`` (capacity may grow when one of them completes).
    """

    kind: str

    def capacity(self) -> int:
        """How many trials may be in flight now."""

    def wakeups(self) -> list:
        """Futures whose completion raises ``capacity``."""

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        """Start trial ``number`` with ``params``."""


class _InlineExecutor:
    """Runs each trial in this process, at submit time."""

    kind = INLINE

    def __init__(self, objective: Objective) -> None:
        self._objective = objective

    def capacity(self) -> int:
        return 1

    def wakeups(self) -> list:
        return []

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        future: Future = Future()
        try:
            future.set_result(self._objective(number, params))
        except BaseException as exc:  # an objective bug: surface it where results are read
            future.set_exception(exc)
        return future


def _start_worker(objective_file: str, threads: int) -> None:
    global _worker_objective
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for libraries loaded later (torch)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    try:
        with open(objective_file, "rb") as stream:
            _worker_objective = pickle.load(stream)
    except FileNotFoundError:  # the search ended before this worker was up: it gets no trial
        _worker_objective = None


def _start_trial_thread(threads: int) -> None:
    # OpenMP's thread count is per calling thread: this caps the trial thread only.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="openmp")


def _run_in_worker(number: int, params: dict) -> TrialResult:
    assert _worker_objective is not None, "worker started without an objective"
    return _worker_objective(number, params)


class _WorkerPool:
    """``workers`` spawned processes; ``started`` holds one future per worker, done once it is up.

    Closing returns at once: workers still starting exit when they are up.
    """

    def __init__(self, objective: Objective, workers: int, threads: int) -> None:
        handle, self._objective_file = tempfile.mkstemp(prefix="tune-objective-", suffix=".pkl")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(objective, stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.pool = spawn_pool(workers, _start_worker, (self._objective_file, threads))
        # Each no-op task spawns one worker (spawning is on demand) and returns once it is up.
        self.started = [self.pool.submit(os.getpid) for _ in range(workers)]

    def ready(self) -> int:
        """How many workers are up."""
        return sum(1 for f in self.started if f.done() and not f.cancelled()
                   and f.exception() is None)

    def close(self) -> None:
        """Stop the workers and remove the objective file."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            os.unlink(self._objective_file)
        except FileNotFoundError:
            pass


class _ConcurrentExecutor:
    """Runs trials in one thread of this process and ``workers - 1`` spawned processes.

    A trial goes to the thread when it is free, otherwise to the process pool, which then has a
    started, idle worker (capacity counts workers only once they are up). When a worker dies,
    its trial fails, the pool is replaced, and the next trial queues on the thread meanwhile.
    """

    kind = PROCESSES

    def __init__(self, objective: Objective, workers: int, threads: int) -> None:
        self._objective = objective
        self._threads = threads
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trial",
                                          initializer=_start_trial_thread, initargs=(threads,))
        self._thread_trial: Optional[Future] = None
        self._workers = _WorkerPool(objective, workers - 1, threads)

    def capacity(self) -> int:
        return 1 + self._workers.ready()

    def wakeups(self) -> list:
        return [f for f in self._workers.started if not f.done()]

    def _on_thread(self, number: int, params: dict) -> Future:
        self._thread_trial = self._thread.submit(self._objective, number, params)
        return self._thread_trial

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        if self._thread_trial is None or self._thread_trial.done():
            return self._on_thread(number, params)
        try:
            return self._workers.pool.submit(_run_in_worker, number, params)
        except BrokenProcessPool:
            self._workers.close()
            self._workers = _WorkerPool(self._objective, len(self._workers.started),
                                        self._threads)
            return self._on_thread(number, params)

    def close(self) -> None:
        # No trial is in flight now.
        self._workers.close()
        self._thread.shutdown(wait=True, cancel_futures=True)


@contextmanager
def open_executor(objective: Objective, parallelism: int) -> Iterator[TrialExecutor]:
    """An executor running ``parallelism`` trials at once (inline when 1); closed on exit."""
    if parallelism <= 1:
        yield _InlineExecutor(objective)
        return
    threads = max(1, (os.cpu_count() or 1) // parallelism)
    executor = _ConcurrentExecutor(objective, parallelism, threads)
    try:
        yield executor
    finally:
        executor.close()
