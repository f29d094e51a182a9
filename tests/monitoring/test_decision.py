"""Alarm and retrain decisions: min_rows, drift share, quality drop, N of M, cooldown."""

import pandas as pd

from mlflow_delta_plugin.monitoring.decision import decide_retrain, judge_window
from mlflow_delta_plugin.monitoring.rules import parse_rules

RULES = parse_rules(drift_share="0.3", quality_drop="0.05", window_rule="2/3", min_rows="10",
                    cooldown="2")


def _verdict(drifted=(), rows=100, quality=None):
    return judge_window(RULES, rows, list(drifted), 10, quality, 0.95, "accuracy", "higher")


def _history(*windows):
    """windows: (model_version, alarm, retrain, eligible) oldest first."""
    return pd.DataFrame([{"window_end": i, "model_version": v, "alarm": a, "retrain": r,
                          "eligible": e} for i, (v, a, r, e) in enumerate(windows)])


def test_a_window_alarms_on_drift_share_or_quality_drop():
    assert not _verdict(["a", "b"]).alarm                      # 20% < 30%
    assert _verdict(["a", "b", "c"]).alarm                     # 30% >= 30%
    dropped = _verdict(quality=0.89)
    assert dropped.alarm and "drop 0.06 > 0.05" in dropped.reasons[-1]
    assert not _verdict(quality=0.91).alarm


def test_a_small_window_is_recorded_but_neither_alarms_nor_retrains():
    verdict = _verdict(["a", "b", "c", "d"], rows=9)
    assert not verdict.eligible and not verdict.alarm
    decision = decide_retrain(RULES, verdict, _history(("1", 1, 0, 1)), "1")
    assert not decision.retrain and "min_rows" in decision.reasons[0]


def test_two_of_three_ignores_one_noisy_window():
    noisy = _verdict(["a", "b", "c"])
    decision = decide_retrain(RULES, noisy, _history(("1", 0, 0, 1), ("1", 0, 0, 1)), "1")
    assert not decision.retrain
    assert decision.reasons[-1].startswith("rule 2 of 3: 1 of the last 3 window(s) alarmed")
    again = decide_retrain(RULES, noisy, _history(("1", 1, 0, 1), ("1", 0, 0, 1)), "1")
    assert again.retrain and again.word == "yes"


def test_the_latest_window_must_alarm():
    decision = decide_retrain(RULES, _verdict(), _history(("1", 1, 0, 1), ("1", 1, 0, 1)), "1")
    assert not decision.retrain and "the latest window did not alarm" in decision.reasons[-1]


def test_windows_of_another_model_version_or_too_small_do_not_count():
    alarm = _verdict(["a", "b", "c"])
    other = _history(("1", 1, 0, 1), ("2", 0, 0, 1))
    assert not decide_retrain(RULES, alarm, other, "2").retrain
    small = _history(("2", 1, 0, 0), ("2", 0, 0, 1))
    assert not decide_retrain(RULES, alarm, small, "2").retrain


def test_cooldown_after_a_retrain():
    alarm = _verdict(["a", "b", "c"])
    recent = _history(("1", 1, 1, 1), ("1", 1, 0, 1))
    decision = decide_retrain(RULES, alarm, recent, "1")
    assert not decision.retrain and "a retrain was decided 2 window(s) ago" in decision.reasons[-1]
    later = _history(("1", 1, 1, 1), ("1", 1, 0, 1), ("1", 1, 0, 1))
    assert decide_retrain(RULES, alarm, later, "1").retrain
