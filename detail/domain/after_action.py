"""The after-action report of a detail, drafted from the record: the timeline of statuses, advisories,
alerts and their acknowledgments, handoffs, requests, team messages and their acknowledgments;
punctuality against report times per agent; requests and response times; with the team's own words
(what went well, difficulties, lessons) and action items. The same Report feeds the printable page,
the PDF and the charts.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from detail.domain import team_messages
from detail.domain.board_state import punctuality
from detail.domain.requests import minutes_between
from detail.domain.timefmt import CLOCK, DEFAULT_FORMAT, detail_zone, local_time
from detail.extensions import db
from detail.models import (
    ActionItem,
    AfterAction,
    Alert,
    Client,
    ClientRequest,
    Detail,
    Escalation,
    Event,
    TeamMessage,
    Visit,
    utcnow,
)

TIMELINE_KINDS = (
    "status",
    "alert",
    "alert_acknowledged",
    "alert_resolved",
    "advisory_published",
    "detail_state",
    "handoff",
    "request",
    "request_acknowledged",
    "request_answered",
    "request_overdue",
    "escalation_paused",
    "escalation_resumed",
)
SIGNAL_COLOURS = {
    "moving": "#1565c0",
    "on_station": "#2e7d32",
    "hot": "#e65100",
    "returning": "#6a1b9a",
    "clear": "#607d8b",
    "duress": "#b71c1c",
}


@dataclass
class Entry:
    at: datetime
    kind: str
    text: str
    agent_id: int | None = None
    colour: str = "#455a64"


@dataclass
class Punctuality:
    call_sign: str
    name: str
    role: str
    report_at: datetime
    on_station_at: datetime | None
    minutes: int | None  # negative: early
    shift_ends_at: datetime | None = None

    def verdict(self, now: datetime) -> str:
        """Early, on time or late; else what is true at `now`: "never" only once the shift is over."""
        if self.minutes is not None:
            if self.minutes < 0:
                return f"{-self.minutes} min early"
            return "on time" if self.minutes == 0 else f"{self.minutes} min late"
        if now < self.report_at:
            return "not due yet"
        if self.shift_ends_at is not None and now < self.shift_ends_at:
            return "not on station yet"
        return "never on station"


@dataclass
class AlertLine:
    kind: str
    call_sign: str
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    note: str
    resolved_at: datetime | None

    @property
    def minutes_to_acknowledge(self) -> float | None:
        return minutes_between(self.raised_at, self.acknowledged_at)


@dataclass
class MessageLine:
    """A team message about the detail and how far it got ("3 of 4 acknowledged", who had not)."""

    sent_at: datetime
    sender: str
    to: str
    body: str
    asks_ack: bool
    summary: dict


AUDIENCE_WORDS = {"detail": "the detail's agents", "agents": "agents", "coordinators": "the coordinators"}


@dataclass
class Report:
    detail: Detail
    zone: str
    now: datetime
    entries: list[Entry] = field(default_factory=list)
    punctuality: list[Punctuality] = field(default_factory=list)
    alerts: list[AlertLine] = field(default_factory=list)
    requests: list[ClientRequest] = field(default_factory=list)
    messages: list[MessageLine] = field(default_factory=list)
    lanes: list[tuple[int | None, str]] = field(default_factory=list)  # (agent id, label); None: the detail

    def local(self, moment: datetime | None, fmt: str = DEFAULT_FORMAT) -> str:
        return local_time(moment, self.zone, fmt) if moment else "—"

    @property
    def started(self) -> bool:
        return self.now >= self.detail.starts_at

    @property
    def nothing_recorded(self) -> bool:
        return not (self.entries or self.alerts or self.requests or self.messages)

    @property
    def anyone_due(self) -> bool:
        """Punctuality says something: a report time has come, or someone is already on station."""
        return any(p.report_at <= self.now or p.on_station_at for p in self.punctuality)

    @property
    def shows_alerts_and_requests(self) -> bool:
        """Their sections ("No alerts.") say something once the detail has started, or when there are some."""
        return self.started or bool(self.alerts or self.requests)

    @property
    def status_line(self) -> str | None:
        """What the report is before there is a record: "The detail starts at 06:00 GMT (venue time);
        nothing recorded yet." None once something is recorded after the start."""
        if self.started and not self.nothing_recorded:
            return None
        if self.now >= self.detail.ends_at:
            return "Nothing was recorded for this detail."
        same_day = self.local(self.detail.starts_at, "%Y-%m-%d") == self.local(self.now, "%Y-%m-%d")
        when = self.local(self.detail.starts_at, "%H:%M %Z" if same_day else "%a %d %b %Y %H:%M %Z")
        clock = "venue time" if self.detail.sites else "the organisation's time"
        line = f"The detail {'started' if self.started else 'starts'} at {when} ({clock})"
        return line + ("; nothing recorded yet." if self.nothing_recorded else ".")


def _entry(event: Event) -> Entry | None:
    p = event.payload
    at = datetime.fromisoformat(p.get("reported_at") or event.created_at.isoformat())
    kind = event.kind
    if kind == "status":
        code = p.get("code", {})
        text = f"{p.get('call_sign')}: {code.get('code')} ({code.get('spoken_name', '')})" + (
            f" – {p['note']}" if p.get("note") else ""
        )
        return Entry(at, kind, text, p.get("agent_id"), SIGNAL_COLOURS.get(code.get("signal"), "#455a64"))
    stamp = {
        "alert": "raised_at",
        "alert_acknowledged": "acknowledged_at",
        "alert_resolved": "resolved_at",
        "request": "received_at",
        "request_acknowledged": "acknowledged_at",
        "request_answered": "answered_at",
        "handoff": "at",
    }.get(kind)
    # When it happened, not when it was written down (an alert acknowledged later is still raised then).
    at = datetime.fromisoformat(p[stamp]) if stamp and p.get(stamp) else event.created_at
    texts = {
        "alert": lambda: f"Alert: {p.get('message')}",
        "alert_acknowledged": lambda: (
            f"Acknowledged by {p.get('acknowledged_by')}: {p.get('message')}"
            + (f" – {p['acknowledgement_note']}" if p.get("acknowledgement_note") else "")
        ),
        "alert_resolved": lambda: f"Resolved: {p.get('message')}",
        "advisory_published": lambda: f"Advisory published ({p.get('severity')}): {p.get('title')}",
        "detail_state": lambda: f"Detail {p.get('state')} (by {p.get('by')})",
        "handoff": lambda: f"Lead handed to {p.get('to')} by {p.get('by')}",
        "request": lambda: f"Client request ({p.get('priority')}): {p.get('subject')}",
        "request_acknowledged": lambda: f"Request acknowledged: {p.get('subject')}",
        "request_answered": lambda: f"Request answered: {p.get('subject')}",
        "request_overdue": lambda: f"Urgent request waiting too long: {p.get('subject')}",
        "escalation_paused": lambda: (
            "Escalation paused"
            + (f" (alert muted until {p['paused_until_local']})" if p.get("paused_until_local") else "")
            + f": {p.get('title')}"
        ),
        "escalation_resumed": lambda: f"Escalation resumed: {p.get('title')}",
    }
    colour = "#b71c1c" if kind in ("alert", "request_overdue") else "#455a64"
    return Entry(at, kind, texts[kind](), p.get("agent_id") if kind.startswith("alert") else None, colour)


def _add_messages(report: Report) -> None:
    """The detail's team messages, each when it was sent and each acknowledgment when it was given."""
    found = db.session.scalars(
        sa.select(TeamMessage).where(TeamMessage.detail_id == report.detail.id).order_by(TeamMessage.created_at)
    )
    for message in found:
        summary = team_messages.summary(message)
        sender = message.sender.name
        to = AUDIENCE_WORDS[message.audience]
        report.messages.append(MessageLine(message.created_at, sender, to, message.body, message.asks_ack, summary))
        text = f"Message from {sender} to {to}: {message.body} ({summary['text']})"
        report.entries.append(Entry(message.created_at, "team_message", text))
        short = message.body if len(message.body) <= 60 else message.body[:59] + "…"
        for row in message.recipients:
            if row.acknowledged_at is not None:
                agent = row.user.agent
                name = f"{agent.call_sign} ({row.user.name})" if agent else row.user.name
                report.entries.append(
                    Entry(
                        row.acknowledged_at,
                        "team_message_acknowledged",
                        f"{name} acknowledged: {short}",
                        agent.id if agent else None,
                        "#2e7d32",
                    )
                )


ACK_VIA_WORDS = {
    "board": "on the board",
    "phone": "on the phone",
    "link": "by the link in the message",
    "sms": "by text reply",
    "api": "through the API",
}
CHANNEL_WORDS = {"push": "push", "sms": "text", "email": "email"}


def _escalation_entries(detail: Detail, zone: str) -> list[Entry]:
    """Each escalation of the detail: its start, every notification attempt, its acknowledgment or end.
    Read from its rows, which the board's events were written from."""
    entries = []
    for esc in db.session.scalars(sa.select(Escalation).where(Escalation.detail_id == detail.id)):
        entries.append(Entry(esc.started_at, "escalation_started", f"Escalation started ({esc.kind}): {esc.title}"))
        for a in esc.attempts:
            text = f"Step {a.step + 1}: {a.user.name} by {CHANNEL_WORDS.get(a.channel, a.channel)}, {a.status}"
            if a.delivered_at:
                text += f" (delivered {local_time(a.delivered_at, zone, CLOCK)})"
            if a.error:
                text += f" – {a.error}"
            entries.append(Entry(a.sent_at or a.created_at, "escalation_attempt", text))
        if esc.acknowledged_at and esc.acknowledged_by:
            via = ACK_VIA_WORDS.get(esc.acknowledged_via or "", esc.acknowledged_via or "")
            text = f"Escalation acknowledged by {esc.acknowledged_by.name} {via}: {esc.title}"
            entries.append(Entry(esc.acknowledged_at, "escalation_acknowledged", text))
        elif esc.ended_at:
            entries.append(Entry(esc.ended_at, "escalation_ended", f"Escalation ended ({esc.end_reason}): {esc.title}"))
    return entries


def build(detail: Detail, now: datetime | None = None) -> Report:
    report = Report(detail=detail, zone=detail_zone(detail), now=now or utcnow())
    events = db.session.scalars(
        sa.select(Event).where(Event.detail_id == detail.id, Event.kind.in_(TIMELINE_KINDS)).order_by(Event.id)
    )
    report.entries = [*filter(None, (_entry(e) for e in events)), *_escalation_entries(detail, report.zone)]
    _add_messages(report)
    report.entries.sort(key=lambda e: e.at)
    assignments = sorted(detail.assignments, key=lambda a: (a.role != "detail_lead", a.report_at))
    for a in assignments:
        found = punctuality(a)
        report.punctuality.append(
            Punctuality(
                call_sign=a.agent.call_sign,
                name=a.agent.name,
                role=a.role_label,
                report_at=a.report_at,
                on_station_at=datetime.fromisoformat(found["on_station_at"]) if found else None,
                minutes=found["minutes"] if found else None,
                shift_ends_at=a.shift_ends_at,
            )
        )
    report.lanes = [(None, "Detail")] + [(a.agent_id, a.agent.call_sign) for a in assignments]
    alerts = db.session.scalars(sa.select(Alert).where(Alert.detail_id == detail.id).order_by(Alert.raised_at))
    report.alerts = [
        AlertLine(
            kind=a.kind,
            call_sign=a.agent.call_sign,
            message=a.message,
            raised_at=a.raised_at,
            acknowledged_at=a.acknowledged_at,
            acknowledged_by=a.acknowledged_by.name if a.acknowledged_by else None,
            note=a.acknowledgement_note or "",
            resolved_at=a.resolved_at,
        )
        for a in alerts
    ]
    report.requests = list(
        db.session.scalars(
            sa.select(ClientRequest).where(ClientRequest.detail_id == detail.id).order_by(ClientRequest.received_at)
        )
    )
    return report


# ---------------------------------------------------------------- charts (SVG, for the page and the PDF)

FONT = "DejaVu Sans"
WIDTH = 760
LANE = 26
LEFT = 90


def _span(report: Report) -> tuple[datetime, datetime]:
    moments = [report.detail.starts_at, report.detail.ends_at] + [e.at for e in report.entries]
    moments += [p.report_at for p in report.punctuality]
    return min(moments), max(moments)


def _hour_ticks(start: datetime, end: datetime, zone: str) -> list[datetime]:
    """Whole hours of the venue's clock across the span, at most about eight of them."""
    hours = (end - start).total_seconds() / 3600
    step = next((h for h in (1, 2, 3, 4, 6, 12, 24, 48, 96) if hours / h <= 8), 168)
    local = start.astimezone(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while local.hour % step and step <= 24:
        local += timedelta(hours=1)
    ticks = []
    while local.astimezone(timezone.utc) <= end and len(ticks) < 12:
        ticks.append(local.astimezone(timezone.utc))
        local += timedelta(hours=step)
    return ticks


def timeline_svg(report: Report) -> str:
    """One lane per agent (and one for the detail): statuses as dots coloured by signal, report times as
    ticks, alerts as red marks, over the detail's hours in the venue's time zone."""
    start, end = _span(report)
    seconds = max((end - start).total_seconds(), 60)
    lane_of = {agent_id: i for i, (agent_id, _) in enumerate(report.lanes)}
    height = 30 + LANE * len(report.lanes) + 20
    plot = WIDTH - LEFT - 30

    def x(moment: datetime) -> float:
        return LEFT + plot * (moment - start).total_seconds() / seconds

    def y(lane: int) -> float:
        return 30 + LANE * lane + LANE / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
        f' font-family="{FONT}" font-size="10" role="img" aria-label="Timeline of the detail">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for i, (_, label) in enumerate(report.lanes):
        parts.append(f'<text x="4" y="{y(i) + 3:.1f}" fill="#222">{escape(label)}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y(i):.1f}" x2="{WIDTH - 10}" y2="{y(i):.1f}" stroke="#dddddd"/>')
    for moment in _hour_ticks(start, end, report.zone):
        tx = x(moment)
        parts.append(f'<line x1="{tx:.1f}" y1="24" x2="{tx:.1f}" y2="{height - 18}" stroke="#eeeeee"/>')
        label = escape(report.local(moment, "%H:%M"))
        parts.append(f'<text x="{tx:.1f}" y="16" fill="#555" text-anchor="middle">{label}</text>')
    for i, p in enumerate(report.punctuality, start=1):
        rx = x(p.report_at)
        parts.append(
            f'<line x1="{rx:.1f}" y1="{y(i) - 9:.1f}" x2="{rx:.1f}" y2="{y(i) + 9:.1f}"'
            ' stroke="#000000" stroke-width="2"/>'
        )
    for entry in report.entries:
        lane = lane_of.get(entry.agent_id, 0)
        ex, ey = x(entry.at), y(lane)
        if entry.kind in ("alert", "request_overdue"):
            parts.append(
                f'<path d="M {ex:.1f} {ey - 7:.1f} L {ex + 6:.1f} {ey + 5:.1f} L {ex - 6:.1f} {ey + 5:.1f} Z"'
                f' fill="{entry.colour}"/>'
            )
        else:
            parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="4" fill="{entry.colour}"/>')
    parts.append(
        f'<text x="{LEFT}" y="{height - 5}" fill="#555">Times in {escape(report.zone)}. Bars: report times;'
        " dots: statuses (blue OM, green on station, orange hot, grey clear); triangles: alerts.</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def punctuality_svg(report: Report) -> str:
    """Minutes early (green, left) or late (red, right) against each agent's report time."""
    rows = report.punctuality
    height = 20 + LANE * max(len(rows), 1) + 20
    known = [abs(p.minutes) for p in rows if p.minutes is not None]
    scale = max(known + [30])
    mid = LEFT + (WIDTH - LEFT - 10) / 2
    half = (WIDTH - LEFT - 10) / 2 - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
        f' font-family="{FONT}" font-size="10" role="img" aria-label="Punctuality per agent">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<line x1="{mid:.1f}" y1="10" x2="{mid:.1f}" y2="{height - 16}" stroke="#000000"/>',
    ]
    for i, p in enumerate(rows):
        cy = 20 + LANE * i + LANE / 2
        parts.append(f'<text x="4" y="{cy + 3:.1f}" fill="#222">{escape(p.call_sign)}</text>')
        label = p.verdict(report.now)
        if p.minutes is None:
            parts.append(f'<text x="{mid + 6:.1f}" y="{cy + 3:.1f}" fill="#777">{label}</text>')
            continue
        length = half * abs(p.minutes) / scale
        bx = mid - length if p.minutes <= 0 else mid
        colour = "#2e7d32" if p.minutes <= 0 else "#b71c1c"
        parts.append(f'<rect x="{bx:.1f}" y="{cy - 7:.1f}" width="{max(length, 1):.1f}" height="14" fill="{colour}"/>')
        # On the other side of the line from the bar, so the two never overlap.
        if p.minutes <= 0:
            parts.append(f'<text x="{mid + 4:.1f}" y="{cy + 3:.1f}" fill="#222">{label}</text>')
        else:
            parts.append(f'<text x="{mid - 4:.1f}" y="{cy + 3:.1f}" fill="#222" text-anchor="end">{label}</text>')
    parts.append(
        f'<text x="{LEFT}" y="{height - 4}" fill="#555">First on station against report time (line).</text></svg>'
    )
    return "".join(parts)


# ---------------------------------------------------------------- lessons


def lessons_for(detail: Detail, limit: int = 5) -> list[AfterAction]:
    """Lessons from other details of the same client, or at the same venues, newest first."""
    site_ids = [s.id for s in detail.sites]
    same_venue = sa.select(Visit.detail_id).where(Visit.site_id.in_(site_ids)) if site_ids else None
    condition = Detail.client_id == detail.client_id
    if same_venue is not None:
        condition = sa.or_(condition, Detail.id.in_(same_venue))
    return list(
        db.session.scalars(
            sa.select(AfterAction)
            .join(Detail, AfterAction.detail_id == Detail.id)
            .where(condition, Detail.id != detail.id, AfterAction.lessons != "")
            .order_by(Detail.starts_at.desc())
            .limit(limit)
        )
    )


def search_lessons(organisation_id: int, words: str, limit: int = 50) -> list[AfterAction]:
    """After-action reports whose lessons, difficulties or action items hold every word (any case)."""
    query = (
        sa.select(AfterAction)
        .join(Detail, AfterAction.detail_id == Detail.id)
        .join(Client, Detail.client_id == Client.id)
        .where(Client.organisation_id == organisation_id, AfterAction.lessons != "")
    )
    for word in words.split()[:10]:
        literal = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        in_items = sa.select(ActionItem.after_action_id).where(
            sa.func.lower(ActionItem.text).like(pattern, escape="\\")
        )
        query = query.where(
            sa.or_(
                sa.func.lower(AfterAction.lessons).like(pattern, escape="\\"),
                sa.func.lower(AfterAction.difficulties).like(pattern, escape="\\"),
                sa.func.lower(AfterAction.went_well).like(pattern, escape="\\"),
                AfterAction.id.in_(in_items),
            )
        )
    return list(db.session.scalars(query.order_by(Detail.starts_at.desc()).limit(limit)))
