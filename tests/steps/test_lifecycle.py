"""main: the lifecycle as child runs of one parent, ending with a champion; reruns never fail."""

import mlflow
import pandas as pd
from mlflow import MlflowClient

from mlflow_delta_plugin.config import DEFAULT_INPUT
from mlflow_delta_plugin.steps.lifecycle import run_lifecycle


def _lifecycle(tmp_path, model_name, **kwargs):
    with mlflow.start_run() as parent:
        result = run_lifecycle(input=DEFAULT_INPUT, table=str(tmp_path / "features"),
                               label="malignant", model_type="linear",
                               registered_model=model_name, **kwargs)
    return parent.info.run_id, result


def _children(parent_id: str) -> dict:
    runs = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent_id}'",
                              output_format="list")
    return {run.data.tags["mlflow_delta_plugin.entryPoint"]: run for run in runs}


def test_main_chains_the_steps_on_one_version_and_crowns_a_champion(mlflow_env, tmp_path,
                                                                    model_name):
    parent_id, result = _lifecycle(tmp_path, model_name)
    children = _children(parent_id)
    assert set(children) == {"prepare", "train", "evaluate", "promote"}
    assert all(run.info.status == "FINISHED" for run in children.values())
    assert children["train"].data.params["delta_version"] == str(result.prepared.version)
    assert result.evaluated.version == result.promoted.version == result.prepared.version
    assert result.promoted.decision == "promoted"
    champion = MlflowClient().get_model_version_by_alias(model_name, "champion")
    assert str(champion.version) == result.trained.registered_version
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    sample = pd.read_csv(DEFAULT_INPUT).drop(columns=["malignant"]).head(3)
    assert len(model.predict(sample)) == 3


def test_a_second_main_on_the_same_data_records_a_decision(mlflow_env, tmp_path, model_name):
    _lifecycle(tmp_path, model_name)
    parent_id, second = _lifecycle(tmp_path, model_name)
    # The same data and seed give an identical model: a tie does not re-crown it.
    assert second.promoted.decision == "rejected"
    assert str(MlflowClient().get_model_version_by_alias(model_name, "champion").version) == "1"
    assert second.promoted.champion_version == "1"
    version = MlflowClient().get_model_version(model_name, second.promoted.candidate_version)
    assert version.tags["promotion.decision"] == second.promoted.decision
    assert mlflow.get_run(parent_id).data.tags["promotion.decision"] == second.promoted.decision


def test_main_tunes_when_max_evals_is_set(mlflow_env, tmp_path, model_name):
    parent_id, result = _lifecycle(tmp_path, model_name, max_evals=2)
    assert "tune" in _children(parent_id)
    assert result.promoted.decision == "promoted"
