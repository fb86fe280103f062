"""Alerts computed on the server: late, silent and duress; acknowledged or muted by coordinators.

Rules read codes by their signal (moving, on_station, ...), never by their letters, since each
organisation names its own codes. Every function here flushes and returns the events it
appended; the caller commits and publishes.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain import live
from detail.domain.timefmt import CLOCK, DEFAULT_FORMAT, assignment_zone, detail_zone, local_time
from detail.extensions import db
from detail.models import (
    Agent,
    Alert,
    Assignment,
    Detail,
    Organisation,
    Position,
    StatusCode,
    StatusReport,
    User,
    utcnow,
)

# Which signals put an end to which alert.
CLEARS = {
    "late_om": {"moving", "on_station", "hot"},
    "late_station": {"on_station", "hot"},
}


def alert_zone(alert: Alert) -> str:
    """The clock an alert is read on: its detail's venue, else the organisation's."""
    return detail_zone(alert.detail) if alert.detail is not None else alert.agent.organisation.timezone


def alert_payload(alert: Alert) -> dict:
    # The times come labelled from here, so the board prints what the after-action report prints.
    zone = alert_zone(alert)
    return {
        "alert_id": alert.id,
        "kind": alert.kind,
        "agent_id": alert.agent_id,
        "call_sign": alert.agent.call_sign,
        "detail_id": alert.detail_id,
        "message": alert.message,
        "latitude": alert.latitude,
        "longitude": alert.longitude,
        "raised_at": alert.raised_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by.name if alert.acknowledged_by else None,
        "acknowledgement_note": alert.acknowledgement_note,
        "muted_until": alert.muted_until.isoformat() if alert.muted_until else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "raised_at_local": local_time(alert.raised_at, zone, DEFAULT_FORMAT),
        "muted_until_local": local_time(alert.muted_until, zone, CLOCK),
    }


def _event(alert: Alert, kind: str):
    db.session.flush()
    return live.append_event(alert.organisation_id, alert.detail_id, kind, alert_payload(alert))


def open_alert(agent_id: int, detail_id: int | None, kind: str) -> Alert | None:
    return db.session.scalar(
        sa.select(Alert).where(
            Alert.agent_id == agent_id,
            Alert.detail_id.is_(None) if detail_id is None else Alert.detail_id == detail_id,
            Alert.kind == kind,
            Alert.resolved_at.is_(None),
        )
    )


def raise_alert(
    *,
    kind: str,
    agent: Agent,
    detail_id: int | None,
    message: str,
    status_report: StatusReport | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    raised_at: datetime | None = None,
    allow_existing: bool = False,
):
    """Raise an alert unless one of its kind is open for the agent and detail; return its event or None.

    With allow_existing (duress), a repeat updates the open alert and is pushed again.
    """
    existing = open_alert(agent.id, detail_id, kind)
    if existing is not None:
        if not allow_existing:
            return None
        existing.status_report = status_report
        existing.latitude, existing.longitude = latitude, longitude
        existing.message = message
        return _event(existing, "alert")
    alert = Alert(
        organisation_id=agent.organisation_id,
        agent=agent,
        detail_id=detail_id,
        kind=kind,
        message=message,
        status_report_id=status_report.id if status_report else None,
        latitude=latitude,
        longitude=longitude,
        raised_at=raised_at or utcnow(),
    )
    try:
        # Another scheduler may raise the same alert at the same moment; the unique index decides.
        with db.session.begin_nested():
            db.session.add(alert)
            db.session.flush()
    except sa.exc.IntegrityError:
        return None
    return _event(alert, "alert")


def resolve(alert: Alert, now: datetime):
    alert.resolved_at = now
    return _event(alert, "alert_resolved")


# Built once: every status runs it.
_OPEN_ALERTS = sa.select(Alert).where(
    Alert.agent_id == sa.bindparam("agent_id"),
    Alert.detail_id == sa.bindparam("detail_id"),
    Alert.resolved_at.is_(None),
    Alert.kind != "duress",
)


def resolve_cleared_alerts(report: StatusReport) -> list:
    """A status ends the late alerts it answers, and any silence."""
    events = []
    signal = report.status_code.signal
    open_alerts = db.session.scalars(_OPEN_ALERTS, {"agent_id": report.agent_id, "detail_id": report.detail_id})
    for alert in open_alerts:
        if alert.kind == "silent" or signal in CLEARS.get(alert.kind, ()):
            events.append(resolve(alert, report.received_at))
    return events


def resolve_silence(agent: Agent, now: datetime) -> list:
    """Any word from the phone, a position included, ends a silent alert."""
    alerts = db.session.scalars(
        sa.select(Alert).where(Alert.agent_id == agent.id, Alert.kind == "silent", Alert.resolved_at.is_(None))
    )
    return [resolve(alert, now) for alert in alerts]


def acknowledge(alert: Alert, user: User, note: str = "", now: datetime | None = None):
    """Record who acknowledged the alert, when and why; a duress alarm ends only this way."""
    now = now or utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = user
        alert.acknowledgement_note = note.strip()[:300]
    if alert.kind == "duress" and alert.resolved_at is None:
        alert.resolved_at = now
    return _event(alert, "alert_acknowledged")


def mute(alert: Alert, user: User, minutes: int, now: datetime | None = None):
    """Silence a late or silent alert for a while; recorded like an acknowledgement."""
    if alert.kind == "duress":
        raise ValueError("a duress alarm cannot be muted; acknowledge it")
    now = now or utcnow()
    alert.muted_until = now + timedelta(minutes=minutes)
    alert.acknowledgement_note = f"muted {minutes} min by {user.name}"
    return _event(alert, "alert_muted")


def _signals_by_assignment(assignments: list[Assignment]) -> dict[tuple[int, int], dict[str, datetime]]:
    """For each (agent, detail): the last time each signal was reported (one query for them all)."""
    if not assignments:
        return {}
    rows = db.session.execute(
        sa.select(
            StatusReport.agent_id, StatusReport.detail_id, StatusCode.signal, sa.func.max(StatusReport.reported_at)
        )
        .join(StatusCode, StatusReport.status_code_id == StatusCode.id)
        .where(
            StatusReport.detail_id.in_({a.detail_id for a in assignments}),
            StatusReport.agent_id.in_({a.agent_id for a in assignments}),
            StatusCode.signal.is_not(None),
        )
        .group_by(StatusReport.agent_id, StatusReport.detail_id, StatusCode.signal)
    )
    last: dict[tuple[int, int], dict[str, datetime]] = {}
    for agent_id, detail_id, signal, at in rows:
        last.setdefault((agent_id, detail_id), {})[signal] = at
    return last


def _last_heard(agent_ids: set[int]) -> dict[int, datetime]:
    """When each agent's phone was last heard from: a status or a position, whichever is newer."""
    heard: dict[int, datetime] = {}
    if not agent_ids:
        return heard
    for model in (StatusReport, Position):
        rows = db.session.execute(
            sa.select(model.agent_id, sa.func.max(model.received_at))
            .where(model.agent_id.in_(agent_ids))
            .group_by(model.agent_id)
        )
        for agent_id, at in rows:
            if at is not None and (agent_id not in heard or at > heard[agent_id]):
                heard[agent_id] = at
    return heard


def _hhmm(moment: datetime, assignment: Assignment) -> str:
    return local_time(moment, assignment_zone(assignment), CLOCK)


def evaluate(organisation: Organisation, now: datetime | None = None) -> list:
    """Raise the late and silent alerts that hold now, and resolve those that no longer do.

    Runs every few seconds over every live assignment, so it reads in a handful of queries
    whatever the number of agents, and writes only what changed.
    """
    now = now or utcnow()
    lead = timedelta(minutes=organisation.om_lead_minutes)
    silent_after = timedelta(minutes=organisation.silent_after_minutes)
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Detail)
        .join(Agent)
        .where(
            Agent.organisation_id == organisation.id,
            Detail.state != "complete",
            Assignment.report_at <= now + lead,
            Assignment.shift_ends_at >= now,
        )
        .options(so.contains_eager(Assignment.detail), so.contains_eager(Assignment.agent))
    ).all()
    open_now = {
        (alert.agent_id, alert.detail_id, alert.kind): alert
        for alert in db.session.scalars(
            sa.select(Alert).where(
                Alert.organisation_id == organisation.id, Alert.resolved_at.is_(None), Alert.kind != "duress"
            )
        )
    }
    last_signals = _signals_by_assignment(assignments)
    heard = _last_heard({a.agent_id for a in assignments if a.detail.state == "hot" and a.shift_starts_at <= now})
    events, holding = [], set()

    def hold(a: Assignment, kind: str, message: str) -> None:
        key = (a.agent_id, a.detail_id, kind)
        holding.add(key)
        if key not in open_now:
            events.append(raise_alert(kind=kind, agent=a.agent, detail_id=a.detail_id, raised_at=now, message=message))

    for a in assignments:
        since = a.shift_starts_at - timedelta(hours=6)
        signals = {s for s, at in last_signals.get((a.agent_id, a.detail_id), {}).items() if at >= since}
        call_sign = a.agent.call_sign
        if not signals & CLEARS["late_om"]:
            hold(a, "late_om", f"{call_sign} has not sent OM; report time {_hhmm(a.report_at, a)}")
        if now >= a.report_at and not signals & CLEARS["late_station"]:
            hold(a, "late_station", f"{call_sign} not on station; report time {_hhmm(a.report_at, a)}")
        if a.detail.state == "hot" and a.shift_starts_at <= now:
            last = heard.get(a.agent_id)
            if last is None or now - last > silent_after:
                quiet = f"for {int((now - last).total_seconds() // 60)} min" if last else "since the shift began"
                hold(a, "silent", f"{call_sign} silent {quiet}")
    for key, alert in open_now.items():
        if key not in holding:
            events.append(resolve(alert, now))
    return [e for e in events if e is not None]


def open_alerts(organisation_id: int, detail_id: int | None = None) -> list[Alert]:
    """Alerts still raised (duress first, oldest first), for the board."""
    query = sa.select(Alert).where(Alert.organisation_id == organisation_id, Alert.resolved_at.is_(None))
    if detail_id is not None:
        query = query.where(Alert.detail_id == detail_id)
    order = sa.case((Alert.kind == "duress", 0), else_=1)
    return list(db.session.scalars(query.order_by(order, Alert.raised_at)))
