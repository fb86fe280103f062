"""The text provider's status callbacks: Twilio posts a sent text's progress (MessageSid, MessageStatus:
queued, sending, sent, delivered, undelivered, failed; ErrorCode) to the StatusCallback the "texts" job
gave it, signed with the account's auth token (X-Twilio-Signature, as the SMS webhook's).

The text moves only forwards (delivered is final) and whatever follows it (an escalation's
notification attempt) is told in the same commit.
"""

import logging

from flask import current_app, request

from detail.domain import live, texts
from detail.extensions import db
from detail.models import utcnow
from detail.web.ingest.base import bp, read_text, refuse
from detail.web.ingest.sms import signed_with

log = logging.getLogger(__name__)


@bp.route(texts.STATUS_CALLBACK_PATH.removeprefix(bp.url_prefix), methods=["POST"])
def sms_status():
    """A status report for a text sent through Twilio: 204 once recorded."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        refuse(503, "texts are not sent through Twilio here (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)")
    if not signed_with(token):
        log.warning("text status callback refused: signature missing or wrong")
        refuse(403, "the request signature (X-Twilio-Signature) is missing or wrong")
    sid = read_text(request.form.get("MessageSid") or request.form.get("SmsSid"), 64)
    status = read_text(request.form.get("MessageStatus") or request.form.get("SmsStatus"), 20).lower()
    if not sid or not status:
        refuse(400, "MessageSid and MessageStatus are required")
    text, events = texts.record_provider_status(sid, status, read_text(request.form.get("ErrorCode"), 10), utcnow())
    if text is None:
        db.session.rollback()
        refuse(404, f"no text was sent with MessageSid {sid}")
    db.session.commit()
    live.publish(events)
    return "", 204
