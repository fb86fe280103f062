"""The team's readiness for a client, venue by venue, in words: the lines the portal and the digests show.

Readiness is counted per venue from the agents due there (their assignments' post and report time)
and each agent's current code, the newest one sent on the detail: "2 of 3 on station at The Savoy;
1 on the move, ETA 18:05 GMT". It is never read from one agent's past report. Times are the venue's
own, with its zone's label. An ETA is shown only when an agent gave one with the code.

It names only what a client may read: counts, report and arrival times, and a venue only when it is
one of the client's own schedule (a post of the team's is internal: those agents are counted "at the
team's posts"). A duress code is counted as not on station and nothing more: the contact reading this
may be the threat, or may panic, and the coordinators are already answering it (docs/clients.md).
Reads only.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from detail.domain.geofence import AT_VENUE
from detail.domain.timefmt import detail_zone, known_zone, local_time
from detail.extensions import db
from detail.models import Assignment, Detail, Event, StatusCode, StatusReport

TEAM_POSTS = "the team's posts"


def _duration(minutes: int) -> str:
    hours, mins = divmod(abs(minutes), 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if mins or not hours:
        parts.append(f"{mins} minute{'s' if mins != 1 else ''}")
    return " ".join(parts)


def clock(moment: datetime, tz: str, now: datetime) -> str:
    """Local time with the zone's label: "07:45 GMT" on the day of `now` there, "Wed 25 Nov 07:45 GMT" on another."""
    same_day = local_time(moment, tz, "%Y-%m-%d") == local_time(now, tz, "%Y-%m-%d")
    return local_time(moment, tz, "%H:%M %Z" if same_day else "%a %d %b %H:%M %Z")


@dataclass
class AgentNow:
    """One agent due at a venue, and what their current code says."""

    assignment: Assignment
    signal: str | None = None  # the current code's signal; None: nothing sent on this detail yet
    on_station_since: datetime | None = None  # the first of the current run of on-station codes
    eta: datetime | None = None  # given with the current code, if it was

    @property
    def on_station(self) -> bool:
        return self.signal in AT_VENUE


def _agents_now(detail: Detail, now: datetime) -> dict[int, AgentNow]:
    """Each assigned agent's current code on the detail (reports sent by `now`), keyed by agent id."""
    found = {a.agent_id: AgentNow(a) for a in detail.assignments}
    rows = db.session.execute(
        sa.select(StatusReport.agent_id, StatusCode.signal, StatusReport.reported_at, StatusReport.eta)
        .join(StatusCode)
        .where(StatusReport.detail_id == detail.id, StatusReport.reported_at <= now)
        .order_by(StatusReport.agent_id, StatusReport.reported_at, StatusReport.id)
    )
    for agent_id, signal, reported_at, eta in rows:
        agent = found.get(agent_id)
        if agent is None:  # reported on the detail, no longer assigned to it
            continue
        staying = agent.on_station and signal in AT_VENUE
        agent.signal, agent.eta = signal, eta
        if signal in AT_VENUE and not staying:
            agent.on_station_since = reported_at
        elif signal not in AT_VENUE:
            agent.on_station_since = None
    return found


@dataclass
class Venue:
    """The agents due at one venue of the client's schedule (or at the team's own posts: name None)."""

    name: str | None
    zone: str
    agents: list[AgentNow]
    arrivals: list[datetime]  # the principal's arrivals there
    ends_at: datetime  # when the venue is no longer in the day: the principal's last departure

    @property
    def place(self) -> str:
        return self.name or TEAM_POSTS


def _venues(detail: Detail, agents: dict[int, AgentNow]) -> list[Venue]:
    """The venues agents are due at, soonest report time first."""
    schedule = {site.id: site for site in detail.sites}
    grouped: dict[int | None, list[AgentNow]] = {}
    for agent in agents.values():
        site_id = agent.assignment.site_id
        grouped.setdefault(site_id if site_id in schedule else None, []).append(agent)
    venues = []
    for site_id, due in grouped.items():
        due.sort(key=lambda a: (a.assignment.report_at, a.assignment.id))
        if site_id is None:
            ends = max(a.assignment.shift_ends_at for a in due)
            venues.append(Venue(None, detail_zone(detail), due, [], ends))
            continue
        site = schedule[site_id]
        arrivals = [v.arrives_at for v in detail.visits if v.site_id == site_id]
        arrivals += [m.arrives_at for m in detail.movements if m.to_site_id == site_id]
        leaving = [v.departs_at for v in detail.visits if v.site_id == site_id]
        leaving += [m.departs_at for m in detail.movements if m.from_site_id == site_id]
        ends = max(leaving + arrivals)
        venues.append(Venue(site.name, known_zone(site.timezone), due, sorted(arrivals), ends))
    venues.sort(key=lambda v: (v.agents[0].assignment.report_at, v.place))
    return venues


def _arrival_clause(venue: Venue, since: datetime, now: datetime) -> str:
    """ "45 minutes before arrival": against the principal's next arrival there, else the last one."""
    if not venue.arrivals:
        return ""
    coming = [t for t in venue.arrivals if t >= now]
    arrival = min(coming) if coming else venue.arrivals[-1]
    minutes = round((arrival - since).total_seconds() / 60)
    if minutes == 0:
        return ", at arrival"
    return f", {_duration(minutes)} {'before' if minutes > 0 else 'after'} arrival"


def venue_line(venue: Venue, now: datetime) -> str:
    """One venue's readiness, e.g. "2 of 3 on station at The Savoy; 1 on the move, ETA 18:05 GMT"."""
    total = len(venue.agents)
    on = [a for a in venue.agents if a.on_station]
    moving = [a for a in venue.agents if a.signal == "moving"]
    # Not on station and not on the move: still to come if their report time is ahead. A duress code
    # reads exactly like any other code that is not on station (counted here too), so the line never
    # changes because of one.
    due = [a for a in venue.agents if a.signal not in (*AT_VENUE, "moving") and a.assignment.report_at > now]
    at = f" at {venue.place}"
    if len(on) == total:
        since = max(a.on_station_since for a in on)
        return f"{total} of {total} on station{at} since {clock(since, venue.zone, now)}" + (
            _arrival_clause(venue, since, now) if venue.name else ""
        )
    if len(due) == total:
        first = min(a.assignment.report_at for a in due)
        return f"Team not yet on station{at}; report time {clock(first, venue.zone, now)}"
    parts = [f"{len(on)} of {total} on station{at}"]
    if moving:
        etas = [a.eta for a in moving if a.eta is not None and a.eta >= now]
        part = f"{len(moving)} on the move"
        # An ETA only when every one of them gave one still ahead: the latest is when all are there.
        if len(etas) == len(moving):
            part += f", ETA {'' if len(etas) == 1 else 'by '}{clock(max(etas), venue.zone, now)}"
        parts.append(part)
    if due:
        times = sorted({a.assignment.report_at for a in due})
        word = "at" if len(times) == 1 else "from"
        parts.append(f"{len(due)} due {word} {clock(times[0], venue.zone, now)}")
    return "; ".join(parts)


def _stood_down_at(detail: Detail) -> datetime | None:
    """When the detail was marked complete, from its newest state change on the record."""
    changes = db.session.scalars(
        sa.select(Event).where(Event.detail_id == detail.id, Event.kind == "detail_state").order_by(Event.id.desc())
    )
    newest = next(iter(changes), None)
    if newest is None or newest.payload.get("state") != "complete":
        return None
    return newest.created_at


def readiness_lines(detail: Detail, now: datetime) -> list[str]:
    """The team's readiness, one line per venue due now or later (see the module's docstring)."""
    tz = detail_zone(detail)
    if detail.state == "complete":
        stood_down = _stood_down_at(detail)
        if stood_down is not None:
            return [f"Detail complete: the team stood down at {clock(stood_down, tz, now)}"]
        ended = f"; it ended at {clock(detail.ends_at, tz, now)}" if detail.ends_at <= now else ""
        return [f"Detail complete{ended}"]
    if detail.ends_at <= now:
        return [f"The detail ended at {clock(detail.ends_at, tz, now)}"]
    venues = _venues(detail, _agents_now(detail, now))
    if not venues:
        return ["No team assigned yet"]
    # A venue the principal has left for good is no longer part of the day's readiness.
    current = [v for v in venues if v.ends_at > now] or [max(venues, key=lambda v: v.ends_at)]
    return [venue_line(v, now) for v in current]


def readiness_line(detail: Detail, now: datetime) -> str:
    """The readiness lines as one, for a digest or a card."""
    return " · ".join(readiness_lines(detail, now))
