"""The exception hierarchy of mlflow-delta-plugin, documented in one place.

Every error the library raises on purpose derives from :class:`DeltaPluginError`, which is an
``MlflowException`` so MLflow's own tooling (CLI, REST handlers) reports it cleanly. Entry points
turn any ``DeltaPluginError`` into one line on stderr and a non-zero exit.

- :class:`InvalidInputError`: a parameter or input the user gave is wrong (bad path, missing
  column, malformed JSON, unknown model type ...). Fix the input and run again.
- :class:`TableNotFoundError`: a path or URI that should hold a Delta table does not.
- :class:`VersionNotFoundError`: a Delta version or timestamp that the table does not have.
- :class:`TableChangedError`: a pinned dataset points at a table that was replaced (new table id).
- :class:`UnsupportedTableError`: a Delta table's log is corrupt, or its protocol needs reader or
  writer features this deltalake cannot handle. Nothing was read or written.
- :class:`WriteConflictError`: every attempt to commit conflicted with concurrent writers. Nothing
  was committed; run again.
- :class:`PromotionRejectedError`: the candidate failed a gate and ``fail_on_reject`` was set.
  The decision is recorded on the model version before this is raised; no alias moved.
- :class:`PromotionBusyError`: another promotion of the same model held the lease for longer
  than this one was willing to wait. Nothing moved; run again.
- :class:`ConcurrentPromotionError`: the aliases changed under a promotion in a way the lease
  should have prevented (a writer that does not take the lease). Aliases were restored.
- :class:`PromotionInterruptedError`: a registry write failed while a promotion moved aliases.
  They were put back (or the next promotion puts them back); run again.
- :class:`WindowConsumedError`: another ``monitor`` run consumed the window first. Nothing was
  appended; the next run monitors what is new.
- :class:`DeploymentNotFoundError`: no ``databricks-cluster`` deployment (job) has that name.
- :class:`DeploymentExistsError`: ``create`` was asked for a name that is already deployed.
- :class:`DeploymentRunError`: a deployment's job run failed; the message carries the run page
  URL and the cluster's error message.
- :class:`WorkspaceCallError`: a Databricks API call failed (after retries).
"""

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)

__all__ = [
    "ConcurrentPromotionError",
    "DeltaPluginError",
    "DeploymentExistsError",
    "DeploymentNotFoundError",
    "DeploymentRunError",
    "WorkspaceCallError",
    "InvalidInputError",
    "TableNotFoundError",
    "VersionNotFoundError",
    "TableChangedError",
    "UnsupportedTableError",
    "WriteConflictError",
    "WindowConsumedError",
    "PromotionBusyError",
    "PromotionInterruptedError",
    "PromotionRejectedError",
]


class DeltaPluginError(MlflowException):
    """Base class of every error raised on purpose by this package."""

    def __init__(self, message: str, error_code: int = INVALID_PARAMETER_VALUE) -> None:
        super().__init__(message, error_code=error_code)


class InvalidInputError(DeltaPluginError):
    """A user-supplied parameter or input file is invalid."""


class TableNotFoundError(DeltaPluginError):
    """The given location holds no Delta table."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=RESOURCE_DOES_NOT_EXIST)


class VersionNotFoundError(DeltaPluginError):
    """The requested Delta version or timestamp does not exist in the table's history."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=RESOURCE_DOES_NOT_EXIST)


class TableChangedError(DeltaPluginError):
    """A pinned dataset's table was dropped and re-created at the same location."""


class UnsupportedTableError(DeltaPluginError):
    """A Delta table cannot be used here: a corrupt log or protocol features deltalake lacks."""


class WriteConflictError(DeltaPluginError):
    """A commit kept conflicting with concurrent writers until the retries ran out."""


class WindowConsumedError(DeltaPluginError):
    """A concurrent ``monitor`` run consumed (part of) the same window first."""


class PromotionRejectedError(DeltaPluginError):
    """The candidate was rejected and the caller asked for that to be an error."""


class PromotionBusyError(DeltaPluginError):
    """Another promotion of the same registered model is in progress."""


class ConcurrentPromotionError(DeltaPluginError):
    """The registry changed under a promotion despite the lease."""


class PromotionInterruptedError(DeltaPluginError):
    """A registry write failed half-way through a promotion; nothing stays promoted."""


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
