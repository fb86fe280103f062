"""The operations the team runs: clients and their principals, the venue catalogue, and each detail
with the principal's visits and movements and the agents assigned to it.

The database keeps the plan coherent whoever writes it: a detail's principal is its client's, a
visit or movement ends after it starts, a detail has at most one lead.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models.accounts import Organisation, User
from detail.models.base import UTCDateTime, latlon_checks, one_of, utcnow
from detail.models.team import Agent

DETAIL_STATES = ("planned", "hot", "complete")
ASSIGNMENT_ROLES = ("detail_lead", "shift_leader", "advance", "driver", "agent")
ASSIGNMENT_ROLE_LABELS = {
    "detail_lead": "Detail lead",
    "shift_leader": "Shift leader",
    "advance": "Advance",
    "driver": "Driver",
    "agent": "Agent",
}
REMOVAL_KINDS = ("visit", "movement", "assignment")


class Client(db.Model):
    """The customer company whose principal the team protects."""

    __table_args__ = (sa.UniqueConstraint("organisation_id", "name"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    organisation: so.Mapped[Organisation] = so.relationship()
    contacts: so.Mapped[list[User]] = so.relationship(back_populates="client")
    principals: so.Mapped[list["Principal"]] = so.relationship(back_populates="client")

    def __repr__(self) -> str:
        return f"<Client {self.name}>"


class Principal(db.Model):
    """The protectee; boards and radio use the code name, not the real one."""

    __table_args__ = (
        sa.UniqueConstraint("client_id", "code_name"),
        # Lets Detail refer to (principal, client) so a detail's principal is its client's.
        sa.UniqueConstraint("id", "client_id", name="uq_principal_id_client"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    code_name: so.Mapped[str] = so.mapped_column(sa.String(60))
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})

    client: so.Mapped[Client] = so.relationship(back_populates="principals")

    def __repr__(self) -> str:
        return f"<Principal {self.code_name}>"


class Site(db.Model):
    """A venue, kept in the organisation's catalogue so later details can reuse it."""

    __table_args__ = (
        *latlon_checks(),
        sa.CheckConstraint("arrival_radius_m > 0", name="arrival_radius_positive"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    address: so.Mapped[str] = so.mapped_column(sa.String(300), default="")
    latitude: so.Mapped[float]
    longitude: so.Mapped[float]
    arrival_radius_m: so.Mapped[int] = so.mapped_column(default=150)
    timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC")

    organisation: so.Mapped[Organisation] = so.relationship()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:
        return f"<Site {self.name}>"


class Detail(db.Model):
    """One protective operation for a client's principal, from start to end."""

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint(one_of("state", DETAIL_STATES), name="state_known"),
        sa.ForeignKeyConstraint(
            ["principal_id", "client_id"],
            ["principal.id", "principal.client_id"],
            name="fk_detail_principal_of_client",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    client_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("client.id"), index=True)
    principal_id: so.Mapped[int | None] = so.mapped_column(index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default="planned")
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    client: so.Mapped[Client] = so.relationship()
    # Joined on principal_id alone so that setting the principal never rewrites client_id;
    # the composite foreign key above is what keeps the pair consistent.
    principal: so.Mapped[Principal | None] = so.relationship(
        primaryjoin="Detail.principal_id == Principal.id", foreign_keys=[principal_id]
    )
    visits: so.Mapped[list["Visit"]] = so.relationship(
        back_populates="detail", cascade="all, delete-orphan", order_by="Visit.arrives_at"
    )
    movements: so.Mapped[list["Movement"]] = so.relationship(
        back_populates="detail", cascade="all, delete-orphan", order_by="Movement.departs_at"
    )
    assignments: so.Mapped[list["Assignment"]] = so.relationship(
        back_populates="detail", cascade="all, delete-orphan", order_by="Assignment.report_at"
    )

    @property
    def organisation_id(self) -> int:
        return self.client.organisation_id

    @property
    def lead(self) -> "Agent | None":
        """The detail lead is the agent assigned in that role (at most one, by a unique index)."""
        return next((a.agent for a in self.assignments if a.role == "detail_lead"), None)

    @property
    def sites(self) -> list[Site]:
        """Every venue of the detail: where the principal stays and where movements start or end."""
        seen: dict[int, Site] = {}
        for visit in self.visits:
            seen.setdefault(visit.site_id, visit.site)
        for movement in self.movements:
            seen.setdefault(movement.from_site_id, movement.from_site)
            seen.setdefault(movement.to_site_id, movement.to_site)
        return list(seen.values())

    def __repr__(self) -> str:
        return f"<Detail {self.name}>"


class Visit(db.Model):
    """The principal's planned presence at a venue during a detail."""

    __table_args__ = (sa.CheckConstraint("departs_at > arrives_at", name="departs_after_arrival"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    site_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("site.id"), index=True)
    arrives_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    departs_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    purpose: so.Mapped[str] = so.mapped_column(sa.String(200), default="")

    detail: so.Mapped[Detail] = so.relationship(back_populates="visits")
    site: so.Mapped[Site] = so.relationship()


class Movement(db.Model):
    """The principal's move from one venue to another."""

    __table_args__ = (
        sa.CheckConstraint("arrives_at > departs_at", name="arrives_after_departure"),
        sa.CheckConstraint("from_site_id <> to_site_id", name="between_two_sites"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    from_site_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("site.id"), index=True)
    to_site_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("site.id"), index=True)
    departs_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    arrives_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="", info={"internal": True})

    detail: so.Mapped[Detail] = so.relationship(back_populates="movements")
    from_site: so.Mapped[Site] = so.relationship(foreign_keys=[from_site_id])
    to_site: so.Mapped[Site] = so.relationship(foreign_keys=[to_site_id])


class Assignment(db.Model):
    """An agent's place on a detail: role, where and when to report, and the shift."""

    __table_args__ = (
        sa.UniqueConstraint("detail_id", "agent_id"),
        sa.CheckConstraint(one_of("role", ASSIGNMENT_ROLES), name="role_known"),
        sa.CheckConstraint("shift_ends_at > shift_starts_at", name="shift_ends_after_start"),
        sa.CheckConstraint("report_at <= shift_ends_at", name="report_within_shift"),
        sa.Index(
            "uq_assignment_one_lead",
            "detail_id",
            unique=True,
            sqlite_where=sa.text("role = 'detail_lead'"),
            postgresql_where=sa.text("role = 'detail_lead'"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id"), index=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(20), default="agent")
    site_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("site.id"), index=True)  # where to report
    report_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    shift_starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    shift_ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)

    # A staffing conflict assigned anyway: why, by whom, when (empty when there was none).
    override_reason: so.Mapped[str] = so.mapped_column(
        sa.String(300), default="", server_default="", info={"internal": True}
    )
    overridden_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    overridden_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    detail: so.Mapped[Detail] = so.relationship(back_populates="assignments")
    agent: so.Mapped[Agent] = so.relationship(back_populates="assignments")
    site: so.Mapped[Site | None] = so.relationship()
    overridden_by: so.Mapped["User | None"] = so.relationship()

    @property
    def role_label(self) -> str:
        return ASSIGNMENT_ROLE_LABELS[self.role]


class Removal(db.Model):
    """Visits, movements or an assignment taken off a detail, kept so that the removal can be undone.

    The rows themselves are deleted, so nothing that reads a detail's plan has to know about
    removals; `rows` holds their columns (ids aside) until a coordinator puts them back or the
    short undo window passes. The event log records both on the detail's timeline.
    """

    __table_args__ = (sa.CheckConstraint(one_of("kind", REMOVAL_KINDS), name="kind_known"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    detail_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("detail.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))  # what was removed: names the undo notice
    summary: so.Mapped[str] = so.mapped_column(sa.String(300))  # "the visit to The Savoy (Tue 10:00–12:00)"
    # {"visit": [{column: value}], "movement": [...], "assignment": [...]}. It holds movement notes,
    # which are internal: only the coordinator pages read removals, never a client's.
    rows: so.Mapped[dict] = so.mapped_column(sa.JSON)
    removed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    removed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    restored_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    detail: so.Mapped[Detail] = so.relationship()
    removed_by: so.Mapped["User | None"] = so.relationship()
