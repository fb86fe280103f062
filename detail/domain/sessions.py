"""Sign-in sessions: one UserSession row per signed-in browser, named by the secret in its cookies.

Signing out ends that browser's row only, so an agent who signs out at a shared desk leaves the
phone page that carries his statuses and duress code signed in. A new password, a deactivation or
a role change (User._end_sessions_on_change) gives the account a new session version, which ends
every row at once. Flushes, never commits, except the last-seen stamp (see stamp_last_seen).
"""

import logging
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from detail.extensions import db
from detail.models import User, UserSession, utcnow

# As long as "Keep me signed in" lasts: a session unused this long is dead, whatever its cookies say.
IDLE_LIMIT = timedelta(days=30)
# Every request loads the session; stamping it once in a while keeps "last seen" true enough.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)
DEVICE_LENGTH = 200
log = logging.getLogger(__name__)


def describe_device(user_agent: str) -> str:
    """The account page's name for a browser: its user agent, printable and trimmed."""
    printable = "".join(ch for ch in user_agent if ch.isprintable())
    return " ".join(printable.split())[:DEVICE_LENGTH]


def start_session(user: User, device: str = "") -> UserSession:
    """A new session for the user, whose get_id() then names it; its secret exists only in the cookies."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        user=user,
        secret_hash=UserSession.hash(secret),
        session_version=user.session_version,
        device=describe_device(device),
        created_at=now,
        last_seen_at=now,
    )
    db.session.add(row)
    db.session.flush()
    user.session_secret = secret
    return row


def _live(now):
    """Conditions on UserSession joined with its User that make a session live at `now`."""
    return (
        UserSession.ended_at.is_(None),
        UserSession.last_seen_at > now - IDLE_LIMIT,
        UserSession.session_version == User.session_version,
        User.active.is_(True),
    )


_LIVE_BY_SECRET = sa.select(User, UserSession).join(UserSession, UserSession.user_id == User.id)


def live_session(user_id: int, secret: str) -> tuple[User, UserSession] | None:
    """The active user and the live session a cookie's "<user id>:<secret>" names, in one query; or None."""
    row = db.session.execute(
        _LIVE_BY_SECRET.where(User.id == user_id, UserSession.secret_hash == UserSession.hash(secret), *_live(utcnow()))
    ).first()
    if row is None:
        return None
    user, session = row
    user.session_secret = secret
    return user, session


def live_sessions_of(user_ids, now: datetime) -> sa.Select:
    """(user id, session id) of these users' live sessions: what sockets opened with a cookie need."""
    return (
        sa.select(UserSession.user_id, UserSession.id)
        .join(User, UserSession.user_id == User.id)
        .where(UserSession.user_id.in_(user_ids), *_live(now))
    )


def session_alive(user_id: int, session_id: int) -> bool:
    """Whether this session of this user is still live: for sockets, which outlive the request that opened them."""
    found = db.session.scalar(
        sa.select(UserSession.id)
        .join(User, UserSession.user_id == User.id)
        .where(UserSession.id == session_id, UserSession.user_id == user_id, *_live(utcnow()))
    )
    return found is not None


def live_sessions(user: User) -> list[UserSession]:
    """The account's live sessions, the most recently seen first (the account page's list)."""
    return list(
        db.session.scalars(
            sa.select(UserSession)
            .join(User, UserSession.user_id == User.id)
            .where(UserSession.user_id == user.id, *_live(utcnow()))
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def end_session(session: UserSession) -> None:
    """This session and its cookies (copies included) stop working; the account's others go on."""
    if session.ended_at is None:
        session.ended_at = utcnow()


def stamp_last_seen(session: UserSession) -> None:
    """Record that the session was used, at most once per LAST_SEEN_RESOLUTION.

    Its own short transaction: most requests that load a session write nothing and never commit,
    and a browser that only reads must not be taken for idle. The request's unit of work is untouched.
    """
    now = utcnow()
    if now - session.last_seen_at < LAST_SEEN_RESOLUTION:
        return
    try:
        with db.engine.begin() as connection:
            connection.execute(
                sa.update(UserSession)
                .where(UserSession.id == session.id, UserSession.last_seen_at < now - LAST_SEEN_RESOLUTION)
                .values(last_seen_at=now)
            )
    except sa.exc.OperationalError:
        # A busy database must not turn a signed-in request away; the next request stamps it.
        log.warning("could not stamp session %s as seen", session.id, exc_info=True)
        return
    set_committed_value(session, "last_seen_at", now)


def prune_sessions() -> int:
    """Delete sessions that can no longer sign anyone in: ended, idle past the limit, or of an older
    session version of their account. Returns how many went."""
    now = utcnow()
    stale_version = (
        sa.select(User.id)
        .where(User.id == UserSession.user_id, User.session_version != UserSession.session_version)
        .exists()
    )
    dead = sa.or_(UserSession.ended_at.is_not(None), UserSession.last_seen_at <= now - IDLE_LIMIT, stale_version)
    return db.session.execute(
        sa.delete(UserSession).where(dead), execution_options={"synchronize_session": False}
    ).rowcount
