"""The outbox: delivering a recorded email exactly once, as far as SMTP allows, for every table of mail.

Two tables hold outgoing mail: Notice (detail's operational mails: a request acknowledged or
answered, a new lead) and Digest (intel's advisory digests). They stay two tables: a digest's row
carries more than a message (its entries and its (user, cadence, period) key are what keep an
advisory out of a second digest), and one table would need a migration moving rows for nothing
delivery needs. What they share is a set of columns (OutgoingMail below), and the state machine
over those columns lives here once; each table gets an Outbox (NOTICES in detail.domain.notices,
DIGESTS in intel.domain.digests) that names its model, its Message-ID word and its file names.

1. Record first: the caller commits the row, with the Message-ID it will carry (new_message_id),
   before anything is sent.
2. Claim: a conditional UPDATE (pending/failed and due -> sending); only the process whose UPDATE
   changed the row sends it. While "sending", next_attempt_at holds the moment of the claim.
3. Send: to the SMTP server when SMTP_HOST is set, otherwise to instance/outbox/ as an .eml
   written atomically (the transport is detail.domain.mail).
4. Record the outcome: "sent"; a transient failure (see mail.failure_kind) is "failed" with a
   retry after 1, 2, 4, ... minutes, at most an hour; a permanent one is "failed" with
   next_attempt_at at NEVER, kept until someone acts; an error that is no mail error is
   "uncertain" (it may have gone). A message that could not be built is retried: nothing left.
5. Reconcile: a row left "sending" for ten minutes lost its sender between handing the message
   over and recording it. An .eml on disk settles it as sent; none and no SMTP, it is retried;
   with SMTP nobody can know whether the server took it and sending again risks a second copy,
   so it is "uncertain": never resent by itself, its Message-ID in the error to look up in the
   mail server's log, and requeue sends it again on purpose (same Message-ID).

The state machine itself (steps 2 and 4, the stale rows of 5, requeue) is the Spool; Outbox adds
what is mail's (building, SMTP or .eml, settling by the .eml), and detail.domain.texts is the other
Spool, for texts.

Unlike the rest of the domain, the Outbox's steps commit: each must be durable before the next
(the claim before sending, the outcome straight after), which is what makes it exactly once.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app

from detail.domain.mail import describe, failure_kind, send_smtp, smtp_configured, write_outbox
from detail.extensions import db

log = logging.getLogger(__name__)

SENDABLE = ("pending", "failed")
NEEDS_ATTENTION = ("uncertain", "failed")
STALE_SENDING = timedelta(minutes=10)
RETRY_CAP = timedelta(hours=1)
# next_attempt_at of a message that failed for good: it is never retried by itself.
NEVER = datetime(9999, 1, 1, tzinfo=timezone.utc)


class OutgoingMail(Protocol):
    """The columns a table of outgoing mail has (Notice and Digest), which the outbox reads and writes."""

    id: int
    email: str
    subject: str
    message_id: str
    status: str  # pending, sending, sent, failed, uncertain
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None


class Withheld(Exception):
    """Raised by a message builder when the message must not go at all: recorded as failed for good."""


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after the first, second, third ... failed attempt, at most an hour."""
    return min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 6)), RETRY_CAP)


def new_message_id(word: str) -> str:
    """A fresh Message-ID in the sender's domain, recorded with the row before it is sent."""
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "oscarmike.localhost"
    return make_msgid(idstring=word, domain=domain)


def envelope(row: OutgoingMail, now: datetime) -> EmailMessage:
    """A message with the row's headers (Subject, From, To, Date, Message-ID); the caller adds the body."""
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = row.subject
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = row.email
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = row.message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    return message


@dataclass(frozen=True)
class Spool:
    """The exactly-once state machine over one table of outgoing messages (mail here, texts in
    detail.domain.texts): due rows, the claim, the outcome by its kind, the stale "sending" rows,
    the deliberate requeue. The columns it needs are status, attempts, next_attempt_at, last_error
    and sent_at; what "sent" means and how a stale row is settled belong to each table's spool."""

    model: Any  # a mapped class with those columns
    word: str  # in logs
    stale_after: timedelta = STALE_SENDING

    def due(self, now: datetime) -> sa.Select:
        """The rows a sender would try now, oldest first."""
        model = self.model
        return sa.select(model).where(model.status.in_(SENDABLE), model.next_attempt_at <= now).order_by(model.id)

    def due_ids(self, now: datetime, limit: int | None = None) -> list[int]:
        return list(db.session.scalars(self.due(now).with_only_columns(self.model.id).limit(limit)))

    def claim(self, row_id: int, now: datetime) -> bool:
        """Take a due row for this sender (commits); False when another sender has it or it is not due."""
        model = self.model
        result = db.session.execute(
            sa.update(model)
            .where(model.id == row_id, model.status.in_(SENDABLE), model.next_attempt_at <= now)
            .values(status="sending", attempts=model.attempts + 1, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return result.rowcount == 1

    def record_sent(self, row_id: int, now: datetime) -> None:
        row = db.session.get(self.model, row_id)
        row.status, row.sent_at = "sent", now
        db.session.commit()

    def record_failure(self, row_id: int, now: datetime, error: str, kind: str) -> str:
        """Record a failed send by its kind (transient, permanent, unknown) and commit; the new status."""
        status = self.mark_failure(db.session.get(self.model, row_id), now, error, kind)
        db.session.commit()
        return status

    @staticmethod
    def mark_failure(row: Any, now: datetime, error: str, kind: str) -> str:
        """Set a failed send's outcome on the row by its kind, without committing; the new status."""
        row.last_error = error[:2000]
        if kind == "transient":
            row.status, row.next_attempt_at = "failed", now + retry_delay(row.attempts)
        elif kind == "permanent":
            row.status, row.next_attempt_at = "failed", NEVER
        else:
            row.status = "uncertain"
        return row.status

    def stale(self, now: datetime) -> list[Any]:
        """Rows left "sending" longer than any sender takes: their sender stopped."""
        model = self.model
        return list(
            db.session.scalars(
                sa.select(model).where(model.status == "sending", model.next_attempt_at <= now - self.stale_after)
            )
        )

    def settle(self, row_id: int, values: dict[str, Any]) -> bool:
        """Give a row still "sending" its settled values (no commit); False when its sender finished after all."""
        model = self.model
        result = db.session.execute(
            sa.update(model)
            .where(model.id == row_id, model.status == "sending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:
            log.warning("%s %s left sending: now %s", self.word, row_id, values["status"])
        return result.rowcount == 1

    def requeue(self, row_id: int, now: datetime, statuses: tuple[str, ...] = NEEDS_ATTENTION, **values: Any) -> bool:
        """Make an uncertain or failed row (or one in the statuses given) due again, on purpose (commits);
        False when it was in none of them."""
        model = self.model
        result = db.session.execute(
            sa.update(model)
            .where(model.id == row_id, model.status.in_(statuses))
            .values(status="pending", next_attempt_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return result.rowcount == 1


@dataclass(frozen=True)
class Outbox(Spool):
    """One table of outgoing mail: its model, the word in its Message-IDs and logs, its .eml names."""

    file_prefix: str = ""

    def outbox_path(self, row: OutgoingMail) -> Path:
        """Where the embedded default writes the row: instance/outbox/<prefix><id>-<safe Message-ID>.eml."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", row.message_id.strip("<>"))
        return Path(current_app.instance_path) / "outbox" / f"{self.file_prefix}{row.id}-{safe}.eml"

    def deliver(self, row_id: int, build: Callable[[Any, datetime], EmailMessage], now: datetime) -> str | None:
        """Claim a due row, build its message, send it, record what happened: its new status, None if not ours."""
        if not self.claim(row_id, now):
            return None
        row = db.session.get(self.model, row_id)
        try:
            message = build(row, now)
            path = self.outbox_path(row)
        except Withheld as exc:
            return self.record_failure(row_id, now, str(exc), "permanent")
        except Exception as exc:  # nothing left the building
            log.exception("%s %s could not be built", self.word, row_id)
            return self.record_failure(row_id, now, f"could not build the message: {describe(exc)}", "transient")
        try:
            if smtp_configured():
                send_smtp(message, row.email)
            else:
                write_outbox(message, path)
        except Exception as exc:
            kind = failure_kind(exc)
            log.warning("%s %s to %s: %s failure: %s", self.word, row_id, row.email, kind, describe(exc))
            error = describe(exc) if kind != "unknown" else f"unexpected error while sending, may have gone: {exc!r}"
            return self.record_failure(row_id, now, error, kind)
        self.record_sent(row_id, now)
        return "sent"

    def reconcile(self, now: datetime) -> int:
        """Settle rows left "sending" by a sender that stopped (see the module's docstring); how many."""
        settled = sum(self.settle(row.id, self._settled(row, now)) for row in self.stale(now))
        db.session.commit()
        return settled

    def _settled(self, row: OutgoingMail, now: datetime) -> dict[str, Any]:
        path = self.outbox_path(row)
        if path.exists():
            return {"status": "sent", "sent_at": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)}
        if smtp_configured():
            return {
                "status": "uncertain",
                "last_error": (
                    "the sender stopped between handing the message to the mail server and recording it: "
                    f"look for Message-ID {row.message_id} in the mail server's log before resending"
                ),
            }
        return {"status": "failed", "next_attempt_at": now, "last_error": "the sender stopped before writing it"}
