"""Sketches and drift statistics: the reservoir, bins, and scipy's tests on them."""

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from mlflow_delta_plugin.monitoring.sketches import Profile, Reservoir
from mlflow_delta_plugin.monitoring.statistics import compare


def _sketches(reference, window, sample_size=5000):
    profile = Profile(pa.array(reference).type, sample_size)
    for part in np.array_split(np.asarray(reference, dtype=object), 7):
        profile.update(pa.array(list(part), type=profile.kind))
    ref = profile.sketch()
    win = ref.like(sample_size)
    for part in np.array_split(np.asarray(window, dtype=object), 5):
        win.update(pa.array(list(part), type=profile.kind))
    return ref, win


def test_reservoir_holds_everything_up_to_its_size_then_a_uniform_sample():
    small = Reservoir(100)
    small.add(np.arange(60))
    small.add(np.arange(60, 90))
    assert sorted(small.values) == list(range(90))
    big = Reservoir(2000, seed=3)
    for start in range(0, 100_000, 7_000):
        big.add(np.arange(start, min(start + 7_000, 100_000)))
    assert len(big.values) == 2000 and big.seen == 100_000
    assert stats.kstest(big.values / 100_000, "uniform").pvalue > 0.001


def test_same_distribution_no_drift_shifted_one_drifts():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 20_000)
    same = compare(*_sketches(reference, rng.normal(0, 1, 3_000)))
    assert same["psi"] < 0.02 and same["ks_pvalue"] > 0.001 and same["wasserstein_norm"] < 0.1
    shifted = compare(*_sketches(reference, rng.normal(1, 1, 3_000)))
    assert shifted["psi"] > 0.5 and shifted["ks_pvalue"] < 1e-6
    assert shifted["wasserstein_norm"] == pytest.approx(1.0, abs=0.1)
    assert shifted["jensenshannon"] > same["jensenshannon"]


def test_ks_and_wasserstein_are_scipys_on_the_kept_values():
    rng = np.random.default_rng(1)
    reference, window = rng.normal(0, 1, 800), rng.normal(0.3, 1.2, 600)
    ref, win = _sketches(reference, window)
    values = compare(ref, win)
    assert values["ks"] == stats.ks_2samp(reference, window).statistic
    assert values["wasserstein"] == pytest.approx(stats.wasserstein_distance(reference, window))


def test_categories_unseen_values_and_nulls():
    reference = ["a"] * 500 + ["b"] * 500
    window = ["a"] * 300 + ["b"] * 300 + ["c"] * 200 + [None] * 200
    values = compare(*_sketches(reference, window))
    assert values["unseen_share"] == pytest.approx(0.25)
    assert values["unseen_categories"] == 1
    assert values["null_rate"] == pytest.approx(0.2) and values["null_rate_delta"] == 0.2
    assert values["chi2_pvalue"] < 1e-6


def test_few_integral_values_are_counted_as_categories():
    reference = np.array([0, 1] * 400, dtype="float64")
    ref, win = _sketches(reference, np.array([0, 0, 0, 1] * 100, dtype="float64"))
    assert ref.kind == "categorical" and set(ref.counts) == {"0", "1"}
    assert compare(ref, win)["chi2_pvalue"] < 0.001
