"""The team's work around a detail: the risk register, persons of interest, clients' requests, lead
handoffs, after-action reports with their action items, and advance surveys of the venues.

Most of it is internal (see detail.models): clients see a request's answer, a handoff's notice and a
survey summary a coordinator shares, never the rest.
"""

from datetime import date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import User
from detail.models.base import UTCDateTime, one_of, utcnow
from detail.models.operations import Client, Detail, Site
from detail.models.team import Agent

RISK_STATUSES = ("open", "mitigated", "accepted", "closed")


class Risk(db.Model):
    """A risk in a client's register, or a detail's: how likely, how bad, what is done, who owns it,
    and when it is next reviewed. Internal: clients never see it."""

    __table_args__ = (
        sa.CheckConstraint("likelihood BETWEEN 1 AND 5", name="likelihood_range"),
        sa.CheckConstraint("impact BETWEEN 1 AND 5", name="impact_range"),
        sa.CheckConstraint(one_of("status", RISK_STATUSES), name="status_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200), info={"internal": True})
    likelihood: so.Mapped[int]
    impact: so.Mapped[int]
    mitigation: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    owner_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open")
    review_on: so.Mapped[date]
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    client: so.Mapped[Client] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    owner: so.Mapped[User | None] = so.relationship()

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    def overdue(self, today: date) -> bool:
        return self.status != "closed" and self.review_on < today


ASSESSMENTS = ("non_threat", "monitor", "elevated")


class PersonOfInterest(db.Model):
    """Someone who came to notice (hostile emails to the company, say), assessed by a coordinator.

    Coordinators only. A detail's agents see the BOLO summary, and nothing else, once a coordinator
    shares it to that detail; clients never see any of it."""

    __table_args__ = (sa.CheckConstraint(one_of("assessment", ASSESSMENTS), name="assessment_known"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="SET NULL"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120), info={"internal": True})
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    came_to_notice: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    assessment: so.Mapped[str] = so.mapped_column(sa.String(16), default="monitor")
    work_up: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    assessed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    assessed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # What the detail's agents may see, when shared: a description to recognise, and what to do.
    bolo: so.Mapped[str] = so.mapped_column(sa.String(500), default="", info={"internal": True})
    bolo_shared: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    client: so.Mapped[Client] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    assessed_by: so.Mapped[User | None] = so.relationship()


REQUEST_PRIORITIES = ("urgent", "normal", "low")
REQUEST_CHANNELS = ("portal", "phone", "email", "in_person")


class ClientRequest(db.Model):
    """A client's request or question, logged from the portal or by a coordinator on a contact's behalf;
    acknowledged, then answered, both timed from when it was received."""

    __table_args__ = (
        sa.CheckConstraint(one_of("priority", REQUEST_PRIORITIES), name="priority_known"),
        sa.CheckConstraint(one_of("channel", REQUEST_CHANNELS), name="channel_known"),
        sa.CheckConstraint("acknowledged_at IS NULL OR acknowledged_at >= received_at", name="ack_after_receipt"),
        sa.CheckConstraint(
            "answered_at IS NULL OR (acknowledged_at IS NOT NULL AND answered_at >= acknowledged_at)",
            name="answer_after_ack",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id", ondelete="CASCADE"), index=True)
    detail_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="SET NULL"), index=True)
    # The client contact it is from (the one told of the acknowledgment and answer), if any.
    contact_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    logged_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    channel: so.Mapped[str] = so.mapped_column(sa.String(10), default="portal")
    priority: so.Mapped[str] = so.mapped_column(sa.String(8), default="normal")
    subject: so.Mapped[str] = so.mapped_column(sa.String(200))
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    acknowledged_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    acknowledgement: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    answered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    answered_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    answer: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    # When the board was alerted that this urgent request waited too long (once).
    overdue_alerted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    client: so.Mapped[Client] = so.relationship()
    detail: so.Mapped[Detail | None] = so.relationship()
    contact: so.Mapped[User | None] = so.relationship(foreign_keys=[contact_id])
    logged_by: so.Mapped[User | None] = so.relationship(foreign_keys=[logged_by_id])
    acknowledged_by: so.Mapped[User | None] = so.relationship(foreign_keys=[acknowledged_by_id])
    answered_by: so.Mapped[User | None] = so.relationship(foreign_keys=[answered_by_id])

    @property
    def state(self) -> str:
        if self.answered_at is not None:
            return "answered"
        return "acknowledged" if self.acknowledged_at is not None else "new"


class Handoff(db.Model):
    """A detail handed from one lead to another, with the notes the new lead needs."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    from_agent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("agent.id", ondelete="SET NULL"))
    to_agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"))
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # What the client's contacts were told ("has led 6 details for you since March 2024").
    client_notice: so.Mapped[str] = so.mapped_column(sa.String(500), default="")

    detail: so.Mapped[Detail] = so.relationship()
    from_agent: so.Mapped[Agent | None] = so.relationship(foreign_keys=[from_agent_id])
    to_agent: so.Mapped[Agent] = so.relationship(foreign_keys=[to_agent_id])
    by: so.Mapped[User | None] = so.relationship()


class AfterAction(db.Model):
    """A detail's after-action report: the team's own words beside what the record shows."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), unique=True)
    went_well: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    difficulties: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    lessons: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    written_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    detail: so.Mapped[Detail] = so.relationship()
    written_by: so.Mapped[User | None] = so.relationship()
    items: so.Mapped[list["ActionItem"]] = so.relationship(
        back_populates="after_action", cascade="all, delete-orphan", order_by="ActionItem.due_on"
    )


class ActionItem(db.Model):
    """Something to do after a detail: what, who owns it, by when, and whether it is done."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    after_action_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("after_action.id", ondelete="CASCADE"), index=True)
    text: so.Mapped[str] = so.mapped_column(sa.String(500), info={"internal": True})
    owner_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    due_on: so.Mapped[date]
    done: so.Mapped[bool] = so.mapped_column(default=False)

    after_action: so.Mapped[AfterAction] = so.relationship(back_populates="items")
    owner: so.Mapped[User | None] = so.relationship()


SURVEY_STATUSES = ("draft", "submitted", "returned", "approved")


class Survey(db.Model):
    """The advance agent's survey of one venue of a detail, before the principal arrives; reviewed and
    approved by the detail lead. Internal: clients see only a summary a coordinator shares."""

    __table_args__ = (
        sa.UniqueConstraint("detail_id", "site_id"),
        sa.CheckConstraint(one_of("status", SURVEY_STATUSES), name="status_known"),
        sa.CheckConstraint("hospital_minutes IS NULL OR hospital_minutes BETWEEN 0 AND 600", name="hospital_minutes"),
        sa.CheckConstraint("police_minutes IS NULL OR police_minutes BETWEEN 0 AND 600", name="police_minutes"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    site_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("site.id"), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(10), default="draft")
    author_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    copied_from_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("survey.id", ondelete="SET NULL"))

    venue_contact: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    arrival_primary: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    arrival_alternate: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    departure_primary: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    departure_alternate: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    principal_route: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    safe_room: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    fire_exits: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    parking: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    standby_car: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    security_contact: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    radio_channel: so.Mapped[str] = so.mapped_column(sa.String(80), default="", info={"internal": True})
    hospital_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    hospital_address: so.Mapped[str] = so.mapped_column(sa.String(300), default="", info={"internal": True})
    hospital_phone: so.Mapped[str] = so.mapped_column(sa.String(40), default="", info={"internal": True})
    hospital_minutes: so.Mapped[int | None]
    police_name: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    police_address: so.Mapped[str] = so.mapped_column(sa.String(300), default="", info={"internal": True})
    police_phone: so.Mapped[str] = so.mapped_column(sa.String(40), default="", info={"internal": True})
    police_minutes: so.Mapped[int | None]
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})

    submitted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    reviewed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    reviewed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    review_note: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    # What a coordinator chose to tell the client, and whether it is shown in their portal.
    client_summary: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    summary_shared: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    detail: so.Mapped[Detail] = so.relationship()
    site: so.Mapped[Site] = so.relationship()
    author: so.Mapped[User | None] = so.relationship(foreign_keys=[author_id])
    reviewed_by: so.Mapped[User | None] = so.relationship(foreign_keys=[reviewed_by_id])
    routes: so.Mapped[list["SurveyRoute"]] = so.relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="SurveyRoute.id"
    )
    photos: so.Mapped[list["SurveyPhoto"]] = so.relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="SurveyPhoto.id"
    )


class SurveyRoute(db.Model):
    """Primary and alternate routes from the surveyed venue to another of the detail's, with travel
    times measured at a stated moment (to compare with the time of day of the movement)."""

    __table_args__ = (
        sa.CheckConstraint("primary_minutes IS NULL OR primary_minutes BETWEEN 0 AND 1440", name="primary_minutes"),
        sa.CheckConstraint(
            "alternate_minutes IS NULL OR alternate_minutes BETWEEN 0 AND 1440", name="alternate_minutes"
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    to_site_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("site.id"))
    primary_route: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    primary_minutes: so.Mapped[int | None]
    alternate_route: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    alternate_minutes: so.Mapped[int | None]
    measured_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    survey: so.Mapped[Survey] = so.relationship(back_populates="routes")
    to_site: so.Mapped[Site] = so.relationship()


class SurveyPhoto(db.Model):
    """A photo taken during the survey (an entrance, the safe room), kept in the database so every web
    process can serve it."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    caption: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    content_type: so.Mapped[str] = so.mapped_column(sa.String(40))
    data: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)
    uploaded_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    survey: so.Mapped[Survey] = so.relationship(back_populates="photos")
