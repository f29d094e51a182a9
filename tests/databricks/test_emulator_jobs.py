"""Jobs on the workspace emulator: runs execute for real, with states, output, errors,
cancel/timeout, dependencies, libraries, job CRUD and run-now."""

from __future__ import annotations

import base64
import io
import time
import zipfile

import pytest
from databricks.sdk.errors import OperationFailed
from databricks.sdk.service import compute, jobs
from mlflow.version import VERSION

CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 0}


def put_file(sdk, path: str, text: str) -> None:
    sdk.dbfs.upload(path, io.BytesIO(text.encode()), overwrite=True)


def python_task(key: str, file: str, params=(), **extra) -> jobs.SubmitTask:
    return jobs.SubmitTask(task_key=key, new_cluster=compute.ClusterSpec.from_dict(CLUSTER),
                           spark_python_task=jobs.SparkPythonTask(python_file=file,
                                                                  parameters=list(params)),
                           **extra)


def observed_states(emulator, run_id: int, timeout: float = 120,
                    until: tuple = ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")) -> list[str]:
    """Life-cycle states seen while polling a run every 50 ms until it reaches one of ``until``
    (by default: until it ends)."""
    seen: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = emulator.get_run(run_id)["state"]["life_cycle_state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in until:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not reach {until}: {seen}")


def test_spark_python_task_runs_for_real_with_dbfs_mapped(emulator, sdk):
    put_file(sdk, "/scripts/hello.py", "\n".join([
        "import os, sys, time",
        "while not os.path.exists('/dbfs/go'):  # held RUNNING until the test has seen it",
        "    time.sleep(0.02)",
        "os.makedirs('/dbfs/out', exist_ok=True)",
        "open('/dbfs/out/hello.txt', 'w').write(' '.join(sys.argv[1:]))",
        "open('/databricks/driver/local.txt', 'w').write('driver disk')",
        "print('hello from the driver', os.getcwd().endswith('databricks/driver'))",
    ]))
    run_id = sdk.jobs.submit(run_name="hello", tasks=[
        python_task("hello", "dbfs:/scripts/hello.py", ["--greeting", "hi"])]).run_id
    states = observed_states(emulator, run_id, until=("RUNNING", "TERMINATED", "INTERNAL_ERROR"))
    put_file(sdk, "/go", "")
    states += [state for state in observed_states(emulator, run_id) if state != "RUNNING"]
    assert states == ["PENDING", "RUNNING", "TERMINATED"]

    run = sdk.jobs.get_run(run_id)
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert run.run_page_url == f"{emulator.host}/?o=1234567890123456#job/{run.job_id}/run/{run_id}"
    assert (emulator.root / "dbfs" / "out" / "hello.txt").read_text() == "--greeting hi"
    cluster_id = run.tasks[0].cluster_instance.cluster_id
    assert (emulator.root / "clusters" / cluster_id / "databricks" / "driver" / "local.txt").exists()
    assert sdk.clusters.get(cluster_id).state == compute.State.TERMINATED  # job cluster ended

    output = sdk.jobs.get_run_output(run_id)
    assert "hello from the driver True" in output.logs
    assert output.error is None


def test_failing_task_reports_error_and_trace(emulator, sdk):
    put_file(sdk, "/scripts/fail.py", "def train():\n    raise ValueError('bad hyperparameter')\n"
                                      "print('starting')\ntrain()\n")
    run = sdk.jobs.submit(run_name="fail", tasks=[python_task("train", "dbfs:/scripts/fail.py")]).result()
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message == ("Task train failed with message: Workload failed, "
                                       "see run output for details.")
    output = sdk.jobs.get_run_output(run.tasks[0].run_id)
    assert output.error.startswith("ValueError: bad hyperparameter")
    assert "Traceback (most recent call last)" in output.error_trace
    assert "starting" in output.logs


def test_legacy_single_task_shell_command_like_mlflow_submits(emulator):
    script = "mkdir -p /dbfs/shell && echo \"$GREETING from $DB_CLUSTER_ID\" > /dbfs/shell/out.txt && cat /dbfs/shell/out.txt"
    run_id = emulator.call("POST", "/api/2.0/jobs/runs/submit", json={
        "run_name": "MLflow Run for demo", "new_cluster": CLUSTER,
        "shell_command_task": {"command": ["bash", "-c", script], "env_vars": {"GREETING": "hi"}},
        "libraries": [{"pypi": {"package": f"mlflow=={VERSION}"}}]})["run_id"]
    run = emulator.wait_for_run(run_id)
    assert run["state"]["result_state"] == "SUCCESS", run
    assert run["tasks"][0]["task_key"] == "MLflow_Run_for_demo"
    assert run["tasks"][0]["shell_command_task"]["env_vars"] == {"GREETING": "hi"}
    written = (emulator.root / "dbfs" / "shell" / "out.txt").read_text()
    assert written.startswith("hi from ") and run["cluster_instance"]["cluster_id"] in written
    output = emulator.call("GET", "/api/2.0/jobs/runs/get-output", params={"run_id": run_id})
    assert "hi from" in output["logs"]


def test_cancel_stops_the_process_group(emulator, sdk):
    put_file(sdk, "/scripts/sleep.py", "import subprocess\nsubprocess.run(['sleep', '120'])\n")
    run_id = sdk.jobs.submit(run_name="sleepy", tasks=[python_task("s", "dbfs:/scripts/sleep.py")]).run_id
    while sdk.jobs.get_run(run_id).state.life_cycle_state != jobs.RunLifeCycleState.RUNNING:
        time.sleep(0.05)
    started = time.monotonic()
    run = sdk.jobs.cancel_run(run_id).result()
    assert time.monotonic() - started < 15
    assert run.state.result_state == jobs.RunResultState.CANCELED
    assert run.state.user_cancelled_or_timedout is True


def test_timeout_ends_the_run_timedout(emulator, sdk):
    put_file(sdk, "/scripts/slow.py", "import time\ntime.sleep(60)\n")
    run = sdk.jobs.submit(run_name="slow", timeout_seconds=2,
                          tasks=[python_task("slow", "dbfs:/scripts/slow.py")]).result()
    assert run.state.result_state == jobs.RunResultState.TIMEDOUT


def test_dependencies_upstream_failure_and_multi_task_output(emulator, sdk):
    put_file(sdk, "/scripts/ok.py", "print('ok')\n")
    put_file(sdk, "/scripts/bad.py", "raise SystemExit(3)\n")
    run = sdk.jobs.submit(run_name="dag", tasks=[
        python_task("a", "dbfs:/scripts/ok.py"),
        python_task("b", "dbfs:/scripts/bad.py", depends_on=[jobs.TaskDependency("a")]),
        python_task("c", "dbfs:/scripts/ok.py", depends_on=[jobs.TaskDependency("b")]),
        python_task("d", "dbfs:/scripts/ok.py", depends_on=[jobs.TaskDependency("b")],
                    run_if=jobs.RunIf.ALL_DONE),
    ]).result()
    results = {t.task_key: t.state.result_state.value for t in run.tasks}
    assert results == {"a": "SUCCESS", "b": "FAILED", "c": "UPSTREAM_FAILED", "d": "SUCCESS"}
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message.startswith("Task b failed")
    refused = emulator.request("GET", "/api/2.1/jobs/runs/get-output", params={"run_id": run.run_id})
    assert refused.status_code == 400
    assert "multiple tasks" in refused.json()["message"]
    b = next(t for t in run.tasks if t.task_key == "b")
    assert "exit code 3" in sdk.jobs.get_run_output(b.run_id).error
    task_run = sdk.jobs.get_run(b.run_id)
    assert task_run.run_id == b.run_id and task_run.state.result_state == jobs.RunResultState.FAILED


def test_library_that_the_cluster_cannot_have_fails_the_run(emulator, sdk):
    put_file(sdk, "/scripts/ok.py", "print('ok')\n")
    task = python_task("t", "dbfs:/scripts/ok.py",
                       libraries=[compute.Library(pypi=compute.PythonPyPiLibrary("mlflow==0.0.1"))])
    waiter = sdk.jobs.submit(run_name="libs", tasks=[task])
    with pytest.raises(OperationFailed, match="Library installation failed"):
        waiter.result()  # the SDK's waiter treats INTERNAL_ERROR as a failure
    run = sdk.jobs.get_run(waiter.run_id)
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.INTERNAL_ERROR
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert run.tasks[0].status.termination_details.code == jobs.TerminationCodeCode.LIBRARY_INSTALLATION_ERROR
    assert f"the cluster has mlflow {VERSION}" in run.state.state_message


def _wheel(name: str, module_source: str, entry_point: str) -> bytes:
    buffer = io.BytesIO()
    dist = f"{name}-0.1.dist-info"
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(f"{name}/__init__.py", module_source)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n"
                                           f"Requires-Dist: mlflow>=2\n")
        wheel.writestr(f"{dist}/entry_points.txt",
                       f"[console_scripts]\n{entry_point} = {name}:main\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        wheel.writestr(f"{dist}/RECORD", "")
    return buffer.getvalue()


def test_python_wheel_task_runs_the_entry_point_of_a_wheel_library(emulator, sdk):
    source = ("import sys\n\ndef main():\n    print('scoring', sys.argv[1:])\n"
              "    open('/dbfs/wheel-ran.txt', 'w').write(' '.join(sys.argv[1:]))\n")
    sdk.dbfs.upload("/libs/scorer-0.1-py3-none-any.whl", io.BytesIO(_wheel("scorer", source, "score")),
                    overwrite=True)
    task = jobs.SubmitTask(
        task_key="score", new_cluster=compute.ClusterSpec.from_dict(CLUSTER),
        python_wheel_task=jobs.PythonWheelTask(package_name="scorer", entry_point="score",
                                               named_parameters={"model": "models:/m@champion"}),
        libraries=[compute.Library(whl="dbfs:/libs/scorer-0.1-py3-none-any.whl")])
    run = sdk.jobs.submit(run_name="wheel", tasks=[task]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS, sdk.jobs.get_run_output(
        run.tasks[0].run_id).logs
    assert (emulator.root / "dbfs" / "wheel-ran.txt").read_text() == "--model=models:/m@champion"


def test_job_crud_and_run_now_on_an_existing_cluster(emulator, sdk):
    cluster_id = emulator.create_cluster("shared", state="TERMINATED")
    put_file(sdk, "/scripts/args.py", "import sys\nprint('args', sys.argv[1:])\n")
    task = jobs.Task(task_key="main", existing_cluster_id=cluster_id,
                     spark_python_task=jobs.SparkPythonTask("dbfs:/scripts/args.py", ["default"]))
    job_id = sdk.jobs.create(name="nightly-scoring", tasks=[task], max_concurrent_runs=1).job_id
    job = sdk.jobs.get(job_id)
    assert job.settings.name == "nightly-scoring" and job.settings.tasks[0].task_key == "main"
    assert job_id in [j.job_id for j in sdk.jobs.list(name="nightly-scoring")]

    sdk.jobs.update(job_id, new_settings=jobs.JobSettings(tags={"team": "ml"}))
    assert sdk.jobs.get(job_id).settings.tags == {"team": "ml"}

    waiter = sdk.jobs.run_now(job_id, python_params=["override"])
    skipped = sdk.jobs.run_now(job_id)  # max_concurrent_runs=1 while the first is active
    run = waiter.result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.run_type == jobs.RunType.JOB_RUN and run.job_id == job_id
    assert "args ['override']" in sdk.jobs.get_run_output(run.run_id).logs
    assert sdk.jobs.get_run(skipped.run_id).state.life_cycle_state == jobs.RunLifeCycleState.SKIPPED
    assert sdk.clusters.get(cluster_id).state == compute.State.RUNNING  # started by the run
    assert [r.run_id for r in sdk.jobs.list_runs(job_id=job_id)][-1] == run.run_id

    sdk.jobs.reset(job_id, new_settings=jobs.JobSettings(name="renamed", tasks=[task]))
    assert sdk.jobs.get(job_id).settings.name == "renamed"
    sdk.jobs.delete(job_id)
    missing = emulator.request("GET", "/api/2.2/jobs/get", params={"job_id": job_id})
    assert missing.status_code == 400
    assert missing.json()["message"] == f"Job {job_id} does not exist."


def test_queued_job_runs_wait_for_a_slot(emulator, sdk):
    put_file(sdk, "/scripts/brief.py", "import time\ntime.sleep(1)\n")
    task = jobs.Task(task_key="t", new_cluster=compute.ClusterSpec.from_dict(CLUSTER),
                     spark_python_task=jobs.SparkPythonTask("dbfs:/scripts/brief.py"))
    job_id = sdk.jobs.create(name="queued", tasks=[task], max_concurrent_runs=1,
                             queue=jobs.QueueSettings(enabled=True)).job_id
    first, second, third = (sdk.jobs.run_now(job_id) for _ in range(3))
    assert sdk.jobs.get_run(third.run_id).state.life_cycle_state == jobs.RunLifeCycleState.QUEUED
    runs = [w.result() for w in (first, second, third)]
    assert [r.state.result_state for r in runs] == [jobs.RunResultState.SUCCESS] * 3
    for earlier, later in zip(runs, runs[1:]):  # one at a time: each starts after the last ended
        assert later.start_time + later.setup_duration >= earlier.end_time


def test_clusters_start_and_libraries(emulator, sdk):
    cluster_id = emulator.create_cluster("adhoc", state="TERMINATED")
    sdk.clusters.start(cluster_id)
    assert sdk.clusters.get(cluster_id).state == compute.State.PENDING
    assert sdk.clusters.wait_get_cluster_running(cluster_id).state == compute.State.RUNNING
    again = emulator.request("POST", "/api/2.1/clusters/start", json={"cluster_id": cluster_id})
    assert again.status_code == 400 and again.json()["error_code"] == "INVALID_STATE"
    sdk.libraries.install(cluster_id, [compute.Library(pypi=compute.PythonPyPiLibrary(f"mlflow=={VERSION}")),
                                       compute.Library(maven=compute.MavenLibrary("a:b:1"))])
    statuses = {s.library.pypi.package if s.library.pypi else "maven": s.status.value
                for s in sdk.libraries.cluster_status(cluster_id)}
    assert statuses == {f"mlflow=={VERSION}": "INSTALLED", "maven": "FAILED"}
    assert cluster_id in [c.cluster_id for c in sdk.clusters.list()]
    sdk.clusters.delete(cluster_id)
    assert sdk.clusters.get(cluster_id).state == compute.State.TERMINATED


@pytest.mark.parametrize("body, code, message", [
    ({"run_name": "x", "tasks": [{"task_key": "a", "bogus": 1}]},
     "INVALID_PARAMETER_VALUE", "Unknown field 'tasks[0].bogus'"),
    ({"run_name": "x", "tasks": "not-a-list"},
     "MALFORMED_REQUEST", "Could not parse request object: Expected array for field 'tasks', found STRING"),
    ({"tasks": [{"task_key": "a", "new_cluster": CLUSTER, "spark_python_task": {}}]},
     "INVALID_PARAMETER_VALUE", "Missing required field: tasks[0].spark_python_task.python_file"),
    ({"tasks": [{"task_key": "a", "spark_python_task": {"python_file": "dbfs:/x.py"}}]},
     "INVALID_PARAMETER_VALUE", "One of job_cluster_key, new_cluster, or existing_cluster_id must be specified."),
    ({"tasks": [{"task_key": "a", "new_cluster": {"num_workers": 1},
                 "spark_python_task": {"python_file": "dbfs:/x.py"}}]},
     "INVALID_PARAMETER_VALUE", "Cluster validation error: Missing required field: tasks[0].new_cluster.spark_version"),
    ({"tasks": [{"task_key": "a", "new_cluster": CLUSTER, "run_if": "SOMETIMES",
                 "spark_python_task": {"python_file": "dbfs:/x.py"}}]},
     "INVALID_PARAMETER_VALUE", "Invalid value 'SOMETIMES' for field 'tasks[0].run_if'"),
    ({"tasks": [{"task_key": "a", "new_cluster": CLUSTER,
                 "notebook_task": {"notebook_path": "/Users/x/nb"}}]},
     "NOT_IMPLEMENTED", "notebook_task is not supported by the emulator"),
    ({"run_name": "x", "new_cluster": CLUSTER, "spark_python_task": {"python_file": "dbfs:/x.py"}},
     "INVALID_PARAMETER_VALUE", "Unknown field 'new_cluster'"),  # single-task form is 2.0 only
])
def test_requests_are_checked_against_the_sdk_shapes(emulator, body, code, message):
    response = emulator.request("POST", "/api/2.1/jobs/runs/submit", json=body)
    assert response.json()["error_code"] == code
    assert message in response.json()["message"]
    assert response.status_code == (501 if code == "NOT_IMPLEMENTED" else 400)


def test_body_that_is_not_json_is_malformed(emulator):
    response = emulator.request("POST", "/api/2.1/jobs/runs/submit", data=b"{not json",
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "MALFORMED_REQUEST"


def test_unknown_endpoint_is_endpoint_not_found(emulator):
    response = emulator.request("GET", "/api/2.0/jobs/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error_code": "ENDPOINT_NOT_FOUND",
                               "message": "No API found for 'GET /api/2.0/jobs/nothing-here'"}


def test_workspace_import_notebook_and_file(emulator, sdk):
    from databricks.sdk.service import workspace

    sdk.workspace.mkdirs("/Users/emulator-user@example.com/deploy")
    source = base64.b64encode(b"# Databricks notebook source\nprint(1)\n").decode()
    sdk.workspace.import_("/Users/emulator-user@example.com/deploy/nb.py", content=source,
                          format=workspace.ImportFormat.SOURCE, language=workspace.Language.PYTHON)
    status = sdk.workspace.get_status("/Users/emulator-user@example.com/deploy/nb")
    assert status.object_type == workspace.ObjectType.NOTEBOOK
    assert status.language == workspace.Language.PYTHON
    sdk.workspace.import_("/Users/emulator-user@example.com/deploy/score.py",
                          content=base64.b64encode(b"print('score')\n").decode(),
                          format=workspace.ImportFormat.AUTO)
    assert sdk.workspace.get_status(
        "/Users/emulator-user@example.com/deploy/score.py").object_type == workspace.ObjectType.FILE
    duplicate = emulator.request("POST", "/api/2.0/workspace/import", json={
        "path": "/Users/emulator-user@example.com/deploy/score.py", "content": "eA==",
        "format": "AUTO"})
    assert duplicate.status_code == 409
    names = sorted(o.path for o in sdk.workspace.list("/Users/emulator-user@example.com/deploy"))
    assert names == ["/Users/emulator-user@example.com/deploy/nb",
                     "/Users/emulator-user@example.com/deploy/score.py"]
    put_file(sdk, "/scripts/noop.py", "")
    run = sdk.jobs.submit(run_name="ws", tasks=[python_task(
        "ws", "/Workspace/Users/emulator-user@example.com/deploy/score.py")]).result()
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert "score" in sdk.jobs.get_run_output(run.run_id).logs
