"""Routing helpers: parse and check a request against its SDK shape, answer with a checked body."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterable, Mapping, Optional, Union

from flask import Flask, Response, jsonify, request

from .errors import malformed
from .shapes import Field, check_body, check_response, method_fields

__all__ = ["api_paths", "endpoint", "json_body", "request_fields"]

RequestShape = Union[Callable, Mapping[str, Field], None]


def api_paths(name: str, versions: Iterable[str] = ("2.0",)) -> list[str]:
    """``/api/<v>/<name>`` for each version, e.g. ``api_paths("jobs/get", ("2.1", "2.2"))``."""
    return [f"/api/{v}/{name}" for v in versions]


def json_body() -> Any:
    """The request's JSON body ({} when empty).

    Raises:
        ApiError: MALFORMED_REQUEST when the body is not JSON.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise malformed("Invalid JSON given in the body of the request - "
                        "failed to parse given JSON") from None


def _query_fields() -> dict:
    """The query string as fields: ``a.b=1`` nests, a repeated key becomes a list."""
    fields: dict = {}
    for key in request.args:
        values = request.args.getlist(key)
        target = fields
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = values if len(values) > 1 else values[0]
    return fields


def request_fields(shape: Mapping[str, Field]) -> dict:
    """The request's fields checked against ``shape``.

    GET/HEAD/DELETE read the query string and, like the service, a JSON body too (MLflow sends
    ``GET /api/2.0/dbfs/get-status`` with a JSON body). POST/PUT/PATCH read the JSON body.
    """
    if request.method in ("GET", "HEAD", "DELETE"):
        fields = _query_fields()
        body = json_body()
        if isinstance(body, dict):
            fields.update(body)
        return check_body(fields, shape, query=True)
    return check_body(json_body(), shape)


def endpoint(app: Flask, methods: list[str], paths: Iterable[str], *,
             request_shape: RequestShape, response: Optional[type] = None) -> Callable:
    """Register the decorated ``fn(fields, **path_args)`` for ``methods`` on ``paths``.

    ``request_shape`` is an SDK API method (its parameters are the fields), a field mapping, or
    None to leave the request to ``fn``. A dict returned by ``fn`` is checked against the SDK
    dataclass ``response`` and sent as JSON; a ``Response`` is sent as it is.
    """
    if callable(request_shape):
        shape: Optional[Mapping[str, Field]] = method_fields(request_shape)
    else:
        shape = request_shape

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**path_args: Any) -> Response:
            fields = request_fields(shape) if shape is not None else {}
            result = fn(fields, **path_args)
            if isinstance(result, Response):
                return result
            if response is not None:
                check_response(result, response)
            return jsonify(result)

        for path in paths:
            app.add_url_rule(path, endpoint=f"{fn.__module__}.{fn.__name__}:{path}",
                             view_func=view, methods=methods)
        return fn

    return decorate
