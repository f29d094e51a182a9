"""Monitoring scored tables against the exact data their model was trained on.

``monitor`` (:func:`~mlflow_delta_plugin.monitoring.step.monitor`) reads the versions of a
scored table no monitor run has consumed yet, compares each model version's rows with its
training data (found through lineage), measures quality when labels exist, records everything
in an MLflow run and a Delta metrics table, and decides ``retrain`` yes/no from the user's rules.

Modules, one concern each: ``rules`` (parameters), ``window`` (what is new), ``reference``
(lineage), ``sketches`` (bounded summaries), ``statistics`` (scipy tests and distances),
``labels`` (labels and quality), ``decision`` (alarm and retrain), ``metrics_table`` (the Delta
table), ``plots`` (PNGs), ``step`` (``monitor`` itself).
"""

from mlflow_delta_plugin.monitoring.decision import RetrainDecision, decide_retrain, judge_window
from mlflow_delta_plugin.monitoring.metrics_table import SCHEMA, read_history
from mlflow_delta_plugin.monitoring.step import DEFAULT_METRICS_TABLE, MonitorResult, monitor
from mlflow_delta_plugin.monitoring.rules import MonitorRules, parse_rules

__all__ = [
    "DEFAULT_METRICS_TABLE",
    "MonitorResult",
    "MonitorRules",
    "RetrainDecision",
    "SCHEMA",
    "decide_retrain",
    "judge_window",
    "monitor",
    "parse_rules",
    "read_history",
]
