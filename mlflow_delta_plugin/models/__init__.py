"""Model builders: scikit-learn pipelines around scikit-learn or PyTorch estimators."""

from mlflow_delta_plugin.models.catalog import (
    CLASSIFICATION,
    MODEL_TYPES,
    REGRESSION,
    ModelType,
    build_model,
)

__all__ = ["CLASSIFICATION", "MODEL_TYPES", "REGRESSION", "ModelType", "build_model"]
