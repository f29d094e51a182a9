"""Errors of the ``databricks-cluster`` deployment target.

All derive from :class:`mlflow_delta_plugin.errors.DeltaPluginError` (an ``MlflowException``),
so the MLflow CLI prints them as one clean line.

- :class:`DeploymentNotFoundError`: no deployment (job) of this target has that name.
- :class:`DeploymentExistsError`: ``create`` was asked for a name that is already deployed.
- :class:`DeploymentRunError`: a job run failed; the message carries the run page URL and the
  cluster's error message.
- :class:`WorkspaceCallError`: a Databricks API call failed (after the SDK's retries).
"""

from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST

from mlflow_delta_plugin.errors import DeltaPluginError

__all__ = ["DeploymentExistsError", "DeploymentNotFoundError", "DeploymentRunError",
           "WorkspaceCallError"]


class DeploymentNotFoundError(DeltaPluginError):
    """No deployment of the ``databricks-cluster`` target has this name."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=RESOURCE_DOES_NOT_EXIST)


class DeploymentExistsError(DeltaPluginError):
    """A deployment with this name exists already."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=RESOURCE_ALREADY_EXISTS)


class DeploymentRunError(DeltaPluginError):
    """A job run of a deployment did not succeed.

    Attributes:
        run_page_url: the run's page in the workspace, or None when unknown.
    """

    def __init__(self, message: str, run_page_url: "str | None" = None) -> None:
        super().__init__(message)
        self.run_page_url = run_page_url


class WorkspaceCallError(DeltaPluginError):
    """A Databricks REST call failed for good."""
