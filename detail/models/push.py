"""Web Push notifications waiting for the "push" job: written in the request (or the job) that has
something to say, sent by the job, so no request ever waits on a push service.
"""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import User
from detail.models.base import UTCDateTime, one_of, utcnow

# pending: waiting for the job; sending: claimed by one sender; sent: at least one of the person's
# subscriptions took it; failed: none did (last_error says why); skipped: the person has no
# subscription; expired: it waited too long to be worth showing (the jobs were down).
QUEUED_PUSH_STATUSES = ("pending", "sending", "sent", "failed", "skipped", "expired")


class QueuedPush(db.Model):
    """One notification for one person, sent once by the "push" job to each of their subscriptions."""

    __table_args__ = (
        sa.CheckConstraint(one_of("status", QUEUED_PUSH_STATUSES), name="status_known"),
        sa.Index("ix_queued_push_status_created_at", "status", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # What the notification says: the team's own words, never shown to a client.
    title: so.Mapped[str] = so.mapped_column(sa.String(200), info={"internal": True})
    body: so.Mapped[str] = so.mapped_column(sa.String(1000), info={"internal": True})
    url: so.Mapped[str] = so.mapped_column(sa.String(300))
    tag: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="pending")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    claimed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(500))

    user: so.Mapped[User] = so.relationship()
