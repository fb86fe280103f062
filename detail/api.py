"""JSON API under /api/v1 with bearer-token auth, documented at /api/v1/openapi.json."""

from flask import Flask


def register_api(app: Flask) -> None:
    """Register the API blueprints on the app."""
