"""Search spaces: the JSON form, its errors, and the default space of every model type."""

import pytest

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, MODEL_TYPES, REGRESSION
from mlflow_delta_plugin.tuning import (
    Choice,
    Fixed,
    IntUniform,
    LogUniform,
    Uniform,
    default_search_space,
    parse_search_space,
    search_space_to_json,
)


def test_every_kind_parses_and_round_trips_through_json():
    text = ('{"a": {"uniform": [0, 1]}, "b": {"loguniform": [0.01, 10]}, "c": {"int": [2, 8]},'
            ' "d": {"int": [50, 300, 25]}, "e": {"choice": [null, 4, [8, 8]]}, "f": 3,'
            ' "g": [64, 32], "h": {"fixed": {"k": 1}}}')
    space = parse_search_space(text)
    assert space == {"a": Uniform(0.0, 1.0), "b": LogUniform(0.01, 10.0), "c": IntUniform(2, 8),
                     "d": IntUniform(50, 300, 25), "e": Choice((None, 4, (8, 8))), "f": Fixed(3),
                     "g": Fixed((64, 32)), "h": Fixed({"k": 1})}
    assert parse_search_space(search_space_to_json(space)) == space


@pytest.mark.parametrize("text, words", [
    ('{"C": {"loguniform": [0.01, 10]', "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"C": {"uniform": [1, 0]}}', "needs low < high"),
    ('{"C": {"loguniform": [0, 1]}}', "needs 0 < low"),
    ('{"C": {"int": [1.5, 4]}}', "needs whole numbers"),
    ('{"C": {"int": [1, 4, 0]}}', "step >= 1"),
    ('{"C": {"uniform": [0]}}', "needs 2 numbers"),
    ('{"C": {"uniform": ["a", 1]}}', "finite numbers"),
    ('{"C": {"choice": []}}', "non-empty list"),
    ('{"C": {"normal": [0, 1]}}', "unknown kind 'normal'"),
    ('{"C": {"uniform": [0, 1], "int": [0, 1]}}', "exactly one of"),
    ('{"C": 1.0}', "nothing to search"),
    ("{}", "nothing to search"),
])
def test_malformed_spaces_are_one_line_errors(text, words):
    with pytest.raises(InvalidInputError, match=words) as caught:
        parse_search_space(text)
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("task", [CLASSIFICATION, REGRESSION])
@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_default_space_names_are_hyperparameters_of_the_estimator(model_type, task):
    space = default_search_space(model_type, task)
    valid = MODEL_TYPES[model_type].estimator(task, {}).get_params(deep=False)
    assert space and set(space) <= set(valid)


def test_unknown_model_type_has_no_default_space():
    with pytest.raises(InvalidInputError, match="model_type 'xgb' is unknown"):
        default_search_space("xgb", CLASSIFICATION)
