"""Who and where: ``/.well-known/databricks-config`` (host metadata the SDK probes) and
``/api/2.0/preview/scim/v2/Me`` (the user of the token)."""

from __future__ import annotations

from flask import Flask, jsonify

from .config import EmulatorConfig

__all__ = ["register"]


def register(app: Flask, config: EmulatorConfig) -> None:
    """Add the identity endpoints to ``app``."""

    @app.get("/.well-known/databricks-config")
    def host_metadata():
        return jsonify({"oidc_endpoint": f"{config.base_url}/oidc",
                        "workspace_id": str(config.workspace_id), "cloud": "AWS"})

    @app.get("/api/2.0/preview/scim/v2/Me")
    def me():
        user = {"id": "1000000000000001", "userName": config.user_name,
                "displayName": config.user_name.split("@")[0], "active": True,
                "emails": [{"value": config.user_name, "type": "work", "primary": True}]}
        response = jsonify(user)  # SCIM JSON is camelCase; iam.User maps it by hand
        response.headers["X-Databricks-Org-Id"] = str(config.workspace_id)
        return response
