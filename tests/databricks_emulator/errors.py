"""Errors the emulator answers with, in the Databricks REST error format.

Every failed call answers ``{"error_code": "...", "message": "..."}`` with the HTTP status the
service uses for that code; databricks-sdk and MLflow map both back to their exception types.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "already_exists",
    "invalid_parameter",
    "invalid_state",
    "malformed",
    "not_found",
    "not_implemented",
]


class ApiError(Exception):
    """A REST error: HTTP ``status``, Databricks ``error_code`` and a human ``message``."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict:
        """The JSON body of the error response."""
        return {"error_code": self.error_code, "message": self.message}


def invalid_parameter(message: str) -> ApiError:
    """400 INVALID_PARAMETER_VALUE: a field is missing, unknown or has a bad value."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed(message: str) -> ApiError:
    """400 MALFORMED_REQUEST: the body is not JSON or a value has the wrong JSON type."""
    return ApiError(400, "MALFORMED_REQUEST", message)


def not_found(message: str, error_code: str = "RESOURCE_DOES_NOT_EXIST") -> ApiError:
    """404 with ``error_code`` (RESOURCE_DOES_NOT_EXIST unless told)."""
    return ApiError(404, error_code, message)


def already_exists(message: str) -> ApiError:
    """409 RESOURCE_ALREADY_EXISTS."""
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", message)


def invalid_state(message: str) -> ApiError:
    """400 INVALID_STATE: the object exists but cannot do that now."""
    return ApiError(400, "INVALID_STATE", message)


def not_implemented(message: str) -> ApiError:
    """501 NOT_IMPLEMENTED: valid for the service, but beyond what the emulator does."""
    return ApiError(501, "NOT_IMPLEMENTED", message)
