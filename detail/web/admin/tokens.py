"""Coordinator pages for API tokens: list the organisation's, issue one for a user, revoke.

A token is shown once, on the page that answers the issuing POST, and never again: only its
hash is stored. That page is rendered rather than redirected to because the plaintext must not
travel in a URL or in the session cookie (signed, not encrypted); it is marked no-store.
"""

from flask import make_response, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired, Length

from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import ApiToken, User
from detail.web.admin.base import (
    Ask,
    ConfirmForm,
    bp,
    done,
    form_page,
    org_id,
    org_zone,
    owned_or_404,
    save,
    unconfirmed,
)
from detail.web.auth import issue_token, revoke_token, staff_required
from detail.web.kit import strip

TOKENS_PAGE = "detail/admin/tokens.html"


class IssueTokenForm(FlaskForm):
    user_id = SelectField("For", [InputRequired()], coerce=int)
    name = StringField("Name", [Length(max=80)], filters=[strip])


def _may_hold_token_of(user: User) -> bool:
    # Whoever issues a token holds it and can act as its user: a coordinator must not be able
    # to mint an admin's. Inactive users are left out because their tokens would not work.
    return user.active and (current_user.role == "admin" or user.role != "admin")


def token_form() -> IssueTokenForm:
    """The issue form, offering the organisation's users this coordinator may issue a token for."""
    form = IssueTokenForm()
    users = db.session.scalars(owned(User, org_id()).order_by(User.role, User.name))
    form.user_id.choices = [
        SelectChoice(u.id, f"{u.name} <{u.email}> ({u.role})") for u in users if _may_hold_token_of(u)
    ]
    return form


def token_revocation(row: ApiToken) -> Ask:
    """What revoking the token does, asked first."""
    return Ask(
        f"Revoke the token {row.name or row.id} of {row.user.name}?",
        "Whatever uses it is refused from its next request. A revoked token cannot be restored: "
        "issue a new one instead.",
        "Revoke token",
        url_for("admin.tokens"),
    )


def _tokens() -> list[ApiToken]:
    return db.session.scalars(
        owned(ApiToken, org_id()).options(so.contains_eager(ApiToken.user)).order_by(ApiToken.created_at.desc())
    ).all()


def _listing() -> dict:
    return {"tokens": _tokens(), "zone": org_zone(), "confirm": ConfirmForm(), "revocation": token_revocation}


@bp.route("/tokens")
@staff_required
def tokens():
    """The organisation's API tokens, newest first, with the form to issue one."""
    return form_page(token_form(), TOKENS_PAGE, **_listing())


@bp.route("/tokens", methods=["POST"], endpoint="issue_token")
@staff_required
def issue_token_page():
    """Issue a token for a user of the organisation and show it, once."""
    form = token_form()
    if form.validate_on_submit():
        user = owned_or_404(User, form.user_id.data)
        token = issue_token(user, form.name.data or "")
        if save(form):
            response = make_response(render_template("detail/admin/token_issued.html", token=token, user=user), 201)
            response.headers["Cache-Control"] = "no-store"
            return response
    return form_page(form, TOKENS_PAGE, **_listing())


@bp.route("/tokens/<int:token_id>/revoke", methods=["GET", "POST"], endpoint="revoke_token")
@staff_required
def revoke_token_page(token_id: int):
    """Revoke a token, once confirmed; the next request made with it is refused."""
    row = owned_or_404(ApiToken, token_id)
    if (page := unconfirmed(token_revocation(row))) is not None:
        return page
    revoke_token(row)
    db.session.commit()
    return done(f"Token {row.name or row.id} of {row.user.name} revoked.", "admin.tokens")
