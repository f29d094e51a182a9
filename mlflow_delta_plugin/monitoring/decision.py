"""Whether a window alarms, and whether the alarms add up to a retrain: pure functions.

A window **alarms** when it has at least ``min_rows`` rows and either the share of drifted
features reaches ``drift_share`` or the quality metric fell more than ``quality_drop`` below the
model's own evaluation. **Retrain** is yes when the latest window alarms, at least N of the
last M eligible windows of the same model version alarmed (``window_rule`` "N/M", the latest
included), and no retrain was decided in the last ``cooldown`` windows.
"""

from dataclasses import dataclass
from typing import Optional

import pandas as pd

from mlflow_delta_plugin.monitoring.rules import MonitorRules

__all__ = ["RetrainDecision", "WindowVerdict", "decide_retrain", "judge_window"]


@dataclass(frozen=True)
class WindowVerdict:
    """How one window went.

    Attributes:
        eligible: it had at least ``min_rows`` rows (else it neither alarms nor counts).
        alarm: drift or a quality drop beyond the rules.
        reasons: one line per rule.
    """

    eligible: bool
    alarm: bool
    reasons: tuple


@dataclass(frozen=True)
class RetrainDecision:
    """``retrain`` yes/no and why."""

    retrain: bool
    reasons: tuple

    @property
    def word(self) -> str:
        """``yes`` or ``no``."""
        return "yes" if self.retrain else "no"


def judge_window(rules: MonitorRules, rows: int, drifted: list, features: int,
                 quality: Optional[float], baseline: Optional[float], metric: str,
                 direction: str) -> WindowVerdict:
    """Judge one window of one model version.

    Args:
        rules: the user's rules.
        rows: rows in the window.
        drifted: names of the features that drifted.
        features: number of features compared.
        quality: the window's value of ``metric`` (None without labels).
        baseline: the model's evaluation value of ``metric`` (None when unknown).
        direction: ``higher`` or ``lower`` is better for ``metric``.
    """
    if rows < rules.min_rows:
        return WindowVerdict(False, False, (f"rows: {rows} < min_rows {rules.min_rows}; the "
                                            "window is recorded but not judged",))
    share = len(drifted) / features if features else 0.0
    drift = share >= rules.drift_share
    reasons = [f"drift: {len(drifted)} of {features} features drifted ({share:.0%} "
               f"{'>=' if drift else '<'} {rules.drift_share:.0%})"
               + (f": {', '.join(drifted)}" if drifted else "")]
    dropped = False
    if quality is not None and baseline is not None:
        loss = baseline - quality if direction == "higher" else quality - baseline
        if rules.quality_drop is None:
            reasons.append(f"quality: {metric} {quality:.4g} vs evaluation {baseline:.4g} "
                           "(no quality_drop rule)")
        else:
            dropped = loss > rules.quality_drop
            reasons.append(f"quality: {metric} {quality:.4g} vs evaluation {baseline:.4g}, "
                           f"drop {loss:.4g} {'>' if dropped else '<='} {rules.quality_drop:g}")
    return WindowVerdict(True, drift or dropped, tuple(reasons))


def decide_retrain(rules: MonitorRules, verdict: WindowVerdict, history: pd.DataFrame,
                   model_version: str) -> RetrainDecision:
    """Combine the latest window's verdict with earlier windows (``read_history`` rows).

    Args:
        history: earlier windows of the scored table, oldest first, with columns
            ``model_version``, ``eligible``, ``alarm`` and ``retrain``.
        model_version: the version judged (earlier windows of other versions do not count
            toward N of M, but a retrain decided for any version starts the cooldown).
    """
    if not verdict.eligible:
        return RetrainDecision(False, verdict.reasons)
    reasons = list(verdict.reasons)
    recent = history.tail(rules.cooldown) if rules.cooldown else history.iloc[0:0]
    if "retrain" in recent and (recent["retrain"] == 1).any():
        ago = len(recent) - int(recent.reset_index(drop=True).index[recent["retrain"] == 1][-1])
        reasons.append(f"cooldown: a retrain was decided {ago} window(s) ago "
                       f"(cooldown {rules.cooldown})")
        return RetrainDecision(False, tuple(reasons))
    same = history[(history["model_version"].astype(str) == str(model_version))] \
        if len(history) else history
    if "eligible" in same:
        same = same[same["eligible"] == 1]
    earlier = same.tail(rules.window_count - 1) if rules.window_count > 1 else same.iloc[0:0]
    alarms = int(verdict.alarm) + int((earlier["alarm"] == 1).sum() if "alarm" in earlier else 0)
    considered = len(earlier) + 1
    rule = f"{rules.alarms_needed} of {rules.window_count}"
    if not verdict.alarm:
        reasons.append(f"rule {rule}: the latest window did not alarm")
        return RetrainDecision(False, tuple(reasons))
    enough = alarms >= rules.alarms_needed
    reasons.append(f"rule {rule}: {alarms} of the last {considered} window(s) alarmed, the latest "
                   f"included{'' if enough else f'; {rules.alarms_needed} needed'}")
    return RetrainDecision(enough, tuple(reasons))
