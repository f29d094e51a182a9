"""Bearer-token authentication, answered like the service.

* No ``Authorization`` header (or not ``Bearer``): 401 UNAUTHENTICATED.
* A wrong token: 403 with the numeric ``error_code`` 403 and "Invalid access token.", exactly
  what the service sends (``X-Databricks-Reason-Phrase`` included).

Public paths need no token: ``/.well-known/databricks-config`` (the SDK probes it before it
authenticates) and ``/__signed/...`` (presigned URLs carry their own signature).
"""

from __future__ import annotations

import hmac
from typing import Optional

from flask import Response, jsonify

__all__ = ["PUBLIC_PREFIXES", "check_bearer"]

PUBLIC_PREFIXES = ("/.well-known/databricks-config", "/__signed/")


def check_bearer(authorization: Optional[str], token: str) -> Optional[Response]:
    """None when ``authorization`` carries ``token``, else the 401/403 response to send."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        response = jsonify({"error_code": "UNAUTHENTICATED",
                            "message": "Credential was not sent or was of an unsupported type "
                                       "for this API."})
        response.status_code = 401
        return response
    if not hmac.compare_digest(presented.strip().encode(), token.encode()):
        response = jsonify({"error_code": 403, "message": "Invalid access token."})
        response.status_code = 403
        response.headers["X-Databricks-Reason-Phrase"] = "Invalid access token."
        return response
    return None
