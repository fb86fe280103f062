"""The on-call rota: who in the organisation is primary and who is backup at any moment.

A shift is a staff member (admin or coordinator) of the organisation on call in one role between
two moments, stored in UTC; pages show and read them in the organisation's zone. Shifts of one
role may overlap (a standing week-long backup, a night covered by someone else): at any moment the
shift that started last wins, so a cover added over a longer shift takes over for its stretch.

Flushes, never commits; returns the events it appended (the caller commits and publishes).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain import live
from detail.domain.bounds import EARLIEST_YEAR, LATEST_YEAR
from detail.domain.itinerary import Invalid
from detail.domain.timefmt import CLOCK, local_time
from detail.extensions import db
from detail.models import ON_CALL_ROLES, STAFF_ROLES, Event, OnCallShift, Organisation, User, utcnow

# A shift longer than this is refused as a probable typo (a year off); a standing rota is several shifts.
LONGEST_SHIFT = timedelta(days=31)
NOTE_LENGTH = 200
UPCOMING_DAYS = 14


@dataclass(frozen=True)
class OnCallNow:
    """Who is on call at one moment: the primary and the backup, either of them possibly nobody."""

    primary: User | None
    backup: User | None

    @property
    def nobody(self) -> bool:
        return self.primary is None and self.backup is None


def _covering(organisation_id: int, moment: datetime) -> sa.Select:
    # Only the organisation's active staff count: a deactivated account's shift is as if it were not there.
    return (
        sa.select(OnCallShift)
        .join(User, OnCallShift.user_id == User.id)
        .where(
            OnCallShift.organisation_id == organisation_id,
            OnCallShift.starts_at <= moment,
            OnCallShift.ends_at > moment,
            User.organisation_id == organisation_id,
            User.active,
            User.role.in_(STAFF_ROLES),
        )
        .options(so.contains_eager(OnCallShift.user))
    )


def on_call_at(organisation_id: int, moment: datetime) -> OnCallNow:
    """The primary and the backup on call at that moment (UTC).

    A shift covers [starts_at, ends_at): it holds at its start and no longer at its end. When two
    shifts of one role overlap, the one that started last wins (on a tie, the one added last), so a
    short cover written over a long shift takes over for its stretch. Shifts of deactivated or
    non-staff accounts are ignored.
    """
    shifts = db.session.scalars(
        _covering(organisation_id, moment).order_by(OnCallShift.starts_at.desc(), OnCallShift.id.desc())
    ).all()
    chosen: dict[str, User] = {}
    for shift in shifts:
        chosen.setdefault(shift.role, shift.user)
    return OnCallNow(primary=chosen.get("primary"), backup=chosen.get("backup"))


def summary(organisation_id: int, zone: str, now: datetime | None = None) -> dict:
    """Who is on call now by name, as the board and the rota page say it, with the time it was true at."""
    now = now or utcnow()
    on_call = on_call_at(organisation_id, now)
    return {
        "primary": on_call.primary.name if on_call.primary else None,
        "backup": on_call.backup.name if on_call.backup else None,
        "nobody": on_call.nobody,
        "as_of": local_time(now, zone, CLOCK),
    }


def shifts_between(organisation_id: int, start: datetime, end: datetime) -> list[OnCallShift]:
    """The organisation's shifts that overlap [start, end), earliest first."""
    return db.session.scalars(
        sa.select(OnCallShift)
        .where(
            OnCallShift.organisation_id == organisation_id,
            OnCallShift.ends_at > start,
            OnCallShift.starts_at < end,
        )
        .options(so.selectinload(OnCallShift.user))
        .order_by(OnCallShift.starts_at, OnCallShift.role, OnCallShift.id)
    ).all()


def upcoming_shifts(organisation_id: int, now: datetime | None = None, days: int = UPCOMING_DAYS) -> list[OnCallShift]:
    """Shifts running now or starting in the next `days` days, earliest first."""
    now = now or utcnow()
    return shifts_between(organisation_id, now, now + timedelta(days=days))


def staff_for_rota(organisation_id: int) -> list[User]:
    """The people who may be put on call: the organisation's active admins and coordinators."""
    return db.session.scalars(
        sa.select(User)
        .where(User.organisation_id == organisation_id, User.active, User.role.in_(STAFF_ROLES))
        .order_by(User.name, User.id)
    ).all()


def check_shift(shift: OnCallShift, now: datetime | None = None) -> None:
    """Raise Invalid (messages per field) unless the shift may be stored as it stands."""
    user = db.session.get(User, shift.user_id) if shift.user_id is not None else None
    errors = _person_errors(shift, user) | _time_errors(shift, now or utcnow())
    if shift.role not in ON_CALL_ROLES:
        errors["role"] = f"The role is one of {', '.join(ON_CALL_ROLES)}."
    if len(shift.note or "") > NOTE_LENGTH:
        errors["note"] = f"At most {NOTE_LENGTH} characters."
    if not errors and (clash := _other_role_clash(shift)) is not None:
        errors["user_id"] = (
            f"{user.name} is already {clash.role} from {_when(clash)}: one person cannot be primary and backup at once."
        )
    if errors:
        raise Invalid(errors)


def _person_errors(shift: OnCallShift, user: User | None) -> dict[str, str]:
    if user is None or user.organisation_id != shift.organisation_id:
        return {"user_id": "No such person in your organisation."}
    if user.role not in STAFF_ROLES:
        return {"user_id": f"{user.name} is an {user.role} account: only coordinators and admins can be on call."}
    if not user.active:
        return {"user_id": f"{user.name}'s account is deactivated."}
    return {}


def _time_errors(shift: OnCallShift, now: datetime) -> dict[str, str]:
    errors = {}
    for name in ("starts_at", "ends_at"):
        value = getattr(shift, name)
        if value is None:
            errors[name] = "Required."
        elif not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            errors[name] = f"Must be a time between the years {EARLIEST_YEAR} and {LATEST_YEAR}."
    if errors:
        return errors
    if shift.ends_at <= shift.starts_at:
        return {"ends_at": "The shift must end after it starts."}
    if shift.ends_at - shift.starts_at > LONGEST_SHIFT:
        return {"ends_at": f"A shift is at most {LONGEST_SHIFT.days} days long: add several."}
    if shift.ends_at <= now:
        return {"ends_at": "This shift would already be over: the rota is for now and what is to come."}
    return {}


def _other_role_clash(shift: OnCallShift) -> OnCallShift | None:
    query = sa.select(OnCallShift).where(
        OnCallShift.organisation_id == shift.organisation_id,
        OnCallShift.user_id == shift.user_id,
        OnCallShift.role != shift.role,
        OnCallShift.starts_at < shift.ends_at,
        OnCallShift.ends_at > shift.starts_at,
    )
    if shift.id is not None:
        query = query.where(OnCallShift.id != shift.id)
    return db.session.scalars(query.order_by(OnCallShift.starts_at).limit(1)).first()


def _zone(organisation_id: int) -> str:
    return db.session.get(Organisation, organisation_id).timezone


def _when(shift: OnCallShift) -> str:
    zone = _zone(shift.organisation_id)
    return f"{local_time(shift.starts_at, zone)} to {local_time(shift.ends_at, zone)}"


def shift_payload(shift: OnCallShift) -> dict:
    """A shift as the event log and the API describe it (times in UTC and in the organisation's zone)."""
    zone = _zone(shift.organisation_id)
    return {
        "shift_id": shift.id,
        "user_id": shift.user_id,
        "name": shift.user.name if shift.user else "",
        "role": shift.role,
        "starts_at": shift.starts_at.isoformat(),
        "ends_at": shift.ends_at.isoformat(),
        "starts_local": local_time(shift.starts_at, zone),
        "ends_local": local_time(shift.ends_at, zone),
    }


def _event(shift: OnCallShift, kind: str, by: User | None) -> Event:
    payload = shift_payload(shift) | {"by": by.name if by else ""}
    return live.append_event(shift.organisation_id, None, kind, payload)


def add_shift(
    organisation_id: int,
    *,
    user_id: int,
    role: str,
    starts_at: datetime,
    ends_at: datetime,
    note: str = "",
    by: User | None = None,
    now: datetime | None = None,
) -> tuple[OnCallShift, list]:
    """Put a person on call (raises Invalid and adds nothing when a rule is broken); flushes."""
    shift = OnCallShift(
        organisation_id=organisation_id,
        user_id=user_id,
        role=role,
        starts_at=starts_at,
        ends_at=ends_at,
        note=(note or "").strip(),
    )
    with db.session.no_autoflush:
        check_shift(shift, now)
    db.session.add(shift)
    db.session.flush()
    return shift, [_event(shift, "on_call_added", by)]


def edit_shift(shift: OnCallShift, *, by: User | None = None, now: datetime | None = None, **changes) -> list:
    """Change a shift's person, role, times or note (raises Invalid and changes nothing when a rule is broken)."""
    before = {name: getattr(shift, name) for name in changes}
    for name, value in changes.items():
        setattr(shift, name, value.strip() if name == "note" else value)
    try:
        with db.session.no_autoflush:
            check_shift(shift, now)
    except Invalid:
        for name, value in before.items():
            setattr(shift, name, value)
        raise
    db.session.flush()
    db.session.expire(shift, ["user"])
    return [_event(shift, "on_call_changed", by)]


def remove_shift(shift: OnCallShift, by: User | None = None) -> list:
    """Take a shift off the rota; flushes."""
    event = _event(shift, "on_call_removed", by)
    db.session.delete(shift)
    db.session.flush()
    return [event]
