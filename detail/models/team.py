"""The protection team: each agent's field profile, the tracking devices and phone numbers bound to
an agent, and the times an agent cannot be staffed.

A device's identifier is unique across organisations, since a tracking app's request carries nothing
else to tell whose it is.
"""

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import Organisation, User
from detail.models.base import UTCDateTime, one_of, utcnow

if TYPE_CHECKING:  # for type checkers: SQLAlchemy finds the class by name when the mappers are configured
    from detail.models.operations import Assignment


class Agent(db.Model):
    """A protection agent: the field profile of a user with the agent role."""

    __table_args__ = (sa.UniqueConstraint("organisation_id", "call_sign"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), unique=True)
    call_sign: so.Mapped[str] = so.mapped_column(sa.String(40))
    # The private calendar URL's secret, kept as a hash like API tokens; None when there is no link.
    calendar_token_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    # What OwnTracks was last told to watch, so the waypoints are sent again only when they change.
    owntracks_waypoints_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    owntracks_waypoints_sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    organisation: so.Mapped[Organisation] = so.relationship()
    user: so.Mapped[User] = so.relationship(back_populates="agent")
    assignments: so.Mapped[list["Assignment"]] = so.relationship(back_populates="agent")

    @property
    def name(self) -> str:
        return self.user.name

    def __repr__(self) -> str:
        return f"<Agent {self.call_sign}>"


DEVICE_KINDS = ("device", "phone")


class Device(db.Model):
    """A tracking app's device id or a phone number, bound to an agent by a coordinator.

    Identifiers are unique across organisations: a request from an app carries nothing else.
    """

    __table_args__ = (sa.CheckConstraint(one_of("kind", DEVICE_KINDS), name="kind_known"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(8))
    identifier: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True, info={"internal": True})
    label: so.Mapped[str] = so.mapped_column(sa.String(80), default="", info={"internal": True})
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    agent: so.Mapped[Agent] = so.relationship()


UNAVAILABILITY_KINDS = ("leave", "training", "other")


class Unavailability(db.Model):
    """A time an agent cannot be staffed: leave, training."""

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(one_of("kind", UNAVAILABILITY_KINDS), name="kind_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="leave")
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    note: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    agent: so.Mapped[Agent] = so.relationship()
