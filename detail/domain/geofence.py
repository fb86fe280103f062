"""Arrival and departure by geofence, decided on the server from positions of any source.

An agent inside one of the detail's venues for the organisation's dwell time is set on station; one
seen inside and then outside every venue for the dwell time is set to the organisation's leave
signal (OM, or clear). Dwell ignores GPS drift at the edge: a fix counts as outside only beyond the
radius plus a margin at least as wide as its own accuracy, and a fix too vague to tell is ignored.
A status the agent set by hand holds automatic ones off for the organisation's window.

Evaluated after each stored position, and by the periodic job for agents whose phones go quiet
once they stop moving (so a dwell completes without another fix).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain.distance import distance_m, screened_distance_m
from detail.domain.statuses import NEAR_ASSIGNMENTS, latest_report, record_status
from detail.extensions import db
from detail.models import (
    Agent,
    Assignment,
    Movement,
    Organisation,
    Position,
    Site,
    StatusCode,
    StatusReport,
    Visit,
    utcnow,
)

EDGE_MARGIN_M = 25
# A fix this vague cannot place anyone at a door.
IGNORE_ACCURACY_M = 250
# Positions older than this do not decide anything now.
LOOKBACK = timedelta(hours=3)
# Automatic statuses only around the agent's shift.
SHIFT_MARGIN = timedelta(hours=2)
# An agent who went on station this long before the last fix inside counts as seen inside after it.
ON_STATION_SLACK = timedelta(minutes=5)
# Signals that mean "at the venue" (hot: the principal is in our care; leaving is deliberate then).
AT_VENUE = ("on_station", "hot")


@dataclass(frozen=True)
class Mark:
    """A position as the geofence reads it: inside a venue, outside all, or at an edge (undecided)."""

    position: Position  # or a row with its id, latitude, longitude, accuracy_m and reported_at
    state: str  # "in", "out" or "edge"
    site: Site | None


def marks_of(positions: list, venues: list[Site]) -> list[Mark]:
    """Each fix read against the venues (fixes too vague to tell left out)."""
    places = [(site, site.latitude, site.longitude, site.arrival_radius_m) for site in venues]
    return [m for m in (mark(p, places) for p in positions) if m is not None]


def mark(position, places: list[tuple[Site, float, float, float]]) -> Mark | None:
    """One fix against (site, latitude, longitude, radius) places."""
    accuracy = position.accuracy_m or 0.0
    if accuracy > IGNORE_ACCURACY_M:
        return None
    edge = False
    for site, latitude, longitude, radius in places:
        outer = radius + max(EDGE_MARGIN_M, accuracy)
        d = screened_distance_m(position.latitude, position.longitude, latitude, longitude, radius, outer)
        if d <= radius:
            return Mark(position, "in", site)
        if d <= outer:
            edge = True
    return Mark(position, "edge" if edge else "out", None)


def venues_of(assignments: list[Assignment]) -> dict[int, list[Site]]:
    """Where the agent may be on station, for each assignment by id: its post and every venue its
    detail visits (Detail.sites), read in one query for all the assignments.

    The geofence runs on every stored position: reading each detail's visits, movements and
    their sites one relationship at a time cost five or more queries per assignment.
    """
    detail_ids = sorted({a.detail_id for a in assignments})
    venues: dict[int, list[Site]] = {detail_id: [] for detail_id in detail_ids}
    if detail_ids:
        for detail_id, site in db.session.execute(_VENUES, {"detail_ids": detail_ids}):
            if site not in venues[detail_id]:
                venues[detail_id].append(site)
    # A post is most often one of the venues just read: the identity map answers without a query.
    return {
        a.id: ([a.site] if a.site else []) + [site for site in venues[a.detail_id] if site is not a.site]
        for a in assignments
    }


def _venues_statement() -> sa.Select:
    """The sites of the details in :detail_ids, in Detail.sites' order: the visits by arrival,
    then each movement's start and end by departure. Built once: building it cost more than running it."""
    detail_ids = sa.bindparam("detail_ids", expanding=True)
    stops = sa.union_all(
        sa.select(
            Visit.detail_id,
            Visit.site_id,
            sa.literal_column("0").label("part"),
            Visit.arrives_at.label("at"),
            Visit.id.label("seq"),
            sa.literal_column("0").label("side"),
        ).where(Visit.detail_id.in_(detail_ids)),
        sa.select(
            Movement.detail_id,
            Movement.from_site_id,
            sa.literal_column("1"),
            Movement.departs_at,
            Movement.id,
            sa.literal_column("0"),
        ).where(Movement.detail_id.in_(detail_ids)),
        sa.select(
            Movement.detail_id,
            Movement.to_site_id,
            sa.literal_column("1"),
            Movement.departs_at,
            Movement.id,
            sa.literal_column("1"),
        ).where(Movement.detail_id.in_(detail_ids)),
    ).subquery()
    return (
        sa.select(stops.c.detail_id, Site)
        .join(Site, Site.id == stops.c.site_id)
        .order_by(stops.c.detail_id, stops.c.part, stops.c.at, stops.c.seq, stops.c.side)
    )


_VENUES = _venues_statement()


def code_for_signal(organisation_id: int, signal: str) -> StatusCode | None:
    return db.session.scalar(
        sa.select(StatusCode)
        .where(StatusCode.organisation_id == organisation_id, StatusCode.signal == signal)
        .order_by(StatusCode.sort_order, StatusCode.id)
    )


def manual_hold(report: StatusReport | None, organisation: Organisation, now: datetime) -> bool:
    """Whether a status set by hand still outranks an automatic one."""
    if report is None or report.automatic:
        return False
    return now - report.received_at < timedelta(minutes=organisation.manual_precedence_minutes)


def arrival(marks: list[Mark], since: datetime | None, dwell: timedelta, now: datetime) -> Mark | None:
    """The first fix of the current stay inside a venue, if the stay has lasted the dwell time."""
    start = None
    last_decided = None
    for m in marks:
        if since is not None and m.position.reported_at < since:
            continue
        if m.state == "out":
            start = None
        elif m.state == "in" and start is None:
            start = m
        if m.state != "edge":
            last_decided = m
    if start is None or last_decided is None or last_decided.state != "in":
        return None
    return start if now - start.position.reported_at >= dwell else None


def departure(marks: list[Mark], on_station_at: datetime, dwell: timedelta, now: datetime) -> Mark | None:
    """The first fix outside every venue after the agent was last seen inside, once outside for the dwell."""
    since = on_station_at - ON_STATION_SLACK
    last_in = max((i for i, m in enumerate(marks) if m.state == "in" and m.position.reported_at >= since), default=None)
    if last_in is None:
        return None  # never seen inside since going on station: a post that is not one of our venues
    after = [m for m in marks[last_in + 1 :] if m.state != "edge"]
    if not after or any(m.state == "in" for m in after):
        return None
    first_out = after[0]
    return first_out if now - first_out.position.reported_at >= dwell else None


_ACTIVE_ASSIGNMENTS = NEAR_ASSIGNMENTS.order_by(Assignment.report_at)


def active_assignments(agent: Agent, now: datetime, ahead: timedelta = SHIFT_MARGIN) -> list[Assignment]:
    """The agent's assignments whose shift is around now: ended at most SHIFT_MARGIN ago, starting
    within `ahead`; by report time."""
    return list(
        db.session.scalars(
            _ACTIVE_ASSIGNMENTS,
            {"agent_id": agent.id, "latest_start": now + ahead, "earliest_end": now - SHIFT_MARGIN},
        )
    )


_FIXES = (
    sa.select(Position.id, Position.latitude, Position.longitude, Position.accuracy_m, Position.reported_at)
    .where(
        Position.agent_id == sa.bindparam("agent_id"),
        Position.reported_at >= sa.bindparam("since", type_=Position.reported_at.type),
        Position.reported_at <= sa.bindparam("until", type_=Position.reported_at.type),
    )
    .order_by(Position.reported_at, Position.id)
)


def recent_positions(agent: Agent, now: datetime, since: datetime | None = None) -> list:
    """The agent's fixes from `since` (at most LOOKBACK ago) to now, oldest first, as plain rows:
    a phone in motion sends thousands in LOOKBACK, and only these columns decide anything."""
    since = max(since, now - LOOKBACK) if since is not None else now - LOOKBACK
    return list(db.session.execute(_FIXES, {"agent_id": agent.id, "since": since, "until": now}))


def _needed_since(latest: StatusReport | None) -> datetime | None:
    """How far back the rules look for this status: arrival from the status on, departure from
    going on station (less the slack); without a status, the whole LOOKBACK."""
    if latest is None:
        return None
    return latest.reported_at - ON_STATION_SLACK


def _decidable(agent: Agent, organisation: Organisation, now: datetime) -> list:
    """(assignment, venues, latest report) of each assignment an automatic status may change now."""
    decidable = []
    assignments = active_assignments(agent, now)
    venues_by_assignment = venues_of(assignments)
    for assignment in assignments:
        venues = venues_by_assignment[assignment.id]
        if not venues:
            continue
        latest = latest_report(agent.id, assignment.detail_id)
        if manual_hold(latest, organisation, now):
            continue
        if latest is not None and latest.status_code.signal == "duress":
            continue  # only a coordinator's acknowledgement ends a duress; nothing automatic touches it
        decidable.append((assignment, venues, latest))
    return decidable


def evaluate_agent(agent: Agent, now: datetime | None = None) -> list:
    """Set on station or the leave signal where the agent's positions say so; returns the events."""
    now = now or utcnow()
    organisation = agent.organisation
    dwell = timedelta(seconds=organisation.geofence_dwell_seconds)
    decidable = _decidable(agent, organisation, now)
    if not decidable:
        return []
    sinces = [_needed_since(latest) for _, _, latest in decidable]
    positions = recent_positions(agent, now, None if None in sinces else min(sinces))
    if not positions:
        return []
    events = []
    for assignment, venues, latest in decidable:
        signal = latest.status_code.signal if latest else None
        marks = marks_of(positions, venues)
        if signal in AT_VENUE:
            if signal != "on_station":
                continue
            found = departure(marks, latest.reported_at, dwell, now)
            wanted, what = organisation.geofence_leave_signal, "leave"
        else:
            found = arrival(marks, latest.reported_at if latest else None, dwell, now)
            wanted, what = "on_station", "arrive"
        if found is None:
            continue
        code = code_for_signal(organisation.id, wanted)
        if code is None:
            continue  # the organisation has no code for this: nothing to set
        where = found.site or _nearest(venues, found.position)
        recorded = record_status(
            agent,
            code,
            # Deterministic: the job and a position arriving at once settle on one report.
            client_id=f"geofence:{assignment.detail_id}:{what}:{found.position.id}",
            reported_at=found.position.reported_at,
            latitude=found.position.latitude,
            longitude=found.position.longitude,
            accuracy=found.position.accuracy_m,
            note=f"{'arrived at' if what == 'arrive' else 'left'} {where.name} (geofence)",
            source="automatic",
            detail_id=assignment.detail_id,
            automatic=True,
            now=now,
        )
        events.extend(recorded.events)
    return events


def _nearest(venues: list[Site], position: Position) -> Site:
    return min(venues, key=lambda s: distance_m(position.latitude, position.longitude, s.latitude, s.longitude))


def evaluate(organisation: Organisation, now: datetime | None = None) -> list:
    """The periodic pass: every agent of the organisation with recent positions and a shift around now."""
    now = now or utcnow()
    agent_ids = db.session.scalars(
        sa.select(Position.agent_id)
        .join(Agent, Position.agent_id == Agent.id)
        .where(Agent.organisation_id == organisation.id, Position.received_at >= now - LOOKBACK)
        .distinct()
    ).all()
    events = []
    for agent_id in agent_ids:
        events.extend(evaluate_agent(db.session.get(Agent, agent_id), now))
    return events
