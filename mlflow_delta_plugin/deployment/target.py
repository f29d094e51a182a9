"""The ``databricks-cluster`` deployment target: the plugin module MLflow loads.

MLflow finds it through the ``mlflow.deployments`` entry point and requires exactly one
``BaseDeploymentClient`` subclass here plus module-level :func:`run_local` and
:func:`target_help`. A deployment is a Databricks job batch-scoring a Delta table with
``mlflow.pyfunc.spark_udf``; see :mod:`mlflow_delta_plugin.deployment`.

Example:
    $ mlflow deployments create -t databricks-cluster --name churn -m models:/churn@champion \\
        -C input_table=dbfs:/data/customers -C output_table=dbfs:/data/churn_scores \\
        -C cluster_id=0101-123456-abcdef
"""

import io
import json
import uuid
from typing import Any, Optional

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse

from mlflow_delta_plugin.deployment import config as config_module
from mlflow_delta_plugin.deployment import job_spec, workspace
from mlflow_delta_plugin.errors import DeploymentExistsError, DeploymentNotFoundError
from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["DatabricksClusterDeploymentClient", "run_local", "target_help"]

FLAVOR = "python_function"


def _check_flavor(flavor: Optional[str]) -> None:
    if flavor not in (None, FLAVOR):
        raise InvalidInputError(f"flavor '{flavor}' is not supported; the databricks-cluster "
                                f"target scores with the '{FLAVOR}' flavor")


def _profile(target_uri: str) -> Optional[str]:
    """``databricks-cluster://<profile>`` names a ~/.databrickscfg profile."""
    _, _, rest = target_uri.partition("://")
    return rest.strip("/") or None


class DatabricksClusterDeploymentClient(BaseDeploymentClient):
    """Deployments as Databricks jobs that score Delta tables on a cluster.

    Args:
        target_uri: ``databricks-cluster`` (credentials from ``DATABRICKS_HOST`` /
            ``DATABRICKS_TOKEN`` or the default profile) or ``databricks-cluster://<profile>``.
        workspace_client: a ``databricks.sdk.WorkspaceClient`` to use instead (tests).
    """

    def __init__(self, target_uri: str, workspace_client: Any = None) -> None:
        super().__init__(target_uri)
        self._client = workspace_client

    @property
    def _workspace(self) -> Any:
        if self._client is None:
            self._client = workspace.workspace_client(_profile(self.target_uri))
        return self._client

    def _find_job(self, name: str) -> Optional[Any]:
        jobs = workspace.call("list jobs", lambda: list(self._workspace.jobs.list(name=name)))
        for job in jobs:
            tags = (job.settings.tags if job.settings else None) or {}
            if tags.get(job_spec.TARGET_TAG) == job_spec.TARGET_NAME and \
                    job.settings.name == name:
                return workspace.call(f"get job {job.job_id}", self._workspace.jobs.get,
                                      job.job_id)
        return None

    def _deployment(self, name: str) -> tuple[job_spec.Deployment, Any]:
        job = self._find_job(name)
        if job is None:
            raise DeploymentNotFoundError(f"no databricks-cluster deployment named '{name}'; "
                                          "see `mlflow deployments list -t databricks-cluster`")
        return job_spec.deployment_from_job(job), job

    def _create_job(self, settings: Any) -> int:
        """Create the job; after a server error, first look for the job that call may have
        created (found by its revision tag) before trying again."""
        revision = settings.tags[job_spec.REVISION_TAG]
        fields = {key: getattr(settings, key) for key in ("name", "tasks", "job_clusters",
                                                          "schedule", "max_concurrent_runs",
                                                          "timeout_seconds", "description",
                                                          "tags")}
        for attempt in range(3):
            try:
                created = workspace.call(f"create job '{settings.name}'",
                                         self._workspace.jobs.create,
                                         retry_server_errors=False, **fields)
                return created.job_id
            except workspace.WorkspaceCallError:
                existing = self._find_job(settings.name)
                if existing is not None and (existing.settings.tags or {}).get(
                        job_spec.REVISION_TAG) == revision:
                    return existing.job_id
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _describe(self, deployment: job_spec.Deployment, run: Any = None) -> dict:
        description = {"name": deployment.name, "flavor": FLAVOR,
                       "model_uri": deployment.model_uri, "job_id": deployment.job_id,
                       "config": deployment.config.to_options()}
        if run is not None:
            description["run_page_url"] = run.run_page_url
        return description

    def create_deployment(self, name: str, model_uri: str, flavor: Optional[str] = None,
                          config: Optional[dict] = None, endpoint: Optional[str] = None) -> dict:
        """Create the job and run it once; return once that run has scored the table.

        Raises:
            InvalidInputError: bad ``-C`` options or flavor.
            DeploymentExistsError: a deployment with this name exists.
            DeploymentRunError: the first run failed (the job is deleted again).
        """
        _check_flavor(flavor)
        parsed = config_module.parse_config(config)
        if self._find_job(name) is not None:
            raise DeploymentExistsError(f"deployment '{name}' exists already; use "
                                        "`mlflow deployments update` or pick another name")
        code = workspace.stage_code(self._workspace, parsed.staging_dir)
        settings = job_spec.job_settings(name, model_uri, parsed, code)
        job_id = self._create_job(settings)
        try:
            run = workspace.run_and_wait(self._workspace, job_id, parsed.timeout_seconds,
                                         f"deployment '{name}' failed its first run")
        except BaseException:
            workspace.call(f"delete job {job_id}", self._workspace.jobs.delete, job_id)
            raise
        deployment = job_spec.Deployment(name, job_id, model_uri, parsed,
                                         settings.tags[job_spec.REVISION_TAG])
        return self._describe(deployment, run)

    def update_deployment(self, name: str, model_uri: Optional[str] = None,
                          flavor: Optional[str] = None, config: Optional[dict] = None,
                          endpoint: Optional[str] = None) -> dict:
        """Point the job at a new model and/or options and run it once with them.

        ``config`` holds only the options to change. When that run fails, the job's previous
        settings are restored and the error is raised.
        """
        _check_flavor(flavor)
        current, job = self._deployment(name)
        parsed = current.config.merged(config or {})
        new_uri = model_uri or current.model_uri
        code = workspace.stage_code(self._workspace, parsed.staging_dir)
        settings = job_spec.job_settings(name, new_uri, parsed, code)
        workspace.call(f"update job {job.job_id}", self._workspace.jobs.reset, job.job_id,
                       settings)
        try:
            run = workspace.run_and_wait(self._workspace, job.job_id, parsed.timeout_seconds,
                                         f"update of deployment '{name}' failed; previous "
                                         "settings restored")
        except BaseException:
            workspace.call(f"restore job {job.job_id}", self._workspace.jobs.reset, job.job_id,
                           job.settings)
            raise
        updated = job_spec.Deployment(name, job.job_id, new_uri, parsed,
                                      settings.tags[job_spec.REVISION_TAG])
        return self._describe(updated, run)

    def delete_deployment(self, name: str, config: Optional[dict] = None,
                          endpoint: Optional[str] = None) -> None:
        """Delete the deployment's job; deleting a missing deployment is not an error."""
        job = self._find_job(name)
        if job is not None:
            workspace.call(f"delete job {job.job_id}", self._workspace.jobs.delete, job.job_id)

    def list_deployments(self, endpoint: Optional[str] = None) -> list[dict]:
        """The deployments of this target (jobs tagged for it), as ``name``/``job_id``/model."""
        jobs = workspace.call("list jobs", lambda: list(self._workspace.jobs.list()))
        found = []
        for job in jobs:
            tags = (job.settings.tags if job.settings else None) or {}
            if tags.get(job_spec.TARGET_TAG) == job_spec.TARGET_NAME:
                found.append({"name": job.settings.name, "job_id": job.job_id,
                              "model_uri": tags.get(job_spec.MODEL_TAG, "")})
        return sorted(found, key=lambda item: item["name"])

    def get_deployment(self, name: str, endpoint: Optional[str] = None) -> dict:
        """The deployment's model, options, job and latest run."""
        deployment, _ = self._deployment(name)
        description = self._describe(deployment)
        runs = workspace.call(f"list runs of job {deployment.job_id}",
                              lambda: list(self._workspace.jobs.list_runs(
                                  job_id=deployment.job_id, limit=1)))
        if runs:
            latest = runs[0]
            state = latest.state
            description["latest_run"] = {
                "run_id": latest.run_id, "run_page_url": latest.run_page_url,
                "life_cycle_state": state.life_cycle_state.value
                if state and state.life_cycle_state else None,
                "result_state": state.result_state.value
                if state and state.result_state else None}
        return description

    def predict(self, deployment_name: Optional[str] = None, inputs: Any = None,
                endpoint: Optional[str] = None) -> PredictionsResponse:
        """Score ``inputs`` with the deployed model on the deployment's cluster.

        Submits a one-time run that scores the rows (uploaded as Parquet) with the job's model,
        code and cluster, waits for it and returns ``{"predictions": [...]}``.
        """
        import pandas as pd

        deployment, job = self._deployment(deployment_name)
        frame = inputs if isinstance(inputs, pd.DataFrame) else pd.DataFrame(inputs)
        folder = f"{deployment.config.staging_dir}/requests/{uuid.uuid4().hex}"
        request_input, request_output = f"{folder}/input.parquet", f"{folder}/predictions.parquet"
        workspace.upload(self._workspace, request_input, frame.to_parquet(index=False))
        try:
            task = job_spec.predict_task(deployment, job.settings.tasks[0], request_input,
                                         request_output)
            submitted = workspace.call(
                f"submit a predict run of '{deployment_name}'", self._workspace.jobs.submit,
                run_name=f"{deployment_name}-predict", tasks=[task],
                idempotency_token=uuid.uuid4().hex,
                timeout_seconds=deployment.config.timeout_seconds)
            workspace.wait_for_run(self._workspace, submitted.run_id,
                                   deployment.config.timeout_seconds,
                                   f"predict with deployment '{deployment_name}' failed")
            result = pd.read_parquet(io.BytesIO(workspace.download(self._workspace,
                                                                   request_output)))
        finally:
            workspace.remove(self._workspace, folder)
        column = deployment.config.scoring.prediction_column
        return PredictionsResponse({"predictions": json.loads(
            result[column].to_json(orient="values"))})


def run_local(name: str, model_uri: str, flavor: Optional[str] = None,
              config: Optional[dict] = None) -> None:
    """Run the deployment's scoring pass here: local Spark (``local[1]``) or pandas.

    Takes the same ``-C`` options as ``create`` (cluster options are ignored) and prints the
    scoring result as JSON.
    """
    _check_flavor(flavor)
    options = {key: str(value) for key, value in (config or {}).items()}
    unknown = sorted(set(options) - set(config_module.CONFIG_KEYS))
    if unknown:
        raise InvalidInputError(f"unknown -C option(s) {unknown}; known: "
                                f"{sorted(config_module.CONFIG_KEYS)}")
    spec = config_module.parse_scoring_spec(options, check_keys=False)
    import mlflow

    if options.get("tracking_uri"):
        mlflow.set_tracking_uri(options["tracking_uri"])
    if options.get("registry_uri"):
        mlflow.set_registry_uri(options["registry_uri"])
    from mlflow_delta_plugin.deployment.scorer import score_table

    spark, started_here = None, False
    if spec.engine == "spark":
        from pyspark.sql import SparkSession

        from mlflow_delta_plugin.deployment.job_main import local_spark_session

        started_here = SparkSession.getActiveSession() is None
        spark = local_spark_session()
    try:
        result = score_table(spark, model_uri, spec, deployment=name)
    finally:
        if started_here:
            spark.stop()
    print(json.dumps(result.to_dict(), sort_keys=True))


def target_help() -> str:
    """What the target does and its ``-C`` options."""
    options = "\n".join(f"  {key}: {text}" for key, text in config_module.CONFIG_KEYS.items())
    return (
        "databricks-cluster: batch scoring of Delta tables on Databricks clusters.\n\n"
        "A deployment is a Databricks job that reads a (pinned or latest) version of a Delta "
        "table, scores it with the model through mlflow.pyfunc.spark_udf and appends the rows "
        "with prediction, model_uri, model_version, input_version and scored_at to an output "
        "Delta table. `create` runs it once and returns when that run succeeded (a failed first "
        "run leaves no job); `update` changes the model or options and runs again; `predict` "
        "scores a DataFrame with the deployed model on the cluster; `run-local` runs the same "
        "scorer on this machine (local Spark or pandas).\n\n"
        "Target URI: databricks-cluster (credentials from DATABRICKS_HOST/DATABRICKS_TOKEN or "
        "~/.databrickscfg) or databricks-cluster://<profile>.\n\n"
        "Retries: each Databricks API call retries 429/503 answers, connection errors and "
        "(when safe) HTTP 500 for at most MLFLOW_DELTA_DATABRICKS_RETRY_SECONDS seconds "
        "(default 120), then fails with one line.\n\n"
        f"-C options (all key=value):\n{options}\n\n"
        "Example:\n  mlflow deployments create -t databricks-cluster --name churn "
        "-m models:/churn@champion -C input_table=dbfs:/data/customers "
        "-C output_table=dbfs:/data/churn_scores -C cluster_id=0101-123456-abcdef "
        "-C schedule='0 0 6 * * ?'"
    )
