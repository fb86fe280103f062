"""The shapes of team messages as the board, the phone and the JSON API send them."""

import marshmallow as ma
from marshmallow import fields, validate

from detail.domain.team_messages import MAX_BODY
from detail.models import DELIVERY_VIAS
from detail.web.api.schemas import MAX_ID, NAME_PATTERN, StrictBoolean
from detail.web.api.status_schemas import AwareDateTime, Text


class MessageIn(ma.Schema):
    """A message to send. From a coordinator: to a detail's agents (detail_id) or to agents by id
    (agent_ids, detail_id optional); from an agent: to the coordinators (detail_id optional)."""

    class Meta:
        unknown = ma.RAISE

    body = Text(required=True, validate=validate.Length(min=1, max=MAX_BODY))
    client_id = Text(
        required=True,
        validate=validate.Length(min=1, max=64),
        pattern=NAME_PATTERN,
        metadata={"description": "Unique per message, made by the sender's device: a retry is stored once"},
    )
    detail_id = fields.Integer(strict=True, load_default=None, validate=validate.Range(1, MAX_ID))
    agent_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, MAX_ID)),
        load_default=list,
        validate=validate.Length(max=200),
        metadata={"description": "Coordinators only: the agents it is for (else every agent of detail_id)"},
    )
    asks_ack = StrictBoolean(load_default=False, metadata={"description": "Ask each recipient to acknowledge"})


class DeliveredIn(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    via = fields.String(load_default="socket", validate=validate.OneOf(DELIVERY_VIAS))


class ReceiptIn(ma.Schema):
    """A read or an acknowledgment; `at` is when it was tapped (a tap queued offline arrives later)."""

    class Meta:
        unknown = ma.RAISE

    at = AwareDateTime(load_default=None)


class TextsIn(ma.Schema):
    """Send again by text to those who have not acknowledged: only once confirmed in the page."""

    class Meta:
        unknown = ma.RAISE

    # Checked by the view after who is asking and which message (a refusal here would come first).
    confirmed = StrictBoolean(load_default=False, metadata={"description": "true: confirmed in the page"})


NOT_CONFIRMED = "confirm first: send confirmed: true"


class MessageQuery(ma.Schema):
    detail_id = fields.Integer(load_default=None, validate=validate.Range(1, MAX_ID))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
