"""What comes in from the field and what the board is told: the organisation's status codes, the
statuses and positions agents send, the append-only event log, and the alerts the rules raise.

A retry is stored once: a status is unique by (agent, client id), a position by (agent, source,
device time). Both keep the device's time and ours.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import Organisation, User
from detail.models.base import CODE_SIGNALS, UTCDateTime, latlon_checks, one_of, utcnow
from detail.models.operations import Detail
from detail.models.team import Agent

CODE_KINDS = ("routine", "attention", "emergency")


def _luminance(colour: str) -> float:
    """WCAG 2's relative luminance of a #rrggbb colour."""
    channels = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_colour_on(background: str) -> str:
    """Black or white, whichever contrasts more with the background (one of them is always 4.58:1 or more)."""
    try:
        luminance = _luminance(background)
    except ValueError:
        return "#ffffff"
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


class StatusCode(db.Model):
    """A code an agent can send. Data, not constants: "Code 4" means different things to different firms."""

    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "code"),
        sa.CheckConstraint(one_of("kind", CODE_KINDS), name="kind_known"),
        sa.CheckConstraint(f"signal IS NULL OR {one_of('signal', CODE_SIGNALS)}", name="signal_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(16))
    spoken_name: so.Mapped[str] = so.mapped_column(sa.String(60))
    meaning: so.Mapped[str] = so.mapped_column(sa.String(200))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="routine")
    colour: so.Mapped[str] = so.mapped_column(sa.String(7), default="#607d8b")
    sort_order: so.Mapped[int] = so.mapped_column(default=0)
    needs_position: so.Mapped[bool] = so.mapped_column(default=False)
    signal: so.Mapped[str | None] = so.mapped_column(sa.String(16))

    organisation: so.Mapped[Organisation] = so.relationship(back_populates="status_codes")

    @property
    def is_duress(self) -> bool:
        return self.kind == "emergency"

    @property
    def text_colour(self) -> str:
        """The colour a chip or button of this code writes its name in: coordinators pick any colour."""
        return text_colour_on(self.colour)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "spoken_name": self.spoken_name,
            "meaning": self.meaning,
            "kind": self.kind,
            "colour": self.colour,
            "text_colour": self.text_colour,
            "signal": self.signal,
        }


DEFAULT_STATUS_CODES = (
    # code, spoken name, meaning, kind, colour, needs position, signal
    ("OM", "Oscar Mike", "On the move, en route", "routine", "#1565c0", True, "moving"),
    ("OS", "On station", "In position at the assigned post", "routine", "#2e7d32", True, "on_station"),
    ("HOT", "Hot", "Detail live: principal in our care", "attention", "#c62828", False, "hot"),
    ("RTB", "Return to base", "Returning from the detail", "routine", "#8e24aa", False, "returning"),
    ("CLR", "Clear", "Clear, off detail", "routine", "#616161", False, "clear"),
    ("DUR", "Duress", "Agent under duress: covert alarm", "emergency", "#b71c1c", True, "duress"),
)


def seed_status_codes(organisation: Organisation) -> list[StatusCode]:
    """Give a new organisation the default codes; it can edit them afterwards."""
    codes = [
        StatusCode(
            organisation=organisation,
            code=code,
            spoken_name=spoken,
            meaning=meaning,
            kind=kind,
            colour=colour,
            sort_order=order,
            needs_position=needs_position,
            signal=signal,
        )
        for order, (code, spoken, meaning, kind, colour, needs_position, signal) in enumerate(DEFAULT_STATUS_CODES)
    ]
    db.session.add_all(codes)
    return codes


SOURCES = ("phone", "text", "api", "automatic", "owntracks", "osmand", "gpslogger", "sms")


class StatusReport(db.Model):
    """A status an agent sent. (agent, client_id) is unique so a phone's retry is stored once."""

    __table_args__ = (
        sa.UniqueConstraint("agent_id", "client_id"),
        *latlon_checks(),
        sa.CheckConstraint(one_of("source", SOURCES), name="source_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id"), index=True)
    status_code_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("status_code.id"))
    client_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    source: so.Mapped[str] = so.mapped_column(sa.String(16), default="phone")
    note: so.Mapped[str] = so.mapped_column(sa.String(280), default="", info={"internal": True})
    eta: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    latitude: so.Mapped[float | None]
    longitude: so.Mapped[float | None]
    accuracy_m: so.Mapped[float | None]
    reported_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)  # the device's clock
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)  # ours
    late_upload: so.Mapped[bool] = so.mapped_column(default=False)
    # Set by the server (geofence) or by the phone app's own region detection, not by a tap.
    automatic: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    # Device clock minus ours, in seconds, when the device was far ahead (reported_at is then our time).
    clock_offset_s: so.Mapped[float | None]

    agent: so.Mapped[Agent] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    status_code: so.Mapped[StatusCode] = so.relationship()


def _sent_as_reported(context) -> datetime:
    return context.get_current_parameters()["reported_at"]


class Position(db.Model):
    """Where an agent's device was, by its own clock and by ours.

    (agent, source, device_time) is unique: apps that buffer points send them again until they see a 200.
    """

    __table_args__ = (
        *latlon_checks(),
        sa.CheckConstraint(one_of("source", SOURCES), name="source_known"),
        sa.UniqueConstraint("agent_id", "source", "device_time"),
        sa.Index("ix_position_agent_id_reported_at", "agent_id", "reported_at"),
        sa.Index("ix_position_received_at", "received_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id"))
    source: so.Mapped[str] = so.mapped_column(sa.String(16), default="phone")
    latitude: so.Mapped[float]
    longitude: so.Mapped[float]
    accuracy_m: so.Mapped[float | None]
    altitude_m: so.Mapped[float | None]
    speed_kmh: so.Mapped[float | None]
    heading_deg: so.Mapped[float | None]
    battery_pct: so.Mapped[float | None]
    reported_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # Device clock minus ours, in seconds, when the device was far ahead (reported_at is then our time).
    clock_offset_s: so.Mapped[float | None]
    # The time the device sent, as sent: what a resent point repeats, also when reported_at is ours.
    device_time: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=_sent_as_reported)
    # OwnTracks' iOS tag, which stays set until cleared: a status is recorded when it changes.
    tag: so.Mapped[str | None] = so.mapped_column(sa.String(40))

    agent: so.Mapped[Agent] = so.relationship()


class Event(db.Model):
    """Append-only log of everything a board must see; its id orders delivery and catch-up."""

    __table_args__ = (sa.Index("ix_event_organisation_id_id", "organisation_id", "id"),)

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="SET NULL"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    payload: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


ALERT_KINDS = ("late_om", "late_station", "silent", "duress")


class Alert(db.Model):
    """Something a coordinator must see: late, silent, or duress. Raised by rules, acknowledged by people."""

    __table_args__ = (
        sa.CheckConstraint(one_of("kind", ALERT_KINDS), name="kind_known"),
        # One open alert of a kind per agent and detail, however many schedulers evaluate the rules.
        sa.Index(
            "uq_alert_open",
            "agent_id",
            "detail_id",
            "kind",
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        ),
        sa.Index("ix_alert_organisation_id_resolved_at", "organisation_id", "resolved_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"))
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    message: so.Mapped[str] = so.mapped_column(sa.String(300), info={"internal": True})
    status_report_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("status_report.id"))
    latitude: so.Mapped[float | None]
    longitude: so.Mapped[float | None]
    raised_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    acknowledged_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    acknowledgement_note: so.Mapped[str] = so.mapped_column(sa.String(300), default="", info={"internal": True})
    muted_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    agent: so.Mapped[Agent] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    acknowledged_by: so.Mapped[User | None] = so.relationship()
