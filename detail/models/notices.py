"""Mail to one person (a request acknowledged or answered, a lead handed over), written whole before
it is sent, so the "notices" job can deliver it once and retry what failed for a passing reason.
"""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import User
from detail.models.base import UTCDateTime, one_of, utcnow

NOTICE_STATUSES = ("pending", "sending", "sent", "failed", "uncertain")


class Notice(db.Model):
    """An email to one person, written whole before sending (request acknowledged or answered, lead
    handed over); the "notices" job delivers it once, retrying transient failures."""

    __table_args__ = (
        sa.CheckConstraint(one_of("status", NOTICE_STATUSES), name="status_known"),
        sa.Index("ix_notice_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    subject: so.Mapped[str] = so.mapped_column(sa.String(300))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    message_id: so.Mapped[str] = so.mapped_column(sa.String(300), unique=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="pending")
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User | None] = so.relationship()
