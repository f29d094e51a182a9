"""The monitor on a simulated production stream: 11 scored versions of one model.

Stable data (windows 0-3, 5, 6), one noisy window (4: a single feature blips), a covariate
shift in one feature (7-8), then a concept shift (9-10: labels flipped, features stable).
One monitor run per window with the rules a user would set: any drifted feature or an accuracy
drop over 0.1 alarms; retrain when 2 of the last 3 windows alarmed (latest included); one window
of cooldown after a retrain.
"""

import mlflow
import pytest

from mlflow_delta_plugin.monitoring import monitor, parse_rules, read_history
from tests.monitoring.stream import Stream

NOISY, COVARIATE, CONCEPT = "mean_radius", "worst_area", "malignant"
PLAN = (["stable"] * 4 + ["noisy"] + ["stable"] * 2 + ["covariate"] * 2 + ["concept"] * 2)
RULES = parse_rules(drift_share="0.01", quality_drop="0.1", window_rule="2/3", cooldown="1",
                    thresholds='{"psi": 0.2}')


@pytest.fixture(scope="module")
def simulated(tracking_uri, tmp_path_factory):
    """Score and monitor every window of PLAN; returns (stream, [MonitorResult], metrics)."""
    folder = tmp_path_factory.mktemp("simulation")
    stream = Stream.build(folder)
    metrics = str(folder / "monitoring")
    results = []
    for seed, kind in enumerate(PLAN):
        rows = stream.rows(seed, scale={NOISY: 1.5} if kind == "noisy" else
                           {COVARIATE: 1.6} if kind == "covariate" else None,
                           flip_labels=0.4 if kind == "concept" else 0.0)
        assert stream.score(rows) == seed
        with mlflow.start_run():
            results.append(monitor(stream.scored, metrics, label_column=CONCEPT, rules=RULES))
    return stream, results, metrics


def test_each_window_is_one_scored_version_monitored_once(simulated):
    stream, results, metrics = simulated
    assert [(r.window_start, r.window_end) for r in results] == [(v, v) for v in range(len(PLAN))]
    history = read_history(metrics, stream.scored)
    assert history["window_end"].tolist() == list(range(len(PLAN)))
    assert set(history["model_version"]) == {"1"}


def test_no_false_alarm_on_stable_windows(simulated):
    _, results, metrics = simulated
    stable = [i for i, kind in enumerate(PLAN) if kind == "stable"]
    assert [results[i].drifted for i in stable] == [()] * len(stable)
    assert not any(results[i].retrain for i in stable)
    assert all(results[i].quality["accuracy"] > 0.9 for i in stable)


def test_two_of_three_ignores_the_single_noisy_window(simulated):
    _, results, _ = simulated
    noisy = PLAN.index("noisy")
    assert results[noisy].drifted == (NOISY,)          # it alarmed ...
    assert not results[noisy].retrain                   # ... but one window is not enough
    assert "1 of the last 3 window(s) alarmed" in results[noisy].reasons[-1]


def test_covariate_shift_is_detected_within_one_window(simulated):
    _, results, _ = simulated
    first = PLAN.index("covariate")
    assert results[first].drifted == (COVARIATE,)        # alarm in the shift's first window
    assert not results[first].retrain                    # 1 of 3 so far
    assert results[first + 1].retrain                    # retrain one window later
    assert results[first + 1].drifted == (COVARIATE,)


def test_concept_shift_is_detected_by_quality_and_cooldown_holds_one_window(simulated):
    _, results, _ = simulated
    first = PLAN.index("concept")
    for result in results[first:]:
        assert result.drifted == ()                      # features are stable
        assert result.quality["accuracy"] < 0.75         # labels are not
        assert any(r.startswith("quality: accuracy") and "> 0.1" in r for r in result.reasons)
    assert not results[first].retrain                    # the retrain just before cools down
    assert "cooldown" in results[first].reasons[-1]
    assert results[first + 1].retrain


def test_the_reference_is_the_training_version_through_lineage(simulated):
    stream, results, _ = simulated
    run = mlflow.get_run(results[-1].run_id)
    contexts = {}
    for dataset_input in run.inputs.dataset_inputs:
        tags = {t.key: t.value for t in dataset_input.tags}
        contexts[tags["mlflow.data.context"]] = dataset_input
    assert set(contexts) == {"reference", "monitoring"}
    reference = mlflow.data.get_source(contexts["reference"])
    assert reference.uri.endswith("features") and reference.version == 0
    assert reference.filters == [["split", "=", "train"]]
    assert mlflow.data.get_source(contexts["monitoring"]).version == len(PLAN) - 1
    assert run.data.tags["monitor.retrain"] == "yes"
    assert run.data.metrics["retrain"] == 1
    assert run.data.metrics[f"{COVARIATE}.psi"] >= 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id,
                                                                       "monitoring")}
    assert artifacts == {"monitoring/drift_distributions.png", "monitoring/drift_over_windows.png"}
