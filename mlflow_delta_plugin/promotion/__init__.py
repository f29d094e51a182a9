"""Champion/challenger promotion with registry aliases (never stages), and its audit trail.

- :mod:`~mlflow_delta_plugin.promotion.decision`: the gates, pure functions.
- :mod:`~mlflow_delta_plugin.promotion.model_refs`: model URIs and registry versions.
- :mod:`~mlflow_delta_plugin.promotion.evaluation_data`: the data both models are judged on.
- :mod:`~mlflow_delta_plugin.promotion.scoring`: scoring a model on that data.
- :mod:`~mlflow_delta_plugin.promotion.lease`: one promotion per model at a time.
- :mod:`~mlflow_delta_plugin.promotion.aliases`: moving ``champion`` / ``challenger``.
- :mod:`~mlflow_delta_plugin.promotion.record`: the decision record on the model version.
"""

from mlflow_delta_plugin.errors import (
    ConcurrentPromotionError,
    PromotionBusyError,
    PromotionRejectedError,
)
from mlflow_delta_plugin.promotion.aliases import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    AliasState,
    move_champion,
    read_aliases,
)
from mlflow_delta_plugin.promotion.decision import PROMOTED, REJECTED, Decision, Gates, decide
from mlflow_delta_plugin.promotion.lease import PromotionLease
from mlflow_delta_plugin.promotion.record import PromotionRecord, write_record

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "PROMOTED",
    "REJECTED",
    "AliasState",
    "ConcurrentPromotionError",
    "Decision",
    "Gates",
    "PromotionBusyError",
    "PromotionLease",
    "PromotionRecord",
    "PromotionRejectedError",
    "decide",
    "move_champion",
    "read_aliases",
    "write_record",
]
