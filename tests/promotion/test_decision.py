"""The promotion gates: pure decisions, parameter parsing and metric directions."""

import math

import pytest

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.metrics import metric_direction
from mlflow_delta_plugin.promotion.decision import Gates, decide, parse_flag, parse_number


@pytest.mark.parametrize("metric, expected", [
    ("r2", "higher"), ("accuracy", "higher"), ("f1", "higher"), ("roc_auc", "higher"),
    ("rmse", "lower"), ("mae", "lower"), ("log_loss", "lower"),
])
def test_metric_direction_is_known(metric, expected):
    assert metric_direction(metric) == expected
    assert metric_direction(metric, "auto") == expected


def test_explicit_direction_wins_and_unknown_metric_needs_one():
    assert metric_direction("my_score", "higher") == "higher"
    assert metric_direction("rmse", "HIGHER") == "higher"
    with pytest.raises(InvalidInputError, match="direction of metric 'my_score' is not known"):
        metric_direction("my_score")
    with pytest.raises(InvalidInputError, match="direction 'up' is not one of"):
        metric_direction("rmse", "up")


@pytest.mark.parametrize("direction, candidate, champion, threshold, margin, promoted", [
    ("higher", 0.95, None, 0.9, 0.0, True),     # first promotion: threshold only
    ("higher", 0.85, None, 0.9, 0.5, False),    # first promotion below threshold
    ("higher", 0.95, None, None, 99.0, True),   # no champion: min_improvement not applied
    ("higher", 0.95, 0.94, 0.9, 0.0, True),
    ("higher", 0.95, 0.94, 0.9, 0.02, False),   # not enough improvement
    ("higher", 0.94, 0.94, None, 0.0, False),   # a tie is not an improvement
    ("lower", 4.5, 4.5 + 1e-12, None, 0.0, False),  # equal up to float noise: still a tie
    ("higher", 0.94, 0.94, None, -0.01, True),  # a negative margin accepts a tie
    ("higher", 0.95, 0.94, None, 0.01, True),   # exactly the margin passes
    ("higher", 0.93, 0.94, None, -0.02, True),  # negative margin tolerates a small loss
    ("lower", 4.0, 4.5, 5.0, 0.1, True),
    ("lower", 4.45, 4.5, 5.0, 0.1, False),
    ("lower", 5.5, 6.0, 5.0, 0.0, False),       # improved but above the threshold
])
def test_gates(direction, candidate, champion, threshold, margin, promoted):
    gates = Gates(metric="m", direction=direction, threshold=threshold, min_improvement=margin)
    decision = decide(gates, candidate, champion)
    assert decision.promoted is promoted
    assert decision.outcome == ("promoted" if promoted else "rejected")
    assert len(decision.reasons) == 2
    if champion is None:
        assert decision.improvement is None
        assert "no champion" in decision.reasons[1]
    else:
        sign = 1 if direction == "higher" else -1
        assert decision.improvement == pytest.approx(sign * (candidate - champion), abs=1e-9)


def test_a_tie_says_why_it_was_rejected():
    decision = decide(Gates("roc_auc", "higher"), 0.97, 0.97)
    assert not decision.promoted and decision.improvement == 0.0
    assert decision.reasons[1] == ("min_improvement: a tie with champion 0.97 is not an "
                                   "improvement (a negative min_improvement accepts ties)")


def test_a_nan_candidate_is_rejected():
    decision = decide(Gates("m", "higher"), math.nan, 0.5)
    assert not decision.promoted


@pytest.mark.parametrize("text, expected", [("0.9", 0.9), (" 1 ", 1.0), (0.5, 0.5), ("-0.1", -0.1)])
def test_parse_number(text, expected):
    assert parse_number("threshold", text) == expected


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "1,5", True])
def test_parse_number_rejects_non_numbers(text):
    with pytest.raises(InvalidInputError, match=r"^threshold .* is not a finite number"):
        parse_number("threshold", text, optional=True)


def test_parse_number_optional_empty():
    assert parse_number("threshold", "", optional=True) is None
    assert parse_number("threshold", None, optional=True) is None
    with pytest.raises(InvalidInputError, match="min_improvement is empty"):
        parse_number("min_improvement", " ")


@pytest.mark.parametrize("text, expected", [("true", True), ("False", False), ("1", True),
                                            ("no", False), ("", False), (True, True)])
def test_parse_flag(text, expected):
    assert parse_flag("fail_on_reject", text) is expected


def test_parse_flag_rejects_other_words():
    with pytest.raises(InvalidInputError, match="fail_on_reject 'maybe' is not a boolean"):
        parse_flag("fail_on_reject", "maybe")


def test_gates_validate_themselves():
    with pytest.raises(InvalidInputError):
        Gates("m", "sideways")
    with pytest.raises(InvalidInputError):
        Gates("m", "higher", threshold=math.nan)
