"""Probability-based classifier metrics and curves, as MLflow's default evaluator defines them.

MLflow's evaluator computes ``log_loss``, ``roc_auc``, ``precision_recall_auc`` and the ROC,
precision-recall, lift and calibration plots only from a model it can call ``predict_proba`` on;
a static dataset of predictions carries no probabilities. :func:`log_probability_metrics` takes
class probabilities computed elsewhere (on Spark executors) and logs the same metric names and
artifact files (``roc_curve_plot.png``, ``precision_recall_curve_plot.png``,
``lift_curve_plot.png``, ``calibration_curve_plot.png``), with the same formulas
(``mlflow/models/evaluation/evaluators/classifier.py``, MLflow 3.x):

* binary: ``log_loss(y, P, labels)``; ``roc_auc`` = ROC AUC of the positive class's column;
  ``precision_recall_auc`` = average precision of that column (``pos_label`` as configured).
* multiclass: ``log_loss``; ``roc_auc`` = one-vs-rest ROC AUC averaged as ``average``
  (``weighted`` by default); ROC and precision-recall plots with one curve per class (up to 10
  classes), whose AUCs become the ``roc_auc`` and ``precision_recall_auc`` columns of the
  evaluator's ``per_class_metrics.csv``.
"""

import os
import tempfile
from typing import Any, Callable, Optional, Sequence

import mlflow
import numpy as np
from sklearn import metrics as sk_metrics

__all__ = ["log_probability_metrics", "probability_metrics"]

_ROC, _PR = "roc", "pr"
_MAX_CLASSES_FOR_CURVES = 10  # the evaluator's default max_classes_for_multiclass_roc_pr


def probability_metrics(y_true: Sequence[Any], probabilities: np.ndarray, classes: Sequence[Any],
                        pos_label: Any = None, average: str = "weighted") -> dict:
    """``log_loss``, ``roc_auc`` and (binary) ``precision_recall_auc`` of ``probabilities``
    (one column per entry of ``classes``, sorted) against ``y_true``."""
    y_true = np.asarray(y_true)
    metrics = {"log_loss": sk_metrics.log_loss(y_true, probabilities, labels=list(classes))}
    if len(classes) == 2:
        positive, scores = _positive_scores(probabilities, classes, pos_label)
        metrics["roc_auc"] = sk_metrics.roc_auc_score(y_true == positive, scores)
        metrics["precision_recall_auc"] = sk_metrics.average_precision_score(
            y_true, scores, pos_label=positive)
    elif average in ("macro", "weighted"):
        metrics["roc_auc"] = sk_metrics.roc_auc_score(y_true, probabilities, average=average,
                                                      multi_class="ovr")
    return {name: float(value) for name, value in metrics.items()}


def log_probability_metrics(y_true: Sequence[Any], probabilities: np.ndarray,
                            classes: Sequence[Any], config: dict) -> dict:
    """Log :func:`probability_metrics` and the curve plots to the active run, named as the
    default evaluator names them with ``config`` (its ``evaluator_config``: ``pos_label``,
    ``average``, ``metric_prefix``); returns the logged metrics, prefixed."""
    prefix = config.get("metric_prefix") or ""
    metrics = probability_metrics(y_true, probabilities, classes, config.get("pos_label"),
                                  config.get("average", "weighted"))
    metrics = {prefix + name: value for name, value in metrics.items()}
    mlflow.log_metrics(metrics)
    y_true = np.asarray(y_true)
    binary = len(classes) == 2
    if binary or len(classes) <= _MAX_CLASSES_FOR_CURVES:
        for curve in (_ROC, _PR):
            _log_plot(lambda c=curve: _plot_curve(c, y_true, probabilities, classes,
                                                  config.get("pos_label")),
                      f"{prefix}{'roc' if curve == _ROC else 'precision_recall'}_curve_plot")
    if not binary and len(classes) <= _MAX_CLASSES_FOR_CURVES:
        _add_per_class_aucs(y_true, probabilities, classes)
    if binary:
        from mlflow.models.evaluation.lift_curve import plot_lift_curve

        positive, _ = _positive_scores(probabilities, classes, config.get("pos_label"))
        _log_plot(lambda: plot_lift_curve(y_true, probabilities, pos_label=positive),
                  f"{prefix}lift_curve_plot")
    _log_calibration(y_true, probabilities, classes, config, prefix)
    return metrics


def _positive_scores(probabilities: np.ndarray, classes: Sequence[Any],
                     pos_label: Any) -> tuple[Any, np.ndarray]:
    positive = pos_label if pos_label is not None else classes[-1]
    return positive, probabilities[:, list(classes).index(positive)]


def _log_calibration(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any],
                     config: dict, prefix: str) -> None:
    from mlflow.models.evaluation.calibration_curve import plot_calibration_curve

    positive = _positive_scores(probabilities, classes, config.get("pos_label"))[0] \
        if len(classes) == 2 else config.get("pos_label")
    settings = {k: v for k, v in config.items() if k.startswith("calibration_")}
    _log_plot(lambda: plot_calibration_curve(y_true=y_true, y_probs=probabilities,
                                             pos_label=positive, calibration_config=settings,
                                             label_list=np.asarray(classes)),
              f"{prefix}calibration_curve_plot")


def _add_per_class_aucs(y_true: np.ndarray, probabilities: np.ndarray,
                        classes: Sequence[Any]) -> None:
    """Add the one-vs-rest ``roc_auc`` and ``precision_recall_auc`` columns to the evaluator's
    ``per_class_metrics.csv`` in the active run (it writes them only when it has a model)."""
    import pandas as pd
    from mlflow.artifacts import download_artifacts

    name = "per_class_metrics.csv"  # the evaluator does not prefix it: the last one wins
    table = pd.read_csv(download_artifacts(artifact_path=name,
                                           run_id=mlflow.active_run().info.run_id))
    one_vs_rest = [(y_true == value).astype(int) for value in classes]
    table["roc_auc"] = [sk_metrics.roc_auc_score(y == 1, probabilities[:, index])
                        for index, y in enumerate(one_vs_rest)]
    table["precision_recall_auc"] = [
        sk_metrics.average_precision_score(y, probabilities[:, index], pos_label=1)
        for index, y in enumerate(one_vs_rest)]
    path = os.path.join(tempfile.mkdtemp(prefix="evaluation-tables-"), name)
    table.to_csv(path, index=False)
    mlflow.log_artifact(path)


def _curve_points(curve: str, y_true: np.ndarray, scores: np.ndarray,
                  positive: Any) -> tuple[np.ndarray, np.ndarray, str]:
    if curve == _ROC:
        fpr, tpr, _ = sk_metrics.roc_curve(y_true, scores, pos_label=positive)
        return fpr, tpr, f"AUC={sk_metrics.roc_auc_score(y_true == positive, scores):.3f}"
    precision, recall, _ = sk_metrics.precision_recall_curve(y_true, scores, pos_label=positive)
    ap = sk_metrics.average_precision_score(y_true, scores, pos_label=positive)
    return recall, precision, f"AP={ap:.3f}"


def _plot_curve(curve: str, y_true: np.ndarray, probabilities: np.ndarray,
                classes: Sequence[Any], pos_label: Any) -> None:
    from matplotlib import pyplot
    from mlflow.models.utils import plot_lines

    binary = len(classes) == 2
    if binary:
        positive, scores = _positive_scores(probabilities, classes, pos_label)
        x, y, text = _curve_points(curve, y_true, scores, positive)
        series = [(text, x, y)]
    else:
        positive, series = None, []
        for index, value in enumerate(classes):
            x, y, text = _curve_points(curve, (y_true == value).astype(int),
                                       probabilities[:, index], 1)
            series.append((f"label={value},{text}", x, y))
    x_name, y_name = ("False Positive Rate", "True Positive Rate") if curve == _ROC \
        else ("Recall", "Precision")
    suffix = f" (Positive label: {positive})" if positive is not None else ""
    _, axes = plot_lines(series, x_name + suffix, y_name + suffix,
                         line_kwargs={"drawstyle": "steps-post", "linewidth": 1},
                         title="ROC curve" if curve == _ROC else "Precision recall curve")
    axes.plot([0, 1], [0, 1] if curve == _ROC else [1, 0], color="gray", alpha=0.3,
              drawstyle="default", linestyle="dashed")
    if binary:
        axes.legend(loc="best")
    else:
        axes.legend(loc="center left", bbox_to_anchor=(1, 0.5))
        pyplot.subplots_adjust(right=0.6, bottom=0.25)


def _log_plot(draw: Callable[[], Optional[Any]], name: str) -> None:
    """Draw into a fresh figure and log it as ``<name>.png`` (as the evaluator does)."""
    from matplotlib import pyplot

    path = os.path.join(tempfile.mkdtemp(prefix="evaluation-plots-"), f"{name}.png")
    try:
        pyplot.clf()
        draw()
        pyplot.savefig(path, bbox_inches="tight")
    finally:
        pyplot.close(pyplot.gcf())
    mlflow.log_artifact(path)
