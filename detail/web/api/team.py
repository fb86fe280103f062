"""The team resources of the JSON API: agents, their assignments, and the devices bound to them."""

import functools

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import g
from flask.views import MethodView
from marshmallow import RAISE

from detail.domain import live, removals
from detail.domain.devices import BindingError, bind
from detail.domain.itinerary import check_assignment
from detail.domain.scoping import owned
from detail.extensions import db
from detail.models import STAFF_ROLES, Agent, Assignment, Device, User
from detail.web.api import schemas
from detail.web.api.base import (
    ApiBlueprint,
    check_references,
    create,
    delete,
    describe,
    found,
    listed,
    refuse,
    save,
    update,
)

agents = ApiBlueprint("agents", "Protection agents, each with the sign-in account it is the profile of.")


def _refuse_taken(data: dict, agent: Agent | None = None) -> None:
    """409 if the email (anywhere) or the call sign (in the organisation) is another agent's already."""
    errors = {}
    if "email" in data:
        same = sa.select(User.id).where(sa.func.lower(User.email) == data["email"])
        if agent is not None:
            same = same.where(User.id != agent.user_id)
        if db.session.scalar(same) is not None:
            errors["email"] = ["Already in use by another account."]
    if "call_sign" in data:
        same = owned(Agent, g.user.organisation_id).where(Agent.call_sign == data["call_sign"])
        if agent is not None:
            same = same.where(Agent.id != agent.id)
        if db.session.scalar(same) is not None:
            errors["call_sign"] = ["Already used by another agent in your organisation."]
    if errors:
        refuse(409, f"Not saved: {describe(errors)}", errors)


def _apply_agent(agent: Agent, data: dict) -> None:
    # The body is one flat record; the account's fields go to the User row.
    password = data.pop("password", None)
    for field, value in data.items():
        setattr(agent.user if field in schemas.AgentSchema.USER_FIELDS else agent, field, value)
    if password is not None:
        agent.user.set_password(password)


@agents.route("")
class AgentList(MethodView):
    @agents.response(200, schemas.AgentSchema(many=True))
    def get(self):
        """List agents"""
        return listed(Agent, {}, Agent.call_sign, so.selectinload(Agent.user))

    @agents.arguments(schemas.AgentSchema)
    @agents.response(201, schemas.AgentSchema)
    def post(self, data):
        """Create an agent and its sign-in account"""
        _refuse_taken(data)
        organisation_id = g.user.organisation_id
        agent = Agent(organisation_id=organisation_id, user=User(organisation_id=organisation_id, role="agent"))
        _apply_agent(agent, data)
        db.session.add(agent)
        return save(agent)


@agents.route("/<int:agent_id>")
class AgentItem(MethodView):
    @agents.response(200, schemas.AgentSchema)
    def get(self, agent_id):
        """Read an agent"""
        return found(Agent, agent_id)

    @agents.arguments(schemas.AgentPatchSchema)
    @agents.response(200, schemas.AgentSchema)
    def patch(self, data, agent_id):
        """Update an agent"""
        agent = found(Agent, agent_id)
        _refuse_taken(data, agent)
        _apply_agent(agent, data)
        return save(agent)


# --- assignments --------------------------------------------------------------------------------

assignments = ApiBlueprint(
    "assignments",
    "Agents' places on details: role, where and when to report, shift. Agents may list and read their own.",
    read_roles=(*STAFF_ROLES, "agent"),
)


def _own_assignments_only(filters: dict) -> dict:
    """An agent sees only his own assignments, whatever the filter says."""
    if g.user.role != "agent":
        return filters
    agent = db.session.scalar(sa.select(Agent).where(Agent.user_id == g.user.id))
    return {**filters, "agent_id": agent.id if agent else -1}


@assignments.route("")
class AssignmentList(MethodView):
    @assignments.arguments(schemas.AssignmentFilterSchema, location="query", unknown=RAISE)
    @assignments.response(200, schemas.AssignmentSchema(many=True))
    def get(self, filters):
        """List assignments (an agent's token: his own)"""
        return listed(Assignment, _own_assignments_only(filters), Assignment.report_at)

    @assignments.arguments(schemas.AssignmentSchema)
    @assignments.response(201, schemas.AssignmentSchema)
    def post(self, data):
        """Create an assignment"""
        return create(Assignment, data, functools.partial(check_assignment, by=g.user))


# The fields that decide an assignment's staffing conflicts.
_PLACEMENT = {"agent_id", "site_id", "report_at", "shift_starts_at", "shift_ends_at"}


@assignments.route("/<int:assignment_id>")
class AssignmentItem(MethodView):
    @assignments.response(200, schemas.AssignmentSchema)
    def get(self, assignment_id):
        """Read an assignment (an agent's token: only his own)"""
        assignment = found(Assignment, assignment_id)
        if _own_assignments_only({}).get("agent_id", assignment.agent_id) != assignment.agent_id:
            refuse(404, "No such assignment in your organisation.")
        return assignment

    @assignments.arguments(schemas.AssignmentPatchSchema)
    @assignments.response(200, schemas.AssignmentSchema)
    def patch(self, data, assignment_id):
        """Update an assignment (moving the agent, the venue or the times needs the override reason again)"""
        if "override_reason" not in data and _PLACEMENT & data.keys():
            # A reason given for the old placement's conflict does not cover whatever the new one has.
            data["override_reason"] = ""
        return update(found(Assignment, assignment_id), data, functools.partial(check_assignment, by=g.user))

    @assignments.response(204)
    def delete(self, assignment_id):
        """Delete an assignment (on the detail's timeline, undoable on the detail page for a short while)"""
        _removal, event = removals.remove_assignment(found(Assignment, assignment_id), g.user)
        db.session.commit()
        live.publish([event])


# --- device and number bindings -----------------------------------------------------------------

devices = ApiBlueprint(
    "devices",
    "Tracking apps' device ids (Traccar Client, GPSLogger) and texting numbers, bound to agents.",
)


@devices.route("")
class DeviceList(MethodView):
    @devices.response(200, schemas.DeviceSchema(many=True))
    def get(self):
        """List bindings"""
        return listed(Device, {}, Device.identifier)

    @devices.arguments(schemas.DeviceSchema)
    @devices.response(201, schemas.DeviceSchema)
    def post(self, data):
        """Bind a device id or phone number (+ and digits) to an agent"""
        check_references(data)
        agent = found(Agent, data["agent_id"])
        try:
            device = bind(agent, data["identifier"], data.get("kind"), data.get("label", ""))
        except BindingError as exc:
            refuse(409 if "already bound" in str(exc) else 422, str(exc), {"identifier": [str(exc)]})
        db.session.commit()
        return device


@devices.route("/<int:device_id>")
class DeviceItem(MethodView):
    @devices.response(200, schemas.DeviceSchema)
    def get(self, device_id):
        """Read a binding"""
        return found(Device, device_id)

    @devices.response(204)
    def delete(self, device_id):
        """Unbind: the device or number is refused from now on"""
        delete(found(Device, device_id))
