"""The team's readiness for a client, in words: the line the portal and the digests show.

It names only what a client may read: the time the team reported on station, and a venue only
when it is one of the client's own schedule (a post of the team's is internal). Reads only.
"""

from datetime import datetime

import sqlalchemy as sa

from detail.domain.timefmt import known_zone, local_time
from detail.extensions import db
from detail.models import Detail, StatusCode, StatusReport


def detail_zone(detail: Detail) -> str:
    """The zone of the detail's first venue, else its organisation's."""
    first = min(detail.visits, key=lambda v: v.arrives_at, default=None)
    return known_zone(first.site.timezone if first else detail.client.organisation.timezone)


def _duration(minutes: int) -> str:
    hours, mins = divmod(abs(minutes), 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if mins or not hours:
        parts.append(f"{mins} minute{'s' if mins != 1 else ''}")
    return " ".join(parts)


def _clock(moment: datetime, tz: str, now: datetime) -> str:
    """Local clock time: "07:45" on the day of `now` in that zone, "Wed 25 Nov 07:45" on another day."""
    same_day = local_time(moment, tz, "%Y-%m-%d") == local_time(now, tz, "%Y-%m-%d")
    return local_time(moment, tz, "%H:%M" if same_day else "%a %d %b %H:%M")


def readiness_line(detail: Detail, now: datetime) -> str:
    """The team's readiness in words, e.g. "Team on station at Grand Hotel since 05:30, 45 minutes before arrival"."""
    first = db.session.scalar(
        sa.select(StatusReport)
        .join(StatusCode)
        .where(
            StatusReport.detail_id == detail.id,
            StatusCode.signal.in_(("on_station", "hot")),
            StatusReport.reported_at <= now,
        )
        .order_by(StatusReport.reported_at, StatusReport.id)
        .limit(1)
    )
    if first is None:
        posts = sorted(detail.assignments, key=lambda a: a.report_at)
        if not posts:
            return "Team not yet on station"
        tz = known_zone(posts[0].site.timezone) if posts[0].site else detail_zone(detail)
        return f"Team not yet on station; report time {_clock(posts[0].report_at, tz, now)}"
    assignment = next((a for a in detail.assignments if a.agent_id == first.agent_id), None)
    site = assignment.site if assignment else None
    # Only a venue of the client's own schedule is named: a post of the team's is internal.
    arrivals = sorted(v.arrives_at for v in detail.visits if site is not None and v.site_id == site.id)
    tz = known_zone(site.timezone) if site else detail_zone(detail)
    line = "Team on station"
    if arrivals:
        line += f" at {site.name}"
    line += f" since {_clock(first.reported_at, tz, now)}"
    if arrivals:
        minutes = round((arrivals[0] - first.reported_at).total_seconds() / 60)
        if minutes == 0:
            line += ", at arrival"
        else:
            line += f", {_duration(minutes)} {'before' if minutes > 0 else 'after'} arrival"
    return line
