"""The firm and the people who sign in to it: the organisation with its alert, geofence and staffing
settings, its users (admins, coordinators, agents, clients' contacts), their sign-in sessions and
their API tokens.

A secret is never stored, only its hash; changing an account's password, role or active flag ends
every session it had.
"""

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from detail.extensions import db
from detail.models.base import GEOFENCE_LEAVE_SIGNALS, UTCDateTime, one_of, utcnow

if TYPE_CHECKING:  # for type checkers: SQLAlchemy finds the classes by name when the mappers are configured
    from detail.models.operations import Client
    from detail.models.reports import StatusCode
    from detail.models.team import Agent

ROLES = ("admin", "coordinator", "agent", "client")
STAFF_ROLES = ("admin", "coordinator")


class Organisation(db.Model):
    """The protection firm: users, clients, venues and status codes belong to it."""

    __table_args__ = (
        sa.CheckConstraint(one_of("geofence_leave_signal", GEOFENCE_LEAVE_SIGNALS), name="geofence_leave_signal_known"),
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
        sa.CheckConstraint(one_of("role", ROLES), name="role_known"),
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
