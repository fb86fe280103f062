"""Agents' status reports, and the positions they carry: parsing, validation, idempotent recording.
(A position sent on its own, weighed by the geofence, is detail/domain/positions.py.)

Plain functions that flush but never commit: the caller (a route, an ingest endpoint) commits
once per unit of work and then publishes the events these functions appended.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain import alerts, live
from detail.domain.storage import insert_once
from detail.domain.timefmt import assignment_zone
from detail.extensions import db
from detail.models import Agent, Assignment, Detail, Position, StatusCode, StatusReport, utcnow

# A device clock this far ahead of ours is wrong, not early: refuse rather than store a future status.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# A report older than this when it reaches us was queued offline; it is stored and flagged.
LATE_UPLOAD_AFTER = timedelta(minutes=10)
# Reports may be for an assignment whose shift is this close (the agent travels before, clears after).
SHIFT_GRACE = timedelta(hours=6)


class Refused(ValueError):
    """The report cannot be accepted; status is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.extra = extra


@dataclass(frozen=True)
class ShortBurst:
    """One line of text read as a status: the code, an optional ETA (HH:MM local) and a note."""

    code: StatusCode
    eta: time | None
    note: str


_ETA = re.compile(r"^eta\s*(\d{1,2}):?(\d{2})\b\s*", re.IGNORECASE)


# The status path's statements are built once: building a statement and its cache key each time
# cost more CPU than running it.
_CODES = (
    sa.select(StatusCode)
    .where(StatusCode.organisation_id == sa.bindparam("organisation_id"))
    .order_by(StatusCode.sort_order)
)


def organisation_codes(organisation_id: int) -> list[StatusCode]:
    return list(db.session.scalars(_CODES, {"organisation_id": organisation_id}))


def cover_code(codes: list[StatusCode]) -> StatusCode:
    """What a duress reads as to the team: the organisation's clear code, as if that was sent."""
    return next((c for c in codes if c.signal == "clear"), None) or next(c for c in codes if not c.is_duress)


def _valid_codes_text(codes: list[StatusCode]) -> str:
    return ", ".join(f"{c.code} ({c.spoken_name})" for c in codes if not c.is_duress)


def parse_short_burst(text: str, codes: list[StatusCode]) -> ShortBurst:
    """Read 'OM', 'om eta 0615', 'oscar mike', 'OS running late' against the organisation's codes."""
    words = " ".join(text.split())
    lowered = words.lower()
    # Longest name first, so "oscar mike" wins over a code "oscar" and "RTB" over "R".
    candidates = sorted(
        ((name.lower(), code) for code in codes for name in (code.code, code.spoken_name) if name),
        key=lambda pair: len(pair[0]),
        reverse=True,
    )
    for name, code in candidates:
        if lowered == name or lowered.startswith(name + " "):
            rest = words[len(name) :].strip()
            eta = None
            match = _ETA.match(rest)
            if match:
                hours, minutes = int(match.group(1)), int(match.group(2))
                if hours > 23 or minutes > 59:
                    raise Refused(f"ETA {match.group(0).strip()} is not a time of day (use HHMM)", field="text")
                eta = time(hours, minutes)
                rest = rest[match.end() :]
            return ShortBurst(code=code, eta=eta, note=rest.strip())
    shown = words if len(words) <= 40 else words[:40] + "…"
    raise Refused(
        f"unknown status code {shown!r}; valid codes: {_valid_codes_text(codes)}",
        field="text",
        valid_codes=[c.code for c in codes if not c.is_duress],
    )


def find_code(organisation_id: int, code: str) -> StatusCode:
    """The organisation's code by its code or spoken name, case-insensitively."""
    codes = organisation_codes(organisation_id)
    wanted = code.strip().lower()
    for candidate in codes:
        if wanted in (candidate.code.lower(), candidate.spoken_name.lower()):
            return candidate
    raise Refused(
        f"unknown status code {code!r}; valid codes: {_valid_codes_text(codes)}",
        field="code",
        valid_codes=[c.code for c in codes if not c.is_duress],
    )


def check_position(latitude, longitude, accuracy=None) -> None:
    """Latitude and longitude both or neither, finite and in range."""
    if (latitude is None) != (longitude is None):
        raise Refused("send latitude and longitude together", field="latitude" if latitude is None else "longitude")
    if latitude is None:
        return
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if not math.isfinite(value) or not -bound <= value <= bound:
            raise Refused(f"{name} must be a number from {-bound} to {bound}, got {value}", field=name)
    if accuracy is not None and (not math.isfinite(accuracy) or accuracy < 0):
        raise Refused("accuracy must be a distance in metres, zero or more", field="accuracy")


def check_device_time(reported_at: datetime, now: datetime) -> bool:
    """Refuse a device clock far ahead; return whether the report is a late upload."""
    if reported_at.tzinfo is None:
        raise Refused("reported_at needs a UTC offset, such as 2026-11-24T07:45:00Z", field="reported_at")
    if reported_at - now > MAX_CLOCK_AHEAD:
        raise Refused(
            f"reported_at is {(reported_at - now).total_seconds() / 60:.0f} minutes ahead of the server; "
            "check the phone's clock",
            field="reported_at",
        )
    return now - reported_at > LATE_UPLOAD_AFTER


@dataclass(frozen=True)
class DeviceTime:
    """When a report happened as best we know: the device's time, or ours when its clock is far ahead."""

    at: datetime
    clock_offset_s: float | None
    late_upload: bool
    # The device's own time, as sent (ours when it sent none): what a retry repeats.
    sent: datetime


def device_time(reported_at: datetime | None, now: datetime, refuse_clock_ahead: bool) -> DeviceTime:
    """Our API refuses a clock far ahead (the caller can fix it); third-party apps cannot be told, so
    their report is taken at our time and the offset kept to flag the device's clock."""
    if reported_at is None:
        return DeviceTime(now, None, False, now)
    if refuse_clock_ahead or reported_at.tzinfo is None or reported_at - now <= MAX_CLOCK_AHEAD:
        return DeviceTime(reported_at, None, check_device_time(reported_at, now), reported_at)
    return DeviceTime(now, round((reported_at - now).total_seconds(), 1), False, reported_at)


_NAMED_ASSIGNMENT = sa.select(Assignment).where(
    Assignment.agent_id == sa.bindparam("agent_id"), Assignment.detail_id == sa.bindparam("detail_id")
)
# The agent's assignments on details not yet complete whose shift overlaps [earliest_end,
# latest_start]: the status, the publish of a position and the geofence each widen it by their margin.
NEAR_ASSIGNMENTS = (
    sa.select(Assignment)
    .join(Detail)
    .where(
        Assignment.agent_id == sa.bindparam("agent_id"),
        Detail.state != "complete",
        Assignment.shift_starts_at <= sa.bindparam("latest_start", type_=Assignment.shift_starts_at.type),
        Assignment.shift_ends_at >= sa.bindparam("earliest_end", type_=Assignment.shift_ends_at.type),
    )
)


def current_assignment(agent: Agent, at: datetime, detail_id: int | None = None) -> Assignment:
    """The agent's own assignment the report is for: the one named, or the one whose shift is nearest."""
    if detail_id is not None:
        assignment = db.session.scalar(_NAMED_ASSIGNMENT, {"agent_id": agent.id, "detail_id": detail_id})
        if assignment is None:
            raise Refused(f"you are not assigned to detail {detail_id}", status=403, field="detail_id")
        return assignment
    near = db.session.scalars(
        NEAR_ASSIGNMENTS,
        {"agent_id": agent.id, "latest_start": at + SHIFT_GRACE, "earliest_end": at - SHIFT_GRACE},
    ).all()
    if not near:
        raise Refused("you have no assignment around this time; a coordinator must assign you first", status=403)

    def distance(a: Assignment) -> timedelta:
        if a.shift_starts_at <= at <= a.shift_ends_at:
            return timedelta(0)
        return min(abs(a.shift_starts_at - at), abs(a.shift_ends_at - at))

    return min(near, key=lambda a: (distance(a), a.report_at))


def eta_to_utc(eta: time, tz: str, now: datetime) -> datetime:
    """The next occurrence of a local time of day, in UTC (an ETA of 00:10 at 23:50 is tomorrow)."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    candidate = datetime.combine(local_now.date(), eta, tzinfo=zone)
    if candidate < local_now - timedelta(hours=1):
        candidate += timedelta(days=1)
    return candidate.astimezone(timezone.utc)


def keep_loaded_after_commit() -> None:
    """For this request's session: the answer and the events are made of rows it just wrote, and
    reading them back after the commit would cost a query each on the busiest path."""
    db.session().expire_on_commit = False


def _stored_report(agent_id: int, client_id: str) -> StatusReport | None:
    return db.session.scalar(
        sa.select(StatusReport).where(StatusReport.agent_id == agent_id, StatusReport.client_id == client_id)
    )


@dataclass
class Recorded:
    report: StatusReport
    created: bool
    events: list


def record_status(
    agent: Agent,
    code: StatusCode,
    *,
    client_id: str,
    reported_at: datetime | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    accuracy: float | None = None,
    note: str = "",
    eta: datetime | time | None = None,
    source: str = "phone",
    detail_id: int | None = None,
    automatic: bool = False,
    refuse_clock_ahead: bool = True,
    now: datetime | None = None,
) -> Recorded:
    """Store one status report exactly once per (agent, client_id); a retry returns the stored one.

    Appends the board events in the same transaction and raises a duress alert for an emergency code.
    """
    now = now or utcnow()
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 64:
        raise Refused("client_id is required: a unique id per report, at most 64 characters", field="client_id")
    if code.organisation_id != agent.organisation_id:
        raise Refused("unknown status code for your organisation", field="code")
    try:
        when = device_time(reported_at, now, refuse_clock_ahead)
        reported_at = when.at
        check_position(latitude, longitude, accuracy)
        if len(note) > 280:
            raise Refused("note is at most 280 characters", field="note")
        assignment = current_assignment(agent, reported_at, detail_id)
    except Refused:
        # A retry gets the report stored the first time, even if it would not be accepted now
        # (the shift has ended since, say).
        existing = _stored_report(agent.id, client_id)
        if existing is not None:
            return Recorded(existing, created=False, events=[])
        raise
    if isinstance(eta, time):
        eta = eta_to_utc(eta, assignment_zone(assignment), now)

    # One statement whether it is new or a retry (the unique key decides, also between two copies
    # racing each other): the busiest write of the app, kept to one round trip.
    report = insert_once(
        StatusReport,
        ("agent_id", "client_id"),
        agent_id=agent.id,
        detail_id=assignment.detail_id,
        status_code_id=code.id,
        client_id=client_id,
        source=source,
        note=note,
        eta=eta,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy,
        reported_at=reported_at,
        received_at=now,
        late_upload=when.late_upload and not automatic,
        automatic=automatic,
        clock_offset_s=when.clock_offset_s,
    )
    if report is None:
        return Recorded(_stored_report(agent.id, client_id), created=False, events=[])
    if latitude is not None and not automatic:
        store_position(agent.id, source, when, now, latitude=latitude, longitude=longitude, accuracy_m=accuracy)
    events = [live.append_event(agent.organisation_id, assignment.detail_id, "status", live.status_payload(report))]
    if code.is_duress:
        events.append(raise_duress(report))
    else:
        events.extend(alerts.resolve_cleared_alerts(report))
    return Recorded(report, created=True, events=events)


def raise_duress(report: StatusReport):
    """A duress alarm that stays raised until a coordinator acknowledges it."""
    last = report if report.latitude is not None else latest_position(report.agent_id)
    return alerts.raise_alert(
        kind="duress",
        agent=report.agent,
        detail_id=report.detail_id,
        message=f"DURESS: {report.agent.call_sign} ({report.agent.name})",
        status_report=report,
        latitude=last.latitude if last else None,
        longitude=last.longitude if last else None,
        raised_at=report.received_at,
        allow_existing=True,
    )


def latest_position(agent_id: int) -> Position | None:
    return db.session.scalar(
        sa.select(Position)
        .where(Position.agent_id == agent_id)
        .order_by(Position.reported_at.desc(), Position.id.desc())
    )


def store_position(agent_id: int, source: str, when: DeviceTime, now: datetime, **fix) -> tuple[Position, bool]:
    """Add a position once per (agent, source, device time); a resent point returns the stored one.

    `fix` holds what the device measured (latitude, longitude, accuracy_m, ...); the times come
    from `when` and `now`, the same way for a status's position as for a position of its own."""
    position = insert_once(
        Position,
        ("agent_id", "source", "device_time"),
        agent_id=agent_id,
        source=source,
        reported_at=when.at,
        received_at=now,
        clock_offset_s=when.clock_offset_s,
        device_time=when.sent,
        **fix,
    )
    if position is not None:
        return position, True
    stored = db.session.scalar(
        sa.select(Position).where(
            Position.agent_id == agent_id, Position.source == source, Position.device_time == when.sent
        )
    )
    return stored, False


_LATEST_REPORT = (
    sa.select(StatusReport)
    .options(so.joinedload(StatusReport.status_code, innerjoin=True))
    .where(StatusReport.agent_id == sa.bindparam("agent_id"), StatusReport.detail_id == sa.bindparam("detail_id"))
    .order_by(StatusReport.reported_at.desc(), StatusReport.id.desc())
    .limit(1)
)


def latest_report(agent_id: int, detail_id: int) -> StatusReport | None:
    """The agent's newest report on the detail, with its code (every caller reads it)."""
    return db.session.scalar(_LATEST_REPORT, {"agent_id": agent_id, "detail_id": detail_id})


def agent_of(user) -> Agent:
    """The agent profile of the signed-in user; only agents report status."""
    agent = user.agent if user.role == "agent" else None
    if agent is None:
        raise Refused("only agents send status reports and positions", status=403)
    return agent


def duress_code(organisation_id: int) -> StatusCode:
    code = next((c for c in organisation_codes(organisation_id) if c.is_duress), None)
    if code is None:
        raise Refused("your organisation has no duress code; a coordinator must add one", status=409)
    return code


def submit_status(user, data: dict, source: str, now: datetime | None = None) -> Recorded:
    """Record a status from validated input (see status_schemas.StatusIn): code, text, or covert duress."""
    agent = agent_of(user)
    note, eta = data.get("note") or "", None
    if data.get("duress"):
        code = duress_code(agent.organisation_id)
    elif data.get("text"):
        burst = parse_short_burst(data["text"], organisation_codes(agent.organisation_id))
        code, eta = burst.code, burst.eta
        note = " ".join(part for part in (burst.note, note) if part)
        source = "text" if source == "api" else source
    else:
        code = find_code(agent.organisation_id, data["code"])
    return record_status(
        agent,
        code,
        client_id=data["client_id"],
        reported_at=data.get("reported_at"),
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        accuracy=data.get("accuracy"),
        note=note,
        eta=eta,
        source=source,
        detail_id=data.get("detail_id"),
        now=now,
    )


_NEAR_DETAIL_IDS = NEAR_ASSIGNMENTS.with_only_columns(Assignment.detail_id)


def active_detail_ids(agent: Agent, at: datetime) -> list[int]:
    """The details whose boards should see the agent's position now."""
    return list(
        db.session.scalars(
            _NEAR_DETAIL_IDS,
            {"agent_id": agent.id, "latest_start": at + SHIFT_GRACE, "earliest_end": at - SHIFT_GRACE},
        )
    )
