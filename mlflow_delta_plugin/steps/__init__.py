"""The lifecycle steps behind the MLproject entry points; each runs inside an active MLflow run."""

from mlflow_delta_plugin.steps.prepare import PrepareResult, prepare
from mlflow_delta_plugin.steps.train import TrainResult, train

__all__ = ["PrepareResult", "TrainResult", "prepare", "train"]
