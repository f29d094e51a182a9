"""Shared helpers of the benchmarks: timing, an isolated tracking store, result tables.

Every benchmark measures its baseline in the same process run as the thing it compares, with
repetitions interleaved (A, B, A, B, ...) so that noise from other work on the machine hits both
sides alike, and reports medians.
"""

import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent

if str(REPO_ROOT) not in sys.path:  # run as `python bench/bench_x.py` from a plain checkout
    sys.path.insert(0, str(REPO_ROOT))


def bench_dir(name: str, keep: Optional[str] = None) -> Path:
    """A fresh scratch folder under /tmp (or ``keep``, reused as is when given)."""
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir="/tmp"))


def remove_dir(path: Path) -> None:
    """Delete a scratch folder created by :func:`bench_dir`."""
    shutil.rmtree(path, ignore_errors=True)


def use_sqlite_tracking(folder: Path) -> str:
    """Point MLflow (this process and its children) at a SQLite store and artifact folder in
    ``folder``; nothing is written to the current directory."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    # An explicit artifact location: the default is ./mlruns in the current directory, which
    # would write into the checkout (and a ./mlruns there switches MLflow to the file store).
    return use_tracking(uri, (folder / "artifacts").as_uri())


def use_tracking(uri: str, artifact_location: Optional[str] = None) -> str:
    """Point MLflow (this process and its children) at tracking ``uri`` and a ``bench``
    experiment there (created with ``artifact_location`` when given); returns ``uri``."""
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.environ.pop("MLFLOW_RUN_ID", None)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("bench")
    experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(
        "bench", artifact_location=artifact_location)
    mlflow.set_experiment(experiment_id=experiment_id)
    os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_id
    return uri


def process_tree(root_pid: int) -> dict:
    """pid -> fields of ``/proc/<pid>/stat`` (after the command name) for ``root_pid`` and every
    living descendant of it."""
    children, stats = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, stack = {}, [root_pid]
    while stack:
        pid = stack.pop()
        if pid in stats:
            tree[pid] = stats[pid]
        stack.extend(children.get(pid, ()))
    return tree
@contextmanager
def tracking_server(folder: Path, timeout_s: float = 60.0) -> Iterator[str]:
    """An ``mlflow server`` (one worker, SQLite store and artifacts in ``folder``) on a free
    local port, as a team or Databricks tracking server would serve it; yields its URI."""
    import socket
    import subprocess
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts")],
        stdout=open(folder / "server.log", "wb"), stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start; see {folder / 'server.log'}")
                time.sleep(0.5)
        yield uri
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.1f}"


def median(values: Sequence[float]) -> float:
    """Median of non-empty ``values``."""
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min..max of ``values`` in milliseconds, for judging the noise."""
    return f"{min(values) * 1000:.1f}..{max(values) * 1000:.1f}"


@contextmanager
def stopwatch(into: list) -> Iterator[None]:
    """Append the wall time of the block (seconds) to ``into``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        into.append(time.perf_counter() - started)


def timed(action: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain aligned text table."""
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(h.ljust(w) for h, w in zip(cells[0], widths))
    print(line)
    print("-" * len(line))
    for row in cells[1:]:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def print_targets(results: Sequence[tuple[str, str, bool]]) -> None:
    """Print ``(target, measured, ok)`` lines as PASS / MISS."""
    print("\nTargets")
    for target, measured, ok in results:
        print(f"  [{verdict(ok)}] {target}: {measured}")
