"""Who is on call: the organisation's primary and backup at a moment, read from its on-call shifts.

(A minimal version for the escalation engine; the on-call rota's own module replaces it.)
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from detail.extensions import db
from detail.models import OnCallShift, User


@dataclass(frozen=True)
class OnCallNow:
    primary: User | None
    backup: User | None


def on_call_at(organisation_id: int, moment: datetime) -> OnCallNow:
    """The active people on call as primary and backup at that moment (the latest-started shift wins)."""
    found: dict[str, User] = {}
    shifts = db.session.scalars(
        sa.select(OnCallShift)
        .join(User, OnCallShift.user_id == User.id)
        .where(
            OnCallShift.organisation_id == organisation_id,
            OnCallShift.starts_at <= moment,
            OnCallShift.ends_at > moment,
            User.active.is_(True),
        )
        .order_by(OnCallShift.starts_at.desc(), OnCallShift.id.desc())
    )
    for shift in shifts:
        found.setdefault(shift.role, shift.user)
    return OnCallNow(primary=found.get("primary"), backup=found.get("backup"))
