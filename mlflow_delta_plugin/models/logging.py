"""Logging a trained pipeline as an MLflow model: signature, input example, explicit requirements."""

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Sequence

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from mlflow_delta_plugin.models.catalog import MODEL_TYPES

__all__ = ["log_pipeline", "pinned_requirements", "pip_requirements"]

_BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle", "scipy")
_EXAMPLE_ROWS = 5
_SIGNATURE_ROWS = 200


def _pinned(package: str) -> str:
    try:
        return f"{package}=={version(package)}"
    except PackageNotFoundError:
        return package


def pinned_requirements(packages: Sequence[str]) -> list:
    """``package==<installed version>`` for each of ``packages`` (the bare name if absent)."""
    return [_pinned(p) for p in packages]


def pip_requirements(model_type: str) -> list:
    """Explicit pip requirements of a model of ``model_type`` (inference picks up strays)."""
    packages = list(_BASE_REQUIREMENTS)
    if MODEL_TYPES[model_type].uses_torch:
        packages.append("torch")
    return pinned_requirements(packages)


def log_pipeline(pipeline: Any, model_type: str, sample: pd.DataFrame, name: str = "model") -> ModelInfo:
    """Log a fitted pipeline to the active run with signature and input example.

    Pipelines are stored with cloudpickle (MLflow's choice on Databricks too): skops refuses
    untrusted estimator classes such as the torch MLP. Models that need this package's own
    classes at load time carry it as ``code_paths``.
    """
    head = sample.head(_SIGNATURE_ROWS)
    signature = infer_signature(head, pipeline.predict(head))
    code_paths = None
    if MODEL_TYPES[model_type].uses_torch:
        code_paths = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    return mlflow.sklearn.log_model(
        pipeline,
        name=name,
        signature=signature,
        input_example=sample.head(_EXAMPLE_ROWS),
        pip_requirements=pip_requirements(model_type),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        code_paths=code_paths,
    )
