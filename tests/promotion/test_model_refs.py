"""Parsing model URIs (no registry needed)."""

import pytest

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.promotion.model_refs import parse_model_uri


@pytest.mark.parametrize("uri, expected", [
    ("runs:/0a1b2c/model", ("run", "0a1b2c", "model")),
    ("runs:/0a1b2c/nested/model", ("run", "0a1b2c", "nested/model")),
    ("models:/m-0123abcd", ("logged", "m-0123abcd", "")),
    ("models:/my_model/3", ("version", "my_model", "3")),
    ("models:/cat.schema.model/12", ("version", "cat.schema.model", "12")),
    ("models:/my_model@champion", ("alias", "my_model", "champion")),
    (" models:/my_model@champion ", ("alias", "my_model", "champion")),
])
def test_accepted_forms(uri, expected):
    assert parse_model_uri(uri) == expected


@pytest.mark.parametrize("uri", [
    "", "my_model", "models:/", "models:/my_model", "models:/my_model/", "models:/my_model/latest",
    "models:/my_model/Production", "models:/my_model@", "runs:/", "runs:/abc", "runs:/abc/",
    "s3://bucket/model", "models:/a/b/3",
])
def test_malformed_uris(uri):
    with pytest.raises(InvalidInputError, match=r"model_uri '.*' is malformed; use runs:/"):
        parse_model_uri(uri)


def test_training_params_prefer_values_resolved_under_mlflow_run(mlflow_env):
    import mlflow
    from mlflow import MlflowClient

    from mlflow_delta_plugin.promotion.model_refs import training_params
    from mlflow_delta_plugin.tracking.runs import log_step_params

    with mlflow.start_run() as run:
        mlflow.log_params({"task": "auto", "label": ""})      # as mlflow run logs them
        log_step_params({"task": "classification", "label": "y", "seed": 3})
    params = training_params(MlflowClient(), run.info.run_id)
    assert (params["task"], params["label"], params["seed"]) == ("classification", "y", "3")
