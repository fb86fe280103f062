"""Each agent's assignments as a private iCalendar feed for the phone's calendar app.

The URL's secret is the only credential (calendar apps cannot sign in), so it is long, kept only as
a hash, shown once when issued, and revoked by issuing another or by a coordinator.
"""

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, abort
from icalendar import Calendar, Event, vGeo

from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Agent, Assignment, Detail, utcnow
from detail.web.security import guessing_limit, not_found

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

# How far back the feed reaches: recent assignments stay visible, the rest is history.
PAST = timedelta(days=30)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_link(agent: Agent) -> str:
    """A new calendar URL path for the agent (flushes); any earlier link stops working."""
    secret = secrets.token_urlsafe(32)
    agent.calendar_token_hash = _hash(secret)
    db.session.flush()
    return f"/calendar/{secret}.ics"


def revoke_link(agent: Agent) -> None:
    agent.calendar_token_hash = None
    db.session.flush()


def assignment_event(assignment: Assignment, stamp) -> Event:
    detail = assignment.detail
    site = assignment.site or (detail.visits[0].site if detail.visits else None)
    tz = site.timezone if site else detail.client.organisation.timezone
    lead = detail.lead
    event = Event()
    event.add("uid", f"assignment-{assignment.id}@oscarmike")
    event.add("dtstamp", stamp)
    event.add("dtstart", assignment.report_at)
    event.add("dtend", max(assignment.shift_ends_at, assignment.report_at + timedelta(minutes=1)))
    event.add("summary", f"{detail.name}: {assignment.role_label}")
    lines = [
        f"Role: {assignment.role_label}",
        f"Report at {local_time(assignment.report_at, tz, '%a %d %b %H:%M %Z')}" + (f" at {site.name}" if site else ""),
        f"Shift {local_time(assignment.shift_starts_at, tz, '%H:%M')} to "
        f"{local_time(assignment.shift_ends_at, tz, '%H:%M %Z')}",
        f"Detail lead: {lead.name} ({lead.call_sign})" if lead else "Detail lead: not named yet",
    ]
    if detail.principal:
        lines.append(f"Principal: {detail.principal.code_name}")
    if site:
        event.add("location", ", ".join(part for part in (site.name, site.address) if part))
        event.add("geo", vGeo((site.latitude, site.longitude)))
        lines.append(f"Venue: {site.name} {site.latitude:.5f},{site.longitude:.5f}")
    event.add("description", "\n".join(lines))
    return event


@bp.route("/<secret>.ics")
@guessing_limit(not_found)
def feed(secret: str):
    agent = db.session.scalar(sa.select(Agent).where(Agent.calendar_token_hash == _hash(secret)))
    if agent is None or not agent.user.active:
        abort(404)
    now = utcnow()
    calendar = Calendar()
    calendar.add("prodid", "-//Oscar Mike//Assignments//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Oscar Mike: {agent.call_sign}")
    calendar.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")
    assignments = db.session.scalars(
        sa.select(Assignment)
        .join(Detail)
        .where(Assignment.agent_id == agent.id, Assignment.shift_ends_at >= now - PAST)
        .order_by(Assignment.report_at)
    )
    for assignment in assignments:
        calendar.add_component(assignment_event(assignment, now))
    response = Response(calendar.to_ical(), mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    # The secret is in the path: keep it out of referrers and shared caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
