"""Request and response shapes, taken from databricks-sdk rather than written by hand.

The reference for a request is the SDK method that sends it: its keyword parameters are the
body (POST) or query (GET) fields, their type hints the field types, and a parameter without a
default is required. Nested objects are the SDK's service dataclasses (``SubmitTask``,
``compute.ClusterSpec``, ...): a dataclass field without a default is required. A response is
checked against the dataclass the SDK parses it into (``Run``, ``ClusterDetails``, ...), so the
emulator cannot drift from what a client can read.

What the service accepts but the SDK does not model is declared in ``EXTENSIONS`` (MLflow's
``shell_command_task``, the Jobs 2.0 single-task fields), in one place.

Errors mirror the service: a value of the wrong JSON type is ``MALFORMED_REQUEST`` ("Could not
parse request object: Expected ... for field ..."); an unknown field, a missing required field
or an enum value outside the enum is ``INVALID_PARAMETER_VALUE``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .errors import ApiError, invalid_parameter, malformed

__all__ = [
    "EXTENSIONS",
    "Field",
    "ShapeError",
    "ShellCommandTask",
    "check_body",
    "check_response",
    "dataclass_fields",
    "method_fields",
]


@dataclass
class ShellCommandTask:
    """MLflow's ``shell_command_task`` (``mlflow/projects/databricks.py``), unknown to the SDK."""

    command: typing.List[str]
    env_vars: Optional[typing.Dict[str, str]] = None


@dataclass(frozen=True)
class Field:
    """One field of a shape: its JSON name, resolved type hint and whether it must be present."""

    name: str
    hint: Any
    required: bool


class ShapeError(AssertionError):
    """The emulator built a response the SDK dataclass does not describe (an emulator bug)."""


def _extension_fields() -> dict[type, dict[str, Field]]:
    from databricks.sdk.service import jobs

    shell = Field("shell_command_task", Optional[ShellCommandTask], False)
    return {jobs.SubmitTask: {"shell_command_task": shell},
            jobs.Task: {"shell_command_task": shell},
            jobs.RunTask: {"shell_command_task": shell}}


#: Fields the service accepts beyond the SDK dataclasses, by dataclass.
EXTENSIONS: dict[type, dict[str, Field]] = {}


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


@functools.lru_cache(maxsize=None)
def dataclass_fields(cls: type) -> Mapping[str, Field]:
    """The fields of an SDK dataclass (plus ``EXTENSIONS``), by JSON name."""
    if not EXTENSIONS:
        EXTENSIONS.update(_extension_fields())
    hints = typing.get_type_hints(cls)
    fields: dict[str, Field] = {}
    for f in dataclasses.fields(cls):
        hint, optional = _strip_optional(hints[f.name])
        has_default = (f.default is not dataclasses.MISSING
                       or f.default_factory is not dataclasses.MISSING)  # type: ignore[misc]
        fields[f.name] = Field(f.name, hint, required=not (optional or has_default))
    fields.update(EXTENSIONS.get(cls, {}))
    return fields


@functools.lru_cache(maxsize=None)
def method_fields(method: Callable) -> Mapping[str, Field]:
    """The request fields of an SDK API method: its parameters other than ``self``."""
    hints = typing.get_type_hints(method)
    fields: dict[str, Field] = {}
    for name, param in inspect.signature(method).parameters.items():
        if name == "self":
            continue
        hint, optional = _strip_optional(hints.get(name, Any))
        fields[name] = Field(name, hint, required=param.default is inspect.Parameter.empty
                             and not optional)
    return fields


_JSON_TYPE_NAMES = {dict: "OBJECT", list: "ARRAY", str: "STRING", bool: "BOOLEAN",
                    int: "NUMBER", float: "NUMBER", type(None): "NULL"}


class _Checker:
    """Walks a JSON value against a type hint; ``query`` coerces query-string scalars."""

    def __init__(self, *, query: bool, response: bool) -> None:
        self.query = query
        self.response = response

    def fail_type(self, expected: str, value: Any, path: str) -> ApiError:
        found = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
        message = f"Expected {expected} for field '{path}', found {found}"
        if self.response:
            raise ShapeError(message)
        return malformed(f"Could not parse request object: {message}")

    def fail_value(self, message: str) -> ApiError:
        if self.response:
            raise ShapeError(message)
        return invalid_parameter(message)

    def check(self, value: Any, hint: Any, path: str) -> Any:
        hint, _ = _strip_optional(hint)
        origin = typing.get_origin(hint)
        if hint is Any or hint is typing.BinaryIO or value is None:
            return value
        if origin in (list, typing.List):
            if self.query and isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise self.fail_type("array", value, path)
            (item,) = typing.get_args(hint) or (Any,)
            return [self.check(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        if origin in (dict, typing.Dict):
            if not isinstance(value, dict):
                raise self.fail_type("object", value, path)
            _, item = typing.get_args(hint) or (str, Any)
            return {k: self.check(v, item, f"{path}.{k}") for k, v in value.items()}
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise self.fail_type("object", value, path)
            return self.check_object(value, dataclass_fields(hint), path)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            allowed = [e.value for e in hint]
            if value not in allowed:
                raise self.fail_value(f"Invalid value '{value}' for field '{path}'; "
                                      f"expected one of {allowed}")
            return value
        if hint is bool:
            if self.query and isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise self.fail_type("boolean", value, path)
            return value
        if hint is int:
            if isinstance(value, str) and (self.query or not self.response):
                try:  # proto3 JSON carries int64 as a string too
                    return int(value)
                except ValueError:
                    raise self.fail_type("integer", value, path) from None
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail_type("integer", value, path)
            return value
        if hint is float:
            if isinstance(value, str) and self.query:
                try:
                    return float(value)
                except ValueError:
                    raise self.fail_type("number", value, path) from None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail_type("number", value, path)
            return value
        if hint is str:
            if not isinstance(value, str):
                raise self.fail_type("string", value, path)
            return value
        return value  # a hint this checker does not model (e.g. a forward-declared alias)

    def check_object(self, obj: dict, fields: Mapping[str, Field], path: str) -> dict:
        prefix = f"{path}." if path else ""
        unknown = sorted(set(obj) - set(fields))
        if unknown:
            raise self.fail_value(f"Unknown field '{prefix}{unknown[0]}'")
        for field in fields.values():
            if field.required and obj.get(field.name) is None:
                raise self.fail_value(f"Missing required field: {prefix}{field.name}")
        return {k: self.check(v, fields[k].hint, f"{prefix}{k}") for k, v in obj.items()}


def check_body(body: Any, fields: Mapping[str, Field], *, query: bool = False) -> dict:
    """Validate a request body (or query) against ``fields``; returns it with coerced scalars.

    Raises:
        ApiError: MALFORMED_REQUEST or INVALID_PARAMETER_VALUE, as the service answers.
    """
    if not isinstance(body, dict):
        raise malformed("Could not parse request object: Expected object, found "
                        f"{_JSON_TYPE_NAMES.get(type(body), type(body).__name__)}")
    return _Checker(query=query, response=False).check_object(body, fields, "")


def check_response(obj: dict, cls: type) -> dict:
    """Assert that a response ``obj`` is an instance of SDK dataclass ``cls``; returns ``obj``.

    Raises:
        ShapeError: the emulator built an off-shape response.
    """
    _Checker(query=False, response=True).check_object(obj, dataclass_fields(cls), cls.__name__)
    return obj
