"""prepare streams its input: peak memory must stay flat as the input grows.

Runs `prepare` on CSV inputs of N and 4N rows, each in a fresh process, and prints each peak
RSS, the ratio large/small (target: at most 1.3, i.e. bounded by the batch size, not the file
size), and as a same-run baseline the peak RSS of a whole-file `pandas.read_csv` of the large
input (what a non-streaming prepare would need at least).

    python bench/bench_prepare_memory.py          # 1M and 4M rows (~120 MB and ~480 MB of CSV)
    python bench/bench_prepare_memory.py --quick  # 200k and 800k rows
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from _common import REPO_ROOT, bench_dir, remove_dir, use_sqlite_tracking

CHILD_PREPARE = """
import json, resource, sys, mlflow
from mlflow_delta_plugin.steps.prepare import prepare
with mlflow.start_run():
    result = prepare(input=sys.argv[1], table=sys.argv[2], label="y", batch_rows=65536)
print(json.dumps({"rows": result.rows,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_PANDAS = """
import json, resource, sys
import pandas as pd
frame = pd.read_csv(sys.argv[1])
print(json.dumps({"rows": len(frame),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _write_csv(path: str, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    chunk = 200_000
    with open(path, "w") as handle:
        handle.write(",".join([f"f{i}" for i in range(10)] + ["y"]) + "\n")
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            values = rng.normal(size=(size, 10)).round(5)
            labels = (values[:, 0] + values[:, 1] > 0).astype(int)
            lines = "\n".join(",".join(map(str, row)) + f",{label}"
                              for row, label in zip(values.tolist(), labels))
            handle.write(lines + "\n")


def _child(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    small_rows = 200_000 if args.quick else 1_000_000
    folder = bench_dir("bench-prepare-memory")
    try:
        use_sqlite_tracking(folder)
        sizes = {"N": small_rows, "4N": small_rows * 4}
        results = {}
        for name, rows in sizes.items():
            path = str(folder / f"{name}.csv")
            _write_csv(path, rows, seed=rows)
            measured = _child(CHILD_PREPARE, path, str(folder / f"table_{name}"))
            assert measured["rows"] == rows
            results[name] = measured
            print(f"prepare {rows:>9,} rows ({os.path.getsize(path) / 2**20:6.1f} MiB CSV): "
                  f"peak RSS {measured['peak_mib']:7.1f} MiB")
        baseline = _child(CHILD_PANDAS, str(folder / "4N.csv"))
        print(f"baseline pandas.read_csv of the 4N file:          peak RSS "
              f"{baseline['peak_mib']:7.1f} MiB")
        ratio = results["4N"]["peak_mib"] / results["N"]["peak_mib"]
        print(f"ratio peak(4N) / peak(N) = {ratio:.2f}  (target <= 1.30: "
              f"{'PASS' if ratio <= 1.3 else 'MISS'})")
        print(f"ratio peak(prepare 4N) / peak(read_csv 4N) = "
              f"{results['4N']['peak_mib'] / baseline['peak_mib']:.2f}")
    finally:
        remove_dir(folder)


if __name__ == "__main__":
    main()
