"""The user's rules of ``monitor``: drift thresholds and the retrain decision, validated up front.

Every rule is parsed here, before ``monitor`` reads a table or writes anything, so a threshold
that is not a number fails in one line with nothing changed.

Statistics and how a threshold on each is read (a column drifts when any statistic that has a
threshold crosses it):

=================== ========================================================== ============
statistic           meaning                                                    drifts when
=================== ========================================================== ============
``psi``             population stability index on the reference's quantile     value >= t
                    bins (categories for strings and discrete numbers)
``jensenshannon``   Jensen-Shannon distance (base 2) on the same bins          value >= t
``ks``              two-sample Kolmogorov-Smirnov statistic (numeric)          value >= t
``ks_pvalue``       its p-value                                                 value < t
``wasserstein_norm`` Wasserstein distance divided by the reference's std       value >= t
``chi2_pvalue``     chi-squared test of the category counts (p-value)           value < t
``null_rate_delta`` null rate in the window minus the reference's              value >= t
``unseen_share``    share of window rows whose category the reference lacks    value >= t
=================== ========================================================== ============
"""

import json
import math
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.promotion.decision import parse_number

__all__ = ["DEFAULT_THRESHOLDS", "LOWER_ALARMS", "STATISTICS", "MonitorRules", "parse_rules"]

STATISTICS = ("psi", "jensenshannon", "ks", "ks_pvalue", "wasserstein_norm", "chi2_pvalue",
              "null_rate_delta", "unseen_share")
LOWER_ALARMS = frozenset({"ks_pvalue", "chi2_pvalue"})
"""Statistics that signal drift when *below* their threshold (p-values)."""

DEFAULT_THRESHOLDS = {"psi": 0.2, "null_rate_delta": 0.1, "unseen_share": 0.1}
_WINDOW_RULE = re.compile(r"^\s*(\d+)\s*(?:/|of)\s*(\d+)\s*$")


@dataclass(frozen=True)
class MonitorRules:
    """When a column drifts, when a window alarms and when ``monitor`` says retrain.

    Attributes:
        thresholds: statistic name -> threshold (see the module table).
        drift_share: a window alarms when at least this share of the features drifted.
        quality_drop: a window alarms when the quality metric is worse than the model's own
            evaluation by more than this (None: quality is reported, never alarms).
        quality_metric: ``auto`` (accuracy / rmse by task) or a metric of ``metrics.py``.
        alarms_needed, window_count: retrain when at least ``alarms_needed`` of the last
            ``window_count`` windows alarmed, the latest one included ("2 of 3").
        min_rows: windows with fewer rows are recorded but neither alarm nor count.
        cooldown: windows after a retrain decision during which no new one is made.
        sample_size: values kept per column for KS and Wasserstein (a uniform reservoir).
    """

    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    drift_share: float = 0.5
    quality_drop: Optional[float] = None
    quality_metric: str = "auto"
    alarms_needed: int = 1
    window_count: int = 1
    min_rows: int = 100
    cooldown: int = 0
    sample_size: int = 20000

    def crosses(self, statistic: str, value: float) -> Optional[bool]:
        """Whether ``value`` of ``statistic`` is drift; None when it has no threshold."""
        threshold = self.thresholds.get(statistic)
        if threshold is None or value is None or not math.isfinite(value):
            return None
        return value < threshold if statistic in LOWER_ALARMS else value >= threshold


def _thresholds(text: Union[str, Mapping, None]) -> dict:
    if text is None or (isinstance(text, str) and not text.strip()):
        return dict(DEFAULT_THRESHOLDS)
    if isinstance(text, Mapping):
        given = dict(text)
    else:
        try:
            given = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"thresholds is not valid JSON ({exc.msg}); pass e.g. "
                                    '\'{"psi": 0.2, "ks_pvalue": 0.01}\'') from None
    if not isinstance(given, dict):
        raise InvalidInputError(f"thresholds must be a JSON object like '{{\"psi\": 0.2}}', "
                                f"got {text!r}")
    unknown = sorted(set(given) - set(STATISTICS))
    if unknown:
        raise InvalidInputError(f"thresholds names unknown statistics {unknown}; "
                                f"use {list(STATISTICS)}")
    parsed = {}
    for name, value in given.items():
        if value is None:  # null switches a default threshold off
            continue
        if isinstance(value, str):
            raise InvalidInputError(f"threshold {name} '{value}' is not a number; pass e.g. 0.2")
        parsed[name] = parse_number(f"threshold {name}", value)
    return {**{k: v for k, v in DEFAULT_THRESHOLDS.items() if k not in given}, **parsed}


def _count(name: str, value: Union[str, int], minimum: int) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"[+]?\d+", text) or int(text) < minimum:
        raise InvalidInputError(f"{name} '{value}' is not a whole number >= {minimum}")
    return int(text)


def _window_rule(text: str) -> tuple[int, int]:
    match = _WINDOW_RULE.match(str(text or ""))
    if not match:
        raise InvalidInputError(f"window_rule '{text}' is not 'N/M' (e.g. 2/3: at least 2 of the "
                                "last 3 windows alarmed, the latest included)")
    needed, count = int(match.group(1)), int(match.group(2))
    if not 1 <= needed <= count:
        raise InvalidInputError(f"window_rule '{text}' needs 1 <= N <= M")
    return needed, count


def parse_rules(
    thresholds: Union[str, Mapping, None] = None,
    drift_share: Union[str, float] = 0.5,
    quality_drop: Union[str, float, None] = None,
    quality_metric: str = "auto",
    window_rule: str = "1/1",
    min_rows: Union[str, int] = 100,
    cooldown: Union[str, int] = 0,
    sample_size: Union[str, int] = 20000,
) -> MonitorRules:
    """Validate the rule parameters (strings as ``mlflow run`` passes them, or values).

    Raises:
        InvalidInputError: a value that is not a number, out of range, or an unknown name.
    """
    share = parse_number("drift_share", drift_share)
    if not 0 < share <= 1:
        raise InvalidInputError(f"drift_share '{drift_share}' must be in (0, 1]")
    drop = parse_number("quality_drop", quality_drop, optional=True)
    if drop is not None and drop < 0:
        raise InvalidInputError(f"quality_drop '{quality_drop}' must be >= 0")
    needed, count = _window_rule(window_rule)
    metric = (quality_metric or "auto").strip()
    return MonitorRules(thresholds=_thresholds(thresholds), drift_share=share, quality_drop=drop,
                        quality_metric=metric, alarms_needed=needed, window_count=count,
                        min_rows=_count("min_rows", min_rows, 1),
                        cooldown=_count("cooldown", cooldown, 0),
                        sample_size=_count("sample_size", sample_size, 100))
