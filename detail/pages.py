"""Pages every role reaches: the landing redirect, health, and a client contact's portal."""

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user

from .auth import home_for, roles_required
from .extensions import db
from .models import Detail

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


@bp.route("/portal")
@roles_required("client")
def portal():
    details = db.session.scalars(
        sa.select(Detail).where(Detail.client_id == current_user.client_id).order_by(Detail.starts_at)
    ).all()
    return render_template("detail/portal.html", details=details)


@bp.route("/portal/details/<int:detail_id>")
@roles_required("client")
def portal_detail(detail_id: int):
    detail = db.session.get(Detail, detail_id)
    # Another client's detail is answered as if it did not exist.
    if detail is None or detail.client_id != current_user.client_id:
        abort(404)
    return render_template("detail/portal_detail.html", detail=detail)
