"""Pictures of a monitor run (matplotlib, Agg backend): what a person looks at first.

- ``drift_distributions.png``: per column, the reference's and the window's shares per bin
  (numeric: the reference's quantile bins; categorical: the categories), titled with PSI; the
  prediction column and the :data:`MAX_PANELS` columns with the highest PSI (drifted first).
- ``drift_over_windows.png``: the share of drifted features per window, alarms marked, with the
  ``drift_share`` rule as a line.
"""

import math
from typing import Mapping

import numpy as np
import pandas as pd

from mlflow_delta_plugin.monitoring.sketches import ColumnSketch

__all__ = ["MAX_PANELS", "plot_distributions", "plot_over_windows", "shown_columns"]

MAX_PANELS = 9


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _bins(reference: ColumnSketch) -> list:
    edges = [f"{e:.3g}" for e in reference.edges]
    return ([f"<{edges[0]}"] if edges else ["all"]) + \
        [f"{edges[i]}.." for i in range(len(edges))]


def shown_columns(statistics: Mapping[str, dict], drifted: set, first: str) -> list:
    """``first`` (the prediction), then the columns by drift (drifted first, then PSI)."""
    others = sorted((c for c in statistics if c != first),
                    key=lambda c: (c not in drifted, -(statistics[c].get("psi") or 0.0)))
    return ([first] if first in statistics else []) + others[:MAX_PANELS - 1]


def plot_distributions(path: str, references: Mapping[str, ColumnSketch],
                       windows: Mapping[str, ColumnSketch], statistics: Mapping[str, dict],
                       drifted: set, title: str, first: str = "prediction") -> None:
    """Write the reference-vs-window distributions of the most drifted columns to ``path``."""
    plt = _pyplot()
    names = shown_columns(statistics, drifted, first)
    cols = min(3, len(names)) or 1
    rows = math.ceil(len(names) / cols) or 1
    figure, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        reference, window = references[name], windows[name]
        if reference.kind == "numeric":
            labels = _bins(reference)
            ref, win = reference.histogram(), window.histogram()
        else:
            labels = sorted(set(reference.counts) | set(window.counts))[:30]
            ref, win = reference.histogram(labels), window.histogram(labels)
        ref = ref / ref.sum() if ref.sum() else ref
        win = win / win.sum() if win.sum() else win
        x = np.arange(len(labels))
        ax.bar(x - 0.2, ref, width=0.4, label="reference (training)", color="#8da0cb")
        ax.bar(x + 0.2, win, width=0.4, label="window", color="#fc8d62")
        step = max(1, math.ceil(len(labels) / 6))
        ax.set_xticks(x[::step], labels[::step], fontsize=6)
        psi = statistics.get(name, {}).get("psi")
        flag = "  DRIFT" if name in drifted else ""
        ax.set_title(f"{name}  psi={psi:.3f}{flag}" if psi is not None else name, fontsize=9,
                     color="#b2182b" if flag else "black")
        ax.set_ylabel("share of rows", fontsize=7)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.subplots_adjust(hspace=0.5, wspace=0.3)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_over_windows(path: str, history: pd.DataFrame, drift_share: float, title: str) -> None:
    """Write the drift share per window (``history``: window rows, this one last) to ``path``."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(8, 3.5))
    for version, part in history.groupby("model_version", sort=False):
        x = part["window_end"].to_numpy()
        y = part.get("drift_share", pd.Series(np.nan, index=part.index)).to_numpy()
        ax.plot(x, y, marker="o", label=f"model version {version}")
        alarms = part.get("alarm", pd.Series(0, index=part.index)).to_numpy() == 1
        ax.scatter(x[alarms], y[alarms], s=120, facecolors="none", edgecolors="#b2182b",
                   label=None)
        retrain = part.get("retrain", pd.Series(0, index=part.index)).to_numpy() == 1
        for xi in x[retrain]:
            ax.axvline(xi, color="#b2182b", linestyle=":", linewidth=1)
    ax.axhline(drift_share, color="grey", linestyle="--", label=f"drift_share {drift_share:g}")
    ax.set_xlabel("scored-table version (window end)")
    ax.set_ylabel("share of drifted features")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    figure.subplots_adjust(bottom=0.16)
    figure.savefig(path, dpi=90)
    plt.close(figure)
