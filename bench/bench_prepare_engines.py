"""prepare on the embedded engine against prepare on Spark (local[2]): wall time and peak memory.

Generates one CSV (default 10M rows: 8 numeric features and a binary label, written with
pyarrow's CSV writer, ~0.6 GB), then runs `prepare` on it once per engine, each in a fresh
Python process (the same call `entrypoints/prepare.py` makes, inside an MLflow run on a SQLite
store under /tmp). For each run it prints:

- wall time of the whole process (interpreter start, imports, Spark start-up included) and of
  the `prepare` call alone (as the child measures it);
- peak memory of the process tree, sampled every 0.2 s from /proc: the sum of RSS over the
  Python process and all its descendants (for Spark: the JVM, the Python daemon and workers),
  and the sum of PSS (shared pages split between the processes sharing them, so forked Python
  workers are not counted twice); for the embedded engine also the kernel's exact peak RSS;
- the ratios spark / embedded, and a check that both engines wrote the same number of rows to
  each split.

    python bench/bench_prepare_engines.py                 # 10M rows (several minutes)
    python bench/bench_prepare_engines.py --rows 200000   # quick
    python bench/bench_prepare_engines.py --quick         # same as --rows 200000
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from _common import (
    REPO_ROOT,
    bench_dir,
    print_table,
    process_tree,
    remove_dir,
    use_sqlite_tracking,
)

FEATURES = 8
ENGINES = ("embedded", "spark")
SPARK_MASTER = "local[2]"
SAMPLE_EVERY_S = 0.2

CHILD = """
import json, resource, sys, time
started = time.perf_counter()
import mlflow
from mlflow_delta_plugin.steps.prepare import prepare
imported = time.perf_counter()
with mlflow.start_run() as run:
    result = prepare(input=sys.argv[1], table=sys.argv[2], label="y", engine=sys.argv[3])
done = time.perf_counter()
metrics = mlflow.get_run(run.info.run_id).data.metrics
print(json.dumps({"rows": result.rows, "version": result.version,
                  "rows_train": metrics["rows_train"], "rows_test": metrics["rows_test"],
                  "import_s": imported - started, "prepare_s": done - imported,
                  "self_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """``rows`` rows of FEATURES normal features (5 decimals) and a label ``y`` in {0, 1}."""
    rng = np.random.default_rng(seed)
    chunk = 1_000_000
    schema = pa.schema([(f"f{i}", pa.float64()) for i in range(FEATURES)] + [("y", pa.int64())])
    with pa_csv.CSVWriter(str(path), schema) as writer:
        for start in range(0, rows, chunk):
            size = min(chunk, rows - start)
            values = rng.normal(size=(size, FEATURES)).round(5)
            labels = (values[:, 0] + values[:, 1] > 0).astype(np.int64)
            writer.write_table(pa.table([*values.T, labels], schema=schema))


def _memory_kib(pid: int) -> tuple:
    """(RSS, PSS) of ``pid`` in KiB, zeros when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            values = dict(line.split(":", 1) for line in handle if ":" in line and
                          line.split(":", 1)[0] in ("Rss", "Pss"))
        return int(values["Rss"].split()[0]), int(values["Pss"].split()[0])
    except (OSError, KeyError, ValueError):
        return 0, 0


class TreeSampler(threading.Thread):
    """Samples the summed RSS / PSS of a process tree until the root exits."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.peak_processes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids = list(process_tree(self.root))
            sizes = [_memory_kib(pid) for pid in pids]
            self.peak_rss_kib = max(self.peak_rss_kib, sum(s[0] for s in sizes))
            self.peak_pss_kib = max(self.peak_pss_kib, sum(s[1] for s in sizes))
            self.peak_processes = max(self.peak_processes, sum(1 for s in sizes if s[0]))
            self.stop.wait(SAMPLE_EVERY_S)


def run_engine(engine: str, source: Path, table: Path) -> dict:
    """Run prepare with ``engine`` in a fresh process; its own report plus wall and tree peaks."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MLFLOW_DELTA_SPARK_MASTER": SPARK_MASTER}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(table), engine],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = TreeSampler(child.pid)
    sampler.start()
    out, err = child.communicate()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"prepare engine={engine} failed:\n{err[-3000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    report.update(engine=engine, wall_s=wall, tree_rss_mib=sampler.peak_rss_kib / 1024,
                  tree_pss_mib=sampler.peak_pss_kib / 1024, processes=sampler.peak_processes)
    return report


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the CSV input")
    parser.add_argument("--quick", action="store_true", help="same as --rows 200000")
    parser.add_argument("--keep", default=None, help="folder to build the CSV in and reuse")
    args = parser.parse_args(argv)
    rows = 200_000 if args.quick else args.rows
    folder = bench_dir("bench-prepare-engines", args.keep)
    try:
        use_sqlite_tracking(folder / "tracking")
        source = folder / f"input_{rows}.csv"
        if not source.exists():
            started = time.perf_counter()
            write_csv(source, rows)
            print(f"wrote {rows:,} rows of CSV ({source.stat().st_size / 2**20:.0f} MiB) "
                  f"in {time.perf_counter() - started:.1f} s")
        print(f"cores: {os.cpu_count()}, Spark master {SPARK_MASTER}, driver memory "
              f"{os.environ.get('MLFLOW_DELTA_SPARK_DRIVER_MEMORY', '2g')}; load average "
              f"before: {_load()}")
        results = {}
        for engine in ENGINES:
            results[engine] = run_engine(engine, source, folder / f"table_{engine}")
            print(f"  {engine} done in {results[engine]['wall_s']:.1f} s (load average {_load()})")
        print_table(
            f"prepare of {rows:,} CSV rows, one fresh process per engine",
            ["engine", "wall s", "prepare s", "imports s", "peak RSS tree MiB",
             "peak PSS tree MiB", "processes", "own peak RSS MiB"],
            [[r["engine"], f"{r['wall_s']:.1f}", f"{r['prepare_s']:.1f}", f"{r['import_s']:.1f}",
              f"{r['tree_rss_mib']:.0f}", f"{r['tree_pss_mib']:.0f}", r["processes"],
              f"{r['self_peak_mib']:.0f}"] for r in results.values()])
        embedded, spark = results["embedded"], results["spark"]
        print("\nratios spark / embedded:")
        for name, key in (("wall (process)", "wall_s"), ("prepare call", "prepare_s"),
                          ("peak RSS of the tree", "tree_rss_mib"),
                          ("peak PSS of the tree", "tree_pss_mib")):
            print(f"  {name:22s} {spark[key] / embedded[key]:6.2f}")
        same = all(embedded[k] == spark[k] == expected for k, expected in
                   (("rows", rows), ("rows_train", embedded["rows_train"]),
                    ("rows_test", embedded["rows_test"])))
        print(f"\nsame rows per split on both engines ({int(embedded['rows_train']):,} train, "
              f"{int(embedded['rows_test']):,} test): {'PASS' if same else 'MISS'}")
        print(f"load average after: {_load()}")
    finally:
        if not args.keep:
            remove_dir(folder)


if __name__ == "__main__":
    main()
