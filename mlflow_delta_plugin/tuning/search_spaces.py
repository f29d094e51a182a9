"""Search spaces: tuner-neutral distributions, the default space of each model type, JSON parsing.

A search space maps an estimator keyword argument to a distribution (or to a fixed value).
Tuners translate these distributions into their own (hyperopt ``hp.*``, Optuna ``suggest_*``).

The JSON form, used by the ``search_space`` parameter of ``tune``::

    {"learning_rate": {"loguniform": [0.01, 0.3]},
     "max_iter": {"int": [50, 300, 25]},          # low, high, optional step
     "l2_regularization": {"uniform": [0.0, 1.0]},
     "max_leaf_nodes": {"choice": [15, 31, null]},
     "early_stopping": false}                     # any other value: fixed

Example:
    >>> space = parse_search_space('{"C": {"loguniform": [0.01, 10]}, "max_iter": 500}')
    >>> space["C"], space["max_iter"]
    (LogUniform(low=0.01, high=10.0), Fixed(value=500))
"""

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Union

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.models.catalog import CLASSIFICATION, MODEL_TYPES, REGRESSION

__all__ = [
    "Choice",
    "Distribution",
    "Fixed",
    "IntUniform",
    "LogUniform",
    "SearchSpace",
    "Uniform",
    "default_search_space",
    "parse_search_space",
    "search_space_to_json",
]


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class LogUniform:
    """A float whose logarithm is uniform on [log(low), log(high)]; 0 < low < high."""

    low: float
    high: float


@dataclass(frozen=True)
class IntUniform:
    """An integer from ``low, low + step, ...`` up to ``high``, each equally likely."""

    low: int
    high: int
    step: int = 1


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (any JSON values)."""

    options: tuple


@dataclass(frozen=True)
class Fixed:
    """A value that is not searched."""

    value: Any


Distribution = Union[Uniform, LogUniform, IntUniform, Choice, Fixed]
SearchSpace = Mapping[str, Distribution]
"""Estimator keyword argument -> distribution (or fixed value)."""

_EXAMPLE = '{"learning_rate": {"loguniform": [0.01, 0.3]}, "max_iter": {"int": [50, 300]}}'

_GRADIENT_BOOSTING = {
    "learning_rate": LogUniform(0.01, 0.3),
    "max_iter": IntUniform(50, 300, 25),
    "max_leaf_nodes": IntUniform(8, 64),
    "min_samples_leaf": IntUniform(5, 50),
    "l2_regularization": LogUniform(1e-6, 1.0),
}
_RANDOM_FOREST = {
    "n_estimators": IntUniform(50, 300, 25),
    "max_depth": Choice((None, 4, 8, 16)),
    "min_samples_leaf": IntUniform(1, 10),
    "max_features": Choice(("sqrt", 0.5, 1.0)),
}
_TORCH_MLP = {
    "hidden_layer_sizes": Choice(((32,), (64, 32), (128, 64))),
    "learning_rate": LogUniform(1e-4, 1e-2),
    "weight_decay": LogUniform(1e-6, 1e-2),
    "dropout": Uniform(0.0, 0.3),
    "max_epochs": IntUniform(20, 80, 10),
}
_DEFAULT_SPACES: dict[str, dict[str, dict[str, Distribution]]] = {
    "linear": {
        CLASSIFICATION: {"C": LogUniform(1e-3, 1e2)},   # LogisticRegression
        REGRESSION: {"alpha": LogUniform(1e-3, 1e2)},   # Ridge
    },
    "random_forest": {CLASSIFICATION: _RANDOM_FOREST, REGRESSION: _RANDOM_FOREST},
    "gradient_boosting": {CLASSIFICATION: _GRADIENT_BOOSTING, REGRESSION: _GRADIENT_BOOSTING},
    "torch_mlp": {CLASSIFICATION: _TORCH_MLP, REGRESSION: _TORCH_MLP},
}


def default_search_space(model_type: str, task: str) -> dict[str, Distribution]:
    """The search space ``tune`` uses for ``model_type`` and ``task`` when none is given.

    Raises:
        InvalidInputError: unknown model type.
    """
    if model_type not in _DEFAULT_SPACES or model_type not in MODEL_TYPES:
        raise InvalidInputError(
            f"model_type '{model_type}' is unknown; choose one of {sorted(MODEL_TYPES)}"
        )
    return dict(_DEFAULT_SPACES[model_type][task])


def _bad(name: str, problem: str) -> InvalidInputError:
    return InvalidInputError(f"search_space entry '{name}' {problem}; example: {_EXAMPLE}")


def _numbers(name: str, kind: str, args: Any, count: tuple, integral: bool = False) -> list:
    if not isinstance(args, list) or len(args) not in count:
        raise _bad(name, f"needs {' or '.join(map(str, count))} numbers for '{kind}', got {args!r}")
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)
               for a in args):
        raise _bad(name, f"needs finite numbers for '{kind}', got {args!r}")
    if integral and not all(float(a).is_integer() for a in args):
        raise _bad(name, f"needs whole numbers for '{kind}', got {args!r}")
    if not args[0] < args[1]:
        raise _bad(name, f"needs low < high for '{kind}', got {args!r}")
    return args


def _from_json(value: Any) -> Any:
    """JSON lists become tuples: hashable, and what sequence hyperparameters accept."""
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _distribution(name: str, value: Any) -> Distribution:
    if not isinstance(value, dict):
        return Fixed(_from_json(value))
    if len(value) != 1:
        raise _bad(name, f"must have exactly one of uniform, loguniform, int, choice or fixed, "
                         f"got {sorted(value)}")
    [(kind, args)] = value.items()
    if kind == "fixed":
        return Fixed(_from_json(args))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise _bad(name, f"needs a non-empty list for 'choice', got {args!r}")
        return Choice(tuple(_from_json(a) for a in args))
    if kind == "uniform":
        low, high = _numbers(name, kind, args, (2,))
        return Uniform(float(low), float(high))
    if kind == "loguniform":
        low, high = _numbers(name, kind, args, (2,))
        if low <= 0:
            raise _bad(name, f"needs 0 < low for 'loguniform', got {args!r}")
        return LogUniform(float(low), float(high))
    if kind == "int":
        bounds = _numbers(name, kind, args, (2, 3), integral=True)
        step = int(bounds[2]) if len(bounds) == 3 else 1
        if step < 1:
            raise _bad(name, f"needs a step >= 1 for 'int', got {args!r}")
        return IntUniform(int(bounds[0]), int(bounds[1]), step)
    raise _bad(name, f"has unknown kind '{kind}'; use uniform, loguniform, int, choice or fixed")


def parse_search_space(spec: Union[str, Mapping[str, Any]]) -> dict[str, Distribution]:
    """Parse a search space from its JSON text (or the already-decoded object).

    Raises:
        InvalidInputError: malformed JSON, not an object, a malformed entry, or nothing to search.
    """
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"search_space is not valid JSON ({exc.msg} at char {exc.pos}); "
                f"pass an object like {_EXAMPLE}"
            ) from exc
    if not isinstance(spec, Mapping):
        raise InvalidInputError(f"search_space must be a JSON object like {_EXAMPLE}, got {spec!r}")
    space = {str(name): _distribution(str(name), value) for name, value in spec.items()}
    if all(isinstance(d, Fixed) for d in space.values()):
        raise InvalidInputError(
            f"search_space has nothing to search (only fixed values); give at least one "
            f"distribution, e.g. {_EXAMPLE}"
        )
    return space


def _to_json_value(value: Any) -> Any:
    return [_to_json_value(v) for v in value] if isinstance(value, tuple) else value


def search_space_to_json(space: SearchSpace) -> str:
    """The JSON form of ``space`` (round-trips through :func:`parse_search_space`)."""
    encoded: dict[str, Any] = {}
    for name, dist in space.items():
        if isinstance(dist, Fixed):
            encoded[name] = {"fixed": _to_json_value(dist.value)}
        elif isinstance(dist, Choice):
            encoded[name] = {"choice": [_to_json_value(o) for o in dist.options]}
        elif isinstance(dist, IntUniform):
            encoded[name] = {"int": [dist.low, dist.high, dist.step]}
        else:
            encoded[name] = {type(dist).__name__.lower(): [dist.low, dist.high]}
    return json.dumps(encoded, sort_keys=True)
