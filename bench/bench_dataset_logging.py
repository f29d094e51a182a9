"""Benchmark: logging a Delta dataset (resolve version + fingerprint + ``mlflow.log_input``).

Builds Delta tables of 1,000 commits / 1,000 files each (one small append per commit; delta-rs
writes a checkpoint every 100 commits, which this script checks) with 1x, 10x and 100x rows per
file, then measures on a local SQLite tracking store:

    ds = mlflow.data.load_delta_version(uri)   # resolve the version, fingerprint its files
    mlflow.log_input(ds)

for the latest version and for an old pinned version (10 of 1,000), with the parts reported
separately. The 1x table, measured in the same process with repetitions interleaved, is the
baseline for "flat in data size". Finally it appends 50 more commits to a copy of the 1x table so
that the latest version sits between checkpoints (delta-rs then replays 50 JSON commits on every load).

Targets: under 100 ms per logged dataset; flat in data size (10x and 100x within 1.25x of 1x).

Usage:
    python bench/bench_dataset_logging.py            # full: 1,000 commits, ~4 minutes
    python bench/bench_dataset_logging.py --quick    # 200 commits, under a minute
    python bench/bench_dataset_logging.py --profile  # add cProfile listings of the slow paths
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    bench_dir,
    median,
    ms,
    print_table,
    print_targets,
    remove_dir,
    spread,
    use_sqlite_tracking,
)

TARGET_MS = 100.0
FLAT_RATIO = 1.25
SIZES = (("1x", 1), ("10x", 10), ("100x", 100))
OLD_VERSION = 10
EXTRA_COMMITS = 50


def build_table(uri: str, commits: int, rows_per_file: int, seed: int) -> float:
    """``commits`` appends of ``rows_per_file`` rows each (one file per commit); returns seconds."""
    import numpy as np
    import pyarrow as pa
    from deltalake import write_deltalake

    rng = np.random.default_rng(seed)
    base = {f"x{i}": rng.random(rows_per_file) for i in range(4)}
    base["label"] = rng.integers(0, 2, rows_per_file)
    started = time.perf_counter()
    for commit in range(commits):
        ids = np.arange(commit * rows_per_file, (commit + 1) * rows_per_file, dtype=np.int64)
        write_deltalake(uri, pa.table({"id": ids, **base}), mode="append")
    return time.perf_counter() - started


def append_commits(uri: str, commits: int, rows_per_file: int) -> None:
    """More small appends to an existing table."""
    import numpy as np
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    start = (DeltaTable(uri).version() + 1) * rows_per_file
    rng = np.random.default_rng(7)
    for commit in range(commits):
        ids = np.arange(start + commit * rows_per_file, start + (commit + 1) * rows_per_file)
        write_deltalake(uri, pa.table({"id": ids, **{f"x{i}": rng.random(rows_per_file)
                                                       for i in range(4)},
                                       "label": rng.integers(0, 2, rows_per_file)}), mode="append")


def log_layout(uri: str) -> dict:
    """Checkpoints, JSON commits, files and bytes of a table."""
    from deltalake import DeltaTable

    log = Path(uri) / "_delta_log"
    checkpoints = sorted(int(p.name.split(".")[0]) for p in log.glob("*.checkpoint.parquet"))
    last = json.loads((log / "_last_checkpoint").read_text()) if (log / "_last_checkpoint").exists() else {}
    table = DeltaTable(uri)
    sizes = table.get_add_actions(flatten=True)
    import pyarrow as pa

    actions = pa.table(sizes)
    return {
        "version": table.version(),
        "commits_json": len(list(log.glob("*.json"))),
        "checkpoints": checkpoints,
        "last_checkpoint": last.get("version"),
        "files": actions.num_rows,
        "bytes": int(sum(actions.column("size_bytes").to_pylist())),
        "rows": int(sum(actions.column("num_records").to_pylist())),
    }


def end_to_end(uri: str, version, context: str) -> tuple[float, float, str]:
    """(load seconds, log_input seconds, digest) of one ``load_delta_version`` + ``log_input``."""
    import mlflow

    with mlflow.start_run():
        started = time.perf_counter()
        dataset = mlflow.data.load_delta_version(uri, version=version)
        loaded = time.perf_counter()
        mlflow.log_input(dataset, context=context)
        logged = time.perf_counter()
    return loaded - started, logged - loaded, dataset.digest


def parts(uri: str, version) -> dict:
    """The same work split into its steps, each through the public API."""
    import mlflow

    from mlflow_delta_plugin.datasets import DeltaVersionDataset, DeltaVersionSource, fingerprint_version
    from mlflow_delta_plugin.delta.table import open_table, resolve_version

    timings = {}
    with mlflow.start_run():
        started = time.perf_counter()
        pinned = resolve_version(uri, version=version)
        timings["resolve"] = time.perf_counter() - started

        started = time.perf_counter()
        dataset = DeltaVersionDataset(DeltaVersionSource.from_pinned(pinned))
        timings["dataset"] = time.perf_counter() - started

        started = time.perf_counter()
        mlflow.log_input(dataset, context="training")
        timings["log_input"] = time.perf_counter() - started

    table = open_table(uri, pinned.version)
    started = time.perf_counter()
    fingerprint_version(table)
    timings["fingerprint"] = time.perf_counter() - started

    started = time.perf_counter()
    open_table(uri, pinned.version)
    timings["open"] = time.perf_counter() - started
    return timings


def measure(tables: dict, version, repeats: int) -> dict:
    """Interleaved repetitions over all tables: {label: {metric: [seconds...]}}."""
    results = {label: {k: [] for k in ("total", "load", "log_input", "resolve", "dataset",
                                       "fingerprint", "open", "log_input_part")}
               for label in tables}
    digests = {label: set() for label in tables}
    labels = list(tables)
    for repeat in range(repeats):
        order = labels[repeat % len(labels):] + labels[:repeat % len(labels)]
        for label in order:
            load, log, digest = end_to_end(tables[label], version, "training")
            digests[label].add(digest)
            row = results[label]
            row["total"].append(load + log)
            row["load"].append(load)
            row["log_input"].append(log)
            split = parts(tables[label], version)
            for key in ("resolve", "dataset", "fingerprint", "open"):
                row[key].append(split[key])
            row["log_input_part"].append(split["log_input"])
    for label, seen in digests.items():
        if len(seen) != 1:
            print(f"WARNING: table {label} gave {len(seen)} different digests: {seen}")
    return results


def result_rows(results: dict, baseline: str) -> list:
    """Table rows: medians in ms and the ratio of the total to the baseline's."""
    base = median(results[baseline]["total"])
    rows = []
    for label, row in results.items():
        total = median(row["total"])
        rows.append([label, ms(total), spread(row["total"]), ms(median(row["load"])),
                     ms(median(row["resolve"])), ms(median(row["open"])),
                     ms(median(row["fingerprint"])), ms(median(row["log_input"])),
                     f"{total / base:.2f}"])
    return rows


HEADER = ["table", "total ms", "min..max", "load_delta_version", "resolve_version",
          "open pinned", "fingerprint", "log_input", "ratio vs 1x"]


def profile_call(uri: str, version, title: str) -> None:
    """cProfile one load + log_input and print the top functions by cumulative time."""
    import mlflow

    profiler = cProfile.Profile()
    with mlflow.start_run():
        profiler.enable()
        dataset = mlflow.data.load_delta_version(uri, version=version)
        mlflow.log_input(dataset, context="training")
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    print(f"\ncProfile: {title}")
    print("\n".join(line for line in text.getvalue().splitlines()[4:] if line.strip()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 commits, fewer repeats")
    parser.add_argument("--commits", type=int, help="commits (= files) per table (default 1000)")
    parser.add_argument("--rows", type=int, help="rows per file of the 1x table (default 100)")
    parser.add_argument("--repeats", type=int, help="interleaved repetitions (default 15)")
    parser.add_argument("--keep", help="build the tables in this folder and keep them (reused "
                                       "when already there)")
    parser.add_argument("--profile", action="store_true", help="print cProfile listings")
    args = parser.parse_args(argv)
    commits = args.commits or (200 if args.quick else 1000)
    rows = args.rows or (10 if args.quick else 100)
    repeats = args.repeats or (5 if args.quick else 15)
    old_version = min(OLD_VERSION, commits - 1)

    folder = bench_dir("bench-dataset-logging", args.keep)
    try:
        import mlflow
        from deltalake import DeltaTable

        use_sqlite_tracking(folder / "tracking")
        print(f"mlflow {mlflow.__version__}, deltalake {__import__('deltalake').__version__}; "
              f"{commits} commits per table, {rows} rows per file at 1x, {repeats} repeats; "
              f"scratch {folder}")

        tables = {}
        for label, factor in SIZES:
            uri = str(folder / f"table_{label}")
            tables[label] = uri
            if DeltaTable.is_deltatable(uri):
                print(f"reusing {label} table at {uri}")
                continue
            seconds = build_table(uri, commits, rows * factor, seed=factor)
            print(f"built {label} table: {commits} appends of {rows * factor} rows in {seconds:.1f} s")

        layouts = {label: log_layout(uri) for label, uri in tables.items()}
        print_table("Tables", ["table", "latest version", "files", "rows", "MB", "checkpoints at",
                               "_last_checkpoint"],
                    [[label, lay["version"], lay["files"], lay["rows"], f"{lay['bytes'] / 1e6:.1f}",
                      (", ".join(map(str, lay["checkpoints"][:3])) + (" ..." if len(lay["checkpoints"]) > 3 else "")
                       + f" ({len(lay['checkpoints'])} checkpoints)"),
                      lay["last_checkpoint"]]
                     for label, lay in layouts.items()])
        every_100 = all(lay["checkpoints"] == list(range(99, lay["version"] + 1, 100))
                        for lay in layouts.values())
        print(f"checkpoint every 100 commits (versions 99, 199, ...): {'yes' if every_100 else 'NO'}")

        # The first call in a fresh process pays imports and plugin discovery once.
        load, log, _ = end_to_end(tables["1x"], None, "training")
        cold = load + log
        print(f"\nfirst call in this process (plugin import, DB connection): {ms(cold)} ms "
              f"(load {ms(load)}, log_input {ms(log)})")
        for uri in tables.values():  # warm-up: OS page cache, one run per table
            end_to_end(uri, None, "training")
            end_to_end(uri, old_version, "training")

        latest = measure(tables, None, repeats)
        print_table(f"Latest version (v{commits - 1}, a checkpoint), median of {repeats}, ms",
                    HEADER, result_rows(latest, "1x"))
        old = measure(tables, old_version, repeats)
        print_table(f"Old pinned version (v{old_version} of {commits}), median of {repeats}, ms",
                    HEADER, result_rows(old, "1x"))

        between_uri = str(folder / "table_1x_between_checkpoints")
        remove_dir(Path(between_uri))
        shutil.copytree(tables["1x"], between_uri)
        append_commits(between_uri, EXTRA_COMMITS, rows)
        between = measure({"1x": between_uri}, None, repeats)
        between_version = DeltaTable(between_uri).version()
        print_table(f"1x table, latest v{between_version}: {EXTRA_COMMITS} JSON commits after the "
                    f"last checkpoint, median of {repeats}, ms", HEADER,
                    result_rows(between, "1x"))

        if args.profile:
            profile_call(between_uri, None, f"latest v{between_version} (between checkpoints)")
            profile_call(tables["1x"], old_version, f"old v{old_version}")

        base = median(latest["1x"]["total"])
        ratios = {label: median(latest[label]["total"]) / base for label in ("10x", "100x")}
        old_base = median(old["1x"]["total"])
        old_ratios = {label: median(old[label]["total"]) / old_base for label in ("10x", "100x")}
        print("\nFlatness in data size (total time / 1x total time, same process, interleaved):")
        for label in ("10x", "100x"):
            print(f"  latest {label}/1x = {ratios[label]:.2f}    old v{old_version} {label}/1x = "
                  f"{old_ratios[label]:.2f}")

        worst_latest = max(median(latest[label]["total"]) for label in tables)
        worst_old = max(median(old[label]["total"]) for label in tables)
        between_ms = median(between["1x"]["total"])
        print_targets([
            (f"latest version logged in < {TARGET_MS:.0f} ms (1,000 commits/files: worst of 1x/10x/100x)"
             if commits == 1000 else f"latest version logged in < {TARGET_MS:.0f} ms ({commits} commits)",
             f"{ms(worst_latest)} ms", worst_latest * 1000 < TARGET_MS),
            (f"flat in data size: 10x and 100x within {FLAT_RATIO}x of 1x",
             f"10x {ratios['10x']:.2f}, 100x {ratios['100x']:.2f}",
             max(ratios.values()) <= FLAT_RATIO),
            (f"old pinned version v{old_version} logged in < {TARGET_MS:.0f} ms",
             f"{ms(worst_old)} ms", worst_old * 1000 < TARGET_MS),
            (f"old version flat in data size (within {FLAT_RATIO}x)",
             f"10x {old_ratios['10x']:.2f}, 100x {old_ratios['100x']:.2f}",
             max(old_ratios.values()) <= FLAT_RATIO),
            (f"latest between checkpoints (+{EXTRA_COMMITS} JSON commits) in < {TARGET_MS:.0f} ms",
             f"{ms(between_ms)} ms", between_ms * 1000 < TARGET_MS),
        ])
        print(f"\n(first call in a process, not a target: {ms(cold)} ms)")
    finally:
        if not args.keep:
            remove_dir(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
