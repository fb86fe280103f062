"""Intel: regional protest and threat feeds, placed on the map and turned into advisories."""

from flask import Blueprint, Flask

bp = Blueprint("intel", __name__, url_prefix="/intel")


def init_app(app: Flask) -> None:
    """Register the intel blueprint; later parts add feeds, advisories and digests to it."""
    app.register_blueprint(bp)
