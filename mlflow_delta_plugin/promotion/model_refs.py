"""Finding models: parsing model URIs, resolving registry versions, reading their training run.

Every lookup turns MLflow's "not found" into an :class:`InvalidInputError` naming the input, so
a typo in a model name, version or alias is one clear line rather than a traceback.
"""

import re
from dataclasses import dataclass
from typing import Optional

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException

from mlflow_delta_plugin.errors import InvalidInputError
from mlflow_delta_plugin.tracking.runs import RESOLVED_SUFFIX

__all__ = [
    "LATEST",
    "ModelRef",
    "find_model_version",
    "parse_model_uri",
    "require_registered_model",
    "resolve_model_uri",
    "training_params",
    "version_by_alias",
]

LATEST = "latest"
"""Candidate spec meaning the highest version number (stages are never consulted)."""

_RUN_URI = re.compile(r"^runs:/([0-9A-Za-z_-]+)/(.+)$")
_LOGGED_MODEL_URI = re.compile(r"^models:/(m-[0-9a-f]+)$")
_VERSION_URI = re.compile(r"^models:/([^/@]+)/([0-9]+)$")
_ALIAS_URI = re.compile(r"^models:/([^/@]+)@([A-Za-z0-9_-]+)$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_URI_FORMS = "runs:/<run_id>/<path>, models:/<name>/<version> or models:/<name>@<alias>"


@dataclass(frozen=True)
class ModelRef:
    """A model URI, checked and resolved.

    Attributes:
        uri: the URI as given.
        model_name: the registered model it names (None for ``runs:/`` and logged-model URIs).
        version: the registry version it resolves to (None outside the registry).
        run_id: the run that logged the model, when known.
    """

    uri: str
    model_name: Optional[str]
    version: Optional[str]
    run_id: Optional[str]


def _first_line(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())[:300]


def _not_found(exc: MlflowException) -> bool:
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def parse_model_uri(uri: str) -> tuple[str, str, str]:
    """Split ``uri`` into ``(kind, first, second)`` without touching the registry.

    ``kind`` is ``run`` (run id, artifact path), ``logged`` (model id, ``""``), ``version``
    (name, version) or ``alias`` (name, alias).

    Raises:
        InvalidInputError: none of the accepted forms.
    """
    text = (uri or "").strip()
    for kind, pattern in (("run", _RUN_URI), ("logged", _LOGGED_MODEL_URI),
                          ("version", _VERSION_URI), ("alias", _ALIAS_URI)):
        match = pattern.match(text)
        if match:
            groups = match.groups()
            return kind, groups[0], groups[1] if len(groups) > 1 else ""
    raise InvalidInputError(f"model_uri '{uri}' is malformed; use {_URI_FORMS}")


def require_registered_model(client: MlflowClient, name: str) -> RegisteredModel:
    """The registered model ``name``.

    Raises:
        InvalidInputError: empty name or no such registered model.
    """
    if not name or not name.strip():
        raise InvalidInputError("model_name is empty; pass the registered model's name")
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if _not_found(exc):
            raise InvalidInputError(
                f"registered model '{name}' does not exist; register one with train "
                "(registered_model=...) or check the name"
            ) from exc
        raise


def version_by_alias(client: MlflowClient, name: str, alias: str) -> Optional[ModelVersion]:
    """The version of ``name`` that holds ``alias``, or None when no version holds it."""
    aliases = client.get_registered_model(name).aliases or {}
    version = aliases.get(alias)
    return client.get_model_version(name, str(version)) if version is not None else None


def find_model_version(client: MlflowClient, name: str, spec: str) -> ModelVersion:
    """Resolve ``spec`` (a version number, an alias or ``latest``) to a version of ``name``.

    ``latest`` is the highest version number; stages are never used.

    Raises:
        InvalidInputError: no such model, version or alias.
    """
    require_registered_model(client, name)
    text = str(spec).strip()
    if not text:
        raise InvalidInputError("candidate is empty; pass a version number, an alias or 'latest'")
    if text.lower() == LATEST:
        versions = client.search_model_versions(f"name = '{name}'")
        if not versions:
            raise InvalidInputError(f"registered model '{name}' has no versions; train one first")
        return max(versions, key=lambda v: int(v.version))
    if text.isdigit():
        try:
            return client.get_model_version(name, str(int(text)))
        except MlflowException as exc:
            if _not_found(exc):
                raise InvalidInputError(
                    f"registered model '{name}' has no version {text}; pass an existing version "
                    "number, an alias or 'latest'"
                ) from exc
            raise
    if not _ALIAS.match(text):
        raise InvalidInputError(
            f"candidate '{spec}' is neither a version number, an alias nor 'latest'"
        )
    version = version_by_alias(client, name, text)
    if version is None:
        raise InvalidInputError(
            f"registered model '{name}' has no alias '{text}'; pass an existing alias, a version "
            "number or 'latest'"
        )
    return version


def resolve_model_uri(client: MlflowClient, uri: str) -> ModelRef:
    """Check that ``uri`` names an existing MLflow model and say where it comes from.

    Raises:
        InvalidInputError: malformed URI, unknown run / model / version / alias, or nothing
            loadable at the URI.
    """
    kind, first, second = parse_model_uri(uri)
    name = version = run_id = None
    if kind in ("version", "alias"):
        name = first
        found = find_model_version(client, first, second)
        version, run_id = str(found.version), found.run_id
    try:
        info = mlflow.models.get_model_info(uri.strip())
    except MlflowException as exc:
        raise InvalidInputError(f"model_uri '{uri}' does not load: {_first_line(exc)}") from exc
    except OSError as exc:
        raise InvalidInputError(
            f"model_uri '{uri}' holds no MLflow model: {_first_line(exc)}") from exc
    if kind == "run":
        run_id = first
    run_id = run_id or getattr(info, "run_id", None)
    return ModelRef(uri=uri.strip(), model_name=name, version=version, run_id=run_id)


def training_params(client: MlflowClient, run_id: Optional[str]) -> dict:
    """Params of the run that trained a model (``task``, ``label`` ...); ``{}`` if unknown.

    Under ``mlflow run`` a value the step resolved differently from what was given (``task=auto``
    that became ``classification``) sits in ``<key>_resolved`` (see
    :func:`mlflow_delta_plugin.tracking.runs.log_step_params`); that value wins.
    """
    if not run_id:
        return {}
    try:
        params = dict(client.get_run(run_id).data.params)
    except MlflowException:
        return {}
    resolved = {key[: -len(RESOLVED_SUFFIX)]: value for key, value in params.items()
                if key.endswith(RESOLVED_SUFFIX)}
    return {**params, **resolved}
