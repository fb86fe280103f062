"""Alarms that reach people off the board: who is on call, how each person is reached, the escalation
policies (data, per organisation and kind), each alarm's escalation and every notification attempt it
made; the texts going out and the browsers' push subscriptions.

An escalation climbs its policy's steps in the jobs until a person acknowledges it. Each step writes
its notification attempts (one per person and channel) in the same transaction that moves the
escalation to its next step, and (escalation, step, person, channel) is unique: a job restarted at any
moment neither sends a step twice nor skips one.
"""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import Organisation, User
from detail.models.base import UTCDateTime, one_of, utcnow
from detail.models.notices import Notice

# What an escalation policy is for. A "sos" is a duress raised by a phone app's own alarm button
# (OwnTracks, OsmAnd, Traccar) rather than the team's duress code; "request" an urgent client request
# left waiting; "advisory" a critical advisory published to a detail.
ESCALATION_KINDS = ("duress", "sos", "late", "silent", "request", "advisory")
CHANNELS = ("push", "sms", "email")
CONTACT_KINDS = ("email", "sms")
ON_CALL_ROLES = ("primary", "backup")
# Who a step notifies: the on-call primary or backup at that moment, every coordinator of the
# organisation, or one named person.
STEP_TARGETS = ("primary", "backup", "coordinators", "person")
# queued: written by the step, not yet handed to its channel; sending: claimed by one sender;
# sent: handed over (to the push service, the text provider, the outbox); delivered: the provider
# said it arrived; failed: it did not go, with the reason; skipped: nothing to send it to.
ATTEMPT_STATUSES = ("queued", "sending", "sent", "delivered", "failed", "skipped")
TEXT_STATUSES = ("pending", "sending", "sent", "delivered", "failed", "undelivered", "uncertain")
# What a text is for. A verification code's words are never shown on a page: whoever reads them could
# verify a number they do not hold.
TEXT_PURPOSES = ("alarm", "acknowledged", "verification", "team_message", "other")
ACK_VIA = ("board", "phone", "link", "sms", "api")


class OnCallShift(db.Model):
    """A person on call as primary or backup for the organisation between two moments (stored in UTC)."""

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(one_of("role", ON_CALL_ROLES), name="role_known"),
        sa.Index("ix_on_call_shift_organisation_id_ends_at", "organisation_id", "ends_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(10))
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    note: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    organisation: so.Mapped[Organisation] = so.relationship()
    user: so.Mapped[User] = so.relationship()


class ContactChannel(db.Model):
    """An email address or a mobile number a person is reached on; alarms use it only once verified
    (a code sent to it and typed back). Only the code's hash is kept."""

    __table_args__ = (
        sa.CheckConstraint(one_of("kind", CONTACT_KINDS), name="kind_known"),
        sa.UniqueConstraint("user_id", "kind", "address"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(10))
    address: so.Mapped[str] = so.mapped_column(sa.String(254))  # an email address, or a number in E.164
    verified_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    code_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    code_sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    code_attempts: so.Mapped[int] = so.mapped_column(default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    user: so.Mapped[User] = so.relationship()


class PushSubscription(db.Model):
    """A browser's or phone's Web Push subscription (RFC 8030): where to post, and the keys to encrypt for."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    endpoint: so.Mapped[str] = so.mapped_column(sa.String(2048), unique=True)
    p256dh: so.Mapped[str] = so.mapped_column(sa.String(200))
    auth: so.Mapped[str] = so.mapped_column(sa.String(100))
    user_agent: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_success_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    # The sign-in session that subscribed (None: made outside a browser session). When that session
    # ends (signed out, a new password, deactivated), the device hears nothing more.
    session_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True
    )

    user: so.Mapped[User] = so.relationship()


class TextMessage(db.Model):
    """A text to one number, written whole before it is sent, so the "texts" job sends it once through
    the configured provider (or into instance/outbox/); the provider's status callbacks update it."""

    __table_args__ = (
        sa.CheckConstraint(one_of("status", TEXT_STATUSES), name="status_known"),
        sa.CheckConstraint(one_of("purpose", TEXT_PURPOSES), name="purpose_known"),
        sa.Index("ix_text_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    to_number: so.Mapped[str] = so.mapped_column(sa.String(40))
    body: so.Mapped[str] = so.mapped_column(sa.Text, info={"internal": True})
    purpose: so.Mapped[str] = so.mapped_column(sa.String(16), default="other", server_default="other")
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default="pending")
    provider_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User | None] = so.relationship()


class EscalationPolicy(db.Model):
    """How one kind of alarm climbs in one organisation: its ordered steps."""

    __table_args__ = (
        sa.CheckConstraint(one_of("kind", ESCALATION_KINDS), name="kind_known"),
        sa.UniqueConstraint("organisation_id", "kind"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: so.Mapped[Organisation] = so.relationship()
    steps: so.Mapped[list["EscalationStep"]] = so.relationship(
        back_populates="policy", order_by="EscalationStep.position", cascade="all, delete-orphan"
    )


class EscalationStep(db.Model):
    """One step of a policy: this long after the alarm, notify these people on these channels."""

    __table_args__ = (
        sa.CheckConstraint("delay_seconds >= 0", name="delay_not_negative"),
        sa.CheckConstraint(one_of("target", STEP_TARGETS), name="target_known"),
        sa.CheckConstraint("(target = 'person') = (person_id IS NOT NULL)", name="person_named_for_person"),
        sa.UniqueConstraint("policy_id", "position"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    policy_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("escalation_policy.id", ondelete="CASCADE"))
    position: so.Mapped[int]
    delay_seconds: so.Mapped[int] = so.mapped_column(default=0)
    target: so.Mapped[str] = so.mapped_column(sa.String(16))
    person_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    # A comma-separated subset of CHANNELS, in the order they are tried: "push,sms".
    channels: so.Mapped[str] = so.mapped_column(sa.String(40), default="push,sms,email")

    policy: so.Mapped[EscalationPolicy] = so.relationship(back_populates="steps")
    person: so.Mapped[User | None] = so.relationship()

    @property
    def channel_list(self) -> list[str]:
        return [c for c in self.channels.split(",") if c in CHANNELS]


class Escalation(db.Model):
    """One alarm climbing its policy until a person acknowledges it.

    subject names what it is about ("alert:12", "request:5", "advisory:9"): one escalation per subject.
    next_step is the position of the step still to run and next_step_at when; both NULL once every step ran.
    While its alert is muted the climb is paused (paused_at: since when); paused_seconds is how long it
    was paused before, so a step's time is started_at + its delay + paused_seconds.
    """

    __table_args__ = (
        sa.CheckConstraint(one_of("kind", ESCALATION_KINDS), name="kind_known"),
        sa.Index("ix_escalation_open", "organisation_id", "next_step_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    subject: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    alert_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    # What the notifications say and the page they open; the team's own words, never sent to a client.
    title: so.Mapped[str] = so.mapped_column(sa.String(300), info={"internal": True})
    link: so.Mapped[str] = so.mapped_column(sa.String(300), default="/board")
    # The number a person texts back to acknowledge: "ACK 1234".
    ack_code: so.Mapped[str] = so.mapped_column(sa.String(8))
    started_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    next_step: so.Mapped[int | None]
    next_step_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    paused_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    paused_seconds: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    acknowledged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    acknowledged_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    acknowledged_via: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    end_reason: so.Mapped[str] = so.mapped_column(sa.String(200), default="")

    organisation: so.Mapped[Organisation] = so.relationship()
    acknowledged_by: so.Mapped[User | None] = so.relationship()
    attempts: so.Mapped[list["NotificationAttempt"]] = so.relationship(
        back_populates="escalation", order_by="NotificationAttempt.id", cascade="all, delete-orphan"
    )


class NotificationAttempt(db.Model):
    """One message of an escalation to one person on one channel: when, where, and what became of it.

    A text or an email is delivered through its own outbox (text_message, notice) and this row follows
    it; a push is sent by the escalation's sender itself. link_token_hash is the hash of the one-use
    acknowledge link the message carries (tied to this person and this escalation).
    """

    __table_args__ = (
        sa.CheckConstraint(one_of("channel", CHANNELS), name="channel_known"),
        sa.CheckConstraint(one_of("status", ATTEMPT_STATUSES), name="status_known"),
        sa.UniqueConstraint("escalation_id", "step", "user_id", "channel"),
        sa.Index("ix_notification_attempt_status", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    escalation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("escalation.id", ondelete="CASCADE"))
    step: so.Mapped[int]
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(8))
    address: so.Mapped[str] = so.mapped_column(sa.String(254), default="")
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="queued")
    error: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    text_message_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("text_message.id", ondelete="SET NULL"), index=True
    )
    notice_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("notice.id", ondelete="SET NULL"), index=True)
    link_token_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    link_expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    link_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # A push every service refused for the moment (5xx, 429, a timeout) is tried again at retry_at;
    # push_tries counts the tries made.
    push_tries: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    retry_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    escalation: so.Mapped[Escalation] = so.relationship(back_populates="attempts")
    user: so.Mapped[User] = so.relationship()
    text_message: so.Mapped[TextMessage | None] = so.relationship()
    notice: so.Mapped[Notice | None] = so.relationship()
