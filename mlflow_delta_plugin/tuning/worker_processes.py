"""Pools of spawned worker processes that never outlive this process.

Workers start with the ``spawn`` method: deltalake panics in a forked child of a process that used
it. A ``ProcessPoolExecutor`` stops its workers from an exit hook, but the entry points end with
``os._exit`` (see :func:`mlflow_delta_plugin.cli.exit_process`), which runs no hooks, and a
worker blocked on its task queue would then wait forever: an idle interpreter holding hundreds of
MiB and, under ``mlflow run``, the pipes of the step's output, so ``mlflow run`` itself never
returned. Each worker here watches its parent and exits as soon as the parent is gone, however
the parent ended.
"""

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait
from typing import Callable, Sequence

__all__ = ["spawn_pool"]


def _exit_with_parent(sentinel: int) -> None:
    wait([sentinel])  # readable once the parent has exited
    os._exit(0)


def _start_worker(initializer: Callable[..., None], initargs: Sequence) -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True,
                         name="exit-with-parent").start()
    initializer(*initargs)


def spawn_pool(workers: int, initializer: Callable[..., None],
               initargs: Sequence = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each running ``initializer(*initargs)`` first
    and exiting when this process ends. Processes start on demand (at submit)."""
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(initializer, tuple(initargs)))
