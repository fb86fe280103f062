"""Handing a detail to another lead: the coordinators' page (the phone has its own for the current lead)."""

import sqlalchemy as sa
from flask import render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from detail.domain import handoff, live
from detail.domain.itinerary import Invalid
from detail.extensions import db
from detail.models import Agent, Detail, Handoff, User
from detail.web.admin.base import add_errors, bp, done, org_id, owned_or_404
from detail.web.auth import staff_required
from detail.web.kit import strip


class HandoffForm(FlaskForm):
    to_agent_id = SelectField("New lead", [InputRequired()], coerce=int)
    notes = TextAreaField(
        "Handoff notes (what the new lead must know)", [InputRequired(), Length(max=10000)], filters=[strip]
    )
    override_reason = StringField(
        "Reason to assign despite a staffing conflict (only if one is reported)", [Length(max=300)], filters=[strip]
    )


def handoff_form(detail: Detail, organisation_id: int) -> HandoffForm:
    form = HandoffForm()
    agents = db.session.scalars(
        sa.select(Agent)
        .join(User)
        .where(Agent.organisation_id == organisation_id, User.active)
        .order_by(Agent.call_sign)
    ).all()
    lead = detail.lead
    form.to_agent_id.choices = [
        SelectChoice(a.id, f"{a.call_sign} – {a.name}" + _record_hint(a, detail)) for a in agents if a != lead
    ]
    return form


def _record_hint(agent: Agent, detail: Detail) -> str:
    led, _ = handoff.lead_record(agent, detail)
    return f" (has led {led} for {detail.client.name})" if led else ""


def perform(detail: Detail, form: HandoffForm) -> bool:
    """Hand over and publish; False with the messages on the form when it cannot be done."""
    agent = db.session.get(Agent, form.to_agent_id.data)
    try:
        if agent is None:
            raise Invalid({"to_agent_id": "no such agent in your organisation"})
        _, event = handoff.hand_off(detail, agent, form.notes.data, current_user, form.override_reason.data or "")
        db.session.commit()
    except Invalid as exc:
        db.session.rollback()
        add_errors(form, exc.errors)
        return False
    live.publish([event])
    return True


@bp.route("/details/<int:detail_id>/handoff", methods=["GET", "POST"])
@staff_required
def handoff_detail(detail_id: int):
    detail = owned_or_404(Detail, detail_id)
    form = handoff_form(detail, org_id())
    if form.validate_on_submit() and perform(detail, form):
        return done(
            "Handed over: the new lead and the client's contacts are told.", "admin.detail", detail_id=detail.id
        )
    history = db.session.scalars(sa.select(Handoff).where(Handoff.detail_id == detail.id).order_by(Handoff.at)).all()
    page = render_template(
        "detail/admin/handoff.html",
        detail=detail,
        form=form,
        handoffs=history,
        back=url_for("admin.detail", detail_id=detail.id),
    )
    return page, 400 if form.is_submitted() else 200
