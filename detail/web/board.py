"""Coordinators' board pages and the actions taken from them: acknowledge, mute, change a detail's state."""

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from detail.domain import alerts, board_state, escalation, lifecycle, live, oncall
from detail.domain import requests as requests_inbox
from detail.domain.scoping import get_owned
from detail.extensions import db
from detail.models import DETAIL_STATES, Agent, Alert, ClientRequest, Detail
from detail.web.auth import roles_required, staff_required
from detail.web.kit import json_error

bp = Blueprint("board", __name__, url_prefix="/board")

MUTE_CHOICES = (5, 15, 30, 60)


def _detail_or_404(detail_id: int) -> Detail:
    detail = get_owned(Detail, detail_id, current_user.organisation_id)
    if detail is None:
        abort(404)
    return detail


def _page_config() -> dict:
    return {
        "tile_url": current_app.config["MAP_TILE_URL"],
        "tile_attribution": current_app.config["MAP_TILE_ATTRIBUTION"],
        "moves": lifecycle.moves_payload(current_user.organisation),
        "on_call": oncall.summary(current_user.organisation_id, current_user.organisation.timezone),
    }


@bp.route("/")
@staff_required
def organisation():
    """The organisation's board: the day's details and every agent on them, live."""
    return render_template("detail/board.html", detail=None, page=_page_config())


@bp.route("/details/<int:detail_id>")
@staff_required
def detail(detail_id: int):
    """One detail's board with its map and timeline."""
    return render_template("detail/board.html", detail=_detail_or_404(detail_id), page=_page_config())


@bp.route("/state")
@staff_required
def organisation_state():
    return board_state.organisation_board(current_user.organisation_id)


@bp.route("/details/<int:detail_id>/state")
@staff_required
def detail_state(detail_id: int):
    return board_state.detail_page_state(_detail_or_404(detail_id))


def _alert_or_404(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.organisation_id != current_user.organisation_id:
        abort(404)
    return alert


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@staff_required
def acknowledge(alert_id: int):
    """Record who acknowledged an alert, when, with what note, and stop its escalation; pushed to every board."""
    alert = _alert_or_404(alert_id)
    note = str(_body().get("note", ""))
    if len(note) > 300:
        return json_error(422, "note is at most 300 characters", "note")
    events = escalation.acknowledge_alert(alert, current_user, "board", note)
    db.session.commit()
    live.publish(events)
    return alerts.alert_payload(alert)


@bp.route("/requests/<int:request_id>/acknowledge", methods=["POST"])
@staff_required
def acknowledge_request(request_id: int):
    """Acknowledge a client's request from the board (the contact is told); pushed to every board."""
    req = get_owned(ClientRequest, request_id, current_user.organisation_id)
    if req is None:
        abort(404)
    note = str(_body().get("note", ""))
    if len(note) > 2000:
        return json_error(422, "note is at most 2000 characters", "note")
    try:
        event = requests_inbox.acknowledge(req, current_user, note)
    except requests_inbox.BeforeReceipt as refused:
        return json_error(409, str(refused))
    events = escalation.acknowledge_request(req, current_user, "board") if event is not None else []
    db.session.commit()
    if event is not None:
        live.publish([event, *events])
    return requests_inbox.payload(req)


@bp.route("/alerts/<int:alert_id>/mute", methods=["POST"])
@staff_required
def mute(alert_id: int):
    """Mute a late or silent alert for a while (duress cannot be muted)."""
    alert = _alert_or_404(alert_id)
    try:
        minutes = int(_body().get("minutes", 15))
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 is infinity
        minutes = -1
    if minutes not in MUTE_CHOICES:
        return json_error(422, f"minutes must be one of {', '.join(map(str, MUTE_CHOICES))}", "minutes")
    if alert.kind == "duress":
        return json_error(409, "a duress alarm cannot be muted; acknowledge it", "minutes")
    event = alerts.mute(alert, current_user, minutes)
    db.session.commit()
    live.publish([event])
    return alerts.alert_payload(alert)


def may_change_state(user, detail: Detail) -> bool:
    """Coordinators of the organisation, and the detail's own lead."""
    if user.organisation_id != detail.client.organisation_id:
        return False
    if user.is_staff:
        return True
    agent = db.session.scalar(sa.select(Agent).where(Agent.user_id == user.id))
    return agent is not None and detail.lead is not None and detail.lead.id == agent.id


@bp.route("/details/<int:detail_id>/state", methods=["POST"])
@roles_required("admin", "coordinator", "agent")
def change_state(detail_id: int):
    """Move a detail (go hot, complete, back to planned, reopen); recorded on the timeline and pushed.

    The body says which state the detail moves from and that the move was confirmed (the board's and
    the phone's dialog): a second request for the same move finds the state moved and changes nothing
    (409), and an unconfirmed one changes nothing (428)."""
    detail = db.session.get(Detail, detail_id)
    if detail is None or not may_change_state(current_user, detail):
        abort(404)
    body = _body()
    state, from_state = str(body.get("state", "")), str(body.get("from_state", ""))
    for name, value in (("state", state), ("from_state", from_state)):
        if value not in DETAIL_STATES:
            return json_error(422, f"{name} must be one of {', '.join(DETAIL_STATES)}", name)
    try:
        lifecycle.move_between(from_state, state)
    except lifecycle.NotAMove as exc:
        return json_error(422, str(exc), "state")
    if body.get("confirmed") not in (True, "1", "true"):
        return json_error(428, "confirm the change first: send confirmed with the request", "confirmed")
    event = lifecycle.change_state(detail, from_state, state, current_user)
    db.session.commit()
    if event is None:
        message = f"nothing changed: the detail is already {detail.state}, not {from_state}"
        return json_error(409, message, "from_state", state=detail.state)
    live.publish([event])
    return {"id": detail.id, "state": detail.state, "changed": True}
