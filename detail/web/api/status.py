"""The live part of the API: agents' status and positions, and coordinators' board and event log.

POST /api/v1/status stores each (agent, client_id) once: the first answer is 201, a retry of the
same report gets the stored report back with 200. The events it appends reach the boards after
commit.
"""

import marshmallow as ma
from flask import g
from flask.views import MethodView
from marshmallow import RAISE, fields

from detail.domain import board_state, live
from detail.domain.positions import publish_position, record_position
from detail.domain.statuses import Refused, agent_of, keep_loaded_after_commit, submit_status
from detail.extensions import db
from detail.models import Detail, utcnow
from detail.web.api.base import ApiBlueprint, found, refuse
from detail.web.api.itinerary import details
from detail.web.api.schemas import MAX_ID
from detail.web.api.status_schemas import PositionIn, StatusIn, StatusOut


def _refused(exc: Refused):
    refuse(exc.status, exc.message, {exc.field: [exc.message]} if exc.field else None)


class ApiStatusIn(StatusIn):
    # Duress is sent as its own code over the API; the covert flag is the phone page's.
    class Meta:
        unknown = RAISE
        exclude = ("duress",)


status = ApiBlueprint("status", "Agents' status reports: one per tap, stored once per client_id.", roles=("agent",))


@status.route("")
class StatusReports(MethodView):
    @status.arguments(ApiStatusIn)
    @status.response(201, StatusOut)
    @status.alt_response(200, schema=StatusOut, description="A retry: the report stored earlier with this client_id")
    def post(self, data):
        """Send a status (a code, or a line of text such as 'om eta 0615')"""
        keep_loaded_after_commit()
        try:
            recorded = submit_status(g.user, data, source="api")
        except Refused as exc:
            _refused(exc)
        db.session.commit()
        live.publish(recorded.events)
        return recorded.report, 201 if recorded.created else 200


class PositionOut(ma.Schema):
    id = fields.Integer()
    latitude = fields.Float()
    longitude = fields.Float()
    reported_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()


positions = ApiBlueprint(
    "positions", "Agents' positions: stored, and the newest per agent pushed to boards.", roles=("agent",)
)


@positions.route("")
class Positions(MethodView):
    @positions.arguments(PositionIn)
    @positions.response(201, PositionOut)
    @positions.alt_response(200, schema=PositionOut, description="A point sent again: the one stored earlier")
    def post(self, data):
        """Send a position (stored once per device time)"""
        keep_loaded_after_commit()
        try:
            agent = agent_of(g.user)
            recorded = record_position(agent, source="api", **data)
        except Refused as exc:
            _refused(exc)
        db.session.commit()
        live.publish(recorded.events)
        if recorded.created:
            publish_position(agent, recorded.position)
        return recorded.position, 201 if recorded.created else 200


class EventOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String(
        metadata={"description": "status, alert, alert_acknowledged, alert_muted, alert_resolved, detail_state"}
    )
    detail_id = fields.Integer(allow_none=True)
    created_at = fields.String()
    payload = fields.Dict()


class EventQuery(ma.Schema):
    # Bounded like every id: beyond 64 bits the database driver, not the schema, would refuse it.
    after = fields.Integer(
        load_default=0,
        validate=ma.validate.Range(min=0, max=MAX_ID),
        metadata={"description": "The last event id seen: returns the events after it"},
    )
    detail_id = fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID))
    limit = fields.Integer(load_default=500, validate=ma.validate.Range(1, 1000))


events = ApiBlueprint("events", "The event log a board follows: what changed, in order, by id.")


@events.route("")
class Events(MethodView):
    @events.arguments(EventQuery, location="query", unknown=RAISE)
    @events.response(200, EventOut(many=True))
    def get(self, query):
        """The organisation's events after an id (catch-up after a dropped connection)"""
        if query["detail_id"] is not None:
            found(Detail, query["detail_id"])
        return live.events_after(g.user.organisation_id, query["after"], query["detail_id"], query["limit"])


class BoardOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    client = fields.String()
    principal = fields.String(allow_none=True)
    state = fields.String()
    timezone = fields.String()
    starts_at = fields.String()
    ends_at = fields.String()
    sites = fields.List(fields.Dict())
    movements = fields.List(fields.Dict())
    agents = fields.List(fields.Dict(), metadata={"description": "Each agent's code, since when, source, position"})
    alerts = fields.List(fields.Dict())
    server_now = fields.String(
        metadata={"description": "The server's time (UTC): report-time countdowns run on it, not the caller's clock"}
    )


@details.route("/<int:detail_id>/board")
class DetailBoard(MethodView):
    @details.response(200, BoardOut)
    def get(self, detail_id):
        """The detail's board as it stands: each agent's code, position, punctuality, and open alerts"""
        now = utcnow()
        return {**board_state.detail_board(found(Detail, detail_id), now), "server_now": now.isoformat()}
