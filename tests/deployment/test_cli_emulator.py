"""The databricks-cluster target end to end: `mlflow deployments ...` as a user types it, against
the workspace emulator (real HTTP, job runs executed for real with local Spark in the job).

One deployment (created with 429/500 faults armed) is reused by the get/list/predict/update/
delete tests, which run in file order.
"""

import json

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable

from tests.deployment.conftest import MODEL_NAME, cluster_json, feature_rows

pytestmark = pytest.mark.timeout(600)

NAME = "nightly-scores"
OUTPUT = "/dbfs/data/scores"


@pytest.fixture(scope="module")
def deployed(workspace):
    """``mlflow deployments create`` of model version 1, with transient faults on the way."""
    ws = workspace.ws
    ws.clear_request_log()
    ws.inject_fault("jobs/create", status=500, count=1)
    ws.inject_fault("jobs/run-now", status=429, count=1)
    ws.inject_fault("jobs/runs/get", status=429, count=2)
    ws.inject_fault("jobs/runs/get", status=500, count=1)
    result = workspace.cli("create", "--name", NAME, "-m", f"models:/{MODEL_NAME}/1",
                           "-C", "input_table=/dbfs/data/features", "-C", f"output_table={OUTPUT}",
                           "-C", f"new_cluster={cluster_json()}", "-C", "registry_uri=databricks",
                           "-C", "schedule=0 0 6 * * ?")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _scores(workspace) -> pd.DataFrame:
    return DeltaTable(str(workspace.dbfs(OUTPUT))).to_pandas()


def test_create_waits_for_a_first_run_that_scored_the_table(workspace, deployed):
    assert f"python_function deployment {NAME} is created" in deployed.stdout
    scores = _scores(workspace)
    assert len(scores) == 20
    assert set(scores["model_uri"]) == {f"models:/{MODEL_NAME}/1"}
    assert set(scores["model_version"]) == {"1"} and set(scores["input_version"]) == {0}
    np.testing.assert_allclose(scores["prediction"], 2 * scores["x1"] - scores["x2"], atol=1e-6)
    commit = DeltaTable(str(workspace.dbfs(OUTPUT))).history(1)[0]
    assert commit["mlflow_delta_plugin.deployment"] == NAME
    # every armed fault was hit and survived (429: the SDK retries; 500: the target retries)
    assert workspace.ws.armed_faults() == []
    statuses = {(r["path"].split("/api/")[-1], r["status"]) for r in workspace.ws.request_log()}
    assert ("2.2/jobs/create", 500) in statuses or ("2.1/jobs/create", 500) in statuses
    assert any(status == 429 for _, status in statuses)


def test_job_spec_holds_code_and_schedule_but_no_token(workspace, deployed):
    job = next(j for j in workspace.jobs() if j["settings"]["name"] == NAME)
    full = workspace.ws.call("GET", "/api/2.1/jobs/get", params={"job_id": job["job_id"]})
    text = json.dumps(full)
    assert workspace.ws.token not in text
    assert workspace.ws.token not in deployed.stdout + deployed.stderr
    task = full["settings"]["tasks"][0]
    assert task["libraries"][0]["whl"].endswith("-py3-none-any.whl")
    assert task["spark_python_task"]["python_file"].startswith("dbfs:/")
    assert full["settings"]["schedule"]["quartz_cron_expression"] == "0 0 6 * * ?"
    # the job ran the package from the wheel library, not from this checkout
    installed = list(workspace.ws.root.glob("clusters/*/libs/site/mlflow_delta_plugin/deployment"))
    assert installed and (installed[0] / "scorer.py").is_file()


def test_get_and_list(workspace, deployed):
    workspace.ws.call("POST", "/api/2.1/jobs/create", json={  # not a deployment: never listed
        "name": "someone-elses-job", "tasks": [{"task_key": "t", "existing_cluster_id":
                                                workspace.ws.create_cluster("other"),
                                                "spark_python_task": {"python_file":
                                                                      "dbfs:/x.py"}}]})
    got = workspace.cli("get", "--name", NAME)
    assert got.returncode == 0, got.stderr
    assert f"model_uri: models:/{MODEL_NAME}/1" in got.stdout
    assert "'result_state': 'SUCCESS'" in got.stdout and "run_page_url" in got.stdout
    listed = workspace.cli("list")
    assert listed.returncode == 0, listed.stderr
    assert f"'name': '{NAME}'" in listed.stdout and "someone-elses-job" not in listed.stdout
    missing = workspace.cli("get", "--name", "no-such-deployment")
    assert missing.returncode != 0
    assert "no databricks-cluster deployment named 'no-such-deployment'" in missing.stderr


def test_predict_scores_on_the_cluster(workspace, deployed, tmp_path):
    rows = feature_rows(4, seed=7)
    request, answer = tmp_path / "rows.json", tmp_path / "predictions.json"
    rows.to_json(request, orient="records")
    result = workspace.cli("predict", "--name", NAME, "--input-path", str(request),
                           "--output-path", str(answer))
    assert result.returncode == 0, result.stdout + result.stderr
    predictions = json.loads(answer.read_text())["predictions"]
    np.testing.assert_allclose(predictions, 2 * rows["x1"] - rows["x2"], atol=1e-6)
    leftovers = workspace.dbfs("/dbfs/FileStore/mlflow-delta-plugin/requests")
    assert not leftovers.exists() or not any(leftovers.iterdir())


def test_update_to_a_new_model_is_used_by_the_next_run(workspace, deployed):
    result = workspace.cli("update", "--name", NAME, "-m", f"models:/{MODEL_NAME}/2",
                           "-C", "input_version=0")
    assert result.returncode == 0, result.stdout + result.stderr
    scores = _scores(workspace)
    newest = scores[scores["model_version"] == "2"]
    assert len(scores) == 40 and len(newest) == 20
    np.testing.assert_allclose(newest["prediction"], newest["x1"] + newest["x2"], atol=1e-6)
    got = workspace.cli("get", "--name", NAME)
    assert f"model_uri: models:/{MODEL_NAME}/2" in got.stdout
    assert "'input_version': '0'" in got.stdout and "'schedule': '0 0 6 * * ?'" in got.stdout


def test_failed_update_restores_the_previous_settings(workspace, deployed):
    before = workspace.cli("get", "--name", NAME).stdout.split("latest_run")[0]
    result = workspace.cli("update", "--name", NAME, "-m", "models:/no-such-model/1",
                           "-C", "engine=pandas")
    assert result.returncode != 0
    assert f"update of deployment '{NAME}' failed; previous settings restored" in result.stderr
    assert "run page: http" in result.stderr
    assert workspace.cli("get", "--name", NAME).stdout.split("latest_run")[0] == before
    assert len(_scores(workspace)) == 40


def test_failing_first_run_leaves_no_job(workspace, deployed):
    cluster = workspace.ws.create_cluster("shared")
    result = workspace.cli("create", "--name", "broken", "-m", "models:/no-such-model/1",
                           "-C", "input_table=/dbfs/data/features",
                           "-C", "output_table=/dbfs/data/broken", "-C", f"cluster_id={cluster}",
                           "-C", "registry_uri=databricks", "-C", "engine=pandas")
    assert result.returncode != 0
    assert "deployment 'broken' failed its first run" in result.stderr
    assert "run page: http" in result.stderr and "no-such-model" in result.stderr
    assert workspace.ws.token not in result.stdout + result.stderr
    assert all(j["settings"]["name"] != "broken" for j in workspace.jobs())
    assert not workspace.dbfs("/dbfs/data/broken").exists()


def test_run_local_scores_local_tables(workspace, tmp_path):
    """run-local with pandas; the Spark engine of the same scorer is tested in test_scorer.py
    (a local Spark start in the CLI process costs about a minute on the shared test machine)."""
    source, target = tmp_path / "features", tmp_path / "scores"
    from tests.deployment.conftest import write_table

    write_table(str(source), feature_rows(6))
    result = workspace.cli("run-local", "--name", "local", "-m", f"models:/{MODEL_NAME}/1",
                           "-C", f"input_table={source}", "-C", f"output_table={target}",
                           "-C", "registry_uri=databricks", "-C", "engine=pandas")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["rows"] == 6
    scores = DeltaTable(str(target)).to_pandas()
    np.testing.assert_allclose(scores["prediction"], 2 * scores["x1"] - scores["x2"], atol=1e-6)


def test_delete_is_idempotent(workspace, deployed):
    for _ in range(2):
        result = workspace.cli("delete", "--name", NAME)
        assert result.returncode == 0, result.stderr
        assert f"Deployment {NAME} is deleted" in result.stdout
    assert all(j["settings"]["name"] != NAME for j in workspace.jobs())
    assert NAME not in workspace.cli("list").stdout
