"""Staffing conflicts: an agent on overlapping shifts, on two details whose venues cannot be reached
in the gap between them, or while unavailable (leave, training).

A conflict refuses the assignment unless a coordinator gives a reason to assign anyway; the reason,
who gave it and when are kept on the assignment.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain.distance import distance_m
from detail.domain.timefmt import assignment_zone, local_time
from detail.extensions import db
from detail.models import Agent, Assignment, Detail, Organisation, Site, Unavailability, User, utcnow

# Shifts further apart than this cannot be a travel problem.
NEIGHBOURHOOD = timedelta(hours=48)


@dataclass(frozen=True)
class Conflict:
    kind: str  # "overlap", "travel" or "unavailable"
    message: str


def _when(moment: datetime, zone: str) -> str:
    return local_time(moment, zone, "%d %b %H:%M %Z")


def _shift_zone(assignment: Assignment) -> str:
    """A shift is read on its post's clock, else its detail's (see timefmt.assignment_zone)."""
    return assignment_zone(assignment, *_post_and_detail(assignment))


def _post_and_detail(assignment: Assignment) -> tuple[Site | None, Detail]:
    # An assignment being created holds ids only until it is flushed.
    site = assignment.site or (db.session.get(Site, assignment.site_id) if assignment.site_id else None)
    return site, assignment.detail or db.session.get(Detail, assignment.detail_id)


def first_venue(assignment: Assignment) -> Site | None:
    """Where the agent must be at the start of the shift: the post, else the detail's first stop."""
    site, detail = _post_and_detail(assignment)
    if site is not None:
        return site
    visits = sorted(detail.visits, key=lambda v: v.arrives_at)
    return visits[0].site if visits else None


def last_venue(assignment: Assignment) -> Site | None:
    """Where the agent is at the end of the shift: the post, else the detail's last stop."""
    site, detail = _post_and_detail(assignment)
    if site is not None:
        return site
    stops = [(v.departs_at, v.site) for v in detail.visits]
    stops += [(m.arrives_at, m.to_site) for m in detail.movements]
    return max(stops, key=lambda stop: stop[0])[1] if stops else None


def _travel(earlier: Assignment, later: Assignment, organisation: Organisation) -> Conflict | None:
    start, end = last_venue(earlier), first_venue(later)
    if start is None or end is None:
        return None
    gap = later.shift_starts_at - earlier.shift_ends_at
    distance_km = distance_m(start.latitude, start.longitude, end.latitude, end.longitude) / 1000
    needed = timedelta(hours=distance_km / organisation.travel_speed_kmh) + timedelta(
        minutes=organisation.travel_buffer_minutes
    )
    if start.id == end.id or gap >= needed:
        return None
    return Conflict(
        "travel",
        f"cannot get from {start.name} ({_post_and_detail(earlier)[1].name}, shift ends "
        f"{_when(earlier.shift_ends_at, _shift_zone(earlier))}) to {end.name} ({_post_and_detail(later)[1].name}, "
        f"shift starts {_when(later.shift_starts_at, _shift_zone(later))}): "
        f"{gap.total_seconds() / 60:.0f} min between the shifts, {needed.total_seconds() / 60:.0f} min needed "
        f"({distance_km:.0f} km at {organisation.travel_speed_kmh} km/h plus {organisation.travel_buffer_minutes} min)",
    )


def conflicts(assignment: Assignment) -> list[Conflict]:
    """The staffing conflicts of an assignment about to be saved (its agent, detail and shift set)."""
    agent = assignment.agent or db.session.get(Agent, assignment.agent_id)
    organisation = agent.organisation
    found = []
    others = db.session.scalars(
        sa.select(Assignment).where(
            Assignment.agent_id == assignment.agent_id,
            Assignment.id != (assignment.id or 0),
            Assignment.shift_starts_at < assignment.shift_ends_at + NEIGHBOURHOOD,
            Assignment.shift_ends_at > assignment.shift_starts_at - NEIGHBOURHOOD,
        )
    )
    for other in others:
        if other.detail_id == assignment.detail_id:
            continue
        if other.shift_starts_at < assignment.shift_ends_at and assignment.shift_starts_at < other.shift_ends_at:
            found.append(
                Conflict(
                    "overlap",
                    f"already on {other.detail.name} from {_when(other.shift_starts_at, _shift_zone(other))} to "
                    f"{_when(other.shift_ends_at, _shift_zone(other))}",
                )
            )
            continue
        earlier, later = (
            (other, assignment) if other.shift_ends_at <= assignment.shift_starts_at else (assignment, other)
        )
        travel = _travel(earlier, later, organisation)
        if travel is not None:
            found.append(travel)
    away = db.session.scalars(
        sa.select(Unavailability).where(
            Unavailability.agent_id == assignment.agent_id,
            Unavailability.starts_at < assignment.shift_ends_at,
            Unavailability.ends_at > assignment.shift_starts_at,
        )
    )
    for period in away:
        found.append(
            Conflict(
                "unavailable",
                f"unavailable ({period.kind}{': ' + period.note if period.note else ''}) from "
                f"{_when(period.starts_at, organisation.timezone)} to {_when(period.ends_at, organisation.timezone)}",
            )
        )
    return found


def record_override(assignment: Assignment, user: User, found: list[Conflict]) -> None:
    """Keep who assigned despite conflicts, and when; nothing when there was no conflict."""
    if found:
        assignment.overridden_by_id = user.id
        assignment.overridden_at = utcnow()
    else:
        assignment.override_reason = ""
        assignment.overridden_by_id = None
        assignment.overridden_at = None
