"""Operational emails to one person (a request acknowledged or answered, a new lead): written whole
into the Notice table in the same transaction as the change, delivered afterwards by the "notices"
job, so a mail server that is down delays them and loses none.

Delivery follows the digests' rules (intel.digest): a conditional UPDATE claims a notice so only
one process sends it; transient failures are retried after 1, 2, 4, ... minutes; a refusal for
good stays "failed" with its error; a sender that died mid-send leaves "sending", which
reconcile turns into "uncertain" (SMTP) or settles from the outbox file.
"""

import logging
import re
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from detail.domain.mail import NEVER, describe, failure_kind, retry_delay, send_smtp, smtp_configured, write_outbox
from detail.extensions import db
from detail.models import Notice, User, utcnow

log = logging.getLogger(__name__)
STALE_SENDING = timedelta(minutes=10)
FOOTER = "\n\n--\nOscar Mike: sent by your protection team. Reply to this message to reach them."


def queue(user: User, subject: str, body: str) -> Notice | None:
    """Add a notice for the user to the session (None when the user has no address or is inactive)."""
    if not user.email or not user.active:
        return None
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "oscarmike.localhost"
    notice = Notice(
        user_id=user.id,
        email=user.email,
        subject=_one_line(subject)[:300],
        body=body + FOOTER,
        message_id=make_msgid(idstring="notice", domain=domain),
        status="pending",
        next_attempt_at=utcnow(),
    )
    db.session.add(notice)
    return notice


def _one_line(text: str) -> str:
    return " ".join(text.split())


def build_message(notice: Notice, now: datetime) -> EmailMessage:
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = notice.subject
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = notice.email
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = notice.message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice.body)
    return message


def outbox_path(notice: Notice) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", notice.message_id.strip("<>"))
    return Path(current_app.instance_path) / "outbox" / f"notice-{notice.id}-{safe}.eml"


def _claim(notice_id: int, now: datetime) -> bool:
    result = db.session.execute(
        sa.update(Notice)
        .where(Notice.id == notice_id, Notice.status.in_(("pending", "failed")), Notice.next_attempt_at <= now)
        .values(status="sending", attempts=Notice.attempts + 1, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _record(notice_id: int, now: datetime, error: str | None = None, kind: str = "") -> str:
    notice = db.session.get(Notice, notice_id)
    if error is None:
        notice.status, notice.sent_at = "sent", now
    else:
        notice.last_error = error[:2000]
        if kind == "transient":
            notice.status, notice.next_attempt_at = "failed", now + retry_delay(notice.attempts)
        elif kind == "permanent":
            notice.status, notice.next_attempt_at = "failed", NEVER
        else:
            notice.status = "uncertain"
    db.session.commit()
    return notice.status


def deliver(notice_id: int, now: datetime | None = None) -> str | None:
    """Send one due notice; its new status, or None when it was not ours to send."""
    now = now or utcnow()
    if not _claim(notice_id, now):
        return None
    notice = db.session.get(Notice, notice_id)
    message = build_message(notice, now)
    try:
        if smtp_configured():
            send_smtp(message, notice.email)
        else:
            write_outbox(message, outbox_path(notice))
    except Exception as exc:
        kind = failure_kind(exc)
        log.warning("notice %s: %s failure: %s", notice_id, kind, describe(exc))
        error = describe(exc) if kind != "unknown" else f"unexpected error while sending, may have gone: {exc!r}"
        return _record(notice_id, now, error, kind)
    return _record(notice_id, now)


def reconcile(now: datetime) -> int:
    """Settle notices left "sending" by a sender that died (see the module's docstring)."""
    stale = db.session.scalars(
        sa.select(Notice).where(Notice.status == "sending", Notice.next_attempt_at <= now - STALE_SENDING)
    ).all()
    for notice in stale:
        path = outbox_path(notice)
        if path.exists():
            notice.status, notice.sent_at = "sent", datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        elif smtp_configured():
            notice.status = "uncertain"
            notice.last_error = "the sender stopped while handing the message to the mail server; it may have gone"
        else:
            notice.status, notice.next_attempt_at = "failed", now
    db.session.commit()
    return len(stale)


def send_due() -> int:
    """The job: settle stale sends, then deliver every due notice; returns how many went."""
    now = utcnow()
    reconcile(now)
    due = db.session.scalars(
        sa.select(Notice.id)
        .where(Notice.status.in_(("pending", "failed")), Notice.next_attempt_at <= now)
        .order_by(Notice.id)
        .limit(200)
    ).all()
    return sum(deliver(notice_id, now) == "sent" for notice_id in due)
