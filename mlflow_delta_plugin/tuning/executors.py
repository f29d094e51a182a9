"""Where trials run: inline in this process, or concurrently in a pool of worker processes.

Workers start with the ``spawn`` method: deltalake panics in a forked child of a process that
used it. Each worker receives the objective once (with its data) when it starts, and caps its
native thread pools (OpenMP, BLAS) at its share of the CPUs so concurrent trials do not
oversubscribe the machine.
"""

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator, Optional, Protocol

from mlflow_delta_plugin.tuning.base import Objective, TrialResult

__all__ = ["INLINE", "PROCESSES", "TrialExecutor", "open_executor"]

INLINE = "inline"
PROCESSES = "processes"

_worker_objective: Optional[Objective] = None


class TrialExecutor(Protocol):
    """Runs trials of one objective; ``submit`` returns a future of the :class:`TrialResult`."""

    kind: str

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        """Start trial ``number`` with ``params``."""


class _InlineExecutor:
    """Runs each trial in this process, at submit time."""

    kind = INLINE

    def __init__(self, objective: Objective) -> None:
        self._objective = objective

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


def _run_in_worker(number: int, params: dict) -> TrialResult:
    assert _worker_objective is not None, "worker started without an objective"
    return _worker_objective(number, params)


class _ProcessExecutor:
    """Runs trials in ``workers`` spawned processes."""

    kind = PROCESSES

    def __init__(self, objective: Objective, workers: int) -> None:
        threads = max(1, (os.cpu_count() or 1) // workers)
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(objective, threads))

    def submit(self, number: int, params: dict) -> "Future[TrialResult]":
        return self._pool.submit(_run_in_worker, number, params)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def open_executor(objective: Objective, parallelism: int) -> Iterator[TrialExecutor]:
    """An executor running ``parallelism`` trials at once (inline when 1); closed on exit."""
    if parallelism <= 1:
        yield _InlineExecutor(objective)
        return
    executor = _ProcessExecutor(objective, parallelism)
    try:
        yield executor
    finally:
        executor.close()
