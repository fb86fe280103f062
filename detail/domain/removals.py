"""Taking a visit, a movement or an assignment off a detail, and putting it back for a short while.

A removal deletes the rows for real, so every reader of a detail's plan (board, phone, calendar,
API, intel) stops seeing them without knowing that removals exist, and the database constraints
(one lead, one assignment per agent) stay as they are. A Removal row keeps a snapshot of what was
deleted; undo re-creates those rows, within UNDO_WINDOW and once, through the same checks as adding
them, so an undo can never put back what would no longer be allowed. The event log records both on
the detail's timeline.

Removing a visit removes the movements that touch it with it: the one that brings the principal
there and the one that takes the principal away. Kept, they would send the principal to, or from,
a venue the plan no longer has. The confirmation names them; undo puts them back together.

Flushes, never commits.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain import live
from detail.domain.itinerary import check_assignment, check_movement, check_visit
from detail.domain.timefmt import local_time, zone_label
from detail.extensions import db
from detail.models import Assignment, Detail, Event, Movement, Removal, User, UTCDateTime, Visit, utcnow

UNDO_WINDOW = timedelta(seconds=30)
MODELS = {"visit": Visit, "movement": Movement, "assignment": Assignment}


class CannotUndo(ValueError):
    """The removal is past its window or already undone; the message says which."""


# --- what a removal takes and how it is named ---------------------------------------------------


def _span(start: datetime, end: datetime, tz: str, end_tz: str | None = None) -> str:
    """ "Tue 10:00–12:00 GMT": the day once, the end's day too when it is another, and the zone's label
    once when both ends carry the same one, else after each ("Tue 09:00 GMT–10:40 CET")."""
    end_tz = end_tz or tz
    same_day = local_time(start, tz, "%Y-%m-%d") == local_time(end, end_tz, "%Y-%m-%d")
    starts = local_time(start, tz, "%a %H:%M")
    ends = local_time(end, end_tz, "%H:%M" if same_day else "%a %H:%M")
    start_label, end_label = zone_label(start, tz), zone_label(end, end_tz)
    if start_label == end_label:
        return f"{starts}–{ends} {end_label}"
    return f"{starts} {start_label}–{ends} {end_label}"


def visit_name(visit: Visit) -> str:
    """'the visit to The Savoy (Tue 10:00–12:00 GMT)', in the venue's time."""
    return f"the visit to {visit.site.name} ({_span(visit.arrives_at, visit.departs_at, visit.site.timezone)})"


def movement_name(movement: Movement) -> str:
    """'the movement LCY → The Savoy (Tue 09:00–09:40 GMT)', each end in its venue's time."""
    span = _span(movement.departs_at, movement.arrives_at, movement.from_site.timezone, movement.to_site.timezone)
    return f"the movement {movement.from_site.name} → {movement.to_site.name} ({span})"


def assignment_name(assignment: Assignment) -> str:
    """ "Bravo 1's assignment as Detail lead"."""
    return f"{assignment.agent.call_sign}'s assignment as {assignment.role_label}"


def movements_touching(visit: Visit) -> list[tuple[Movement, str]]:
    """The movements that bring the principal to this visit ("arrives") and take the principal away ("leaves").

    The one arriving is the principal's last movement to end by the visit's departure, when it ends at
    the visit's venue; the one leaving is the first to start from the visit's arrival on, when it starts
    there. Another venue in between means the principal was elsewhere: that movement is not this visit's.
    """
    others = list(visit.detail.movements)
    before = [m for m in others if m.arrives_at <= visit.departs_at]
    arriving = max(before, key=lambda m: m.arrives_at, default=None)
    touching = []
    if arriving is not None and arriving.to_site_id == visit.site_id:
        touching.append((arriving, "arrives"))
    after = [m for m in others if m.departs_at >= visit.arrives_at and m is not arriving]
    leaving = min(after, key=lambda m: m.departs_at, default=None)
    if leaving is not None and leaving.from_site_id == visit.site_id:
        touching.append((leaving, "leaves"))
    return touching


def visit_consequences(visit: Visit) -> list[str]:
    """What else goes with the visit, one sentence a movement."""
    where = {"arrives": "arrives there", "leaves": "leaves from there"}
    return [
        f"The movement {m.from_site.name} → {m.to_site.name} that {where[how]} will be removed too."
        for m, how in movements_touching(visit)
    ]


# --- snapshots ----------------------------------------------------------------------------------


def _snapshot(row) -> dict:
    values = {}
    for column in row.__table__.columns:
        if column.primary_key:
            continue
        value = getattr(row, column.key)
        values[column.key] = value.isoformat() if isinstance(value, datetime) else value
    return values


def _rebuild(model, values: dict):
    row = model()
    for column in model.__table__.columns:
        if column.key in values:
            value = values[column.key]
            if value is not None and isinstance(column.type, UTCDateTime):
                value = datetime.fromisoformat(value)
            setattr(row, column.key, value)
    return row


def _remove(detail: Detail, kind: str, summary: str, rows: list, by: User, now: datetime) -> tuple[Removal, Event]:
    snapshot: dict[str, list[dict]] = {}
    for row in rows:
        snapshot.setdefault(type(row).__name__.lower(), []).append(_snapshot(row))
        db.session.delete(row)
    removal = Removal(
        detail_id=detail.id, kind=kind, summary=summary[:300], rows=snapshot, removed_by=by, removed_at=now
    )
    db.session.add(removal)
    db.session.flush()
    event = live.append_event(
        detail.client.organisation_id,
        detail.id,
        "itinerary_removed",
        {"removal_id": removal.id, "kind": kind, "what": summary, "by": by.name, "at": now.isoformat()},
    )
    return removal, event


def remove_visit(visit: Visit, by: User, now: datetime | None = None) -> tuple[Removal, Event]:
    """Delete the visit and the movements that touch it, keeping them for undo."""
    touching = [m for m, _ in movements_touching(visit)]
    summary = visit_name(visit)
    if touching:
        summary += " and " + " and ".join(movement_name(m) for m in touching)
    return _remove(visit.detail, "visit", summary, [visit, *touching], by, now or utcnow())


def remove_movement(movement: Movement, by: User, now: datetime | None = None) -> tuple[Removal, Event]:
    """Delete the movement, keeping it for undo."""
    return _remove(movement.detail, "movement", movement_name(movement), [movement], by, now or utcnow())


def remove_assignment(assignment: Assignment, by: User, now: datetime | None = None) -> tuple[Removal, Event]:
    """Take the agent off the detail, keeping the assignment for undo."""
    return _remove(assignment.detail, "assignment", assignment_name(assignment), [assignment], by, now or utcnow())


# --- undo ---------------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def seconds_left(removal: Removal, now: datetime | None = None) -> int:
    """Whole seconds left to undo the removal (0 when it can no longer be undone)."""
    if removal.restored_at is not None:
        return 0
    left = (removal.removed_at + UNDO_WINDOW - (now or utcnow())).total_seconds()
    return max(0, int(left))


def undoable(detail: Detail, user: User, now: datetime | None = None) -> list[Removal]:
    """The user's own removals from this detail that can still be undone, newest first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(Removal)
            .where(
                Removal.detail_id == detail.id,
                Removal.removed_by_id == user.id,
                Removal.restored_at.is_(None),
                Removal.removed_at > now - UNDO_WINDOW,
            )
            .order_by(Removal.id.desc())
        )
    )


def undo(removal: Removal, by: User, now: datetime | None = None) -> Event:
    """Put the removed rows back; CannotUndo when too late or already done, Invalid when they no
    longer fit the plan (e.g. the agent has since been given the lead elsewhere)."""
    now = now or utcnow()
    # Claimed with a compare-and-set, so two clicks of Undo (or two coordinators) restore it once.
    claimed = db.session.execute(
        sa.update(Removal)
        .where(
            Removal.id == removal.id,
            Removal.restored_at.is_(None),
            Removal.removed_at > now - UNDO_WINDOW,
        )
        .values(restored_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(removal, ["restored_at"])
    if not claimed:
        if removal.restored_at is not None:
            raise CannotUndo(f"{_sentence(removal.summary)} was already put back.")
        raise CannotUndo(
            f"Too late to undo: {removal.summary} was removed more than {int(UNDO_WINDOW.total_seconds())} s ago. "
            "Add it again instead."
        )
    detail = removal.detail
    for kind in ("visit", "movement", "assignment"):
        for values in removal.rows.get(kind, []):
            row = _rebuild(MODELS[kind], values)
            row.detail = detail
            if kind == "visit":
                check_visit(row)
            elif kind == "movement":
                check_movement(row)
            else:
                check_assignment(row, by)
                if values.get("overridden_at") and row.overridden_at is not None:
                    # The conflict was overridden when it was first assigned: that decision stands.
                    row.overridden_by_id = values["overridden_by_id"]
                    row.overridden_at = datetime.fromisoformat(values["overridden_at"])
            db.session.add(row)
    db.session.flush()
    return live.append_event(
        detail.client.organisation_id,
        detail.id,
        "itinerary_restored",
        {"removal_id": removal.id, "kind": removal.kind, "what": removal.summary, "by": by.name, "at": now.isoformat()},
    )
