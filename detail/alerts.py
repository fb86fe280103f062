"""Alerts computed on the server: late, silent and duress; acknowledged or muted by coordinators.

Rules read codes by their signal (moving, on_station, ...), never by their letters, since each
organisation names its own codes. Every function here flushes and returns the events it
appended; the caller commits and publishes.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa

from . import live
from .extensions import db
from .models import Agent, Alert, Assignment, Detail, Organisation, Position, StatusCode, StatusReport, User, utcnow

# Which signals put an end to which alert.
CLEARS = {
    "late_om": {"moving", "on_station", "hot"},
    "late_station": {"on_station", "hot"},
}


def alert_payload(alert: Alert) -> dict:
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


def resolve_cleared_alerts(report: StatusReport) -> list:
    """A status ends the late alerts it answers, and any silence."""
    events = []
    signal = report.status_code.signal
    open_alerts = db.session.scalars(
        sa.select(Alert).where(
            Alert.agent_id == report.agent_id,
            Alert.detail_id == report.detail_id,
            Alert.resolved_at.is_(None),
            Alert.kind != "duress",
        )
    )
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


def _signals_since(agent_id: int, detail_id: int, since: datetime) -> set[str]:
    rows = db.session.scalars(
        sa.select(StatusCode.signal)
        .join(StatusReport, StatusReport.status_code_id == StatusCode.id)
        .where(
            StatusReport.agent_id == agent_id, StatusReport.detail_id == detail_id, StatusReport.reported_at >= since
        )
    )
    return {signal for signal in rows if signal}


def _last_heard(agent_id: int) -> datetime | None:
    report = db.session.scalar(
        sa.select(sa.func.max(StatusReport.received_at)).where(StatusReport.agent_id == agent_id)
    )
    position = db.session.scalar(sa.select(sa.func.max(Position.received_at)).where(Position.agent_id == agent_id))
    return max((t for t in (report, position) if t is not None), default=None)


def _hhmm(moment: datetime, assignment: Assignment) -> str:
    from .timefmt import local_time

    tz = assignment.site.timezone if assignment.site else assignment.detail.client.organisation.timezone
    return local_time(moment, tz, "%H:%M")


def evaluate(organisation: Organisation, now: datetime | None = None) -> list:
    """Raise the late and silent alerts that hold now, and resolve those that no longer do."""
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
    ).all()
    events, holding = [], set()
    for a in assignments:
        signals = _signals_since(a.agent_id, a.detail_id, a.shift_starts_at - timedelta(hours=6))
        agent = a.agent
        if not signals & CLEARS["late_om"]:
            holding.add((a.agent_id, a.detail_id, "late_om"))
            events.append(
                raise_alert(
                    kind="late_om",
                    agent=agent,
                    detail_id=a.detail_id,
                    raised_at=now,
                    message=f"{agent.call_sign} has not sent OM; report time {_hhmm(a.report_at, a)}",
                )
            )
        if now >= a.report_at and not signals & CLEARS["late_station"]:
            holding.add((a.agent_id, a.detail_id, "late_station"))
            events.append(
                raise_alert(
                    kind="late_station",
                    agent=agent,
                    detail_id=a.detail_id,
                    raised_at=now,
                    message=f"{agent.call_sign} not on station; report time {_hhmm(a.report_at, a)}",
                )
            )
        if a.detail.state == "hot" and a.shift_starts_at <= now:
            heard = _last_heard(a.agent_id)
            if heard is None or now - heard > silent_after:
                holding.add((a.agent_id, a.detail_id, "silent"))
                quiet = f"for {int((now - heard).total_seconds() // 60)} min" if heard else "since the shift began"
                events.append(
                    raise_alert(
                        kind="silent",
                        agent=agent,
                        detail_id=a.detail_id,
                        raised_at=now,
                        message=f"{agent.call_sign} silent {quiet}",
                    )
                )
    stale = db.session.scalars(
        sa.select(Alert).where(
            Alert.organisation_id == organisation.id, Alert.resolved_at.is_(None), Alert.kind != "duress"
        )
    ).all()
    for alert in stale:
        if (alert.agent_id, alert.detail_id, alert.kind) not in holding:
            events.append(resolve(alert, now))
    return [e for e in events if e is not None]


def open_alerts(organisation_id: int, detail_id: int | None = None) -> list[Alert]:
    """Alerts still raised (duress first, oldest first), for the board."""
    query = sa.select(Alert).where(Alert.organisation_id == organisation_id, Alert.resolved_at.is_(None))
    if detail_id is not None:
        query = query.where(Alert.detail_id == detail_id)
    order = sa.case((Alert.kind == "duress", 0), else_=1)
    return list(db.session.scalars(query.order_by(order, Alert.raised_at)))
