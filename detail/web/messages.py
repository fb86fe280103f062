"""Team messages from the pages: the board's messages panel (coordinators) and the phone's (agents).

JSON with the session cookie and the CSRF token in a header, like the phone's status taps. Thin:
validate, call detail.domain.team_messages, commit, publish. A coordinator sees the organisation's
messages; an agent only those they sent or received, and receipts are the recipient agent's own.
"""

import marshmallow as ma
from flask import Blueprint, request
from flask_login import current_user

from detail.domain import live
from detail.domain import team_messages as messages
from detail.domain.statuses import Refused
from detail.extensions import db, limiter
from detail.models import STAFF_ROLES
from detail.web.api.message_schemas import NOT_CONFIRMED, DeliveredIn, MessageIn, MessageQuery, ReceiptIn, TextsIn
from detail.web.auth import roles_required
from detail.web.kit import json_error, load_json, refused
from detail.web.security import STATUS_PER_AGENT, agent_or_address, configured

bp = Blueprint("team_messages", __name__, url_prefix="/messages")


def _message_or_404(message_id: int):
    message = messages.visible_message(current_user, message_id)
    if message is None:
        return None, json_error(404, "no such message")
    return message, None


@bp.route("/", methods=["GET"])
@roles_required("admin", "coordinator", "agent")
def listing():
    """The messages this person may see, newest first; for coordinators also whom they may address."""
    try:
        query = MessageQuery().load(request.args.to_dict())
    except ma.ValidationError as exc:
        return json_error(422, f"invalid query: {', '.join(sorted(exc.messages))}")
    found = messages.messages_for(current_user, query["detail_id"], query["limit"])
    body = {"messages": [messages.view(m, current_user) for m in found]}
    if current_user.role in STAFF_ROLES:
        body["addressees"] = messages.addressees(current_user.organisation_id)
    return body


@bp.route("/", methods=["POST"])
@limiter.limit(configured(STATUS_PER_AGENT), key_func=agent_or_address)
@roles_required("admin", "coordinator", "agent")
def send():
    """Send a message; a retry with the same client_id gets the stored one (200) rather than a second."""
    data = load_json(MessageIn())
    try:
        if current_user.role in STAFF_ROLES:
            sent = messages.send_from_coordinator(current_user, **data)
        else:
            if data.pop("agent_ids"):
                return json_error(422, "agents send to the coordinators: leave out agent_ids", "agent_ids")
            sent = messages.send_from_agent(current_user, **data)
    except Refused as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    live.publish(sent.events)
    return messages.view(sent.message, current_user), 201 if sent.created else 200


def _receipt(message_id: int, what: str, **kwargs):
    message, missing = _message_or_404(message_id)
    if missing:
        return missing
    try:
        events = messages.record_receipt(message, current_user, what, **kwargs)
    except Refused as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    live.publish(events)
    return {"message": messages.view(message, current_user), "changed": bool(events)}


@bp.route("/<int:message_id>/delivered", methods=["POST"])
@roles_required("agent")
def delivered(message_id: int):
    """The phone has the message (its socket received it, or it loaded it)."""
    return _receipt(message_id, "delivered", via=load_json(DeliveredIn())["via"])


@bp.route("/<int:message_id>/read", methods=["POST"])
@roles_required("agent")
def read(message_id: int):
    """The agent opened the message on the phone."""
    return _receipt(message_id, "read", at=load_json(ReceiptIn())["at"])


@bp.route("/<int:message_id>/acknowledge", methods=["POST"])
@roles_required("agent")
def acknowledge(message_id: int):
    """The agent acknowledged it: once, whatever number of taps or retries."""
    return _receipt(message_id, "acknowledged", at=load_json(ReceiptIn())["at"])


@bp.route("/<int:message_id>/texts", methods=["POST"])
@roles_required("admin", "coordinator")
def send_texts(message_id: int):
    """Send the message again by text to each recipient who has not acknowledged it (confirmed first)."""
    message, missing = _message_or_404(message_id)
    if missing:
        return missing
    if not load_json(TextsIn())["confirmed"]:
        return json_error(422, NOT_CONFIRMED, "confirmed")
    try:
        outcome = messages.text_those_waiting(message, current_user)
    except Refused as exc:
        db.session.rollback()
        return refused(exc)
    db.session.commit()
    live.publish(outcome.events)
    return {
        "texted": outcome.texted,
        "no_number": outcome.no_number,
        "just_texted": outcome.just_texted,
        "message": messages.payload(message),
    }
