"""Pages outside any area: the landing redirect, the favicon and health. (The client portal is intel.portal.)"""

import sqlalchemy as sa
from flask import Blueprint, redirect, url_for
from flask_login import current_user

from detail.extensions import db
from detail.web.auth import home_for

bp = Blueprint("pages", __name__)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/favicon.ico")
def favicon():
    # Pages link the SVG icon; this is for whatever asks the old fixed path (browsers, feed readers).
    return redirect(url_for("static", filename="icons/om.svg"), 301)


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
