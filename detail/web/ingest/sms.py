"""Text messages through an SMS gateway that posts them as a Twilio-style signed form: 'OM', 'os',
'om eta 0615' from a number a coordinator bound to an agent; the reply confirms or lists the codes.
'ACK 1234' from a person's verified number acknowledges an alarm they were sent (detail.domain.escalation).

Only a request signed with the webhook secret is read. A duress code is confirmed as the clear code
would be, so whoever holds the phone cannot tell that an alarm went.
"""

import base64
import hashlib
import hmac
import logging
from datetime import datetime
from xml.sax.saxutils import escape

from flask import Response, current_app, request

from detail.domain import escalation, live
from detail.domain.devices import agent_for_number
from detail.domain.statuses import Refused, organisation_codes, parse_short_burst, record_status
from detail.domain.timefmt import CLOCK, detail_zone, local_time
from detail.extensions import db
from detail.models import StatusCode, utcnow
from detail.web.ingest.base import bp, read_text, refuse

log = logging.getLogger(__name__)


def twilio_signature(secret: str, url: str, params) -> str:
    """The signature Twilio-compatible gateways send: HMAC-SHA1 of the URL and the sorted form fields."""
    payload = url + "".join(key + value for key, value in sorted(params.items(multi=True)))
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _signed_urls() -> list[str]:
    # Behind a proxy the gateway signed the public address, not the one we see.
    public = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    urls = [request.url]
    if public:
        urls.append(public + request.full_path.rstrip("?"))
    return urls


def _check_signature() -> None:
    secret = current_app.config.get("SMS_WEBHOOK_SECRET")
    if not secret:
        refuse(503, "the SMS gateway is not configured (set SMS_WEBHOOK_SECRET)")
    if not signed_with(secret):
        log.warning(
            "SMS webhook refused: %s signature", "wrong" if request.headers.get("X-Twilio-Signature") else "missing"
        )
        refuse(403, "the request signature (X-Twilio-Signature) is missing or wrong")


def signed_with(secret: str) -> bool:
    """Whether the request's X-Twilio-Signature is there and made with this secret (for this address)."""
    sent = request.headers.get("X-Twilio-Signature", "")
    return bool(sent) and any(
        hmac.compare_digest(sent.encode(), twilio_signature(secret, url, request.form).encode())
        for url in _signed_urls()
    )


def _twiml(message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'
    return Response(body, mimetype="text/xml")


def _sms_client_id(now: datetime) -> str:
    message_id = request.form.get("MessageSid") or request.form.get("SmsSid") or request.form.get("id")
    if message_id:
        return "sms:" + read_text(message_id, 60)
    # Without the gateway's id, the same text from the same number in the same minute is one report.
    key = f"{request.form.get('From')}|{request.form.get('Body')}|{now:%Y-%m-%dT%H:%M}"
    return "sms:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@bp.route("/sms", methods=["POST"])
def sms():
    """A text through the SMS gateway: 'OM', 'os', 'om eta 0615'; the reply confirms or lists the codes."""
    _check_signature()
    sender = request.form.get("From", "")
    # "ACK 1234" from a coordinator's verified number takes an alarm they were sent: read before
    # anything else, since coordinators' numbers are not bound to agents.
    acknowledged = escalation.acknowledge_by_text(sender, request.form.get("Body", ""))
    if acknowledged is not None:
        reply, events = acknowledged
        db.session.commit()
        live.publish(events)
        return _twiml(reply)
    agent = agent_for_number(sender)
    if agent is None:
        log.warning("text from unknown number %s refused", sender[-4:].rjust(len(sender), "*") if sender else "(none)")
        refuse(403, "unknown number: a coordinator must bind it to an agent first")
    now = utcnow()
    codes = organisation_codes(agent.organisation_id)
    try:
        burst = parse_short_burst(request.form.get("Body", ""), codes)
        recorded = record_status(
            agent,
            burst.code,
            client_id=_sms_client_id(now),
            note=burst.note,
            eta=burst.eta,
            source="sms",
            now=now,
        )
    except Refused as exc:
        db.session.rollback()
        return _twiml(f"Not recorded: {exc.message}")
    db.session.commit()
    live.publish(recorded.events)
    return _twiml(_confirmation(recorded.report, codes))


def _confirmation(report, codes: list[StatusCode]) -> str:
    tz = detail_zone(report.detail) if report.detail else report.agent.organisation.timezone
    at = local_time(report.received_at, tz, CLOCK)
    code = report.status_code
    detail = f" ({report.detail.name})" if report.detail else ""
    if code.is_duress:
        # Whoever holds the phone must not see that an alarm went: confirm it as the clear code would be.
        code = next((c for c in codes if c.signal == "clear"), code)
        return f"{code.code} received {at}{detail}."
    eta = f", ETA {local_time(report.eta, tz, CLOCK)}" if report.eta else ""
    return f"{code.code} received {at}{eta}{detail}."
