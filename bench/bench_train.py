"""Benchmark: ``train`` wall time against a hand-written pandas + scikit-learn script.

Generates a synthetic Parquet file (1M rows, 20 numeric features, a binary label) under /tmp,
runs ``prepare`` on it once, then times, interleaved and repeated:

- hand-written, in-process: ``pd.read_parquet`` of the same file, the same train rows in the
  same order (their positions, computed once beforehand), the same pipeline (the one
  ``models.catalog.build_model`` builds, written out by hand and checked equal), fit, scored on
  the test rows;
- product, in-process: ``train(...)`` inside ``mlflow.start_run()`` (pins the Delta version,
  reads both splits, fits, scores, logs params / metrics / dataset / model, registers);
- proposed, in-process: the same ``train(...)`` with the scoring change proposed for
  ``metrics.score_model`` / ``steps.fitting`` patched in (one ``predict_proba`` per scoring
  instead of ``predict`` + ``predict_proba``; train metrics on a 100,000-row sample);
- for ``linear``, the same as subprocesses: ``python bench/bench_train.py --handwritten ...``
  against ``python entrypoints/train.py ...`` (interpreter start-up and imports included).

The ratio product / hand-written is printed (target: at most 1.15), wall time and CPU time, with
a breakdown of where the product's time goes (perf_counter around the calls the product makes).
The MLflow CLI start-up (``mlflow run . -e train --env-manager local`` minus the same entry point
run directly, on a tiny table; ``mlflow --version``; ``import mlflow``) is reported separately,
outside the ratio.

Usage:
    python bench/bench_train.py            # 1M rows; linear (3 repeats) + gradient_boosting (2)
    python bench/bench_train.py --quick    # 50k rows, linear, about a minute
    python bench/bench_train.py --profile  # add a cProfile listing of one product call
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    REPO_ROOT,
    bench_dir,
    median,
    print_table,
    print_targets,
    remove_dir,
    use_sqlite_tracking,
)

TARGET_RATIO = 1.15
N_FEATURES = 20
LABEL = "label"
SEED = 42
TEST_FRACTION = 0.2
TRAIN_METRICS_SAMPLE = 100_000  # the proposed cap on rows scored for train_* metrics


# --------------------------------------------------------------------------------------------
# The hand-written script. Imports only numpy, pandas and scikit-learn (not mlflow, not this
# package) so that its subprocess start-up is what a plain script costs.
# --------------------------------------------------------------------------------------------

def handwritten_pipeline(model_type: str, features: list, seed: int):
    """What ``build_model(model_type, "classification", features, [], None, seed)`` builds,
    written out with scikit-learn directly (``check_same_pipeline`` proves they are equal)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimators = {
        "linear": (LogisticRegression(max_iter=1000, random_state=seed), True),
        "gradient_boosting": (HistGradientBoostingClassifier(random_state=seed), False),
        "random_forest": (RandomForestClassifier(n_estimators=100, random_state=seed), False),
    }
    estimator, scale = estimators[model_type]
    numeric = make_pipeline(SimpleImputer(strategy="median"), *([StandardScaler()] if scale else []))
    return Pipeline([
        ("preprocess", ColumnTransformer([("numeric", numeric, list(features))],
                                         remainder="drop", verbose_feature_names_out=False)),
        ("model", estimator),
    ])


def handwritten(data: str, rows: str, model_type: str) -> dict:
    """Read, split, fit, score on test: the script a data scientist would write. Seconds."""
    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm

    timings = {}
    started = time.perf_counter()
    frame = pd.read_parquet(data)
    split = np.load(rows)
    features = [c for c in frame.columns if c != LABEL]
    train, test = frame.take(split["train"]), frame.take(split["test"])
    x_train, y_train = train[features], train[LABEL]
    x_test, y_test = test[features], test[LABEL]
    timings["read"] = time.perf_counter() - started

    started = time.perf_counter()
    pipeline = handwritten_pipeline(model_type, features, SEED)
    pipeline.fit(x_train, y_train)
    timings["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    predicted = pipeline.predict(x_test)
    probabilities = pipeline.predict_proba(x_test)
    scores = {
        "accuracy": float(skm.accuracy_score(y_test, predicted)),
        "f1": float(skm.f1_score(y_test, predicted)),
        "log_loss": float(skm.log_loss(y_test, probabilities)),
        "roc_auc": float(skm.roc_auc_score(y_test, probabilities[:, 1])),
    }
    timings["score_test"] = time.perf_counter() - started
    return {"timings": timings, "metrics": scores}


# --------------------------------------------------------------------------------------------
# Setup: data, prepare, the rows of each split.
# --------------------------------------------------------------------------------------------

def generate(path: str, rows: int) -> None:
    """``rows`` rows of 20 standard-normal features and a noisy linear binary label."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    features = rng.standard_normal((rows, N_FEATURES))
    weights = rng.standard_normal(N_FEATURES)
    label = (features @ weights + 2.0 * rng.standard_normal(rows) > 0).astype(np.int64)
    columns = {f"f{i}": features[:, i] for i in range(N_FEATURES)}
    columns[LABEL] = label
    pq.write_table(pa.table(columns), path)


def split_rows(data: str, table: str, path: str) -> str:
    """Save the positions in the raw file of the Delta table's train and test rows, in the order
    the product reads them (row order changes gradient boosting's early-stopping validation
    split, so both sides must fit on identical data). Checks every row matches exactly and that
    the train rows are the ones prepare's split function gives. Returns a summary."""
    import numpy as np
    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    from mlflow_delta_plugin.ingest.split import TRAIN, assign_split

    raw = pq.read_table(data)
    columns = raw.schema.names
    raw_values = np.column_stack([raw.column(c).to_numpy() for c in columns])
    order = np.argsort(raw_values[:, 0], kind="stable")
    delta = DeltaTable(table)
    positions = {}
    for split in ("train", "test"):
        rows = delta.to_pyarrow_table(columns=columns, filters=[("split", "=", split)])
        values = np.column_stack([rows.column(c).to_numpy() for c in columns])
        found = order[np.searchsorted(raw_values[order, 0], values[:, 0])]
        if not np.array_equal(raw_values[found], values):
            raise RuntimeError(f"{split} rows of {table} do not map one to one onto {data}")
        positions[split] = found
    expected = np.concatenate([np.asarray(assign_split(b, TEST_FRACTION, SEED, columns)) == TRAIN
                               for b in raw.to_batches()])
    same_split = np.array_equal(np.sort(positions["train"]), np.flatnonzero(expected))
    with open(path, "wb") as out:
        np.savez(out, **positions)
    in_order = np.array_equal(positions["train"], np.sort(positions["train"]))
    return (f"{len(positions['train']):,} train / {len(positions['test']):,} test rows; prepare's "
            f"split recomputed from the file {'matches' if same_split else 'DIFFERS'}; Delta row "
            f"order {'is' if in_order else 'is not'} the file's (the script takes Delta's order)")


def check_same_pipeline(model_type: str) -> bool:
    """The hand-written pipeline equals what the product builds (all parameters, deep)."""
    import sklearn

    from mlflow_delta_plugin.models.catalog import build_model

    features = [f"f{i}" for i in range(N_FEATURES)]
    with sklearn.config_context(print_changed_only=False):
        product = repr(build_model(model_type, "classification", features, [], None, SEED))
        hand = repr(handwritten_pipeline(model_type, features, SEED))
    return product == hand


# --------------------------------------------------------------------------------------------
# The product, in-process, with a perf_counter breakdown.
# --------------------------------------------------------------------------------------------

# (label, module, attribute, parent label). Wrapped where present: the step code is owned by
# others and may move; a missing target just leaves its time in "other".
_BREAKDOWN_TARGETS = [
    ("pin version + spec (load_feature_table)", "mlflow_delta_plugin.steps.train", "load_feature_table", None),
    ("read splits (load_split x2)", "mlflow_delta_plugin.steps.train", "load_split", None),
    ("infer_task + build_model", "mlflow_delta_plugin.steps.train", "infer_task", None),
    ("infer_task + build_model", "mlflow_delta_plugin.steps.train", "build_model", None),
    ("log_input", "mlflow", "log_input", None),
    ("log params / tags / metrics", "mlflow", "log_params", None),
    ("log params / tags / metrics", "mlflow", "log_metrics", None),
    ("log params / tags / metrics", "mlflow", "set_tags", None),
    ("log params / tags / metrics", "mlflow", "set_tag", None),
    ("fit", "mlflow_delta_plugin.steps.fitting", "fit_pipeline", None),
    ("score", "mlflow_delta_plugin.steps.fitting", "score_model", None),
    ("log_model total (log_pipeline)", "mlflow_delta_plugin.steps.fitting", "log_pipeline", None),
    ("signature inference (infer_signature)", "mlflow_delta_plugin.models.logging", "infer_signature",
     "log_model total (log_pipeline)"),
    ("mlflow.sklearn.log_model", "mlflow.sklearn", "log_model", "log_model total (log_pipeline)"),
    ("registration (register_with_lineage)", "mlflow_delta_plugin.steps.fitting", "register_with_lineage", None),
]


class Breakdown:
    """Wraps the product's calls with perf_counter timers while active."""

    def __init__(self) -> None:
        self.seconds: dict = {}
        self.missing: list = []
        self._saved: list = []
        self._depth = 0

    def _wrap(self, label: str, function, top_level: bool):
        breakdown = self

        def timed(*args, **kwargs):
            if top_level and breakdown._depth:  # e.g. mlflow.set_tags called inside log_model
                return function(*args, **kwargs)
            breakdown._depth += top_level
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                breakdown._depth -= top_level
                key = label
                if label == "score" and len(args) > 2:  # score_model(model, task, features, labels)
                    key = f"score ({len(args[2]):,} rows)"
                breakdown.seconds[key] = breakdown.seconds.get(key, 0.0) + elapsed

        return timed

    def __enter__(self) -> "Breakdown":
        import importlib

        for label, module_name, attribute, parent in _BREAKDOWN_TARGETS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                module = None
            if module is None or not hasattr(module, attribute):
                self.missing.append(f"{module_name}.{attribute}")
                continue
            original = getattr(module, attribute)
            self._saved.append((module, attribute, original))
            setattr(module, attribute, self._wrap(label, original, parent is None))
        return self

    def __exit__(self, *exc) -> None:
        for module, attribute, original in reversed(self._saved):
            setattr(module, attribute, original)
        self._saved.clear()


class _ScoredOnce:
    """A fitted classifier's predictions on one frame, from a single ``predict_proba`` call.

    ``predict`` is ``classes_[argmax(predict_proba)]``: what HistGradientBoosting and random
    forests compute internally, and LogisticRegression's decision (> 0 <=> p > 0.5, ties to
    class 0 in both) for binary labels."""

    def __init__(self, model, features) -> None:
        import numpy as np

        self.classes_ = model.classes_
        self._probabilities = model.predict_proba(features)
        self._predicted = self.classes_[np.argmax(self._probabilities, axis=1)]

    def predict(self, features):
        return self._predicted

    def predict_proba(self, features):
        return self._probabilities


class ProposedScoring:
    """Patches the proposed scoring into ``steps.fitting`` while active: one ``predict_proba``
    per scoring, and train metrics on a fixed-size random sample of the training rows. The train
    split is the second ``score_model`` call of ``fit_and_log_model`` (test first)."""

    def __init__(self) -> None:
        self._module = None
        self._original = None
        self.calls = 0

    def __enter__(self) -> "ProposedScoring":
        import numpy as np

        from mlflow_delta_plugin.steps import fitting

        self._module, self._original = fitting, fitting.score_model
        original = self._original
        proposal = self

        def score_model(model, task, features, labels):
            proposal.calls += 1
            if proposal.calls == 2 and len(features) > TRAIN_METRICS_SAMPLE:
                keep = np.sort(np.random.default_rng(SEED).choice(
                    len(features), TRAIN_METRICS_SAMPLE, replace=False))
                features, labels = features.iloc[keep], labels.iloc[keep]
            if task == "classification" and hasattr(model, "predict_proba") \
                    and hasattr(model, "classes_"):
                model = _ScoredOnce(model, features)
            return original(model, task, features, labels)

        fitting.score_model = score_model
        return self

    def __exit__(self, *exc) -> None:
        self._module.score_model = self._original


def product_in_process(table: str, model_type: str, registered_model: str,
                       proposed: bool = False) -> dict:
    """``train`` in a fresh run: wall and CPU seconds, test metrics, per-call breakdown."""
    import mlflow

    from mlflow_delta_plugin.steps.train import train

    patch = ProposedScoring() if proposed else None
    if patch:
        patch.__enter__()
    recorder = Breakdown().__enter__()  # wraps the (possibly patched) calls
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        with mlflow.start_run():
            result = train(table=table, model_type=model_type, registered_model=registered_model,
                           seed=SEED)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        recorder.__exit__(None, None, None)
        if patch:
            patch.__exit__(None, None, None)
    return {"total": wall, "cpu": cpu, "metrics": result.metrics, "parts": recorder.seconds,
            "missing": recorder.missing}


def hand_in_process(data: str, rows: str, model_type: str) -> dict:
    """The hand-written script in this process, with wall and CPU totals."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = handwritten(data, rows, model_type)
    result["total"], result["cpu"] = time.perf_counter() - wall, time.process_time() - cpu
    return result


def run_subprocess(command: list, env: dict, cwd: str) -> tuple[float, float]:
    """(wall, CPU) seconds of ``command``; raises with its output when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fmt(seconds: float) -> str:
    return f"{seconds:.2f}"


def load() -> str:
    """The machine's load average, for judging the noise."""
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


# --------------------------------------------------------------------------------------------

def compare(model_type: str, repeats: int, subprocesses: bool, data: str, rows: str, table: str,
            env: dict) -> dict:
    """Interleaved repetitions: hand-written, product, proposed (and the subprocess pair)."""
    python = sys.executable
    script = os.path.abspath(__file__)
    runs = {"hand": [], "product": [], "proposed": [], "hand_sub": [], "product_sub": []}
    sides = ["hand", "product", "proposed"]
    for repeat in range(repeats):
        order = sides[repeat % 3:] + sides[:repeat % 3]
        for side in order:
            if side == "hand":
                runs["hand"].append(hand_in_process(data, rows, model_type))
            else:
                runs[side].append(product_in_process(table, model_type, f"bench_{model_type}",
                                                     proposed=side == "proposed"))
        if subprocesses:
            pair = ("hand", "product") if repeat % 2 == 0 else ("product", "hand")
            for side in pair:
                if side == "hand":
                    runs["hand_sub"].append(run_subprocess(
                        [python, script, "--handwritten", data, rows, model_type], env, str(REPO_ROOT)))
                else:
                    runs["product_sub"].append(run_subprocess(
                        [python, "entrypoints/train.py", "--table", table, "--model_type", model_type,
                         "--registered_model", f"bench_{model_type}_sub"], env, str(REPO_ROOT)))
        line = ", ".join(f"{side} {fmt(runs[side][-1]['total'])}" for side in sides)
        if subprocesses:
            line += (f"; subprocesses hand-written {fmt(runs['hand_sub'][-1][0])}, product "
                     f"{fmt(runs['product_sub'][-1][0])}")
        print(f"  {model_type} repeat {repeat + 1}/{repeats} (s): {line}  [{load()}]", flush=True)
    return runs


def _median_run(runs: list) -> dict:
    ordered = sorted(runs, key=lambda run: run["total"])
    return ordered[(len(ordered) - 1) // 2]


def _breakdown_rows(run: dict) -> list:
    nested = {label for label, _m, _a, parent in _BREAKDOWN_TARGETS if parent}
    total = run["total"]
    rows = [[("    " if label in nested else "") + label, fmt(seconds), f"{100 * seconds / total:.1f}%"]
            for label, seconds in run["parts"].items()]
    other = total - sum(v for k, v in run["parts"].items() if k not in nested)
    rows.append(["other (run start/end, glue)", fmt(other), f"{100 * other / total:.1f}%"])
    rows.append(["total", fmt(total), "100%"])
    return rows


def report(model_type: str, runs: dict) -> list:
    """Print the figures of one model type; return its target lines."""
    n = len(runs["hand"])
    walls = {side: [r["total"] for r in runs[side]] for side in ("hand", "product", "proposed")}
    cpus = {side: [r["cpu"] for r in runs[side]] for side in ("hand", "product", "proposed")}
    hand_wall, hand_cpu = median(walls["hand"]), median(cpus["hand"])
    rows = []
    names = {"hand": "hand-written script, in-process", "product": "product train(), in-process",
             "proposed": "product with proposed scoring, in-process"}
    for side in ("hand", "product", "proposed"):
        wall, cpu = median(walls[side]), median(cpus[side])
        rows.append([names[side], fmt(wall), f"{fmt(min(walls[side]))}..{fmt(max(walls[side]))}",
                     f"{wall / hand_wall:.3f}", fmt(cpu), f"{cpu / hand_cpu:.3f}"])
    if runs["hand_sub"]:
        sub_hand_wall = median([w for w, _c in runs["hand_sub"]])
        sub_hand_cpu = median([c for _w, c in runs["hand_sub"]])
        for side, name in (("hand_sub", "python bench_train.py --handwritten (subprocess)"),
                           ("product_sub", "python entrypoints/train.py (subprocess)")):
            side_walls = [w for w, _c in runs[side]]
            wall, cpu = median(side_walls), median([c for _w, c in runs[side]])
            rows.append([name, fmt(wall), f"{fmt(min(side_walls))}..{fmt(max(side_walls))}",
                         f"{wall / sub_hand_wall:.3f}", fmt(cpu), f"{cpu / sub_hand_cpu:.3f}"])
    print_table(f"{model_type}: wall and CPU seconds, median of {n} interleaved repeats "
                "(ratios against the hand-written script on the same footing)",
                ["variant", "wall s", "min..max", "ratio", "CPU s", "CPU ratio"], rows)

    median_product = _median_run(runs["product"])
    print_table(f"{model_type}: where the product's time goes (the median product run, s)",
                ["part", "seconds", "share"], _breakdown_rows(median_product))
    if median_product["missing"]:
        print(f"  (not found, counted in 'other': {', '.join(median_product['missing'])})")
    median_proposed = _median_run(runs["proposed"])
    proposed_scores = {k: v for k, v in median_proposed["parts"].items() if k.startswith("score")}
    print("  with the proposed scoring: " + ", ".join(f"{k} {fmt(v)} s" for k, v in proposed_scores.items()))

    hand_run = _median_run(runs["hand"])
    parts = median_product["parts"]
    product_read = parts.get("pin version + spec (load_feature_table)", 0.0) + \
        parts.get("read splits (load_split x2)", 0.0)
    product_fit = parts.get("fit", 0.0)
    score_keys = [k for k in parts if k.startswith("score")]
    product_score = sum(parts[k] for k in score_keys)
    rest = median_product["total"] - product_read - product_fit - product_score
    hand = hand_run["timings"]
    print_table(f"{model_type}: the same steps side by side (median runs, s)",
                ["step", "hand-written", "product", "product extra"],
                [["read (product: + pin version, spec)", fmt(hand["read"]), fmt(product_read),
                  fmt(product_read - hand["read"])],
                 ["fit", fmt(hand["fit"]), fmt(product_fit), fmt(product_fit - hand["fit"])],
                 ["score (hand: test; product: " + " + ".join(k[7:-1] for k in score_keys) + ")",
                  fmt(hand["score_test"]), fmt(product_score), fmt(product_score - hand["score_test"])],
                 ["log params/metrics/input/model, register, run", "0.00", fmt(rest), fmt(rest)],
                 ["total", fmt(hand_run["total"]), fmt(median_product["total"]),
                  fmt(median_product["total"] - hand_run["total"])]])

    hand_metrics = runs["hand"][0]["metrics"]
    shown = lambda m: json.dumps({k: round(m[k], 6) for k in hand_metrics if k in m})  # noqa: E731
    same = all(abs(hand_metrics[k] - runs["product"][0]["metrics"].get(k, float("nan"))) < 1e-9
               for k in hand_metrics)
    same_proposed = all(abs(runs["proposed"][0]["metrics"].get(k, float("nan")) - v) < 1e-12
                        for k, v in runs["product"][0]["metrics"].items())
    print(f"  test metrics, hand-written: {shown(hand_metrics)}\n"
          f"  test metrics, product:      {shown(runs['product'][0]['metrics'])}\n"
          f"  identical fit (test metrics equal to 1e-9): {'yes' if same else 'NO'}; proposed "
          f"scoring gives the same test metrics: {'yes' if same_proposed else 'NO'}")

    ratio = median(walls["product"]) / hand_wall
    proposed_ratio = median(walls["proposed"]) / hand_wall
    print(f"  RATIO product/hand-written (in-process, wall) = {fmt(median(walls['product']))} / "
          f"{fmt(hand_wall)} = {ratio:.3f}; with the proposed scoring {proposed_ratio:.3f}")
    cpu_ratio = median(cpus["product"]) / hand_cpu
    cpu_proposed = median(cpus["proposed"]) / hand_cpu
    targets = [(f"{model_type}: train() / hand-written script, in-process wall, <= {TARGET_RATIO}",
                f"{ratio:.3f} (with the proposed scoring: {proposed_ratio:.3f})", ratio <= TARGET_RATIO),
               (f"{model_type}: the same in CPU time (the idle-machine wall time), <= {TARGET_RATIO}",
                f"{cpu_ratio:.3f} (with the proposed scoring: {cpu_proposed:.3f})",
                cpu_ratio <= TARGET_RATIO)]
    if runs["hand_sub"]:
        sub_ratio = median([w for w, _c in runs["product_sub"]]) / median([w for w, _c in runs["hand_sub"]])
        print(f"  RATIO python entrypoints/train.py / python hand-written script (subprocesses, wall) "
              f"= {sub_ratio:.3f}  (includes interpreter start-up and imports: mlflow, deltalake vs "
              "pandas, scikit-learn)")
        targets.append((f"{model_type}: python entrypoints/train.py / python hand-written script, "
                        f"subprocesses, <= {TARGET_RATIO}", f"{sub_ratio:.3f}", sub_ratio <= TARGET_RATIO))
    return targets


def cli_startup(folder, env: dict, repeats: int, quick: bool = False) -> None:
    """The MLflow CLI's own cost, on a tiny table, reported apart from the ratio."""
    import mlflow

    from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
    from mlflow_delta_plugin.steps.prepare import prepare

    tiny = str(folder / "tiny")
    if not os.path.exists(tiny):
        with mlflow.start_run():
            prepare(input=DEFAULT_INPUT, table=tiny, label=DEFAULT_LABEL)
    python = sys.executable
    mlflow_cli = os.path.join(os.path.dirname(python), "mlflow")
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import mlflow'": [python, "-c", "import mlflow"],
        "python -c 'import mlflow_delta_plugin.steps.train'": [
            python, "-c", "import mlflow_delta_plugin.steps.train"],
        "mlflow --version": [mlflow_cli, "--version"],
        "python entrypoints/train.py (tiny table)": [
            python, "entrypoints/train.py", "--table", tiny, "--model_type", "linear"],
        "mlflow run . -e train --env-manager local (tiny)": [
            mlflow_cli, "run", ".", "-e", "train", "--env-manager", "local",
            "-P", f"table={tiny}", "-P", "model_type=linear"],
    }
    if quick:
        for name in ("python -c 'import mlflow_delta_plugin.steps.train'", "mlflow --version"):
            commands.pop(name)
    times = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(run_subprocess(command, env, str(REPO_ROOT)))
    walls = {name: median([w for w, _c in values]) for name, values in times.items()}
    cpus = {name: median([c for _w, c in values]) for name, values in times.items()}
    print_table(f"MLflow CLI start-up (not in the ratio), median of {repeats}, s  [{load()}]",
                ["command", "wall s", "CPU s"],
                [[name, fmt(walls[name]), fmt(cpus[name])] for name in commands])
    direct = "python entrypoints/train.py (tiny table)"
    cli = "mlflow run . -e train --env-manager local (tiny)"
    print(f"  mlflow run overhead = mlflow run - direct entry point = {fmt(walls[cli])} - "
          f"{fmt(walls[direct])} = {fmt(walls[cli] - walls[direct])} s wall "
          f"({fmt(cpus[cli] - cpus[direct])} s CPU)")
    bare, with_mlflow = walls["python -c pass"], walls["python -c 'import mlflow'"]
    print(f"  import mlflow: {fmt(with_mlflow - bare)} s wall over a bare interpreter")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k rows, linear only, ~1 minute")
    parser.add_argument("--rows", type=int, help="rows of synthetic data (default 1,000,000)")
    parser.add_argument("--model_types", help="comma-separated (default linear,gradient_boosting)")
    parser.add_argument("--repeats", type=int, help="interleaved repeats for linear (default 3)")
    parser.add_argument("--gb_repeats", type=int, help="repeats for gradient_boosting (default 2)")
    parser.add_argument("--no-cli", action="store_true", help="skip the MLflow CLI start-up part")
    parser.add_argument("--profile", action="store_true", help="cProfile one product call")
    parser.add_argument("--keep", help="scratch folder to use and keep (data reused when there)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP / BLAS threads for both sides (default 1: on a shared, "
                             "oversubscribed machine OpenMP's spinning barriers make multi-threaded "
                             "gradient boosting swing by 5x; 0 = the libraries' default)")
    parser.add_argument("--handwritten", nargs=3, metavar=("DATA", "ROWS", "MODEL_TYPE"),
                        help=argparse.SUPPRESS)  # the hand-written script, as a subprocess
    args = parser.parse_args(argv)
    if args.threads > 0:  # before numpy / scikit-learn load; subprocesses inherit it
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(args.threads)
    if args.handwritten:
        print(json.dumps(handwritten(*args.handwritten)))
        return 0

    rows = args.rows or (50_000 if args.quick else 1_000_000)
    model_types = (args.model_types or ("linear" if args.quick else "linear,gradient_boosting")).split(",")
    repeats = args.repeats or (2 if args.quick else 3)
    gb_repeats = args.gb_repeats or (1 if args.quick else 2)
    folder = bench_dir("bench-train", args.keep)
    try:
        import logging
        import warnings

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.ERROR)  # per-run notices drown the figures
        warnings.filterwarnings("ignore", module="mlflow")
        use_sqlite_tracking(folder / "tracking")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        data, split, table = (str(folder / "raw.parquet"), str(folder / "split_rows.npz"),
                              str(folder / "features"))
        threads = args.threads if args.threads > 0 else "library default"
        print(f"mlflow {mlflow.__version__}; {rows:,} rows x {N_FEATURES} features; "
              f"OpenMP/BLAS threads: {threads}; scratch {folder}; {load()}")
        if not os.path.exists(table):
            started = time.perf_counter()
            generate(data, rows)
            print(f"generated {data} in {time.perf_counter() - started:.1f} s")
            from mlflow_delta_plugin.steps.prepare import prepare

            started = time.perf_counter()
            with mlflow.start_run():
                prepared = prepare(input=data, table=table, label=LABEL, seed=SEED,
                                   test_fraction=TEST_FRACTION)
            print(f"prepare: {prepared.rows:,} rows -> {table} v{prepared.version} in "
                  f"{time.perf_counter() - started:.1f} s (not timed below)")
        if not os.path.exists(split):
            print(split_rows(data, table, split))
        for model_type in model_types:
            print(f"{model_type}: hand-written pipeline == build_model's: "
                  f"{'yes' if check_same_pipeline(model_type) else 'NO'}")

        # Warm-up (imports, OS page cache, first registry write) outside the measurements.
        hand_in_process(data, split, "linear")
        product_in_process(table, "linear", "bench_warmup")

        targets = []
        for model_type in model_types:
            runs = compare(model_type, repeats if model_type == "linear" else gb_repeats,
                           subprocesses=model_type == "linear", data=data, rows=split,
                           table=table, env=env)
            targets += report(model_type, runs)

        if args.profile:
            import cProfile
            import io
            import pstats

            from mlflow_delta_plugin.steps.train import train

            profiler = cProfile.Profile()
            with mlflow.start_run():
                profiler.enable()
                train(table=table, model_type=model_types[-1], registered_model="bench_profile",
                      seed=SEED)
                profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
            print(f"\ncProfile of one product train() ({model_types[-1]})")
            print("\n".join(line for line in text.getvalue().splitlines()[4:] if line.strip()))

        if not args.no_cli:
            cli_startup(folder, env, 1 if args.quick else 3, quick=args.quick)
        print_targets(targets)
        print(f"({load()})")
    finally:
        if not args.keep:
            remove_dir(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
