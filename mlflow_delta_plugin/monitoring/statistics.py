"""Drift statistics between a reference sketch and a window sketch of the same column.

The tests and distances come from scipy (``scipy.stats.ks_2samp``, ``wasserstein_distance``,
``chi2_contingency``, ``scipy.spatial.distance.jensenshannon``); PSI is the symmetric relative
entropy of the binned shares (``scipy.special.rel_entr``), on the reference's quantile bins.
"""

import math
from typing import Optional

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from mlflow_delta_plugin.monitoring.sketches import ColumnSketch

__all__ = ["PSI_FLOOR", "compare"]

PSI_FLOOR = 1e-4
"""Share given to an empty bin in PSI (else one empty bin makes it infinite)."""


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    p = np.clip(_shares(expected), PSI_FLOOR, None)
    q = np.clip(_shares(actual), PSI_FLOOR, None)
    return float(np.sum(rel_entr(q, p) + rel_entr(p, q)))


def _finite(value: float) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


def _numeric(reference: ColumnSketch, window: ColumnSketch) -> dict:
    ref_counts, win_counts = reference.histogram(), window.histogram()
    out = {"psi": _psi(ref_counts, win_counts),
           "jensenshannon": _finite(jensenshannon(_shares(ref_counts), _shares(win_counts), base=2))}
    ref_values, win_values = reference.sample.values, window.sample.values
    if len(ref_values) and len(win_values):
        ks = stats.ks_2samp(ref_values, win_values)
        out["ks"], out["ks_pvalue"] = float(ks.statistic), float(ks.pvalue)
        spread = float(np.std(ref_values))
        distance = stats.wasserstein_distance(ref_values, win_values)
        out["wasserstein"] = float(distance)
        out["wasserstein_norm"] = float(distance / spread) if spread > 0 else None
        out["mean"] = float(np.mean(win_values))
    return out


def _categorical(reference: ColumnSketch, window: ColumnSketch) -> dict:
    categories = sorted(set(reference.counts) | set(window.counts))
    ref_counts, win_counts = reference.histogram(categories), window.histogram(categories)
    unseen = sum(count for value, count in window.counts.items() if value not in reference.counts)
    out = {"psi": _psi(ref_counts, win_counts),
           "jensenshannon": _finite(jensenshannon(_shares(ref_counts), _shares(win_counts), base=2)),
           "unseen_share": unseen / window.valid if window.valid else 0.0,
           "unseen_categories": float(sum(1 for v in window.counts if v not in reference.counts))}
    table = np.vstack([ref_counts, win_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] >= 2 and table[1].sum() > 0:
        test = stats.chi2_contingency(table)
        out["chi2"], out["chi2_pvalue"] = float(test.statistic), float(test.pvalue)
    else:
        out["chi2"], out["chi2_pvalue"] = 0.0, 1.0
    return out


def compare(reference: ColumnSketch, window: ColumnSketch) -> dict[str, Optional[float]]:
    """Statistic name -> value for one column (None where undefined, e.g. no values).

    Always: ``null_rate``, ``null_rate_delta``, ``psi``, ``jensenshannon``. Numeric columns add
    ``ks``, ``ks_pvalue``, ``wasserstein``, ``wasserstein_norm`` and ``mean``; categorical
    ones ``chi2``, ``chi2_pvalue``, ``unseen_share`` and ``unseen_categories``.
    """
    out: dict[str, Optional[float]] = {
        "null_rate": window.null_rate,
        "null_rate_delta": window.null_rate - reference.null_rate,
    }
    if window.valid == 0 or reference.valid == 0:
        return out
    out.update(_numeric(reference, window) if reference.kind == "numeric"
               else _categorical(reference, window))
    return out
