"""Coordinator pages for agents' own apps: device ids and texting numbers bound to agents, and
each agent's private calendar link.

A calendar link, like a token, is shown once on the page that answers the issuing POST.
"""

from flask import abort, make_response, render_template, request
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain.devices import BindingError, bind
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import Agent, Device, User
from detail.web.admin.base import ConfirmForm, bp, done, form_page, org_id, org_zone, owned_or_404, save
from detail.web.auth import staff_required
from detail.web.calendar import issue_link, revoke_link
from detail.web.kit import strip

DEVICES_PAGE = "detail/admin/devices.html"


class BindForm(FlaskForm):
    agent_id = SelectField("Agent", [InputRequired()], coerce=int)
    identifier = StringField("Device id or phone number", [DataRequired(), Length(max=80)], filters=[strip])
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice("", "Work it out (+ means a phone number)"),
            SelectChoice("device", "App device id"),
            SelectChoice("phone", "Phone number"),
        ],
    )
    label = StringField("Label", [Length(max=80)], filters=[strip])


def _agents() -> list[Agent]:
    return db.session.scalars(
        owned(Agent, org_id())
        .join(User, Agent.user_id == User.id)
        .options(so.contains_eager(Agent.user))
        .where(User.active)
        .order_by(Agent.call_sign)
    ).all()


def bind_form() -> BindForm:
    form = BindForm()
    form.agent_id.choices = [SelectChoice(a.id, f"{a.call_sign} ({a.name})") for a in _agents()]
    return form


def _page(form: BindForm):
    devices = db.session.scalars(
        owned(Device, org_id()).options(so.selectinload(Device.agent)).order_by(Device.agent_id, Device.identifier)
    ).all()
    return form_page(
        form,
        DEVICES_PAGE,
        devices=devices,
        agents=_agents(),
        zone=org_zone(),
        confirm=ConfirmForm(),
        public_url=request.host_url.rstrip("/"),
    )


@bp.route("/devices")
@staff_required
def devices():
    """Bindings of tracking apps and phone numbers to agents, calendar links, and how to set the apps up."""
    return _page(bind_form())


@bp.route("/devices", methods=["POST"], endpoint="bind_device")
@staff_required
def bind_device_page():
    form = bind_form()
    if form.validate_on_submit():
        agent = owned_or_404(Agent, form.agent_id.data)
        try:
            device = bind(agent, form.identifier.data, form.kind.data or None, form.label.data or "")
        except BindingError as exc:
            db.session.rollback()
            form.identifier.errors.append(str(exc))
        else:
            if save(form):
                return done(f"{device.identifier} bound to {agent.call_sign}.", "admin.devices")
    return _page(form)


@bp.route("/devices/<int:device_id>/unbind", methods=["POST"])
@staff_required
def unbind_device(device_id: int):
    device = owned_or_404(Device, device_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    identifier, call_sign = device.identifier, device.agent.call_sign
    db.session.delete(device)
    db.session.commit()
    return done(f"{identifier} unbound from {call_sign}; it is refused from now on.", "admin.devices")


@bp.route("/agents/<int:agent_id>/calendar", methods=["POST"])
@staff_required
def issue_calendar(agent_id: int):
    """A new private calendar link for the agent (the old one stops working), shown once."""
    agent = owned_or_404(Agent, agent_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    path = issue_link(agent)
    db.session.commit()
    response = make_response(
        render_template("detail/admin/calendar_issued.html", agent=agent, url=request.host_url.rstrip("/") + path), 201
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/agents/<int:agent_id>/calendar/revoke", methods=["POST"])
@staff_required
def revoke_calendar(agent_id: int):
    agent = owned_or_404(Agent, agent_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    revoke_link(agent)
    db.session.commit()
    return done(f"Calendar link of {agent.call_sign} revoked.", "admin.devices")
