"""The acknowledge link an alarm's text or email carries: /ack/<token>, one use, for one person.

The page shows what the alarm is and asks for a confirming POST (CSRF, sent once); the person signs
in first if their session is gone, and comes back here. A link used, expired, unknown or sent to
someone else says so plainly. Only the token's hash is stored (detail.domain.escalation).
"""

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from detail.domain import escalation, live
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.web.security import guessing_limit, not_found

bp = Blueprint("ack", __name__, url_prefix="/ack")
PAGE = "detail/ack.html"


class AcknowledgeForm(FlaskForm):
    """Nothing but its CSRF token: the button that takes the alarm."""


def _refused(refusal: escalation.LinkRefused):
    return render_template(PAGE, refusal=refusal.message, escalation=None, form=None), refusal.status


def _shown(esc) -> dict:
    zone = esc.organisation.timezone
    return {
        "title": esc.title,
        "kind": escalation.KIND_LABELS.get(esc.kind, esc.kind),
        "started": local_time(esc.started_at, zone),
        "acknowledged_by": esc.acknowledged_by.name if esc.acknowledged_by else None,
        "acknowledged_at": local_time(esc.acknowledged_at, zone) if esc.acknowledged_at else None,
        "ended": esc.ended_at is not None,
        "end_reason": esc.end_reason,
        "link": esc.link,
        "notified": sorted({a.user.name for a in esc.attempts if a.status in ("sent", "delivered")}),
    }


@bp.route("/<token>")
@login_required
@guessing_limit(not_found)
def page(token: str):
    """What the alarm is, and the button that acknowledges it."""
    try:
        attempt = escalation.attempt_for_link(token, current_user)
    except escalation.LinkRefused as refusal:
        return _refused(refusal)
    return render_template(PAGE, refusal=None, escalation=_shown(attempt.escalation), form=AcknowledgeForm())


@bp.route("/<token>", methods=["POST"])
@login_required
@guessing_limit(not_found)
def acknowledge(token: str):
    """Use the link: the alarm is the signed-in person's, the escalation stops, the others are told."""
    form = AcknowledgeForm()
    if not form.validate_on_submit():
        return render_template(PAGE, refusal="The form expired: open the link again.", escalation=None, form=None), 400
    try:
        esc, events = escalation.acknowledge_by_link(token, current_user)
    except escalation.LinkRefused as refusal:
        db.session.rollback()
        return _refused(refusal)
    db.session.commit()
    live.publish(events)
    return render_template(PAGE, refusal=None, escalation=_shown(esc), form=None, done=bool(events))
