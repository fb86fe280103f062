"""A client contact's digest preferences, and the signed token of a digest's one-click unsubscribe link.

Reading a preference writes nothing: pages, previews and dry runs get the stored row or an
unsaved default (preference_or_default). preference_for, for a caller that means to keep the
preference (the preferences form, the digest job), adds the default to the session; the caller
commits. Never commits.
"""

from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from detail.domain.storage import insert_once
from detail.domain.timefmt import known_zone
from detail.extensions import db
from detail.models import Detail, Site, User, Visit
from intel.models import ContactPreference

UNSUBSCRIBE_SALT = "digest-unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int) -> str:
    """The signed token in a digest's List-Unsubscribe link."""
    return _serializer().dumps(user_id)


def user_id_from_unsubscribe_token(token: str) -> int | None:
    """The user id a token was made for, or None when it is not one of ours."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def unsubscribe_url(user_id: int) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/portal/unsubscribe/{unsubscribe_token(user_id)}"


def stored_preference(user: User) -> ContactPreference | None:
    """The contact's preference as they chose it (or as first kept), None when none is stored."""
    return db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == user.id))


def _default_zone(user: User, now: datetime) -> str:
    """The zone of the client's first venue (of the first detail not yet over), else the organisation's."""
    zone = db.session.scalar(
        sa.select(Site.timezone)
        .join(Visit, Visit.site_id == Site.id)
        .join(Detail, Visit.detail_id == Detail.id)
        .where(Detail.client_id == user.client_id)
        .order_by(sa.case((Detail.ends_at <= now, 1), else_=0), Detail.starts_at, Visit.arrives_at)
        .limit(1)
    )
    return known_zone(zone or user.organisation.timezone)


def _default_values(user: User, now: datetime) -> dict:
    return dict(
        user_id=user.id,
        email=user.email,
        cadence="daily",
        daily_at_minute=7 * 60,
        weekly_day=0,
        min_severity="moderate",
        timezone=_default_zone(user, now),
        all_quiet=False,
        paused=False,
    )


def default_preference(user: User, now: datetime) -> ContactPreference:
    """The preference a contact has until they choose: daily at 07:00 local, moderate and above (not stored)."""
    return ContactPreference(**_default_values(user, now))


def preference_or_default(user: User, now: datetime) -> ContactPreference:
    """The stored preference, or the default unsaved: for reading, it writes nothing."""
    return stored_preference(user) or default_preference(user, now)


def preference_for(user: User, now: datetime) -> ContactPreference:
    """The stored preference, or the default stored now, for a caller whose commit keeps it. Stored
    once even when two requests (two tabs, a page and the digest job) ask for it at the same moment."""
    stored = stored_preference(user)
    if stored is not None:
        return stored
    return insert_once(ContactPreference, ("user_id",), **_default_values(user, now)) or stored_preference(user)
