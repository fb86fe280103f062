"""Team messages: a coordinator's word to a detail, to some agents or to one, or an agent's to the
coordinators, and one receipt row per person it was sent to (delivered, read, acknowledged, when).

A message is stored once per (sender, client_id): the sender's device names each message it sends,
so a phone sending again after a lost answer gets the stored message back rather than a second one.
Recipients are the organisation's own people only; a client's contact is never one (the domain
picks recipients by role, and nothing else writes these rows).
"""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import Organisation, User
from detail.models.alerting import TextMessage
from detail.models.base import UTCDateTime, one_of, utcnow
from detail.models.operations import Detail

# Who a message was addressed to: a detail's agents, agents picked by name, or the coordinators.
MESSAGE_AUDIENCES = ("detail", "agents", "coordinators")
# How a message reached a phone: its live socket (the phone said it arrived) or a push handed over.
DELIVERY_VIAS = ("socket", "push")


class TeamMessage(db.Model):
    """One message as its sender wrote it; its recipients hold the receipts."""

    __tablename__ = "team_message"
    __table_args__ = (
        sa.CheckConstraint(one_of("audience", MESSAGE_AUDIENCES), name="audience_known"),
        sa.UniqueConstraint("sender_id", "client_id"),
        sa.Index("ix_team_message_organisation_id_created_at", "organisation_id", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    # The detail it concerns: the one it was sent to, or the agent's own; None for agents picked across details.
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    sender_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    audience: so.Mapped[str] = so.mapped_column(sa.String(12))
    body: so.Mapped[str] = so.mapped_column(sa.Text, info={"internal": True})
    asks_ack: so.Mapped[bool] = so.mapped_column(default=False)
    # The sender's retry key (the phone's or the board's id for this send).
    client_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    organisation: so.Mapped[Organisation] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    sender: so.Mapped[User] = so.relationship()
    recipients: so.Mapped[list["MessageRecipient"]] = so.relationship(
        back_populates="message", order_by="MessageRecipient.id", cascade="all, delete-orphan"
    )


class MessageRecipient(db.Model):
    """One person a message was sent to, and what became of it for them.

    Each time is set once: a second "read" or "acknowledged" (a double tap, a queued tap sent again)
    changes nothing. texted_at is the last time it was sent again by text, through text_message.
    """

    __tablename__ = "message_recipient"
    __table_args__ = (
        sa.CheckConstraint(one_of("delivered_via", DELIVERY_VIAS), name="delivered_via_known"),
        sa.CheckConstraint("(delivered_at IS NULL) = (delivered_via IS NULL)", name="delivered_says_how"),
        sa.UniqueConstraint("message_id", "user_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    message_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("team_message.id", ondelete="CASCADE"))
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    delivered_via: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    read_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    acknowledged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    texted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    text_message_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("text_message.id", ondelete="SET NULL"), index=True
    )

    message: so.Mapped[TeamMessage] = so.relationship(back_populates="recipients")
    user: so.Mapped[User] = so.relationship()
    text_message: so.Mapped[TextMessage | None] = so.relationship()
