"""Team messages in the JSON API: send, list, read one, and each recipient's receipts.

Coordinators (and admins) send to a detail's agents or to agents by id and see the organisation's
messages with every receipt; agents send to the coordinators, see only what they sent or received
(without the other recipients), and record their own receipts. POST /api/v1/messages stores each
(sender, client_id) once: 201 the first time, 200 with the stored message for a retry.
"""

import marshmallow as ma
from flask import g
from flask.views import MethodView
from marshmallow import RAISE, fields

from detail.domain import live
from detail.domain import team_messages as messages
from detail.domain.statuses import Refused
from detail.extensions import db
from detail.models import STAFF_ROLES
from detail.web.api.base import ApiBlueprint, refuse
from detail.web.api.message_schemas import NOT_CONFIRMED, DeliveredIn, MessageIn, MessageQuery, ReceiptIn, TextsIn

team_messages = ApiBlueprint(
    "messages",
    "Team messages with receipts: delivered, read and acknowledged per recipient.",
    roles=("admin", "coordinator", "agent"),
)


class MessageOut(ma.Schema):
    id = fields.Integer()
    detail_id = fields.Integer(allow_none=True)
    detail = fields.String(allow_none=True)
    sender = fields.String(data_key="from")
    from_user_id = fields.Integer()
    audience = fields.String(metadata={"description": "detail, agents or coordinators"})
    body = fields.String()
    asks_ack = fields.Boolean()
    created_at = fields.String()
    created_at_local = fields.String(metadata={"description": "In the detail's (or organisation's) zone, labelled"})
    timezone = fields.String()
    recipients = fields.List(fields.Dict(), metadata={"description": "Coordinators only: each recipient's receipts"})
    summary = fields.Dict(metadata={"description": 'Coordinators only: counts and "3 of 4 acknowledged"'})
    mine = fields.Boolean(metadata={"description": "Agents only: sent by me"})
    client_id = fields.String(metadata={"description": "Agents only, on messages sent by me: my retry key"})
    receipt = fields.Dict(allow_none=True, metadata={"description": "Agents only: my own receipt"})


class ReceiptOut(ma.Schema):
    message = fields.Nested(MessageOut)
    changed = fields.Boolean(metadata={"description": "False when it was recorded already (a second tap)"})


class TextsOut(ma.Schema):
    texted = fields.List(fields.String())
    no_number = fields.List(fields.String(), metadata={"description": "Not acknowledged, but no mobile number known"})
    just_texted = fields.List(fields.String(), metadata={"description": "Texted less than a minute ago: not again"})
    message = fields.Nested(MessageOut)


def _out(message) -> dict:
    shown = messages.view(message, g.user)
    shown["sender"] = shown.pop("from")
    return shown


def _refused(exc: Refused):
    refuse(exc.status, exc.message, {exc.field: [exc.message]} if exc.field else None)


def _visible(message_id: int):
    message = messages.visible_message(g.user, message_id)
    if message is None:
        refuse(404, "No such message for you.")
    return message


@team_messages.route("")
class Messages(MethodView):
    @team_messages.arguments(MessageQuery, location="query", unknown=RAISE)
    @team_messages.response(200, MessageOut(many=True))
    def get(self, query):
        """Messages newest first: the organisation's for coordinators, an agent's own sent and received"""
        return [_out(m) for m in messages.messages_for(g.user, query["detail_id"], query["limit"])]

    @team_messages.arguments(MessageIn)
    @team_messages.response(201, MessageOut)
    @team_messages.alt_response(200, schema=MessageOut, description="A retry: the message stored with this client_id")
    def post(self, data):
        """Send a message (coordinators: to a detail or to agents; agents: to the coordinators)"""
        try:
            if g.user.role in STAFF_ROLES:
                sent = messages.send_from_coordinator(g.user, **data)
            elif data.pop("agent_ids"):
                raise Refused("agents send to the coordinators: leave out agent_ids", 422, "agent_ids")
            else:
                sent = messages.send_from_agent(g.user, **data)
        except Refused as exc:
            _refused(exc)
        db.session.commit()
        live.publish(sent.events)
        return _out(sent.message), 201 if sent.created else 200


@team_messages.route("/<int:message_id>")
class OneMessage(MethodView):
    @team_messages.response(200, MessageOut)
    def get(self, message_id):
        """One message (an agent: only one sent or received)"""
        return _out(_visible(message_id))


def _receipt(message_id: int, what: str, **kwargs) -> dict:
    if g.user.role != "agent":
        refuse(403, "Receipts are the recipient agents' own: only agent accounts record them.")
    message = _visible(message_id)
    try:
        events = messages.record_receipt(message, g.user, what, **kwargs)
    except Refused as exc:
        _refused(exc)
    db.session.commit()
    live.publish(events)
    return {"message": _out(message), "changed": bool(events)}


@team_messages.route("/<int:message_id>/delivered")
class Delivered(MethodView):
    @team_messages.arguments(DeliveredIn)
    @team_messages.response(200, ReceiptOut)
    def post(self, data, message_id):
        """Agents: the message reached this phone (via socket or push)"""
        return _receipt(message_id, "delivered", via=data["via"])


@team_messages.route("/<int:message_id>/read")
class Read(MethodView):
    @team_messages.arguments(ReceiptIn)
    @team_messages.response(200, ReceiptOut)
    def post(self, data, message_id):
        """Agents: I opened the message"""
        return _receipt(message_id, "read", at=data["at"])


@team_messages.route("/<int:message_id>/acknowledge")
class Acknowledge(MethodView):
    @team_messages.arguments(ReceiptIn)
    @team_messages.response(200, ReceiptOut)
    def post(self, data, message_id):
        """Agents: I acknowledge the message (once, however many times it is sent)"""
        return _receipt(message_id, "acknowledged", at=data["at"])


@team_messages.route("/<int:message_id>/texts")
class Texts(MethodView):
    @team_messages.arguments(TextsIn)
    @team_messages.response(200, TextsOut)
    def post(self, data, message_id):
        """Coordinators: send the message again by text to those who have not acknowledged it"""
        if g.user.role not in STAFF_ROLES:
            refuse(403, "Only coordinators send messages again by text.")
        message = _visible(message_id)
        if not data["confirmed"]:
            refuse(422, NOT_CONFIRMED, {"confirmed": [NOT_CONFIRMED]})
        try:
            outcome = messages.text_those_waiting(message, g.user)
        except Refused as exc:
            _refused(exc)
        db.session.commit()
        live.publish(outcome.events)
        return {
            "texted": outcome.texted,
            "no_number": outcome.no_number,
            "just_texted": outcome.just_texted,
            "message": _out(message),
        }
