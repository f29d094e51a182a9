"""The monitor's rules: parsed and checked before anything is read or written."""

import pytest

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.monitoring.rules import DEFAULT_THRESHOLDS, parse_rules


def test_defaults_and_given_values():
    rules = parse_rules()
    assert rules.thresholds == DEFAULT_THRESHOLDS
    assert (rules.alarms_needed, rules.window_count, rules.min_rows) == (1, 1, 100)
    given = parse_rules('{"ks_pvalue": 0.01, "psi": null}', "0.25", "0.05", "f1", "2 of 3",
                        "50", "2", "500")
    assert given.thresholds == {"ks_pvalue": 0.01, "null_rate_delta": 0.1, "unseen_share": 0.1}
    assert (given.drift_share, given.quality_drop, given.quality_metric) == (0.25, 0.05, "f1")
    assert (given.alarms_needed, given.window_count, given.min_rows, given.cooldown,
            given.sample_size) == (2, 3, 50, 2, 500)


def test_p_values_alarm_below_their_threshold_distances_at_or_above():
    rules = parse_rules('{"ks_pvalue": 0.01, "psi": 0.2}')
    assert rules.crosses("psi", 0.2) and not rules.crosses("psi", 0.19)
    assert rules.crosses("ks_pvalue", 0.001) and not rules.crosses("ks_pvalue", 0.5)
    assert rules.crosses("wasserstein_norm", 9.0) is None  # no threshold: no verdict


@pytest.mark.parametrize("kwargs, message", [
    ({"thresholds": '{"psi": "high"}'}, "threshold psi 'high' is not a number"),
    ({"thresholds": '{"psi": NaN}'}, "is not a finite number"),
    ({"thresholds": '{"psi": true}'}, "is not a finite number"),
    ({"thresholds": "[0.2]"}, "must be a JSON object"),
    ({"thresholds": "{psi: 0.2}"}, "thresholds is not valid JSON"),
    ({"thresholds": '{"kl": 0.2}'}, "unknown statistics ['kl']"),
    ({"drift_share": "half"}, "drift_share 'half' is not a finite number"),
    ({"drift_share": "0"}, "must be in (0, 1]"),
    ({"quality_drop": "a lot"}, "quality_drop 'a lot' is not a finite number"),
    ({"quality_drop": "-1"}, "must be >= 0"),
    ({"window_rule": "3/2"}, "needs 1 <= N <= M"),
    ({"window_rule": "most"}, "is not 'N/M'"),
    ({"min_rows": "1.5"}, "min_rows '1.5' is not a whole number >= 1"),
    ({"cooldown": "-1"}, "cooldown '-1' is not a whole number >= 0"),
])
def test_bad_rules_fail_in_one_line(kwargs, message):
    with pytest.raises(InvalidInputError) as info:
        parse_rules(**kwargs)
    assert message in info.value.message and "\n" not in info.value.message
