"""Benchmark: Spark read of a pinned Delta version through the project's reader vs Parquet.

Builds a partitioned Delta table with deltalake (two commits; the benchmark pins version 1, so
the reader plans from the log), then times, on one ``local[2]`` session:

    A  read_delta(spark, uri, version=1)                            (the project's reader)
    B  spark.read.option("basePath", uri).parquet(*version_1_files) (Spark on the same files)
    C  read_delta(spark, uri, version=1, parquet_fast_path=False)   (Python Data Source only:
       the path files with deletion vectors always take)

each built and forced through every column with Spark's ``noop`` sink (timed together), plus a
projected variant (two columns). Repetitions rotate the order (A B C, B C A, C A B ...) after one warm-up each (Python
workers start and import once), with a JVM garbage collection before each timed read; medians
are compared. Besides wall time it records the CPU time of the
Spark JVM and its Python workers per read (Linux ``/proc``), the steadier figure on a machine
other work is loading.

Target: A's throughput at least 0.9 of B's (ratio = B time / A time). C is reported, not gated:
every row it returns crosses a socket from a Python worker and is converted from Arrow one by
one in the JVM, which costs about twice the CPU of Spark's vectorized Parquet reader.

Usage:
    python bench/bench_spark_read.py            # 20M rows, ~0.6 GB of Parquet, ~10 minutes
    python bench/bench_spark_read.py --quick    # 2M rows, about two minutes
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    bench_dir,
    median,
    print_table,
    print_targets,
    process_tree,
    remove_dir,
    spread,
)

TARGET_RATIO = 0.9


def build_table(uri: str, rows: int, files_per_commit: int) -> None:
    """Two commits of ``rows / 2`` rows each, partitioned by ``split``."""
    import numpy as np
    import pyarrow as pa
    from deltalake import WriterProperties, write_deltalake

    rng = np.random.default_rng(7)
    half = rows // 2
    for commit in range(2):
        ids = np.arange(commit * half, (commit + 1) * half, dtype=np.int64)
        data = pa.table({
            "id": ids,
            "f1": rng.normal(size=half), "f2": rng.normal(size=half),
            "f3": rng.normal(size=half), "f4": rng.integers(0, 1000, size=half),
            "category": pa.array(np.array(["red", "green", "blue", "cyan"])[ids % 4]),
            "label": (ids % 2).astype(np.int64),
            "split": pa.array(np.where(ids % 5 == 0, "test", "train")),
        })
        write_deltalake(uri, data, mode="append", partition_by=["split"],
                        target_file_size=max(1, data.nbytes // files_per_commit),
                        writer_properties=WriterProperties(compression="SNAPPY"))


def start_spark():
    """A local[2] session like the tests use."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench_spark_read")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g")
             .config("spark.sql.session.timeZone", "UTC")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _process_tree_cpu(root_pid: int) -> float:
    """CPU seconds (user + system, reaped children included) of a process and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    return sum(sum(int(v) for v in fields[11:15])
               for fields in process_tree(root_pid).values()) / tick


def consume(make_frame, jvm_pid: int) -> tuple:
    """(wall seconds, CPU seconds) to build a DataFrame with ``make_frame()`` and push every row
    and column of it through the no-op sink.

    Building is timed too: readers differ in what they do then (Spark infers a Parquet schema
    from footers; ``read_delta`` loads the log and lists the version's files) and in what they
    defer to the query (a Parquet scan given a schema lists its files at planning time).
    """
    cpu_before = _process_tree_cpu(jvm_pid)
    started = time.perf_counter()
    make_frame().write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started, _process_tree_cpu(jvm_pid) - cpu_before


def _parquet(spark, uri: str, files: list, columns):
    frame = spark.read.option("basePath", uri).parquet(*files)
    return frame.select(*columns) if columns else frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small table, fewer repetitions")
    parser.add_argument("--rows", type=int, help="rows in the table (overrides the preset)")
    parser.add_argument("--repeat", type=int, help="timed repetitions per side")
    parser.add_argument("--keep", help="reuse / keep the table in this folder")
    args = parser.parse_args()
    rows = args.rows or (2_000_000 if args.quick else 20_000_000)
    repeat = args.repeat or (3 if args.quick else 5)
    files_per_commit = 4 if args.quick else 8

    from deltalake import DeltaTable

    from mlflow_delta_plugin.spark import read_delta

    folder = bench_dir("bench_spark_read", args.keep)
    uri = str(folder / "table")
    try:
        if not DeltaTable.is_deltatable(uri):
            started = time.perf_counter()
            build_table(uri, rows, files_per_commit)
            print(f"built {rows:,} rows in {time.perf_counter() - started:.1f} s")
        pinned = DeltaTable(uri, version=1)
        files = pinned.file_uris()
        size = sum(os.path.getsize(f) for f in files)
        print(f"version 1: {len(files)} files, {size / 2**20:.0f} MiB of Parquet, {rows:,} rows")

        spark = start_spark()
        jvm_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
        variants = {"all columns": None, "2 columns": ["id", "f1"]}
        results, targets = [], []
        for name, columns in variants.items():
            readers = {
                "read_delta": lambda: read_delta(spark, uri, version=1, columns=columns),
                "parquet": lambda: _parquet(spark, uri, files, columns),
                "data source only": lambda: read_delta(spark, uri, version=1, columns=columns,
                                                       parquet_fast_path=False),
            }
            for make in readers.values():
                assert make().count() == rows
                consume(make, jvm_pid)  # warm-up: Python workers start and import once
            walls = {key: [] for key in readers}
            cpus = {key: [] for key in readers}
            order = list(readers)
            for _ in range(repeat):
                order = order[1:] + order[:1]  # each reader follows each other equally often
                for key in order:
                    spark._jvm.System.gc()  # garbage of the previous read is not billed to this one
                    wall, cpu = consume(readers[key], jvm_pid)
                    walls[key].append(wall)
                    cpus[key].append(cpu)
            base_wall, base_cpu = median(walls["parquet"]), median(cpus["parquet"])
            for key in readers:
                wall, cpu = median(walls[key]), median(cpus[key])
                results.append([name, key, f"{wall:.2f}", spread(walls[key]), f"{cpu:.2f}",
                                f"{rows / wall / 1e6:.2f}", f"{base_wall / wall:.2f}",
                                f"{base_cpu / cpu:.2f}"])
            ratio = base_wall / median(walls["read_delta"])
            cpu_ratio = base_cpu / median(cpus["read_delta"])
            targets.append((f"{name}: read_delta throughput >= {TARGET_RATIO} x spark.read.parquet "
                            "(wall)", f"{ratio:.2f}x", ratio >= TARGET_RATIO))
            targets.append((f"{name}: read_delta throughput >= {TARGET_RATIO} x spark.read.parquet "
                            "(CPU)", f"{cpu_ratio:.2f}x", cpu_ratio >= TARGET_RATIO))
        print_table(f"Spark read of Delta version 1, {rows:,} rows ({repeat} runs each, medians; "
                    "local[2]; ratio = parquet / reader)",
                    ["variant", "reader", "wall s", "range ms", "CPU s", "Mrows/s",
                     "ratio wall", "ratio CPU"], results)
        print_targets(targets)
        spark.stop()
        return 0 if all(ok for _, _, ok in targets) else 1
    finally:
        if not args.keep:
            remove_dir(folder)


if __name__ == "__main__":
    sys.exit(main())
