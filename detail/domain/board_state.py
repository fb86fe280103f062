"""The board's current state: each detail of the day, each agent's code, position and punctuality.

Served as JSON (the API and the board pages' first paint); afterwards the pages apply events.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail import hooks
from detail.domain import alerts, escalation, geofence, live
from detail.domain import requests as requests_inbox
from detail.domain.distance import distance_m
from detail.domain.timefmt import CLOCK, assignment_zone, detail_zone, local_time, zone_labels
from detail.extensions import db
from detail.models import Agent, Assignment, Client, Detail, Position, Site, StatusCode, StatusReport, utcnow


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _first_on_station():
    return (
        sa.select(sa.func.min(StatusReport.reported_at))
        .join(StatusCode)
        .where(StatusCode.signal.in_(("on_station", "hot")))
    )


def punctuality(assignment: Assignment) -> dict | None:
    """When the agent first reported on station against the report time, in minutes (negative: early)."""
    first = db.session.scalar(
        _first_on_station().where(
            StatusReport.agent_id == assignment.agent_id, StatusReport.detail_id == assignment.detail_id
        )
    )
    return punctuality_from(first, assignment)


def punctuality_from(first: datetime | None, assignment: Assignment) -> dict | None:
    if first is None:
        return None
    minutes = round((first - assignment.report_at).total_seconds() / 60)
    if minutes < 0:
        text = f"on station {-minutes} min before report time"
    elif minutes == 0:
        text = "on station at report time"
    else:
        text = f"on station {minutes} min late"
    return {"on_station_at": first.isoformat(), "minutes": minutes, "text": text}


def late_text(seconds: float) -> str:
    """How late, as the board's row says it: seconds under a minute, minutes, then hours and minutes."""
    seconds = int(seconds)
    if seconds < 60:
        return f"Late {seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"Late {minutes} min"
    return f"Late {minutes // 60} h {minutes % 60:02d} min"


def lateness(assignment: Assignment, on_station_at: datetime | None, now: datetime) -> dict | None:
    """Past the report time and not yet on station, while the shift and the detail last (as the late alert)."""
    if on_station_at is not None or assignment.detail.state == "complete":
        return None
    if not assignment.report_at <= now <= assignment.shift_ends_at:
        return None
    seconds = (now - assignment.report_at).total_seconds()
    return {"since": assignment.report_at.isoformat(), "minutes": int(seconds // 60), "text": late_text(seconds)}


# A rough arrival estimate: roads are longer than the straight line, and town traffic is slow.
ROUTE_FACTOR = 1.3
TOWN_SPEED_KMH = 30.0
MOVING_KMH = 10.0


def next_site(assignment: Assignment, report: StatusReport | None, now: datetime) -> Site | None:
    """Where the agent is due next: the post until on station there, then the detail's next stop."""
    signal = report.status_code.signal if report else None
    if assignment.site and signal not in geofence.AT_VENUE and now <= assignment.report_at + timedelta(hours=1):
        return assignment.site
    detail = assignment.detail
    stops = [(v.arrives_at, v.site) for v in detail.visits if v.departs_at > now]
    stops += [(m.arrives_at, m.to_site) for m in detail.movements if m.arrives_at > now]
    return min(stops, key=lambda stop: stop[0])[1] if stops else assignment.site


def arrival_estimate(site: Site | None, position: Position | None, now: datetime) -> dict | None:
    """Distance to the site and a rough arrival time, from the last position (its speed if moving)."""
    if site is None:
        return None
    estimate = {"site_id": site.id, "name": site.name, "latitude": site.latitude, "longitude": site.longitude}
    if position is None:
        return estimate
    distance = distance_m(position.latitude, position.longitude, site.latitude, site.longitude)
    speed = position.speed_kmh if position.speed_kmh and position.speed_kmh >= MOVING_KMH else TOWN_SPEED_KMH
    minutes = 0 if distance <= site.arrival_radius_m else round(distance * ROUTE_FACTOR / 1000 / speed * 60)
    return {
        **estimate,
        "distance_m": round(distance),
        "eta_minutes": minutes,
        "eta": (max(now, position.reported_at) + timedelta(minutes=minutes)).isoformat(),
    }


@dataclass
class AgentsOfDetail:
    """What the rows of a detail's agents show, read for all of them at once."""

    # Held here so that the session (which holds its objects weakly) keeps them for the rows' lazy loads.
    agents: list[Agent]
    reports: dict[int, StatusReport]
    positions: dict[int, Position]
    on_station: dict[int, datetime]

    @classmethod
    def read(cls, detail: Detail) -> "AgentsOfDetail":
        agent_ids = [a.agent_id for a in detail.assignments]
        if not agent_ids:
            return cls([], {}, {}, {})
        # The profiles and accounts in one query: the rows' lazy loads then find them in the session.
        agents = db.session.scalars(
            sa.select(Agent).where(Agent.id.in_(agent_ids)).options(so.joinedload(Agent.user))
        ).all()
        # Each agent's newest report and newest point by a correlated LIMIT 1: an index seek each,
        # where ranking all of them would read every point the agents ever sent.
        newest_report = (
            sa.select(StatusReport.id)
            .where(StatusReport.agent_id == Assignment.agent_id, StatusReport.detail_id == detail.id)
            .order_by(StatusReport.reported_at.desc(), StatusReport.id.desc())
            .limit(1)
            .correlate(Assignment)
            .scalar_subquery()
        )
        newest_position = (
            sa.select(Position.id)
            .where(Position.agent_id == Assignment.agent_id)
            .order_by(Position.reported_at.desc(), Position.id.desc())
            .limit(1)
            .correlate(Assignment)
            .scalar_subquery()
        )
        of_detail = Assignment.detail_id == detail.id
        reports = db.session.scalars(
            sa.select(StatusReport)
            .join(Assignment, StatusReport.id == newest_report)
            .where(of_detail)
            .options(so.joinedload(StatusReport.status_code))
        )
        positions = db.session.scalars(
            sa.select(Position).join(Assignment, Position.id == newest_position).where(of_detail)
        )
        on_station = db.session.execute(
            _first_on_station()
            .add_columns(StatusReport.agent_id)
            .where(StatusReport.detail_id == detail.id)
            .group_by(StatusReport.agent_id)
        )
        return cls(
            list(agents),
            {r.agent_id: r for r in reports},
            {p.agent_id: p for p in positions},
            {agent_id: first for first, agent_id in on_station},
        )


def agent_row(assignment: Assignment, now: datetime, known: AgentsOfDetail) -> dict:
    tz = assignment_zone(assignment)
    report = known.reports.get(assignment.agent_id)
    position = known.positions.get(assignment.agent_id)
    on_station_at = known.on_station.get(assignment.agent_id)
    return {
        "agent_id": assignment.agent_id,
        "call_sign": assignment.agent.call_sign,
        "name": assignment.agent.name,
        "role": assignment.role,
        "role_label": assignment.role_label,
        "site": assignment.site.name if assignment.site else None,
        "timezone": tz,
        "report_at": assignment.report_at.isoformat(),
        "report_at_local": local_time(assignment.report_at, tz, CLOCK),
        "shift_ends_at": assignment.shift_ends_at.isoformat(),
        # The page counts down to report_at itself and flags the row at that moment; these say how it
        # stood when the state was read.
        "on_station_at": _iso(on_station_at),
        "late": lateness(assignment, on_station_at, now),
        "status": live.status_payload(report) if report else None,
        "position": live.position_payload(position, now) if position else None,
        "next_site": arrival_estimate(next_site(assignment, report, now), position, now),
        "punctuality": punctuality_from(on_station_at, assignment),
    }


# Other packages (intel) add sections to each detail's board without detail importing them.
def detail_board(detail: Detail, now: datetime | None = None) -> dict:
    """One detail as its board shows it."""
    now = now or utcnow()
    tz = detail_zone(detail)
    known = AgentsOfDetail.read(detail)
    board = {
        "id": detail.id,
        "name": detail.name,
        "client": detail.client.name,
        "principal": detail.principal.code_name if detail.principal else None,
        "state": detail.state,
        "timezone": tz,
        "starts_at": _iso(detail.starts_at),
        "ends_at": _iso(detail.ends_at),
        "sites": [
            {
                "id": s.id,
                "name": s.name,
                "latitude": s.latitude,
                "longitude": s.longitude,
                "radius_m": s.arrival_radius_m,
                "timezone": s.timezone,
            }
            for s in detail.sites
        ],
        "movements": [
            {
                "from": m.from_site.name,
                "to": m.to_site.name,
                "departs_at": _iso(m.departs_at),
                "arrives_at": _iso(m.arrives_at),
                "path": [[m.from_site.latitude, m.from_site.longitude], [m.to_site.latitude, m.to_site.longitude]],
            }
            for m in detail.movements
        ],
        "agents": [agent_row(a, now, known) for a in detail.assignments],
        "alerts": alerts_with_escalations(alerts.open_alerts(detail.client.organisation_id, detail.id)),
    }
    # The page formats times itself (live events carry instants): it labels them with these.
    zones = {tz, *(s["timezone"] for s in board["sites"]), *(a["timezone"] for a in board["agents"])}
    board["zone_labels"] = {zone: zone_labels(zone, now) for zone in sorted(zones)}
    for section in hooks.DETAIL_SECTIONS:
        board.update(section(detail))
    return board


def alerts_with_escalations(open_alerts: list) -> list[dict]:
    """The alerts as the board shows them, each with its escalation (None when it has none)."""
    climbing = escalation.for_alerts([a.id for a in open_alerts])
    return [alerts.alert_payload(a) | {"escalation": climbing.get(a.id)} for a in open_alerts]


def todays_details(organisation_id: int, now: datetime | None = None) -> list[Detail]:
    """Details live now or within the day around now, and any detail that is hot."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(Detail)
            .join(Client)
            .where(
                Client.organisation_id == organisation_id,
                sa.or_(
                    Detail.state == "hot",
                    sa.and_(Detail.starts_at <= now + timedelta(hours=24), Detail.ends_at >= now - timedelta(hours=12)),
                ),
            )
            .order_by(Detail.starts_at)
        )
    )


def organisation_board(organisation_id: int, now: datetime | None = None) -> dict:
    """The organisation's board: the day's details, open alerts, the event id it is current to, and
    the server's time (the page's countdowns run on it, whatever the browser's clock says)."""
    now = now or utcnow()
    # Read the event id first: anything committed after this is delivered again, never missed.
    last_id = live.last_event_id(organisation_id)
    return {
        "last_event_id": last_id,
        "server_now": now.isoformat(),
        "details": [detail_board(d, now) for d in todays_details(organisation_id, now)],
        "alerts": alerts_with_escalations(alerts.open_alerts(organisation_id)),
        "requests": [requests_inbox.payload(r, now) for r in requests_inbox.unacknowledged(organisation_id)],
    }


def detail_page_state(detail: Detail, now: datetime | None = None) -> dict:
    """One detail's board page: the detail, its recent timeline, the event id and the server's time."""
    now = now or utcnow()
    organisation_id = detail.client.organisation_id
    last_id = live.last_event_id(organisation_id)
    return {
        "last_event_id": last_id,
        "server_now": now.isoformat(),
        "detail": detail_board(detail, now),
        "timeline": live.recent_events(organisation_id, detail.id),
    }
