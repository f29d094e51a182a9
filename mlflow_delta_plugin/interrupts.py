"""Stopping a step cleanly when it is asked to stop: Ctrl+C (SIGINT) or SIGTERM.

Python turns SIGINT into ``KeyboardInterrupt``, but SIGTERM (what ``kill``, ``timeout`` or a
scheduler sends) ends the process at once by default: no ``finally`` runs, so the step's MLflow
runs stay RUNNING forever and tune's finished trials still queued for writing are lost. Inside
:func:`stop_on_signals` SIGTERM raises :class:`Terminated` in the main thread instead, so the step
unwinds as after Ctrl+C: its runs end KILLED, queued trial runs are written, worker processes are
stopped.

Only the first signal counts: SIGINT and SIGTERM arriving while the step stops are ignored, so
they cannot cut the clean-up short (``mlflow run`` sends its child SIGTERM right after the
terminal's Ctrl+C reached both; an exception raised inside ``mlflow.end_run`` would leave the run
RUNNING). ``kill -9`` still ends the process at once.
"""

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["INTERRUPTS", "Terminated", "interrupt_exit_code", "interrupt_name", "stop_on_signals"]


class Terminated(BaseException):
    """The process received SIGTERM (a ``BaseException``, like ``KeyboardInterrupt``, so that
    ``except Exception`` blocks do not swallow it)."""


INTERRUPTS = (KeyboardInterrupt, Terminated)
"""The exceptions meaning "asked to stop", not "failed"."""

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def interrupt_name(exc: BaseException) -> str:
    """The signal behind an interrupt: ``SIGTERM`` or ``SIGINT``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def interrupt_exit_code(exc: BaseException) -> int:
    """The shell's exit code for a process ended by that signal: 128 + its number."""
    number = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
    return 128 + int(number)


def _stop(signum: int, frame: object) -> None:
    for number in _SIGNALS:  # the step is stopping now: later signals must not interrupt that
        signal.signal(number, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated("SIGTERM")
    raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM raises ``KeyboardInterrupt`` or
    :class:`Terminated` in the main thread, and later ones are ignored; the previous handlers
    come back on exit. Outside the main thread (where Python cannot install handlers) this does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _stop) for number in _SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
