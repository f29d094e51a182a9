"""Errors of promotion, all :class:`~mlflow_delta_plugin.errors.DeltaPluginError` subclasses.

- :class:`PromotionRejectedError`: the candidate failed a gate and ``fail_on_reject`` was set.
  The decision is recorded on the model version before this is raised; no alias moved.
- :class:`PromotionBusyError`: another promotion of the same model held the lease for longer
  than this one was willing to wait. Nothing moved; run again.
- :class:`ConcurrentPromotionError`: the aliases changed under a promotion in a way the lease
  should have prevented (a writer that does not take the lease). Aliases were restored.
"""

from mlflow_delta_plugin.errors import DeltaPluginError

__all__ = ["ConcurrentPromotionError", "PromotionBusyError", "PromotionRejectedError"]


class PromotionRejectedError(DeltaPluginError):
    """The candidate was rejected and the caller asked for that to be an error."""


class PromotionBusyError(DeltaPluginError):
    """Another promotion of the same registered model is in progress."""


class ConcurrentPromotionError(DeltaPluginError):
    """The registry changed under a promotion despite the lease."""
