"""cli: how entry point processes end."""

import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT


def test_exit_process_leaves_no_semaphores_of_a_worker_pool_behind(tmp_path):
    script = tmp_path / "pool_then_exit.py"
    script.write_text(textwrap.dedent("""
        import os
        from mlflow_delta_plugin.cli import exit_process
        from mlflow_delta_plugin.tuning.worker_processes import spawn_pool

        if __name__ == "__main__":
            pool = spawn_pool(1, os.getpid, ())
            print("worker", pool.submit(os.getpid).result() != os.getpid(), flush=True)
            pool.shutdown(wait=False)  # as tune closes its trial workers
            exit_process(0)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 0 and done.stdout == "worker True\n", done.stderr
    assert "leaked semaphore" not in done.stderr, done.stderr
