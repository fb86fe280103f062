"""Operational emails to one person (a request acknowledged or answered, a new lead): written whole
into the Notice table in the same transaction as the change, delivered afterwards by the "notices"
job through the outbox (detail.domain.outbox), so a mail server that is down delays them and loses
none, and none goes twice.

queue only adds to the session (the caller commits); deliver, reconcile and send_due are the
job's, and commit at each step as the outbox does. When a send ends (sent, failed, uncertain), each
of STATUS_LISTENERS hears of it, as texts' listeners do (an escalation's email attempt follows it).
"""

import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

from detail.domain import live
from detail.domain.outbox import NEVER, Outbox, envelope, new_message_id
from detail.extensions import db
from detail.models import Notice, User, utcnow

log = logging.getLogger(__name__)
NOTICES = Outbox(Notice, "notice", file_prefix="notice-")
# Called with a Notice whose send ended; each returns the events it appended (the job commits and
# publishes). Registered by create_app (detail.register_listeners); one that fails is undone alone.
STATUS_LISTENERS: list[Callable[[Notice], list]] = []
FOOTER = "\n\n--\nOscar Mike: sent by your protection team. Reply to this message to reach them."


def queue(user: User, subject: str, body: str, address: str | None = None) -> Notice | None:
    """Add a notice for the user to the session (None when the user has no address or is inactive);
    address: another address of theirs than the account's (a verified contact address)."""
    email = address or user.email
    if not email or not user.active:
        return None
    notice = Notice(
        user_id=user.id,
        email=email,
        subject=_one_line(subject)[:300],
        body=body + FOOTER,
        message_id=new_message_id("notice"),
        status="pending",
        next_attempt_at=utcnow(),
    )
    db.session.add(notice)
    return notice


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_message(notice: Notice, now: datetime) -> EmailMessage:
    message = envelope(notice, now)
    message.set_content(notice.body)
    return message


def deliver(notice_id: int, now: datetime | None = None) -> str | None:
    """Send one due notice; its new status, or None when it was not ours to send (commits, publishes)."""
    status = NOTICES.deliver(notice_id, build_message, now or utcnow())
    if status is not None and STATUS_LISTENERS:
        events = live.call_listeners(STATUS_LISTENERS, db.session.get(Notice, notice_id), f"notice {notice_id}")
        db.session.commit()
        live.publish(events)
    return status


def retrying(notice: Notice) -> bool:
    """Whether a failed notice will be tried again by itself, not failed for good."""
    return notice.status == "failed" and notice.next_attempt_at < NEVER


def reconcile(now: datetime) -> int:
    """Settle notices left "sending" by a sender that stopped (see detail.domain.outbox)."""
    return NOTICES.reconcile(now)


def send_due() -> int:
    """The job: settle stale sends, then deliver every due notice; returns how many went."""
    now = utcnow()
    reconcile(now)
    return sum(deliver(notice_id, now) == "sent" for notice_id in NOTICES.due_ids(now, limit=200))
