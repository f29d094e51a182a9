"""The promotion gates and the decision they lead to: pure functions, no registry access.

Two gates judge a candidate on one metric, both measured on the same data:

- **threshold** (absolute): the candidate's value must reach it (``>=`` when higher is better,
  ``<=`` when lower is better). ``None`` means no threshold.
- **min_improvement** (relative to the champion): the candidate must beat the champion by at
  least this much in the metric's better direction. Skipped when there is no champion yet, so
  a first promotion is judged by the threshold alone.

A tie is not an improvement: with ``min_improvement >= 0`` (the default is ``0``) the candidate
must be strictly better than the champion, so rerunning the lifecycle on the same data does not
re-crown an identical model. Values within :data:`TIE_RELATIVE_TOLERANCE` of each other count
as a tie (two fits of one model differ in the last bits). A negative ``min_improvement``
tolerates that much loss, ties included (use it for a rollback to an equally good version).

Example:
    >>> gates = Gates(metric="rmse", direction="lower", threshold=5.0, min_improvement=0.1)
    >>> decide(gates, candidate_value=4.0, champion_value=4.5).promoted
    True
    >>> decide(gates, candidate_value=4.45, champion_value=4.5).reasons[-1]
    'min_improvement: improvement 0.05 over champion 4.5 < 0.1'
    >>> decide(Gates(metric="rmse", direction="lower"), 4.5, 4.5).promoted
    False
"""

import math
from dataclasses import dataclass
from typing import Optional, Union

from mlflow_delta_plugin.errors import InvalidInputError

__all__ = [
    "PROMOTED",
    "REJECTED",
    "TIE_RELATIVE_TOLERANCE",
    "Decision",
    "Gates",
    "decide",
    "is_tie",
    "parse_flag",
    "parse_number",
]

PROMOTED = "promoted"
REJECTED = "rejected"

TIE_RELATIVE_TOLERANCE = 1e-9
"""Candidate and champion values this close (relative; 1e-12 absolute near 0) are a tie."""

_TRUE = ("true", "1", "yes", "y", "on")
_FALSE = ("false", "0", "no", "n", "off", "")


def parse_number(name: str, value: Union[str, float, int, None],
                 optional: bool = False) -> Optional[float]:
    """A finite float from a parameter value; ``''``/None gives None when ``optional``.

    Raises:
        InvalidInputError: not a finite number.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise InvalidInputError(f"{name} is empty; pass a number such as 0.01")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        hint = ", or '' for none" if optional else ""
        raise InvalidInputError(f"{name} '{value}' is not a finite number; pass e.g. 0.9{hint}")
    return number


def parse_flag(name: str, value: Union[str, bool, None]) -> bool:
    """A boolean from a parameter value (``true/false``, ``1/0``, ``yes/no``).

    Raises:
        InvalidInputError: any other value.
    """
    if isinstance(value, bool):
        return value
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidInputError(f"{name} '{value}' is not a boolean; pass true or false")


@dataclass(frozen=True)
class Gates:
    """What a candidate must reach on ``metric`` to be promoted.

    Attributes:
        metric: metric name, e.g. ``roc_auc``.
        direction: ``higher`` or ``lower`` (which values are better).
        threshold: absolute value to reach, or None for no threshold.
        min_improvement: margin over the champion (may be negative to tolerate a small loss).
    """

    metric: str
    direction: str
    threshold: Optional[float] = None
    min_improvement: float = 0.0

    def __post_init__(self) -> None:
        if self.direction not in ("higher", "lower"):
            raise InvalidInputError(f"direction '{self.direction}' must be 'higher' or 'lower'")
        parse_number("threshold", self.threshold, optional=True)
        parse_number("min_improvement", self.min_improvement)

    def improvement(self, candidate_value: float, champion_value: float) -> float:
        """How much better the candidate is, in the metric's better direction (0.0 for a tie)."""
        if is_tie(candidate_value, champion_value):
            return 0.0
        delta = candidate_value - champion_value
        return delta if self.direction == "higher" else -delta

    def beats_champion(self, improvement: float) -> bool:
        """Whether ``improvement`` passes: at least ``min_improvement``, and strictly positive
        unless ``min_improvement`` is negative (a tie is not an improvement)."""
        if improvement < self.min_improvement:
            return False
        return improvement > 0 or self.min_improvement < 0


def is_tie(candidate_value: float, champion_value: float) -> bool:
    """Whether two metric values are equal up to :data:`TIE_RELATIVE_TOLERANCE`."""
    return math.isclose(candidate_value, champion_value, rel_tol=TIE_RELATIVE_TOLERANCE,
                        abs_tol=1e-12)


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide`.

    Attributes:
        promoted: every gate passed.
        reasons: one line per gate, saying how it went.
        improvement: candidate over champion in the better direction (None without champion).
    """

    promoted: bool
    reasons: tuple
    improvement: Optional[float] = None

    @property
    def outcome(self) -> str:
        """``promoted`` or ``rejected``."""
        return PROMOTED if self.promoted else REJECTED


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def decide(gates: Gates, candidate_value: float, champion_value: Optional[float]) -> Decision:
    """Judge a candidate's ``candidate_value`` against the gates and the champion's value.

    Args:
        gates: threshold and minimum improvement.
        candidate_value: the candidate's metric value.
        champion_value: the current champion's value on the same data, None without champion.
    """
    reasons = []
    passed = True
    if not math.isfinite(candidate_value):
        return Decision(False, (f"candidate {gates.metric} is {candidate_value}",), None)
    if gates.threshold is None:
        reasons.append("threshold: none set")
    else:
        comparison = ">=" if gates.direction == "higher" else "<="
        ok = (candidate_value >= gates.threshold if gates.direction == "higher"
              else candidate_value <= gates.threshold)
        passed &= ok
        reasons.append(f"threshold: {gates.metric} {_fmt(candidate_value)} "
                       f"{comparison if ok else 'fails ' + comparison} {_fmt(gates.threshold)}")
    improvement = None
    if champion_value is None:
        reasons.append("min_improvement: no champion yet, not applied")
    else:
        improvement = gates.improvement(candidate_value, champion_value)
        ok = gates.beats_champion(improvement)
        passed &= ok
        if improvement == 0.0 and gates.min_improvement == 0.0:  # failed only for being a tie
            reasons.append(f"min_improvement: a tie with champion {_fmt(champion_value)} is not "
                           "an improvement (a negative min_improvement accepts ties)")
        else:
            comparison = ">=" if ok else "<"
            reasons.append(f"min_improvement: improvement {_fmt(improvement)} over champion "
                           f"{_fmt(champion_value)} {comparison} {_fmt(gates.min_improvement)}")
    return Decision(passed, tuple(reasons), improvement)
