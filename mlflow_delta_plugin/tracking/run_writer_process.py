"""The run writer process: a child interpreter that writes :class:`RunRecord` s it is sent.

Started as ``python -m mlflow_delta_plugin.tracking.run_writer_process`` with two pipes, not through
``multiprocessing``: a spawned ``multiprocessing`` child first re-imports the caller's main script,
which runs a user's script without a ``__main__`` guard a second time (writing its tables again)
before failing. This child imports MLflow and this module only.

Protocol (pickled messages over the pipes, :class:`multiprocessing.connection.Connection`):
the parent sends ``(tracking_uri, experiment_id)`` first (through the pipe, not the command line,
where anyone listing processes would see credentials a URI may hold); the child answers
``("started", None, error or None)`` once its client reaches the store, then reads
``(number, record)`` and answers ``("ok", number, run_id)`` or ``("error", number, text)`` for
each, in order. End of input (the parent closed its end, or died) makes it write what it has
already received and exit, so records sent before a crash of the parent are still written. It
ignores SIGINT: Ctrl+C in a terminal reaches the whole process group, and should interrupt the
caller, not the writes.
"""

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Optional

__all__ = ["WriterProcess", "WriterStopped"]


class WriterStopped(RuntimeError):
    """The writer process ended (or never started) before answering."""


class WriterProcess:
    """The parent's side: start the child, send records, get futures of their run ids.

    Attributes:
        started: done once the child is up; its result is None, or the one-line reason the child
            cannot write (it then exits); it raises :class:`WriterStopped` if the child died first.
    """

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        child_in, to_child = os.pipe()  # not inheritable, except as passed below
        from_child, child_out = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child_in), str(child_out)],
            pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self._outbox = Connection(to_child, readable=False)
        self._inbox = Connection(from_child, writable=False)
        self._send_lock = threading.Lock()  # one message at a time on the pipe
        self._answers_lock = threading.Lock()  # never held while sending: the reader needs it
        self._answers: dict[int, Future] = {}
        self._sent = 0
        self.started: Future = Future()
        try:
            self._outbox.send((tracking_uri, experiment_id))  # small: the pipe takes it at once
        except OSError:  # the child is already gone: the reader reports it through `started`
            pass
        threading.Thread(target=self._read_answers, daemon=True, name="run-writer-answers").start()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._process.pid

    def submit(self, record: object) -> "Future[str]":
        """Send ``record``; the future gives its run id, or raises why it was not written.

        Raises:
            WriterStopped: the child is gone.
        """
        answer: Future = Future()
        with self._send_lock:
            with self._answers_lock:
                number, self._sent = self._sent, self._sent + 1
                self._answers[number] = answer
            try:
                self._outbox.send((number, record))
            except (OSError, ValueError) as exc:  # broken pipe, or closed
                with self._answers_lock:
                    self._answers.pop(number, None)
                raise WriterStopped(f"the writer process is gone ({exc})") from exc
        return answer

    def close(self) -> None:
        """Send end of input: the child writes what it was sent, then exits."""
        with self._send_lock:
            self._outbox.close()

    def _read_answers(self) -> None:
        try:
            while True:
                kind, number, value = self._inbox.recv()
                if kind == "started":
                    self.started.set_result(value)
                    continue
                with self._answers_lock:
                    answer = self._answers.pop(number)
                if kind == "ok":
                    answer.set_result(value)
                else:
                    answer.set_exception(RuntimeError(value))
        except (EOFError, OSError):
            pass
        code = self._process.wait()  # reaps the child
        stopped = WriterStopped(f"the writer process ended (exit code {code})")
        if not self.started.done():
            self.started.set_exception(stopped)
        with self._answers_lock:
            answers, self._answers = self._answers, {}
        for answer in answers.values():
            answer.set_exception(stopped)
        self._inbox.close()


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:1000]


def _serve(inbox: Connection, outbox: Connection) -> None:
    """The child's loop: open the store, then write each record received until end of input."""
    from mlflow import MlflowClient

    from mlflow_delta_plugin.tracking.run_records import write_run

    try:
        tracking_uri, experiment_id = inbox.recv()
        client = MlflowClient(tracking_uri)
        client.get_experiment(experiment_id)  # opens the store; proves these credentials reach it
    except Exception as exc:  # noqa: BLE001  the parent writes in its own process instead
        outbox.send(("started", None, _one_line(exc)))
        return
    outbox.send(("started", None, None))
    while True:
        try:
            number, record = inbox.recv()
        except EOFError:
            return
        try:
            outbox.send(("ok", number, write_run(client, record)))
        except Exception as exc:  # noqa: BLE001  the parent finishes the record itself
            try:
                outbox.send(("error", number, _one_line(exc)))
            except OSError:  # the parent is gone; keep writing what was received
                pass


def main(argv: Optional[list] = None) -> None:
    """Entry of the child process: ``IN_FD OUT_FD`` (the pipes' ends it was given)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    in_fd, out_fd = argv or sys.argv[1:]
    try:
        _serve(Connection(int(in_fd), writable=False), Connection(int(out_fd), readable=False))
    except (EOFError, OSError):  # the parent went away before the first exchange: nothing to do
        pass
    # Everything is written: skip the interpreter's teardown, which takes CPU from the caller and
    # can abort in native libraries' destructors (see mlflow_delta_plugin.cli.exit_process).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
