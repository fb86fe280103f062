"""Coordinator pages for agents' own apps: device ids and texting numbers bound to agents, and
each agent's private calendar link.

A calendar link, like a token, is shown once on the page that answers the issuing POST.
"""

from flask import make_response, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from detail.domain.devices import BindingError, bind
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import Agent, Device, User
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
        unbinding=device_unbinding,
        new_calendar=calendar_replacement,
        calendar_revocation=calendar_revocation,
        public_url=request.host_url.rstrip("/"),
    )


def device_unbinding(device: Device) -> Ask:
    """What unbinding the device does, asked first."""
    return Ask(
        f"Unbind {device.identifier} from {device.agent.call_sign}?",
        f"Positions and texts from {device.identifier} are refused from now on; bind it again to take them.",
        "Unbind",
        url_for("admin.devices"),
    )


def calendar_revocation(agent: Agent) -> Ask:
    """What revoking the agent's calendar link does, asked first."""
    return Ask(
        f"Revoke the calendar link of {agent.call_sign}?",
        "The calendar app stops receiving the agent's assignments; a new link must be issued and set up.",
        "Revoke link",
        url_for("admin.devices"),
    )


def calendar_replacement(agent: Agent) -> Ask | None:
    """What a new calendar link does to the agent's working one, asked first; None when there is none."""
    if not agent.calendar_token_hash:
        return None
    return Ask(
        f"Issue a new calendar link for {agent.call_sign}?",
        "The link the agent uses now stops working at once; the new one is shown once, to be set up again.",
        "Issue new link",
        url_for("admin.devices"),
        danger=False,
    )


def _first_calendar(agent: Agent) -> Ask:
    return Ask(
        f"Issue a calendar link for {agent.call_sign}?",
        "A private link to the agent's assignments, shown once.",
        "Issue link",
        url_for("admin.devices"),
        danger=False,
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


@bp.route("/devices/<int:device_id>/unbind", methods=["GET", "POST"])
@staff_required
def unbind_device(device_id: int):
    """Unbind a device or number from its agent, once confirmed."""
    device = owned_or_404(Device, device_id)
    if (page := unconfirmed(device_unbinding(device))) is not None:
        return page
    identifier, call_sign = device.identifier, device.agent.call_sign
    db.session.delete(device)
    db.session.commit()
    return done(f"{identifier} unbound from {call_sign}; it is refused from now on.", "admin.devices")


@bp.route("/agents/<int:agent_id>/calendar", methods=["GET", "POST"])
@staff_required
def issue_calendar(agent_id: int):
    """A new private calendar link for the agent, shown once; replacing one that works asks first."""
    agent = owned_or_404(Agent, agent_id)
    ask = calendar_replacement(agent)
    if ask is None and request.method == "GET":
        ask = _first_calendar(agent)  # a link followed issues nothing: it asks
    if ask is not None and (page := unconfirmed(ask)) is not None:
        return page
    path = issue_link(agent)
    db.session.commit()
    response = make_response(
        render_template("detail/admin/calendar_issued.html", agent=agent, url=request.host_url.rstrip("/") + path), 201
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/agents/<int:agent_id>/calendar/revoke", methods=["GET", "POST"])
@staff_required
def revoke_calendar(agent_id: int):
    """Revoke the agent's calendar link, once confirmed."""
    agent = owned_or_404(Agent, agent_id)
    if (page := unconfirmed(calendar_revocation(agent))) is not None:
        return page
    revoke_link(agent)
    db.session.commit()
    return done(f"Calendar link of {agent.call_sign} revoked.", "admin.devices")
