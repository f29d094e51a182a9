"""Shared plumbing of the MLproject entry points: parameters, the step's run, one-line errors.

An entry point script builds an :class:`EntryPointParser`, then calls :func:`run_entry_point`
with a function doing the work. Inside ``mlflow run`` the run already exists (``MLFLOW_RUN_ID``)
and is resumed; run directly, the script starts its own. A :class:`DeltaPluginError` (or a bad
parameter) becomes one line on stderr, the run is marked FAILED and the exit code is 2.
"""

import argparse
import json
import logging
import os
import sys
from typing import Any, Callable, Optional, Sequence

from mlflow_delta_plugin.errors import DeltaPluginError, InvalidInputError
from mlflow_delta_plugin.tracking.runs import step_run

__all__ = [
    "EXIT_BAD_INPUT",
    "exit_process",
    "EntryPointParser",
    "json_object",
    "optional_text",
    "run_entry_point",
]

EXIT_BAD_INPUT = 2


class EntryPointParser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line :class:`InvalidInputError`s."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidInputError(f"{self.prog}: {message}")


def json_object(text: str) -> dict:
    """Parse a JSON object parameter (``''`` means ``{}``)."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at char {exc.pos}): {text!r}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object like '{{\"k\": 1}}', got {text!r}")
    return value


def optional_text(text: str) -> Optional[str]:
    """An optional string parameter: empty means None."""
    return text.strip() or None if text is not None else None


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of each record (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _configure_logging() -> None:
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    package_logger = logging.getLogger("mlflow_delta_plugin")
    if not package_logger.handlers:
        package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)
    package_logger.propagate = False


def run_entry_point(
    name: str,
    parser: argparse.ArgumentParser,
    work: Callable[[argparse.Namespace], Any],
    argv: Optional[Sequence[str]] = None,
) -> int:
    """Run ``work`` for entry point ``name`` inside an MLflow run; return the exit code.

    The run ends FINISHED when ``work`` returns, FAILED when it raises. Known errors print one
    line (``error: ...``) on stderr; anything else is a bug and keeps its traceback.
    """
    _configure_logging()
    # MLflow's artifact download progress bars would add lines to stderr, where errors go.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with step_run(name) as run:
            work(parser.parse_args(argv))
    except DeltaPluginError as exc:
        print(f"error: {name}: {' '.join(str(exc.message).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{name}: run {run.info.run_id} finished", file=sys.stdout)
    return 0


def _end_multiprocessing() -> None:
    """Stop this process's multiprocessing children and unlink its queues' named semaphores, as
    the interpreter's exit would (``os._exit`` skips multiprocessing's exit handler).

    Without this, every step that used a spawned worker pool (``tune`` with ``parallelism`` > 1)
    ends with multiprocessing's resource tracker warning of "leaked semaphore objects". The
    children are idle trial workers by now, or ones still starting (which would fail to open an
    unlinked semaphore), so they are terminated first, as multiprocessing does with daemons.
    """
    if "multiprocessing" not in sys.modules:
        return
    import multiprocessing
    from multiprocessing import util

    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=10)
    run_finalizers = getattr(util, "_run_finalizers", None)  # private; absent: nothing to do
    if run_finalizers is not None:
        run_finalizers(0)  # priority >= 0: semaphore unlinks and queue closes, no process joins


def exit_process(code: int) -> None:
    """Flush output and end the process with ``code``, skipping native library teardown.

    Arrow's and delta-rs's native thread pools can abort the interpreter's shutdown
    intermittently (``terminate called without an active exception``, SIGABRT, exit -6) after
    all work succeeded (delta-rs issue 2184; seen here under load). The run is already ended
    when this is called, so nothing is lost by not running the remaining native destructors.
    """
    _end_multiprocessing()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
