"""Pages outside any area: the landing redirect and health. (The client portal is intel.portal.)"""

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


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
