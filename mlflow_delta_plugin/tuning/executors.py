"""Where trials run: inline in this process, or ``parallelism`` at a time concurrently.

Concurrent trials run in one thread of this process plus ``parallelism - 1`` worker processes.
Workers start with the ``spawn`` method (deltalake panics in a forked child of a process that
used it), which costs each a fresh interpreter and the imports of scikit-learn, MLflow and this
package: seconds. The executor counts a worker as a slot only once it is up, so the search runs
trials in this process meanwhile and never waits on start-up; a short search may finish before
any worker is ready. Each worker receives the objective (with its data) once, when it starts.
Native thread pools (OpenMP, BLAS) are capped at each slot's share of the CPUs so concurrent
trials do not oversubscribe them.
"""

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Iterator, Optional, Protocol

from mlflow_delta_plugin.tuning.base import Objective, TrialResult

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


def _start_worker(objective: Objective, threads: int) -> None:
    global _worker_objective
    _worker_objective = objective
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for libraries loaded later (torch)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


def _start_trial_thread(threads: int) -> None:
    # OpenMP's thread count is per calling thread: this caps the trial thread only.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="openmp")


def _run_in_worker(number: int, params: dict) -> TrialResult:
    assert _worker_objective is not None, "worker started without an objective"
    return _worker_objective(number, params)


class _ConcurrentExecutor:
    """Runs trials in one thread of this process and ``workers - 1`` spawned processes.

    A trial goes to the thread when it is free, otherwise to the process pool, which then has a
    started, idle worker (capacity counts workers only once their start-up task came back). A
    pool broken by a worker that died (its trials fail) is replaced for the next trials.
    """

    kind = PROCESSES

    def __init__(self, objective: Objective, workers: int, threads: int) -> None:
        self._objective = objective
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trial",
                                          initializer=_start_trial_thread, initargs=(threads,))
        self._thread_trial: Optional[Future] = None
        self._workers = workers - 1
        self._threads = threads
        self._pool, self._started = self._new_pool()

    def _new_pool(self) -> tuple:
        pool = ProcessPoolExecutor(
            max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(self._objective, self._threads))
        # One no-op task per worker: each submit spawns a worker, its return says one is up.
        return pool, [pool.submit(os.getpid) for _ in range(self._workers)]

    def capacity(self) -> int:
        return 1 + sum(1 for f in self._started if f.done() and f.exception() is None)

    def wakeups(self) -> list:
        return [f for f in self._started if not f.done()]

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        if self._thread_trial is None or self._thread_trial.done():
            self._thread_trial = self._thread.submit(self._objective, number, params)
            return self._thread_trial
        try:
            return self._pool.submit(_run_in_worker, number, params)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self._started = self._new_pool()
            return self._pool.submit(_run_in_worker, number, params)

    def close(self) -> None:
        # No trial is in flight now; workers still starting exit on their own once up.
        self._pool.shutdown(wait=False, cancel_futures=True)
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
