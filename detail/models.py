"""The detail domain's tables.

Times are stored in UTC (UTCDateTime makes SQLite keep that promise too) and shown in
each venue's time zone. Rules that must hold whatever code writes the rows live in the
database as foreign keys, unique keys and check constraints.

Internal fields: a column declared with ``info={"internal": True}`` holds what only the organisation's
own people may read (the team's notes, assessments, survey findings, what an agent reported). It never
reaches a client contact: not the portal's pages, not the mail sent to contacts (digests, notices), not
the feeds they read. The marker is what tests/test_internal_fields.py walks the models for: it fills
every such column and reads everything a client can read for it. A new text column that clients must
not see gets the marker too.
"""

import hashlib
import secrets
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from detail.extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _latlon_checks(prefix: str = "") -> tuple:
    lat, lon = f"{prefix}latitude", f"{prefix}longitude"
    return (
        sa.CheckConstraint(f"{lat} >= -90 AND {lat} <= 90", name=f"{prefix}latitude_range"),
        sa.CheckConstraint(f"{lon} >= -180 AND {lon} <= 180", name=f"{prefix}longitude_range"),
    )


ROLES = ("admin", "coordinator", "agent", "client")
STAFF_ROLES = ("admin", "coordinator")
DETAIL_STATES = ("planned", "hot", "complete")
CODE_KINDS = ("routine", "attention", "emergency")
# What the alert rules read a code as; codes themselves are the organisation's to name.
CODE_SIGNALS = ("moving", "on_station", "hot", "returning", "clear", "duress")
# What an agent leaving a venue becomes: on the move again, or done.
GEOFENCE_LEAVE_SIGNALS = ("moving", "clear")
ASSIGNMENT_ROLES = ("detail_lead", "shift_leader", "advance", "driver", "agent")
ASSIGNMENT_ROLE_LABELS = {
    "detail_lead": "Detail lead",
    "shift_leader": "Shift leader",
    "advance": "Advance",
    "driver": "Driver",
    "agent": "Agent",
}


def _in(column: str, values: tuple) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Organisation(db.Model):
    """The protection firm: users, clients, venues and status codes belong to it."""

    __table_args__ = (
        sa.CheckConstraint(_in("geofence_leave_signal", GEOFENCE_LEAVE_SIGNALS), name="geofence_leave_signal_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120), unique=True)
    timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC")
    # Alert rules: late when no OM this long before report time; silent after this long without a word.
    om_lead_minutes: so.Mapped[int] = so.mapped_column(default=30, server_default="30")
    silent_after_minutes: so.Mapped[int] = so.mapped_column(default=10, server_default="10")
    # Arrival by geofence: inside a venue this long sets on station, outside this long after it the leave
    # signal; a status set by hand holds off automatic ones for manual_precedence_minutes.
    geofence_dwell_seconds: so.Mapped[int] = so.mapped_column(default=120, server_default="120")
    geofence_leave_signal: so.Mapped[str] = so.mapped_column(sa.String(16), default="moving", server_default="moving")
    manual_precedence_minutes: so.Mapped[int] = so.mapped_column(default=10, server_default="10")
    # Staffing: an agent cannot be on two details whose venues are further apart than this speed
    # covers in the gap between the shifts, plus the buffer.
    travel_speed_kmh: so.Mapped[int] = so.mapped_column(default=50, server_default="50")
    travel_buffer_minutes: so.Mapped[int] = so.mapped_column(default=30, server_default="30")
    # Requests inbox: an urgent request not acknowledged within this long alerts the board.
    request_alert_minutes: so.Mapped[int] = so.mapped_column(default=15, server_default="15")
    # Feeds are fetched from public addresses only; these host names and ranges (netguard.parse_allow_list)
    # are the admin's exceptions, for an intranet feed.
    feed_private_hosts: so.Mapped[str] = so.mapped_column(sa.Text, default="", server_default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    status_codes: so.WriteOnlyMapped["StatusCode"] = so.relationship(back_populates="organisation")

    def __repr__(self) -> str:
        return f"<Organisation {self.name}>"


def new_session_version() -> str:
    return secrets.token_hex(8)


class User(UserMixin, db.Model):
    """Anyone who signs in: admin, coordinator, agent, or a client's contact."""

    __table_args__ = (
        sa.CheckConstraint(_in("role", ROLES), name="role_known"),
        # A client contact belongs to exactly one client; nobody else belongs to any.
        sa.CheckConstraint("(role = 'client') = (client_id IS NOT NULL)", name="client_contact_has_client"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    organisation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("organisation.id"), index=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    role: so.Mapped[str] = so.mapped_column(sa.String(16))
    client_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("client.id"), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(120), default="")
    phone: so.Mapped[str] = so.mapped_column(sa.String(40), default="")
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # Copied into each sign-in's UserSession; a session is live only while the two match, so a new
    # value ends every session of the account at once, and one signing in at that very moment too.
    # Random rather than a counter, so no two changes (or a restored backup) give back an old value.
    session_version: so.Mapped[str] = so.mapped_column(sa.String(32), default=new_session_version, server_default="0")

    organisation: so.Mapped[Organisation] = so.relationship()
    client: so.Mapped["Client | None"] = so.relationship(back_populates="contacts")
    agent: so.Mapped["Agent | None"] = so.relationship(back_populates="user")

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    # The secret of the sign-in this object was loaded for (or just made by): never stored, never a column.
    session_secret = None

    def get_id(self) -> str:
        """Flask-Login's id for the session and remember cookies: "<user id>:<session secret>"."""
        if not self.session_secret:
            raise RuntimeError("no session to name: sign in with sessions.start_session first")
        return f"{self.id}:{self.session_secret}"

    # UserMixin compares get_id(), which names a sign-in: two sign-ins of one account are one user.
    def __eq__(self, other):
        if isinstance(other, User):
            return self is other or (self.id is not None and self.id == other.id)
        return NotImplemented

    __hash__ = object.__hash__

    def end_sessions(self) -> None:
        """Sign the account out everywhere: every session and remember cookie issued so far stops working."""
        self.session_version = new_session_version()

    @so.validates("password_hash", "active", "role")
    def _end_sessions_on_change(self, key: str, value):
        # Whichever page, API call or command changes these, the sessions made before must not keep
        # the old password's, the old role's or a deactivated account's access.
        if sa.inspect(self).persistent and getattr(self, key) != value:
            self.end_sessions()
        return value

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class UserSession(db.Model):
    """One signed-in browser: what its session and remember cookies name, until it signs out.

    Only a hash of the secret is kept; the secret itself lives in the cookies. A session is live
    while it has not ended, was used within the idle limit and carries its account's session version.
    """

    __tablename__ = "user_sessions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    secret_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    session_version: so.Mapped[str] = so.mapped_column(sa.String(32))
    device: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    ended_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()

    @staticmethod
    def hash(secret: str) -> str:
        # 256 random bits: a fast hash is enough, there is nothing to brute-force.
        return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(db.Model):
    """A revocable token for phones and scripts; only its SHA-256 is stored."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80), default="")
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship()

    @staticmethod
    def hash(token: str) -> str:
        # Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
        return hashlib.sha256(token.encode()).hexdigest()


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
        *_latlon_checks(),
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
        sa.CheckConstraint(_in("state", DETAIL_STATES), name="state_known"),
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


class Assignment(db.Model):
    """An agent's place on a detail: role, where and when to report, and the shift."""

    __table_args__ = (
        sa.UniqueConstraint("detail_id", "agent_id"),
        sa.CheckConstraint(_in("role", ASSIGNMENT_ROLES), name="role_known"),
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


class StatusCode(db.Model):
    """A code an agent can send. Data, not constants: "Code 4" means different things to different firms."""

    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "code"),
        sa.CheckConstraint(_in("kind", CODE_KINDS), name="kind_known"),
        sa.CheckConstraint(f"signal IS NULL OR {_in('signal', CODE_SIGNALS)}", name="signal_known"),
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

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "spoken_name": self.spoken_name,
            "meaning": self.meaning,
            "kind": self.kind,
            "colour": self.colour,
            "signal": self.signal,
        }


DEFAULT_STATUS_CODES = (
    # code, spoken name, meaning, kind, colour, needs position, signal
    ("OM", "Oscar Mike", "On the move, en route", "routine", "#1e88e5", True, "moving"),
    ("OS", "On station", "In position at the assigned post", "routine", "#43a047", True, "on_station"),
    ("HOT", "Hot", "Detail live: principal in our care", "attention", "#e53935", False, "hot"),
    ("RTB", "Return to base", "Returning from the detail", "routine", "#8e24aa", False, "returning"),
    ("CLR", "Clear", "Clear, off detail", "routine", "#757575", False, "clear"),
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
        *_latlon_checks(),
        sa.CheckConstraint(_in("source", SOURCES), name="source_known"),
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
        *_latlon_checks(),
        sa.CheckConstraint(_in("source", SOURCES), name="source_known"),
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
        sa.CheckConstraint(_in("kind", ALERT_KINDS), name="kind_known"),
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


DEVICE_KINDS = ("device", "phone")


class Device(db.Model):
    """A tracking app's device id or a phone number, bound to an agent by a coordinator.

    Identifiers are unique across organisations: a request from an app carries nothing else.
    """

    __table_args__ = (sa.CheckConstraint(_in("kind", DEVICE_KINDS), name="kind_known"),)

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
        sa.CheckConstraint(_in("kind", UNAVAILABILITY_KINDS), name="kind_known"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agent_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="leave")
    starts_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    ends_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    note: so.Mapped[str] = so.mapped_column(sa.String(200), default="", info={"internal": True})
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    agent: so.Mapped[Agent] = so.relationship()


RISK_STATUSES = ("open", "mitigated", "accepted", "closed")


class Risk(db.Model):
    """A risk in a client's register, or a detail's: how likely, how bad, what is done, who owns it,
    and when it is next reviewed. Internal: clients never see it."""

    __table_args__ = (
        sa.CheckConstraint("likelihood BETWEEN 1 AND 5", name="likelihood_range"),
        sa.CheckConstraint("impact BETWEEN 1 AND 5", name="impact_range"),
        sa.CheckConstraint(_in("status", RISK_STATUSES), name="status_known"),
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

    __table_args__ = (sa.CheckConstraint(_in("assessment", ASSESSMENTS), name="assessment_known"),)

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


NOTICE_STATUSES = ("pending", "sending", "sent", "failed", "uncertain")


class Notice(db.Model):
    """An email to one person, written whole before sending (request acknowledged or answered, lead
    handed over); the "notices" job delivers it once, retrying transient failures."""

    __table_args__ = (
        sa.CheckConstraint(_in("status", NOTICE_STATUSES), name="status_known"),
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


REQUEST_PRIORITIES = ("urgent", "normal", "low")
REQUEST_CHANNELS = ("portal", "phone", "email", "in_person")


class ClientRequest(db.Model):
    """A client's request or question, logged from the portal or by a coordinator on a contact's behalf;
    acknowledged, then answered, both timed from when it was received."""

    __table_args__ = (
        sa.CheckConstraint(_in("priority", REQUEST_PRIORITIES), name="priority_known"),
        sa.CheckConstraint(_in("channel", REQUEST_CHANNELS), name="channel_known"),
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
        sa.CheckConstraint(_in("status", SURVEY_STATUSES), name="status_known"),
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
