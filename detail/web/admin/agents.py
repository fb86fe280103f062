"""Coordinator pages for agents: a user with the agent role and its field profile, made together."""

import sqlalchemy as sa
from flask import abort, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import orm as so
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from detail.domain import history
from detail.domain.scoping import owned
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Agent, Unavailability, User, utcnow
from detail.web.admin.base import (
    Ask,
    ConfirmForm,
    EditingForm,
    bp,
    done,
    email_in_use,
    form_page,
    local_datetime,
    org_id,
    org_zone,
    other_than,
    owned_or_404,
    save,
    unconfirmed,
    utc_times,
)
from detail.web.auth import staff_required
from detail.web.kit import strip, visible_field

FORM_PAGE = "detail/admin/form_page.html"


def _call_sign_in_use(call_sign: str, agent: Agent | None) -> bool:
    # Case-insensitive although the database is not: "Bravo 1" and "bravo 1" sound the same on the radio.
    query = owned(Agent, org_id()).where(sa.func.lower(Agent.call_sign) == call_sign.lower())
    return db.session.scalar(other_than(query, Agent, agent)) is not None


class AgentForm(EditingForm):
    name = StringField("Name", [DataRequired(), Length(max=120), visible_field], filters=[strip])
    email = EmailField("Email", [DataRequired(), Email(), Length(max=254)], filters=[strip])
    call_sign = StringField("Call sign", [DataRequired(), Length(max=40), visible_field], filters=[strip])
    phone = StringField("Phone", [Length(max=40)], filters=[strip])
    password = PasswordField(
        "Password (optional)", [Optional(), Length(min=10, max=256, message="Use at least 10 characters.")]
    )

    def validate_email(self, field):
        if email_in_use(field.data):
            raise ValidationError("Another account already uses this email.")

    def validate_call_sign(self, field):
        if _call_sign_in_use(field.data, self.editing):
            raise ValidationError("Another agent already has this call sign.")


class AgentEditForm(EditingForm):
    name = AgentForm.name
    call_sign = AgentForm.call_sign
    phone = AgentForm.phone
    active = BooleanField("Active (can sign in and use tokens)")
    validate_call_sign = AgentForm.validate_call_sign


@bp.route("/agents")
@staff_required
def agents():
    """The organisation's agents."""
    rows = db.session.scalars(
        owned(Agent, org_id())
        .join(User, Agent.user_id == User.id)
        .options(so.contains_eager(Agent.user))
        .order_by(User.active.desc(), Agent.call_sign)
    ).all()
    return render_template("detail/admin/agents.html", agents=rows)


@bp.route("/agents/new", methods=["GET", "POST"])
@staff_required
def new_agent():
    """Create an agent's account and profile; without a password the agent signs in only with tokens."""
    form = AgentForm()
    if form.validate_on_submit():
        user = User(
            organisation_id=org_id(),
            role="agent",
            email=form.email.data,
            name=form.name.data,
            phone=form.phone.data or "",
        )
        if form.password.data:
            user.set_password(form.password.data)
        agent = Agent(organisation_id=org_id(), user=user, call_sign=form.call_sign.data)
        db.session.add(agent)  # the user comes with it, in the same commit
        if save(form):
            return done(f"Agent {agent.call_sign} added.", "admin.agents")
    return form_page(
        form,
        FORM_PAGE,
        title="New agent",
        submit="Add agent",
        back=url_for("admin.agents"),
        back_label="Agents",
        hints={"password": "leave blank for an agent who signs in only with a token issued to their phone"},
        attrs={"password": {"autocomplete": "new-password"}},
    )


@bp.route("/agents/<int:agent_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_agent(agent_id: int):
    """Change an agent's name, call sign or phone, or deactivate them."""
    agent = owned_or_404(Agent, agent_id)
    user = agent.user
    form = AgentEditForm(
        data={"name": user.name, "call_sign": agent.call_sign, "phone": user.phone, "active": user.active},
        editing=agent,
    )
    if form.validate_on_submit():
        user.name, user.phone, user.active = form.name.data, form.phone.data or "", form.active.data
        agent.call_sign = form.call_sign.data
        if save(form):
            return done(f"Agent {agent.call_sign} saved.", "admin.agents")
    return form_page(
        form,
        FORM_PAGE,
        title=f"Edit agent {agent.call_sign}",
        submit="Save agent",
        back=url_for("admin.agents"),
        back_label="Agents",
        hints={"active": "a deactivated agent can no longer sign in, and their tokens stop working"},
    )


# --- availability -------------------------------------------------------------------------------


class UnavailabilityForm(FlaskForm):
    kind = SelectField(
        "Why",
        choices=[SelectChoice("leave", "Leave"), SelectChoice("training", "Training"), SelectChoice("other", "Other")],
    )
    starts_at = local_datetime("From")
    ends_at = local_datetime("Until")
    note = StringField("Note", [Length(max=200)], filters=[strip])


def _availability_page(agent: Agent, form: UnavailabilityForm):
    periods = db.session.scalars(
        sa.select(Unavailability).where(Unavailability.agent_id == agent.id).order_by(Unavailability.starts_at)
    ).all()
    return form_page(
        form,
        "detail/admin/availability.html",
        agent=agent,
        periods=periods,
        zone=org_zone(),
        confirm=ConfirmForm(),
        removal=unavailability_removal,
    )


@bp.route("/agents/<int:agent_id>/availability", methods=["GET", "POST"])
@staff_required
def availability(agent_id: int):
    """When the agent cannot be staffed (leave, training): staffing conflicts are checked against it."""
    agent = owned_or_404(Agent, agent_id)
    form = UnavailabilityForm()
    if form.validate_on_submit() and (times := utc_times(form, {"starts_at": org_zone(), "ends_at": org_zone()})):
        if times["ends_at"] <= times["starts_at"]:
            form.ends_at.errors.append("Must be after the start.")
        else:
            db.session.add(Unavailability(agent=agent, kind=form.kind.data, note=form.note.data or "", **times))
            if save(form):
                return done(f"{agent.call_sign} marked unavailable.", "admin.availability", agent_id=agent.id)
    return _availability_page(agent, form)


def unavailability_removal(period: Unavailability) -> Ask:
    """What removing the period does, asked first."""
    zone = org_zone()
    call_sign = period.agent.call_sign
    span = (
        f"{local_time(period.starts_at, zone, '%a %d %b %H:%M')} – {local_time(period.ends_at, zone, '%a %d %b %H:%M')}"
    )
    return Ask(
        f"Remove {call_sign}'s {period.kind} ({span})?",
        f"{call_sign} counts as available for {span} again: staffing stops warning about assignments then.",
        "Remove",
        url_for("admin.availability", agent_id=period.agent_id),
    )


@bp.route("/agents/<int:agent_id>/availability/<int:period_id>/delete", methods=["GET", "POST"])
@staff_required
def delete_unavailability(agent_id: int, period_id: int):
    """Remove a period of leave or training, once confirmed."""
    agent = owned_or_404(Agent, agent_id)
    period = db.session.get(Unavailability, period_id)
    if period is None or period.agent_id != agent.id:
        abort(404)
    if (page := unconfirmed(unavailability_removal(period))) is not None:
        return page
    db.session.delete(period)
    db.session.commit()
    return done("Removed.", "admin.availability", agent_id=agent.id)


# --- history ------------------------------------------------------------------------------------


@bp.route("/agents/<int:agent_id>/history")
@staff_required
def agent_history(agent_id: int):
    """The clients and details the agent has worked, his roles and his punctuality."""
    agent = owned_or_404(Agent, agent_id)
    worked = history.worked(agent.id, before=utcnow())
    return render_template(
        "detail/admin/agent_history.html",
        agent=agent,
        worked=worked,
        clients=history.by_client(worked),
        zone=org_zone(),
    )
