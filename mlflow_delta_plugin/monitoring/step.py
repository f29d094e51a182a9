"""``monitor``: compare what a model scores now with the exact data it was trained on.

One run monitors one window of a scored table (the versions no monitor run consumed yet,
:mod:`~mlflow_delta_plugin.monitoring.window`), split by the model version that scored the
rows. Each version is compared with its own reference, found through lineage
(:mod:`~mlflow_delta_plugin.monitoring.reference`), column by column on bounded sketches
(:mod:`~mlflow_delta_plugin.monitoring.sketches`, :mod:`~mlflow_delta_plugin.monitoring.statistics`);
with labels, its quality is measured too. The version that scored the newest rows is judged
(:mod:`~mlflow_delta_plugin.monitoring.decision`). Outputs: the MLflow run (metrics, both
datasets as inputs, PNGs, the decision as tags) and one commit to the metrics table
(:mod:`~mlflow_delta_plugin.monitoring.metrics_table`), which consumes the window.

Every parameter, the window, the lineage of every model version in it and the label source are
checked before anything is logged or written.
"""

import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from mlflow import MlflowClient

from mlflow_delta_plugin.deployment.scorer import METADATA_COLUMNS
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import metric_direction
from mlflow_delta_plugin.models.catalog import CLASSIFICATION
from mlflow_delta_plugin.monitoring.decision import (
    RetrainDecision,
    WindowVerdict,
    decide_retrain,
    judge_window,
)
from mlflow_delta_plugin.monitoring.labels import LabelSource, Quality, parse_label_source
from mlflow_delta_plugin.monitoring.metrics_table import WINDOW_COLUMN, append_window, read_history
from mlflow_delta_plugin.monitoring.plots import plot_distributions, plot_over_windows
from mlflow_delta_plugin.monitoring.reference import (
    Reference,
    find_reference,
    model_name_of,
    reference_batches,
)
from mlflow_delta_plugin.monitoring.rules import MonitorRules, parse_rules
from mlflow_delta_plugin.monitoring.sketches import Profile
from mlflow_delta_plugin.monitoring.statistics import compare
from mlflow_delta_plugin.monitoring.window import Window, find_window, last_consumed, window_batches
from mlflow_delta_plugin.tracking.runs import log_step_params

__all__ = ["DEFAULT_METRICS_TABLE", "MonitorResult", "VersionReport", "monitor"]

DEFAULT_METRICS_TABLE = "data/monitoring"
RETRAIN_TAG = "monitor.retrain"
REASONS_TAG = "monitor.reasons"
_MAX_TAG_CHARS = 5000
_log = logging.getLogger(__name__)


@dataclass
class VersionReport:
    """The comparison of the window's rows scored by one model version with its reference."""

    reference: Reference
    references: dict
    windows: dict = field(default_factory=dict)
    quality: Quality = field(default_factory=Quality)
    last_scored_at: Optional[int] = None
    statistics: dict = field(default_factory=dict)
    drifted: list = field(default_factory=list)
    quality_metrics: dict = field(default_factory=dict)
    verdict: Optional[WindowVerdict] = None

    @property
    def rows(self) -> int:
        """Rows of the window scored by this version."""
        return next(iter(self.windows.values())).rows if self.windows else 0


@dataclass(frozen=True)
class MonitorResult:
    """What one monitor run found and decided.

    Attributes:
        run_id: the MLflow run.
        scored_table, window_start, window_end: the window consumed.
        model_version: the version judged (the one that scored the newest rows).
        retrain: the decision; reasons: why.
        drifted: features that drifted for the judged version.
        statistics: column -> statistic -> value, for the judged version.
        quality: the judged version's quality metrics on labelled rows ({} without labels).
        metrics_version: the metrics table's version holding this window.
        rows: rows in the window (all versions).
    """

    run_id: str
    scored_table: str
    window_start: int
    window_end: int
    model_version: str
    retrain: bool
    reasons: tuple
    drifted: tuple
    statistics: dict
    quality: dict
    metrics_version: int
    rows: int


def _check_scored_schema(window: Window, prediction_column: str) -> list:
    names = pa.schema(window.table.schema().to_arrow()).names
    missing = [c for c in ("model_uri", "model_version", prediction_column) if c not in names]
    if missing:
        raise InvalidInputError(
            f"scored table '{window.pinned.uri}' has no column(s) {missing}; monitor reads tables "
            "written by the databricks-cluster deployment or run-local (features, "
            f"'{prediction_column}', {', '.join(METADATA_COLUMNS)})")
    return names


def _model_versions(window: Window, batch_size: int) -> dict:
    """(model name, version) -> newest ``scored_at`` (epoch us) among the window's rows."""
    found: dict = {}
    columns = ["model_uri", "model_version", "scored_at"]
    names = pa.schema(window.table.schema().to_arrow()).names
    columns = [c for c in columns if c in names]
    for batch in window_batches(window, columns, batch_size):
        if batch.column("model_version").null_count or \
                pc.any(pc.equal(pc.cast(batch.column("model_version"), pa.string()), "")).as_py():
            raise InvalidInputError(
                f"scored table '{window.pinned.uri}' has rows without model_version in versions "
                f"{window.start}..{window.end}; only rows scored by a registered model version "
                "can be monitored (score with models:/name@alias or models:/name/N)")
        table = pa.Table.from_batches([batch])
        if "scored_at" in columns:
            table = table.set_column(table.schema.get_field_index("scored_at"), "scored_at",
                                     pc.cast(table.column("scored_at"),
                                             pa.timestamp("us", tz="UTC")).cast(pa.int64()))
        grouped = table.group_by(["model_uri", "model_version"]).aggregate(
            [("scored_at", "max")] if "scored_at" in columns else [])
        for row in grouped.to_pylist():
            name = model_name_of(row["model_uri"])
            if name is None:
                raise InvalidInputError(
                    f"scored rows name model_uri '{row['model_uri']}', not a registered model; "
                    "its version has no lineage to monitor against")
            key = (name, str(row["model_version"]))
            found[key] = max(found.get(key) or 0, row.get("scored_at_max") or 0)
    return found


def _quality_metric(rules: MonitorRules, task: str) -> tuple[str, str]:
    metric = rules.quality_metric
    if metric == "auto":
        metric = "accuracy" if task == CLASSIFICATION else "rmse"
    usable = ("accuracy", "f1") if task == CLASSIFICATION else ("rmse", "mae", "r2")
    if metric not in usable:
        raise InvalidInputError(f"quality_metric '{metric}' is not computable from {task} "
                                f"predictions; use one of {list(usable)} or auto")
    return metric, metric_direction(metric)


def _reference_sketches(reference: Reference, features: list, prediction_column: str,
                        sample_size: int, batch_size: int) -> dict:
    """Column -> reference sketch, the prediction column from scoring the reference rows."""
    table = reference.source.open()
    schema = pa.schema(table.schema().to_arrow())
    profiles = {name: Profile(schema.field(name).type, sample_size) for name in features}
    model = mlflow.pyfunc.load_model(reference.model_uri)
    predictions = None
    for batch in reference_batches(reference, features, batch_size):
        for name in features:
            profiles[name].update(batch.column(name))
        predicted = np.asarray(model.predict(batch.to_pandas()))
        if predicted.ndim > 1:
            predicted = predicted[:, 0]
        array = pa.array(predicted.astype("float64") if predicted.dtype.kind in "iufb"
                         else predicted.astype(str))
        if predictions is None:
            predictions = Profile(array.type, sample_size)
        predictions.update(array)
    sketches = {name: profile.sketch() for name, profile in profiles.items()}
    if predictions is not None:
        sketches[prediction_column] = predictions.sketch()
    return sketches


@dataclass(frozen=True)
class _Plan:
    """Everything validated before the first side effect."""

    rules: MonitorRules
    window: Window
    reports: dict
    current: tuple
    labels: Optional[LabelSource]
    quality_metric: str
    direction: str
    metrics_table: str


def _plan(scored_table: str, metrics_table: str, prediction_column: str, rules: MonitorRules,
          label_column: Optional[str], label_table: Optional[str], key: Optional[str],
          batch_size: int) -> _Plan:
    from mlflow_delta_plugin.delta.table import pin_and_open

    pinned, _ = pin_and_open(scored_table)
    window = find_window(scored_table, last_consumed(metrics_table, pinned.table_id))
    names = _check_scored_schema(window, prediction_column)
    labels = parse_label_source(label_column, label_table, key, names)
    versions = _model_versions(window, batch_size)
    client = MlflowClient()
    reports = {}
    for (name, version) in sorted(versions):
        reference = find_reference(client, name, version)
        missing = [c for c in reference.spec.features if c not in names]
        if missing:
            raise InvalidInputError(
                f"scored table '{window.pinned.uri}' lacks feature(s) {missing} that model "
                f"'{name}' version {version} was trained on")
        reports[(name, version)] = reference
    current = max(versions, key=lambda k: (versions[k], int(k[1]) if k[1].isdigit() else 0))
    metric, direction = _quality_metric(rules, reports[current].task)
    return _Plan(rules, window, reports, current, labels, metric, direction, metrics_table)


def _fill_window(plan: _Plan, reports: dict, prediction_column: str, batch_size: int) -> None:
    columns = sorted({c for r in reports.values() for c in r.references}
                     | {"model_version", "model_uri"}
                     | set(plan.labels.scored_columns if plan.labels else ()))
    if plan.labels:
        plan.labels.load()
    for batch in window_batches(plan.window, columns, batch_size):
        versions = pc.cast(batch.column("model_version"), pa.string())
        uris = batch.column("model_uri")
        for (name, version), report in reports.items():
            named = pc.or_(pc.starts_with(uris, f"models:/{name}/"),
                           pc.starts_with(uris, f"models:/{name}@"))
            mask = pc.and_(pc.equal(versions, version), named)
            part = batch.filter(mask)
            if part.num_rows == 0:
                continue
            for column, sketch in report.windows.items():
                sketch.update(part.column(column))
            if plan.labels:
                report.quality.update(plan.labels.labels_for(part),
                                      part.column(prediction_column).to_pandas())


def _judge(plan: _Plan, report: VersionReport, features: list) -> None:
    rules = plan.rules
    for column, reference in report.references.items():
        values = compare(reference, report.windows[column])
        report.statistics[column] = values
        if column in features and any(rules.crosses(s, v) for s, v in values.items()):
            report.drifted.append(column)
    if plan.labels:
        report.quality_metrics = report.quality.metrics(report.reference.task)
    quality = report.quality_metrics.get(plan.quality_metric)
    baseline = report.reference.evaluation.get(plan.quality_metric)
    report.verdict = judge_window(rules, report.rows, report.drifted, len(features), quality,
                                  baseline, plan.quality_metric, plan.direction)


def _rows(plan: _Plan, run_id: str, reports: dict, decision: RetrainDecision,
          features_of: dict) -> list:
    now = datetime.now(timezone.utc)
    rows = []
    for key, report in reports.items():
        base = {"monitor_run_id": run_id, "scored_table": plan.window.pinned.uri,
                "window_start": plan.window.start, "window_end": plan.window.end,
                "model_name": key[0], "model_version": key[1],
                "reference_table": report.reference.source.uri,
                "reference_version": report.reference.source.version, "computed_at": now}
        for column, values in report.statistics.items():
            for statistic, value in values.items():
                threshold = plan.rules.thresholds.get(statistic)
                rows.append({**base, "column": column, "statistic": statistic, "value": value,
                             "threshold": threshold,
                             "drifted": plan.rules.crosses(statistic, value)})
        window_stats = {
            "rows": report.rows, "reference_rows": next(iter(report.references.values())).rows,
            "drifted_features": len(report.drifted),
            "drift_share": len(report.drifted) / max(1, len(features_of[key])),
            "eligible": int(report.verdict.eligible), "alarm": int(report.verdict.alarm),
            "retrain": int(decision.retrain) if key == plan.current else 0,
            "labelled_rows": report.quality.rows,
            **{f"quality_{k}": v for k, v in report.quality_metrics.items()},
        }
        for statistic, value in window_stats.items():
            threshold = plan.rules.drift_share if statistic == "drift_share" else None
            rows.append({**base, "column": WINDOW_COLUMN, "statistic": statistic,
                         "value": float(value), "threshold": threshold,
                         "drifted": bool(report.verdict.alarm) if statistic == "drift_share"
                         else None})
    return rows


def _log_run(plan: _Plan, reports: dict, decision: RetrainDecision, history,
             features_of: dict, prediction_column: str) -> None:
    mlflow.log_input(plan.window.dataset(), context="monitoring")
    for key, report in reports.items():
        mlflow.log_input(report.reference.dataset(), context="reference")
    current = reports[plan.current]
    metrics = {}
    for key, report in reports.items():
        prefix = "" if key == plan.current else f"model_v{key[1]}/"
        for column, values in report.statistics.items():
            for statistic, value in values.items():
                if value is not None:
                    metrics[f"{prefix}{column}.{statistic}"] = value
        metrics[f"{prefix}rows"] = report.rows
        metrics[f"{prefix}drifted_features"] = len(report.drifted)
        metrics[f"{prefix}drift_share"] = len(report.drifted) / max(1, len(features_of[key]))
        metrics.update({f"{prefix}quality_{k}": v for k, v in report.quality_metrics.items()})
    metrics["alarm"] = int(current.verdict.alarm)
    metrics["retrain"] = int(decision.retrain)
    mlflow.log_metrics(metrics)
    with tempfile.TemporaryDirectory() as folder:
        for key, report in reports.items():
            suffix = "" if key == plan.current else f"_v{key[1]}"
            path = os.path.join(folder, f"drift_distributions{suffix}.png")
            plot_distributions(path, report.references, report.windows, report.statistics,
                               set(report.drifted), f"{key[0]} v{key[1]}: training data vs "
                               f"scored versions {plan.window.start}..{plan.window.end}",
                               prediction_column)
        over = history.copy()
        over.loc[len(over)] = {"window_end": plan.window.end, "model_version": plan.current[1],
                               "drift_share": len(current.drifted) / max(1, len(
                                   features_of[plan.current])),
                               "alarm": int(current.verdict.alarm),
                               "retrain": int(decision.retrain)}
        plot_over_windows(os.path.join(folder, "drift_over_windows.png"), over,
                          plan.rules.drift_share, f"{plan.window.pinned.uri}: drift per window")
        mlflow.log_artifacts(folder, artifact_path="monitoring")


def monitor(
    scored_table: str,
    metrics_table: str = DEFAULT_METRICS_TABLE,
    label_column: Optional[str] = None,
    label_table: Optional[str] = None,
    key: Optional[str] = None,
    prediction_column: str = "prediction",
    rules: Optional[MonitorRules] = None,
    batch_size: int = 65536,
) -> MonitorResult:
    """Monitor the new versions of ``scored_table`` and decide whether to retrain.

    Args:
        scored_table: Delta table written by the ``databricks-cluster`` deployment / run-local.
        metrics_table: Delta table the statistics are appended to (created on first use).
        label_column: labels: a column of the scored table, or (with ``label_table``) of the
            label table.
        label_table, key: a Delta table of labels joined to the scored rows on ``key``.
        prediction_column: the scored table's prediction column.
        rules: thresholds and decision rules, built (and validated) by
            :func:`~mlflow_delta_plugin.monitoring.rules.parse_rules`; None: its defaults.
        batch_size: rows per record batch read.

    Raises:
        InvalidInputError: a bad parameter, an empty window, a scored table without
            ``model_version``, a model version without lineage, a label table without the key.
        WindowConsumedError: a concurrent run consumed the window first (nothing appended).
    """
    rules = rules if rules is not None else parse_rules()
    plan = _plan(scored_table, metrics_table, prediction_column, rules, label_column,
                 label_table, key, batch_size)
    _log.info("monitor: window %d..%d of '%s' (%d rows), model version(s) %s",
              plan.window.start, plan.window.end, plan.window.pinned.uri, plan.window.rows,
              ", ".join(f"{n}/{v}" for n, v in plan.reports))
    reports, features_of = {}, {}
    for version_key, reference in plan.reports.items():
        features = list(reference.spec.features)
        sketches = _reference_sketches(reference, features, prediction_column,
                                       rules.sample_size, batch_size)
        report = VersionReport(reference, sketches)
        report.windows = {c: s.like(rules.sample_size) for c, s in sketches.items()}
        reports[version_key], features_of[version_key] = report, features
    _fill_window(plan, reports, prediction_column, batch_size)
    for version_key, report in reports.items():
        _judge(plan, report, features_of[version_key])
    history = read_history(metrics_table, plan.window.pinned.uri)
    current = reports[plan.current]
    decision = decide_retrain(rules, current.verdict, history, plan.current[1])
    run = mlflow.active_run()
    run_id = run.info.run_id if run else ""
    if run:
        log_step_params({"scored_table": plan.window.pinned.uri,
                         "metrics_table": os.path.abspath(metrics_table)
                         if "://" not in metrics_table else metrics_table,
                         "window_start": plan.window.start, "window_end": plan.window.end,
                         "model_version": plan.current[1]})
        _log_run(plan, reports, decision, history, features_of, prediction_column)
    version = append_window(metrics_table, _rows(plan, run_id, reports, decision, features_of),
                            scored_table_id=plan.window.pinned.table_id,
                            window_start=plan.window.start, window_end=plan.window.end,
                            run_id=run_id or None)
    if run:
        mlflow.set_tags({RETRAIN_TAG: decision.word,
                         REASONS_TAG: "; ".join(decision.reasons)[:_MAX_TAG_CHARS],
                         "monitor.window": f"{plan.window.start}..{plan.window.end}",
                         "monitor.metrics_version": str(version)})
    return MonitorResult(
        run_id=run_id, scored_table=plan.window.pinned.uri, window_start=plan.window.start,
        window_end=plan.window.end, model_version=plan.current[1], retrain=decision.retrain,
        reasons=decision.reasons, drifted=tuple(current.drifted),
        statistics=current.statistics, quality=dict(current.quality_metrics),
        metrics_version=version, rows=plan.window.rows)
