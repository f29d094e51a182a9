"""HyperoptTuner: determinism, equivalence with fmin, early stop, failures, parallel trials."""

import numpy as np
import pytest
from hyperopt import STATUS_OK, Trials, fmin, tpe

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tuning import (
    Choice,
    HyperoptTuner,
    IntUniform,
    LogUniform,
    SearchSettings,
    Uniform,
    make_tuner,
)
from mlflow_delta_plugin.tuning.hyperopt_tuner import active_spark_session, to_hyperopt_space
from tests.tuning.objectives import DiesInWorkers, Quadratic, Rendezvous

SPACE = {"x": Uniform(0.0, 1.0), "lr": LogUniform(1e-3, 1.0), "n": IntUniform(5, 50, 5),
         "depth": Choice((None, 4, 8))}


def _search(objective=Quadratic(), space=SPACE, **settings):
    return HyperoptTuner().search(objective, space, SearchSettings(**settings))


def test_same_seed_serial_gives_the_same_trials_and_another_seed_others():
    first = _search(max_evals=25, seed=7)
    second = _search(max_evals=25, seed=7)
    other = _search(max_evals=25, seed=8)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]
    assert [t.params for t in first.trials] != [t.params for t in other.trials]
    assert [t.number for t in first.trials] == list(range(25))


def test_serial_search_proposes_what_hyperopt_fmin_proposes():
    ours = _search(max_evals=25, seed=3)
    proposed = []

    def bare(params):
        proposed.append(params)
        return {"status": STATUS_OK, "loss": (params["x"] - 0.3) ** 2}

    fmin(bare, to_hyperopt_space(SPACE), tpe.suggest, max_evals=25, trials=Trials(),
         rstate=np.random.default_rng(3), show_progressbar=False)
    assert [t.params for t in ours.trials] == [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()} for p in proposed]


def test_values_stay_inside_their_distributions():
    outcome = _search(max_evals=40, seed=1)
    for trial in outcome.trials:
        assert 0 <= trial.params["x"] <= 1 and 1e-3 <= trial.params["lr"] <= 1
        assert trial.params["n"] in range(5, 51, 5) and isinstance(trial.params["n"], int)
        assert trial.params["depth"] in (None, 4, 8)
    assert {t.params["n"] for t in outcome.trials} >= {5, 50}


def test_tpe_improves_on_a_simple_objective():
    outcome = _search(space={"x": Uniform(0.0, 1.0)}, max_evals=40, seed=0)
    assert abs(outcome.best.params["x"] - 0.3) < 0.05


def test_early_stop_after_n_trials_without_improvement():
    outcome = _search(objective=Quadratic(constant=1.0), max_evals=50, early_stop=4)
    assert len(outcome.trials) == 5 and outcome.stopped_early
    assert not _search(max_evals=5, early_stop=10).stopped_early


def test_failing_trials_are_recorded_and_the_search_goes_on():
    seen = []
    outcome = HyperoptTuner().search(Quadratic(fail_above=0.5), SPACE,
                                     SearchSettings(max_evals=20, seed=2), on_trial=seen.append)
    assert len(outcome.trials) == 20 and list(outcome.trials) == seen
    assert outcome.failed and all("too large" in t.error for t in outcome.failed)
    assert outcome.best.ok and outcome.best.params["x"] <= 0.5


def test_no_best_when_every_trial_fails():
    outcome = _search(objective=Quadratic(fail_above=-1), max_evals=3)
    assert outcome.best is None and len(outcome.failed) == 3


@pytest.mark.parametrize("settings, words", [
    ({"max_evals": 0}, "max_evals must be an integer >= 1"),
    ({"max_evals": 3, "parallelism": 0}, "parallelism must be an integer >= 1"),
    ({"max_evals": 3, "early_stop": -1}, "early_stop must be an integer >= 0"),
])
def test_bad_settings_are_rejected(settings, words):
    with pytest.raises(InvalidInputError, match=words):
        SearchSettings(**settings)


def test_parallelism_is_capped_at_max_evals():
    assert SearchSettings(max_evals=2, parallelism=8).parallelism == 2
    assert _search(max_evals=1, parallelism=4).executor == "inline"


def test_unknown_tuner_name_is_rejected():
    with pytest.raises(InvalidInputError, match="tuner 'optuna' is unknown"):
        make_tuner("optuna")


def test_parallel_trials_run_at_the_same_time_in_two_processes(tmp_path):
    if active_spark_session() is not None:
        pytest.skip("a Spark session is active: parallel trials go to SparkTrials")
    outcome = _search(objective=Rendezvous(str(tmp_path)), space={"x": Uniform(0.0, 1.0)},
                      max_evals=2, parallelism=2, seed=5)
    assert outcome.executor == "processes" and not outcome.failed
    first, second = sorted(outcome.trials, key=lambda t: t.metrics["started"])
    assert first.metrics["pid"] != second.metrics["pid"]
    assert second.metrics["started"] < first.metrics["ended"]


def test_a_worker_that_dies_fails_its_trial_and_the_search_goes_on(tmp_path):
    if active_spark_session() is not None:
        pytest.skip("a Spark session is active: parallel trials go to SparkTrials")
    outcome = _search(objective=DiesInWorkers(str(tmp_path)), space={"x": Uniform(0.0, 1.0)},
                      max_evals=3, parallelism=2, seed=0)
    assert len(outcome.trials) == 3 and outcome.best is not None
    [failed] = outcome.failed
    assert "BrokenProcessPool" in failed.error
