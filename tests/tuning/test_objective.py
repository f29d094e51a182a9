"""ValidationObjective and its helpers: metric choice, validation split, trial results."""

import pickle

import pandas as pd
import pytest

from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL
from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tuning.objective import (
    ValidationObjective,
    resolve_metric,
    split_for_validation,
)


@pytest.fixture(scope="module")
def sample():
    frame = pd.read_csv(DEFAULT_INPUT).head(200)
    labels = frame.pop(DEFAULT_LABEL)
    return frame, labels


@pytest.mark.parametrize("metric, task, classes, expected", [
    ("auto", "classification", 2, "roc_auc"),
    ("auto", "classification", 3, "accuracy"),
    ("auto", "regression", 0, "rmse"),
    ("F1", "classification", 3, "f1"),
    ("log_loss", "classification", 2, "log_loss"),
    ("mae", "regression", 0, "mae"),
])
def test_metric_resolution(metric, task, classes, expected):
    assert resolve_metric(metric, task, classes) == expected


@pytest.mark.parametrize("metric, task, classes, words", [
    ("precision_at_k", None, 0, "metric 'precision_at_k' is unknown"),
    ("rmse", "classification", 2, "does not apply to classification"),
    ("roc_auc", "classification", 3, "with 3 classes"),
    ("accuracy", "regression", 0, "does not apply to regression"),
])
def test_metric_errors_name_the_metric_and_the_choices(metric, task, classes, words):
    with pytest.raises(InvalidInputError, match=words):
        resolve_metric(metric, task, classes)


def test_validation_split_is_seeded_stratified_and_disjoint(sample):
    features, labels = sample
    first = split_for_validation(features, labels, "classification", 0.25, seed=3)
    again = split_for_validation(features, labels, "classification", 0.25, seed=3)
    other = split_for_validation(features, labels, "classification", 0.25, seed=4)
    assert list(first.validation_labels.index) == list(again.validation_labels.index)
    assert list(first.validation_labels.index) != list(other.validation_labels.index)
    assert not set(first.fit_labels.index) & set(first.validation_labels.index)
    assert len(first.validation_labels) == 50
    share = labels.mean()
    assert abs(first.validation_labels.mean() - share) < 0.03


def test_too_small_a_train_split_is_a_clear_error(sample):
    features, labels = sample
    with pytest.raises(InvalidInputError, match="too small to carve a validation split"):
        split_for_validation(features.head(1), labels.head(1), "classification", 0.2, seed=0)


def _objective(sample, metric="roc_auc", model_type="linear"):
    features, labels = sample
    data = split_for_validation(features, labels, "classification", 0.25, seed=0)
    return ValidationObjective(model_type, "classification", metric, tuple(features.columns), (),
                               data, seed=0)


def test_a_good_configuration_scores_on_validation_with_loss_to_minimize(sample):
    result = _objective(sample)(3, {"C": 1.0})
    assert result.ok and result.number == 3 and result.params == {"C": 1.0}
    assert result.loss == -result.metrics["val_roc_auc"]
    assert {"val_accuracy", "val_f1", "val_log_loss", "fit_seconds"} <= set(result.metrics)
    assert result.end_time_ms >= result.start_time_ms > 0
    lower = _objective(sample, metric="log_loss")(0, {"C": 1.0})
    assert lower.loss == lower.metrics["val_log_loss"]


def test_a_bad_configuration_is_a_failed_result_not_an_exception(sample):
    result = _objective(sample)(0, {"C": -1.0})
    assert not result.ok and result.status == "failed" and result.loss is None
    assert "C" in result.error and "\n" not in result.error


def test_the_objective_pickles_with_its_data(sample):
    objective = _objective(sample)
    copy = pickle.loads(pickle.dumps(objective))
    assert copy(0, {"C": 0.5}).loss == objective(0, {"C": 0.5}).loss
