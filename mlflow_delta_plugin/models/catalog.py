"""The model types ``train`` and ``tune`` can build, and how each is built.

A model is a scikit-learn ``Pipeline``: preprocessing (impute, scale numbers, one-hot encode
strings) followed by the estimator of the chosen ``model_type``. Hyperparameters are the
estimator's own keyword arguments; unknown names are rejected before any training.
"""

from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlflow_delta_plugin.errors import InvalidInputError

__all__ = ["CLASSIFICATION", "MODEL_TYPES", "REGRESSION", "ModelType", "build_model"]

CLASSIFICATION = "classification"
REGRESSION = "regression"


def _torch_regressor(**kwargs: Any):
    from mlflow_delta_plugin.models.torch_mlp import TorchMLPRegressor

    return TorchMLPRegressor(**kwargs)


def _torch_classifier(**kwargs: Any):
    from mlflow_delta_plugin.models.torch_mlp import TorchMLPClassifier

    return TorchMLPClassifier(**kwargs)


@dataclass(frozen=True)
class ModelType:
    """One ``model_type``: its estimators per task and whether inputs need scaling.

    Attributes:
        name: the ``model_type`` parameter value.
        regressor: factory of the regression estimator.
        classifier: factory of the classification estimator.
        scale: standardize numeric features first (linear models, neural networks).
        uses_torch: the estimator needs PyTorch at load time.
        defaults: hyperparameters that differ from the estimator's own defaults.
    """

    name: str
    regressor: Callable[..., Any]
    classifier: Callable[..., Any]
    scale: bool
    uses_torch: bool = False
    defaults: Optional[dict] = None

    def estimator(self, task: str, hyperparams: dict) -> Any:
        """A new estimator for ``task`` with ``hyperparams`` applied (validated)."""
        factory = self.classifier if task == CLASSIFICATION else self.regressor
        estimator = factory(**(self.defaults or {}))
        valid = estimator.get_params(deep=False)
        unknown = sorted(set(hyperparams) - set(valid))
        if unknown:
            raise InvalidInputError(
                f"hyperparameters {unknown} are not valid for model_type '{self.name}' "
                f"({task}); valid names: {sorted(valid)}"
            )
        try:
            return estimator.set_params(**hyperparams)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"hyperparameters for '{self.name}' rejected: {exc}") from exc


MODEL_TYPES: dict[str, ModelType] = {
    spec.name: spec
    for spec in (
        ModelType("linear", Ridge, LogisticRegression, scale=True, defaults={"max_iter": 1000}),
        ModelType("random_forest", RandomForestRegressor, RandomForestClassifier, scale=False,
                  defaults={"n_estimators": 100}),
        ModelType("gradient_boosting", HistGradientBoostingRegressor,
                  HistGradientBoostingClassifier, scale=False),
        ModelType("torch_mlp", _torch_regressor, _torch_classifier, scale=True,
                  uses_torch=True),
    )
}


def _preprocessor(numeric: Sequence[str], categorical: Sequence[str], scale: bool) -> ColumnTransformer:
    numeric_steps = [SimpleImputer(strategy="median")] + ([StandardScaler()] if scale else [])
    transformers = []
    if numeric:
        transformers.append(("numeric", make_pipeline(*numeric_steps), list(numeric)))
    if categorical:
        transformers.append(("categorical", make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        ), list(categorical)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def build_model(
    model_type: str,
    task: str,
    numeric_features: Sequence[str],
    categorical_features: Sequence[str],
    hyperparams: Optional[dict] = None,
    seed: Optional[int] = None,
) -> Pipeline:
    """A preprocessing + estimator pipeline for ``model_type`` and ``task``.

    ``seed`` sets the estimator's ``random_state`` unless ``hyperparams`` sets it.

    Raises:
        InvalidInputError: unknown model type or hyperparameter.
    """
    if model_type not in MODEL_TYPES:
        raise InvalidInputError(
            f"model_type '{model_type}' is unknown; choose one of {sorted(MODEL_TYPES)}"
        )
    spec = MODEL_TYPES[model_type]
    params = dict(hyperparams or {})
    estimator = spec.estimator(task, params)
    if seed is not None and "random_state" in estimator.get_params() and "random_state" not in params:
        estimator.set_params(random_state=seed)
    return Pipeline([
        ("preprocess", _preprocessor(numeric_features, categorical_features, spec.scale)),
        ("model", estimator),
    ])
