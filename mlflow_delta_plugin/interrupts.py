"""Stopping a step cleanly when it is asked to stop: Ctrl+C (SIGINT) or SIGTERM.

Python turns SIGINT into ``KeyboardInterrupt``, but SIGTERM (what ``kill``, ``timeout`` or a
scheduler sends) ends the process at once by default: no ``finally`` runs, so the step's MLflow
runs stay RUNNING forever and tune's finished trials still queued for writing are lost. Inside
:func:`sigterm_raises` the first SIGTERM raises :class:`Terminated` in the main thread instead, so
the step unwinds like after Ctrl+C: its runs end KILLED, queued trial runs are written, worker
processes are stopped. A second SIGTERM while it unwinds ends the process at once, as the default
would have.
"""

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["INTERRUPTS", "Terminated", "interrupt_exit_code", "interrupt_name", "sigterm_raises"]


class Terminated(BaseException):
    """The process received SIGTERM (a ``BaseException``, like ``KeyboardInterrupt``, so that
    ``except Exception`` blocks do not swallow it)."""


INTERRUPTS = (KeyboardInterrupt, Terminated)
"""The exceptions meaning "asked to stop", not "failed"."""


def interrupt_name(exc: BaseException) -> str:
    """The signal behind an interrupt: ``SIGTERM`` or ``SIGINT``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def interrupt_exit_code(exc: BaseException) -> int:
    """The shell's exit code for a process ended by that signal: 128 + its number."""
    number = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
    return 128 + int(number)


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, the first SIGTERM raises :class:`Terminated` in the main thread.

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
