"""The on-call rota in the API: who is primary and backup now, the shifts of the next two weeks, and
adding and removing shifts (detail.domain.oncall keeps the rules). For admin and coordinator tokens.

Times go in and out in UTC (ISO 8601 with an offset); each shift also carries its ends in the
organisation's zone with the zone's label, as the pages show them.
"""

import marshmallow as ma
from flask import g
from flask.views import MethodView
from marshmallow import fields, validate

from detail.domain import live, oncall
from detail.domain.itinerary import Invalid
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import ON_CALL_ROLES, OnCallShift, utcnow
from detail.web.api.base import ApiBlueprint, describe, refuse
from detail.web.api.schemas import Text, UTCDateTime, _ref

on_call = ApiBlueprint("on-call", "The on-call rota: who takes alarms off the board, primary and backup.")


def _zone() -> str:
    return g.user.organisation.timezone


class PersonOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()


class ShiftSchema(ma.Schema):
    """A person on call in one role between two moments."""

    id = fields.Integer(dump_only=True)
    user_id = _ref("The coordinator or admin on call (an active account of your organisation).", required=True)
    name = fields.Function(lambda shift: shift.user.name, dump_only=True)
    role = fields.String(required=True, validate=validate.OneOf(ON_CALL_ROLES))
    starts_at = UTCDateTime(required=True)
    ends_at = UTCDateTime(required=True, metadata={"description": "After starts_at; at most 31 days later."})
    starts_local = fields.Function(lambda shift: local_time(shift.starts_at, _zone()), dump_only=True)
    ends_local = fields.Function(lambda shift: local_time(shift.ends_at, _zone()), dump_only=True)
    note = Text(load_default="", validate=validate.Length(max=oncall.NOTE_LENGTH))


class OnCallOut(ma.Schema):
    at = fields.AwareDateTime(metadata={"description": "The moment this answer describes (UTC)."})
    timezone = fields.String(metadata={"description": "The organisation's zone, in which *_local times are shown."})
    primary = fields.Nested(PersonOut, allow_none=True)
    backup = fields.Nested(PersonOut, allow_none=True)
    nobody = fields.Boolean(metadata={"description": "Nobody is on call: alarms go to every coordinator."})
    shifts = fields.List(fields.Nested(ShiftSchema), metadata={"description": "Now and the next 14 days."})


def _shift_or_404(shift_id: int) -> OnCallShift:
    shift = db.session.get(OnCallShift, shift_id)
    if shift is None or shift.organisation_id != g.user.organisation_id:
        refuse(404, "No such on-call shift in your organisation.")
    return shift


@on_call.route("")
class OnCallNow(MethodView):
    @on_call.response(200, OnCallOut)
    def get(self):
        """Who is on call now, and the shifts running now or starting in the next 14 days"""
        now = utcnow()
        who = oncall.on_call_at(g.user.organisation_id, now)
        return {
            "at": now,
            "timezone": _zone(),
            "primary": who.primary,
            "backup": who.backup,
            "nobody": who.nobody,
            "shifts": oncall.upcoming_shifts(g.user.organisation_id, now),
        }


@on_call.route("/shifts")
class ShiftList(MethodView):
    @on_call.arguments(ShiftSchema)
    @on_call.response(201, ShiftSchema)
    def post(self, data):
        """Put a person on call (where shifts of one role overlap, the one that started last holds)"""
        try:
            shift, events = oncall.add_shift(g.user.organisation_id, by=g.user, **data)
        except Invalid as invalid:
            errors = {name: [message] for name, message in invalid.errors.items()}
            refuse(422, f"Not saved: {describe(errors)}", errors)
        db.session.commit()
        live.publish(events)
        return shift


@on_call.route("/shifts/<int:shift_id>")
class ShiftItem(MethodView):
    @on_call.response(200, ShiftSchema)
    def get(self, shift_id):
        """Read a shift"""
        return _shift_or_404(shift_id)

    @on_call.response(204)
    def delete(self, shift_id):
        """Take a shift off the rota"""
        events = oncall.remove_shift(_shift_or_404(shift_id), by=g.user)
        db.session.commit()
        live.publish(events)
