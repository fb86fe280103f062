"""Coordinator pages for the risk register: per client, and per detail; overdue reviews first.

Internal to the organisation: no client page, API answer or mail ever shows a risk.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import RISK_STATUSES, STAFF_ROLES, Client, Detail, Risk, User
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
from detail.web.auth import staff_required
from detail.web.kit import optional_id, strip

SCALE = [
    SelectChoice(str(n), f"{n} – {label}")
    for n, label in enumerate(("rare", "unlikely", "possible", "likely", "almost certain"), 1)
]
IMPACT = [
    SelectChoice(str(n), f"{n} – {label}")
    for n, label in enumerate(("minor", "moderate", "serious", "major", "severe"), 1)
]


class RiskForm(FlaskForm):
    client_id = SelectField("Client", [InputRequired()], coerce=int)
    detail_id = SelectField("Detail (leave empty for the client's register)", coerce=optional_id)
    title = StringField("Risk", [DataRequired(), Length(max=200)], filters=[strip])
    likelihood = SelectField("Likelihood", choices=SCALE, coerce=int)
    impact = SelectField("Impact", choices=IMPACT, coerce=int)
    mitigation = TextAreaField("Mitigation", [Length(max=5000)], filters=[strip])
    owner_id = SelectField("Owner", coerce=optional_id)
    status = SelectField("Status", choices=[SelectChoice(s, s) for s in RISK_STATUSES], default="open")
    review_on = DateField("Next review", [InputRequired()])


def risk_form(risk: Risk | None = None) -> RiskForm:
    form = RiskForm(obj=risk) if risk is not None else RiskForm(client_id=request.args.get("client", type=int))
    clients = db.session.scalars(owned(Client, org_id()).order_by(Client.name)).all()
    form.client_id.choices = [SelectChoice(c.id, c.name) for c in clients]
    details = db.session.scalars(owned(Detail, org_id()).order_by(Detail.starts_at.desc())).all()
    form.detail_id.choices = [SelectChoice("", "— the client's register —")] + [
        SelectChoice(d.id, f"{d.name} ({d.client.name})") for d in details
    ]
    staff = db.session.scalars(
        owned(User, org_id()).where(User.role.in_(STAFF_ROLES), User.active).order_by(User.name)
    ).all()
    form.owner_id.choices = [SelectChoice("", "— nobody yet —")] + [SelectChoice(u.id, u.name) for u in staff]
    if risk is None and request.method == "GET" and request.args.get("detail", type=int):
        form.detail_id.data = request.args.get("detail", type=int)
    return form


def _apply(form: RiskForm, risk: Risk) -> bool:
    """Copy the form onto the risk; False (with a message on the form) when the detail is another client's."""
    client = owned_or_404(Client, form.client_id.data)
    detail = owned_or_404(Detail, form.detail_id.data) if form.detail_id.data else None
    if detail is not None and detail.client_id != client.id:
        form.detail_id.errors.append(f"{detail.name} is not a detail of {client.name}.")
        return False
    if form.owner_id.data and owned_or_404(User, form.owner_id.data).role not in STAFF_ROLES:
        abort(404)
    risk.client_id, risk.detail_id = client.id, detail.id if detail else None
    risk.title, risk.likelihood, risk.impact = form.title.data, form.likelihood.data, form.impact.data
    risk.mitigation, risk.owner_id = form.mitigation.data or "", form.owner_id.data
    risk.status, risk.review_on = form.status.data, form.review_on.data
    return True


def _today():
    return datetime.now(ZoneInfo(org_zone())).date()


@bp.route("/risks")
@staff_required
def risks():
    """Every open risk of the organisation's clients and details, overdue reviews first; ?client= filters."""
    query = owned(Risk, org_id()).options(so.selectinload(Risk.owner), so.selectinload(Risk.detail))
    client_id = request.args.get("client", type=int)
    client = owned_or_404(Client, client_id) if client_id else None
    if client is not None:
        query = query.where(Risk.client_id == client.id)
    if request.args.get("all") != "1":
        query = query.where(Risk.status != "closed")
    today = _today()
    rows = db.session.scalars(query).all()
    rows.sort(key=lambda r: (not r.overdue(today), -r.score, r.review_on))
    return render_template(
        "detail/admin/risks.html",
        risks=rows,
        today=today,
        client=client,
        show_all=request.args.get("all") == "1",
        confirm=ConfirmForm(),
        deletion=risk_deletion,
    )


@bp.route("/risks/new", methods=["GET", "POST"])
@staff_required
def new_risk():
    form = risk_form()
    if form.validate_on_submit():
        risk = Risk()
        if _apply(form, risk):
            db.session.add(risk)
            if save(form):
                return done("Risk added.", "admin.risks", client=risk.client_id)
    return form_page(
        form,
        "detail/admin/form_page.html",
        title="New risk",
        submit="Add risk",
        back=url_for("admin.risks"),
        back_label="Risks",
    )


@bp.route("/risks/<int:risk_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_risk(risk_id: int):
    risk = owned_or_404(Risk, risk_id)
    form = risk_form(risk)
    if form.validate_on_submit() and _apply(form, risk) and save(form):
        return done("Risk saved.", "admin.risks", client=risk.client_id)
    return form_page(
        form,
        "detail/admin/form_page.html",
        title=f"Risk: {risk.title}",
        submit="Save risk",
        back=url_for("admin.risks"),
        back_label="Risks",
    )


def risk_deletion(risk: Risk) -> Ask:
    """What deleting the risk does, asked first."""
    return Ask(
        f"Delete the risk “{risk.title}”?",
        f"The risk is deleted from {risk.client.name}'s register with its assessment and mitigation. "
        "This cannot be undone; to keep it on record, close it instead.",
        "Delete risk",
        url_for("admin.risks", client=risk.client_id),
    )


@bp.route("/risks/<int:risk_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_risk(risk_id: int):
    """Delete a risk, once confirmed."""
    risk = owned_or_404(Risk, risk_id)
    if (page := unconfirmed(risk_deletion(risk))) is not None:
        return page
    client_id = risk.client_id
    db.session.delete(risk)
    db.session.commit()
    return done("Risk deleted.", "admin.risks", client=client_id)
