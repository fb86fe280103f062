"""Texts out: a text is written whole (a TextMessage row) before it is sent, like mail in the outbox.

queue_text records one (flushes; the caller commits). The "texts" job (send_due) sends what is due
exactly once, on the outbox's state machine (detail.domain.outbox.Spool):

1. Claim: a conditional UPDATE (pending/failed and due -> sending) that only one sender wins.
2. Send: through the configured provider (detail.domain.text_providers: Twilio's Messages API), or,
   with none (the embedded default), into instance/outbox/text-<id>-<created>.txt written atomically.
3. Record: "sent" (handed over) with the provider's sid; a transient failure is "failed" and retried
   after 1, 2, 4, ... minutes, at most an hour; a permanent one "failed" for good (next_attempt_at
   NEVER); one that may have gone "uncertain", never resent by itself.
4. Reconcile: a row left "sending" for two minutes lost its sender (a send takes at most fifteen
   seconds, and a run starts none after RUN_BUDGET_S, so a live claim is never that old). Its .txt
   on disk settles it as sent; with a provider nobody can know whether the provider took it, so it
   is "uncertain"; with neither, it is sent again.

The provider's status callbacks (record_provider_status) move a sent text on to delivered,
undelivered or failed, never backwards: delivered is final.

Whenever a text's status changes, each of STATUS_LISTENERS is called with it (an escalation's
notification attempt follows its text) in the transaction that records the change; a listener that
fails is logged and undone alone, and never undoes the text's own record. Like the outbox's, the
sending steps commit (each must be durable before the next) and publish the listeners' events;
record_provider_status only flushes, for its route to commit and publish.
"""

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from detail.domain import live
from detail.domain.mail import write_outbox
from detail.domain.outbox import NEVER, Spool
from detail.domain.text_providers import TextSendError, configured_provider
from detail.extensions import db
from detail.models import TextMessage, utcnow

log = logging.getLogger(__name__)

# Called with a TextMessage whose status changed; each returns the events it appended (the caller
# commits and publishes). Registered by create_app (detail.register_listeners) for the modules whose
# rows follow a text. The statuses they see: sent (handed over), delivered, undelivered, uncertain,
# and failed, which retrying(text) tells apart as "tried again by itself" from "failed for good".
STATUS_LISTENERS: list[Callable[[TextMessage], list]] = []

TEXTS = Spool(TextMessage, "text", stale_after=timedelta(minutes=2))
# Where the provider posts a text's status (the ingest blueprint's route); PUBLIC_URL goes before it.
STATUS_CALLBACK_PATH = "/ingest/sms/status"
# Texts one run of the job sends at most, and for how long it starts new ones (a send takes at most
# CONNECT_TIMEOUT_S + READ_TIMEOUT_S); the rest go on the next run, seconds later.
BATCH = 100
RUN_BUDGET_S = 30
# The provider's words for a text's status, as ours. Its initial and in-between states (queued,
# accepted, scheduled, sending) say no more than our "sent" (handed over) does.
PROVIDER_STATUSES = {
    "queued": "sent",
    "accepted": "sent",
    "scheduled": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# A status moves only forwards: a late "sent" never undoes "delivered", which is final.
PROGRESS = {"pending": 0, "sending": 1, "uncertain": 1, "sent": 2, "failed": 3, "undelivered": 3, "delivered": 4}
# Twilio's delivery error codes a coordinator most often meets (https://www.twilio.com/docs/api/errors).
DELIVERY_ERRORS = {
    "30001": "the provider's queue overflowed",
    "30002": "the provider's account is suspended",
    "30003": "the handset is unreachable (off or out of coverage)",
    "30004": "the number blocks these messages",
    "30005": "the number is unknown to its carrier",
    "30006": "a landline or an unreachable carrier",
    "30007": "the carrier filtered it as spam",
    "30008": "unknown delivery error",
    "21610": "the number has unsubscribed (texted STOP)",
}
NEEDS_ATTENTION = ("failed", "undelivered", "uncertain")
ACK_LINK = re.compile(r"(/ack/)\S+")


def queue_text(
    *, organisation_id: int, to_number: str, body: str, user_id: int | None = None, purpose: str = "other"
) -> TextMessage:
    """Record a text to send (flushes; the caller commits); the "texts" job sends it.

    purpose (TEXT_PURPOSES) says what it is for; a "verification" text's words are never shown."""
    text = TextMessage(
        organisation_id=organisation_id,
        user_id=user_id,
        to_number=to_number,
        body=body,
        purpose=purpose,
        status="pending",
        next_attempt_at=utcnow(),
    )
    db.session.add(text)
    db.session.flush()
    return text


def retrying(text: TextMessage) -> bool:
    """Whether a failed text will be tried again by itself (a transient failure), not failed for good."""
    return text.status == "failed" and text.next_attempt_at < NEVER


def shown_body(text: TextMessage) -> str:
    """A text's words as a page may show them: a verification code's are withheld, and the one-use
    acknowledge link in an alarm is cut to its path (it is the notified person's, not the reader's)."""
    if text.purpose == "verification":
        return "Verification code (not shown: it is for the person who holds the number)"
    return ACK_LINK.sub(r"\1…", text.body)


def masked(number: str) -> str:
    """A number as logs show it: its last four digits."""
    return number[-4:].rjust(len(number), "*")


def outbox_path(text: TextMessage) -> Path:
    """Where the embedded default writes a text: its id and creation time (ids restart with a new database)."""
    created = text.created_at.astimezone(timezone.utc)
    return Path(current_app.instance_path) / "outbox" / f"text-{text.id}-{created:%Y%m%dT%H%M%S%f}.txt"


def as_file(text: TextMessage, now: datetime) -> bytes:
    head = f"To: {text.to_number}\nDate: {format_datetime(now.astimezone(timezone.utc))}\nText: {text.id}\n\n"
    return (head + text.body + "\n").encode()


def status_callback_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + STATUS_CALLBACK_PATH


# --- the job -----------------------------------------------------------------------------------


def send_due(now: datetime | None = None) -> int:
    """The job: settle stale sends, then send every due text; how many went.

    A transient or uncertain failure ends the run: the provider looks down or busy, and the texts
    after it would each wait out the same timeout. They stay due for the next run, as do those left
    when the run has taken RUN_BUDGET: a claim is stamped with the run's start, which must stay well
    inside TEXTS.stale_after or another sender's reconcile would take a text still being sent."""
    now = now or utcnow()
    started = time.monotonic()
    reconcile(now)
    sent = 0
    for text_id in TEXTS.due_ids(now, limit=BATCH):
        if time.monotonic() - started > RUN_BUDGET_S:
            break
        status = deliver(text_id, now)
        if status == "sent":
            sent += 1
        elif status == "uncertain" or (status == "failed" and retrying(db.session.get(TextMessage, text_id))):
            break
    return sent


def deliver(text_id: int, now: datetime | None = None) -> str | None:
    """Claim a due text, send it, record what happened (commits, publishes): its new status, None if not ours."""
    now = now or utcnow()
    if not TEXTS.claim(text_id, now):
        return None
    text = db.session.get(TextMessage, text_id)
    provider = configured_provider()
    try:
        if provider is None:
            write_outbox(as_file(text, now), outbox_path(text))
            sid = None
        else:
            sid = provider.send(text.to_number, text.body, status_callback_url())
    except Exception as exc:
        kind, error = _failure(exc, provider is None)
        log.warning("text %s to %s: %s failure: %s", text_id, masked(text.to_number), kind, error)
        TEXTS.mark_failure(text, now, error, kind)
    else:
        text.status, text.sent_at, text.provider_sid, text.last_error = "sent", now, sid, None
    _commit_with_listeners([text])
    return text.status


def _failure(exc: Exception, to_file: bool) -> tuple[str, str]:
    """A failed send's kind (transient, permanent, unknown) and what to record of it."""
    if isinstance(exc, TextSendError):
        if exc.kind == "unknown":
            return "unknown", f"{exc.message}: it may have gone; look for it in the provider's message log first"
        return exc.kind, exc.message
    if to_file and isinstance(exc, OSError):  # written whole or not at all: nothing is there
        return "transient", f"could not write the outbox file: {exc}"
    log.error("text: unexpected error while sending", exc_info=exc)
    return "unknown", f"unexpected error while sending, may have gone: {exc!r}"


def reconcile(now: datetime) -> int:
    """Settle texts left "sending" by a sender that stopped (see the module); how many (commits, publishes)."""
    settled = [text for text in TEXTS.stale(now) if TEXTS.settle(text.id, _settled(text, now))]
    for text in settled:
        db.session.refresh(text)
    _commit_with_listeners(settled)
    return len(settled)


def _settled(text: TextMessage, now: datetime) -> dict:
    path = outbox_path(text)
    if path.exists():
        return {"status": "sent", "sent_at": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)}
    if configured_provider() is not None:
        return {
            "status": "uncertain",
            "last_error": (
                "the sender stopped between handing the text to the provider and recording it: look for a "
                f"message to {text.to_number} sent about {text.next_attempt_at:%Y-%m-%d %H:%M} UTC in the "
                "provider's message log before sending it again"
            ),
        }
    return {"status": "failed", "next_attempt_at": now, "last_error": "the sender stopped before writing it"}


def _commit_with_listeners(texts: list[TextMessage]) -> None:
    events = [event for text in texts for event in notify_listeners(text)]
    db.session.commit()
    live.publish(events)


def resend(text_id: int, now: datetime | None = None) -> bool:
    """Send a failed, undelivered or uncertain text again, on purpose (commits); False when it was none of
    those. An uncertain one may then arrive twice."""
    return TEXTS.requeue(text_id, now or utcnow(), statuses=NEEDS_ATTENTION)


def texts_needing_attention(organisation_id: int, since: datetime) -> list[TextMessage]:
    """The organisation's texts since then that did not arrive and will not be retried by themselves."""
    return list(
        db.session.scalars(
            sa.select(TextMessage)
            .where(
                TextMessage.organisation_id == organisation_id,
                TextMessage.created_at >= since,
                TextMessage.status.in_(NEEDS_ATTENTION),
                ~((TextMessage.status == "failed") & (TextMessage.next_attempt_at < NEVER)),
            )
            .order_by(TextMessage.id.desc())
        )
    )


# --- the provider's status callbacks -----------------------------------------------------------


def record_provider_status(
    provider_sid: str, provider_status: str, error_code: str = "", now: datetime | None = None
) -> tuple[TextMessage | None, list]:
    """Apply a provider's status report to its text (flushes); the text (None when no text has that
    sid) and the listeners' events. A report that would move the text backwards changes nothing."""
    text = db.session.scalar(sa.select(TextMessage).where(TextMessage.provider_sid == provider_sid))
    if text is None:
        return None, []
    status = PROVIDER_STATUSES.get(provider_status)
    if status is None or PROGRESS[status] <= PROGRESS[text.status]:
        return text, []
    now = now or utcnow()
    text.status = status
    if status == "delivered":
        text.delivered_at = now
    elif status in ("failed", "undelivered"):
        text.next_attempt_at = NEVER  # the provider gave up on it: resent only on purpose
        reason = DELIVERY_ERRORS.get(error_code, "")
        text.last_error = f"the provider reports it {status}" + (
            f" (error {error_code}{': ' + reason if reason else ''})" if error_code else ""
        )
    db.session.flush()
    return text, notify_listeners(text)


def notify_listeners(text: TextMessage) -> list:
    """Call each status listener with the text (live.call_listeners: one that fails is undone alone)."""
    return live.call_listeners(STATUS_LISTENERS, text, f"text {text.id}")
