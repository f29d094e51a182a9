"""worker_processes: spawned workers end with their parent, however it ended."""

import os
import subprocess
import sys
import textwrap

import pytest

from mlflow_delta_plugin.tuning.worker_processes import spawn_pool
from tests.processes import alive, wait_until


def _set_marker(value: str) -> None:
    os.environ["WORKER_MARKER"] = value


def _marker() -> str:
    return os.environ["WORKER_MARKER"]


def test_workers_run_the_initializer_first():
    pool = spawn_pool(1, _set_marker, ("ready",))
    try:
        assert pool.submit(_marker).result(timeout=120) == "ready"
    finally:
        pool.shutdown()


@pytest.mark.parametrize("ending", ["os._exit(0)", "os.kill(os.getpid(), signal.SIGKILL)"])
def test_workers_exit_when_the_parent_skips_exit_hooks_or_is_killed(tmp_path, ending):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal
        from mlflow_delta_plugin.tuning.worker_processes import spawn_pool
        if __name__ == "__main__":
            pool = spawn_pool(2, os.getpid, ())
            pids = {{pool.submit(os.getpid).result() for _ in range(8)}}
            print(*pids, flush=True)
            {ending}
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=180)
    pids = [int(p) for p in done.stdout.split()]
    assert pids, done.stderr
    wait_until(lambda: not any(alive(p) for p in pids), 30, f"workers {pids} outlived their parent")
