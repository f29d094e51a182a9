"""Databricks job settings of a deployment, and reading a deployment back from its job.

A deployment is one job named like the deployment and tagged ``mlflow-deployment-target:
databricks-cluster``. Its single ``spark_python_task`` runs the staged driver script with the
scoring parameters (:mod:`.job_main` parses them) and installs the package wheel as a library,
on an existing cluster or a job cluster. Everything a deployment is lives in the job, so
``get``/``update`` read it back from there; no secret is ever part of it.
"""

import json
import uuid
from dataclasses import dataclass
from databricks.sdk.service import compute, jobs

from mlflow_delta_plugin.deployment.config import DeploymentConfig, parse_config
from mlflow_delta_plugin.deployment.job_main import build_parser
from mlflow_delta_plugin.deployment.workspace import StagedCode, driver_path
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["Deployment", "TARGET_TAG", "deployment_from_job", "job_settings", "predict_task",
           "task_parameters"]

TARGET_TAG = "mlflow-deployment-target"
TARGET_NAME = "databricks-cluster"
MODEL_TAG = "mlflow-model-uri"
REVISION_TAG = "mlflow-deployment-revision"
TASK_KEY = "score"
JOB_CLUSTER_KEY = "scoring_cluster"


@dataclass(frozen=True)
class Deployment:
    """A deployment as its job describes it."""

    name: str
    job_id: int
    model_uri: str
    config: DeploymentConfig
    revision: str


def _table_parameter(table: str) -> str:
    """DBFS tables are passed as driver paths (``/dbfs/...``); job_main turns them back into
    ``dbfs:/`` for sessions with native Delta."""
    return driver_path(table)


def task_parameters(name: str, model_uri: str, config: DeploymentConfig,
                    mode: str = "score") -> list[str]:
    """The driver script's parameters for ``mode`` (``score`` or ``predict``)."""
    scoring = config.scoring
    parameters = ["--mode", mode, "--deployment", name, "--model-uri", model_uri,
                  "--input-table", _table_parameter(scoring.input_table),
                  "--output-table", _table_parameter(scoring.output_table),
                  "--input-version", "latest" if scoring.input_version is None
                  else str(scoring.input_version),
                  "--prediction-column", scoring.prediction_column,
                  "--result-type", scoring.result_type, "--engine", scoring.engine,
                  "--tracking-uri", config.tracking_uri]
    if scoring.feature_columns:
        parameters += ["--feature-columns", ",".join(scoring.feature_columns)]
    if config.registry_uri:
        parameters += ["--registry-uri", config.registry_uri]
    if mode == "score":
        parameters += ["--job-run-id", "{{job.run_id}}"]
    return parameters


def _libraries(code: StagedCode) -> list[compute.Library]:
    return [compute.Library(whl=code.wheel)]


def job_settings(name: str, model_uri: str, config: DeploymentConfig,
                 code: StagedCode) -> jobs.JobSettings:
    """The settings of the deployment's job (for ``jobs/create`` and ``jobs/reset``)."""
    task = jobs.Task(task_key=TASK_KEY, description=f"Score with {model_uri}",
                     spark_python_task=jobs.SparkPythonTask(
                         python_file=code.python_file,
                         parameters=task_parameters(name, model_uri, config)),
                     libraries=_libraries(code), timeout_seconds=config.timeout_seconds)
    job_clusters = None
    if config.cluster_id:
        task.existing_cluster_id = config.cluster_id
    else:
        task.job_cluster_key = JOB_CLUSTER_KEY
        job_clusters = [jobs.JobCluster(job_cluster_key=JOB_CLUSTER_KEY,
                                        new_cluster=compute.ClusterSpec.from_dict(
                                            config.new_cluster))]
    schedule = None
    if config.schedule:
        schedule = jobs.CronSchedule(quartz_cron_expression=config.schedule,
                                     timezone_id=config.timezone,
                                     pause_status=jobs.PauseStatus.UNPAUSED)
    return jobs.JobSettings(
        name=name, tasks=[task], job_clusters=job_clusters, schedule=schedule,
        max_concurrent_runs=1, timeout_seconds=config.timeout_seconds,
        description=f"MLflow deployment '{name}' (databricks-cluster target of "
                    f"mlflow-delta-plugin): scores {config.scoring.input_table} into "
                    f"{config.scoring.output_table}.",
        tags={TARGET_TAG: TARGET_NAME, MODEL_TAG: model_uri[:255],
              REVISION_TAG: uuid.uuid4().hex})


def predict_task(deployment: Deployment, task: jobs.Task, request_input: str,
                 request_output: str) -> jobs.SubmitTask:
    """A one-time task scoring a request file with the deployment's model, code and cluster."""
    parameters = task_parameters(deployment.name, deployment.model_uri, deployment.config,
                                 mode="predict")
    parameters += ["--request-input", driver_path(request_input),
                   "--request-output", driver_path(request_output)]
    submit = jobs.SubmitTask(task_key="predict", libraries=task.libraries,
                             timeout_seconds=deployment.config.timeout_seconds,
                             spark_python_task=jobs.SparkPythonTask(
                                 python_file=task.spark_python_task.python_file,
                                 parameters=parameters))
    if deployment.config.cluster_id:
        submit.existing_cluster_id = deployment.config.cluster_id
    else:
        submit.new_cluster = compute.ClusterSpec.from_dict(deployment.config.new_cluster)
    return submit


def deployment_from_job(job: jobs.Job) -> Deployment:
    """Read a deployment back from its job.

    Raises:
        InvalidInputError: the job is not a deployment of this target, or was edited by hand
            into something this target cannot read.
    """
    settings = job.settings or jobs.JobSettings()
    tags = settings.tags or {}
    if tags.get(TARGET_TAG) != TARGET_NAME or not settings.tasks:
        raise InvalidInputError(f"job {job.job_id} is not a {TARGET_NAME} deployment")
    task = settings.tasks[0]
    if task.spark_python_task is None:
        raise InvalidInputError(f"job {job.job_id} has no spark_python_task; re-create the "
                                "deployment")
    try:
        args = build_parser().parse_args(task.spark_python_task.parameters or [])
    except SystemExit:
        raise InvalidInputError(f"job {job.job_id} has parameters this version cannot read; "
                                "re-create the deployment") from None
    options = {"input_table": args.input_table, "output_table": args.output_table,
               "input_version": args.input_version, "feature_columns": args.feature_columns,
               "prediction_column": args.prediction_column, "result_type": args.result_type,
               "engine": args.engine, "tracking_uri": args.tracking_uri,
               "registry_uri": args.registry_uri,
               "timeout_seconds": str(task.timeout_seconds or settings.timeout_seconds or 3600),
               "staging_dir": task.spark_python_task.python_file.rsplit("/driver/", 1)[0]}
    if task.existing_cluster_id:
        options["cluster_id"] = task.existing_cluster_id
    else:
        cluster = next((c for c in settings.job_clusters or []
                        if c.job_cluster_key == task.job_cluster_key), None)
        if cluster is None or cluster.new_cluster is None:
            raise InvalidInputError(f"job {job.job_id} has no cluster for its task")
        options["new_cluster"] = json.dumps(cluster.new_cluster.as_dict())
    if settings.schedule is not None:
        options["schedule"] = settings.schedule.quartz_cron_expression
        options["timezone"] = settings.schedule.timezone_id or "UTC"
    return Deployment(name=settings.name or "", job_id=job.job_id, model_uri=args.model_uri,
                      config=parse_config(options), revision=tags.get(REVISION_TAG, ""))
