"""What a digest says: plain, client-safe data (DigestContent) built from the records, and its rendering.

The content holds only what a client may read: detail and watch-area names, venues of the
client's own schedule, the readiness line, and each advisory's client-facing fields
(advisory_payload(for_client=True)), of published advisories of the contact's own client only
(readable_by checks each again, whatever the query said). Templates never see a model object, so
no agent, call sign, post, position, internal note or unpublished advisory can reach one.
Reads only.
"""

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, render_template

from detail.domain.timefmt import detail_zone, known_zone, local_time
from detail.extensions import db
from detail.models import Detail, Site, User
from intel.domain.advisories import advisory_payload
from intel.domain.classify import CATEGORY_LABELS, SEVERITY_LABELS, SEVERITY_RANK
from intel.domain.preferences import unsubscribe_url
from intel.domain.readiness import readiness_line
from intel.domain.travel_advisories import when_text
from intel.models import Advisory, WatchArea

PRODUCT = "Oscar Mike"
# (background, text): each pair at 4.5:1 contrast or more, as small text needs (WCAG AA).
SEVERITY_COLOURS = {
    "critical": ("#b71c1c", "#ffffff"),
    "high": ("#bf360c", "#ffffff"),
    "moderate": ("#f9a825", "#1a1a1a"),
    "low": ("#1565c0", "#ffffff"),
    "info": ("#546e7a", "#ffffff"),
}


@dataclass
class AdvisoryLine:
    """One advisory as the client reads it."""

    advisory_id: int
    severity: str
    severity_label: str
    category: str
    title: str
    reason: str
    summary: str
    recommendation: str
    when: str
    link: str


@dataclass
class AdvisoryGroup:
    """The advisories at one venue of the client's schedule (or on routes and elsewhere)."""

    heading: str
    advisories: list[AdvisoryLine]


@dataclass
class DetailSection:
    """A detail of the client's: its dates, the team's readiness, and what is new for it."""

    name: str
    dates: str
    readiness: str
    link: str
    groups: list[AdvisoryGroup] = field(default_factory=list)

    @property
    def advisory_count(self) -> int:
        return sum(len(g.advisories) for g in self.groups)


@dataclass
class WatchAreaSection:
    """A place the client watches, and what is new there."""

    name: str
    link: str
    advisories: list[AdvisoryLine] = field(default_factory=list)


@dataclass
class DigestContent:
    """Everything a digest says, and nothing more: the templates see only this."""

    client_name: str
    recipient: str
    cadence: str
    as_of: str
    details: list[DetailSection]
    watch_areas: list[WatchAreaSection]
    portal_url: str
    unsubscribe_url: str

    @property
    def advisories(self) -> list[AdvisoryLine]:
        lines = [a for d in self.details for g in d.groups for a in g.advisories]
        return lines + [a for w in self.watch_areas for a in w.advisories]

    @property
    def all_quiet(self) -> bool:
        return not self.advisories

    @property
    def subject(self) -> str:
        lines = self.advisories
        if not lines:
            summary = "all quiet"
        else:
            summary = f"{len(lines)} {'advisory' if len(lines) == 1 else 'advisories'}"
            serious = [
                f"{n} {severity}"
                for severity in ("critical", "high")
                if (n := sum(1 for a in lines if a.severity == severity))
            ]
            if serious:
                summary += f" ({', '.join(serious)})"
        return _one_line(f"{self.client_name}: {summary} — {PRODUCT}")


def render(content: DigestContent) -> tuple[str, str, str]:
    """The subject, plain text and HTML of a digest (templates/email/digest.txt and digest.html)."""
    context = {"content": content, "colours": SEVERITY_COLOURS, "product": PRODUCT}
    text = render_template("email/digest.txt", **context)
    html = render_template("email/digest.html", **context)
    return content.subject, text, html


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _public_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")


def _advisory_line(advisory: Advisory, tz: str, link: str) -> AdvisoryLine:
    payload = advisory_payload(advisory, for_client=True)
    return AdvisoryLine(
        advisory_id=payload["advisory_id"],
        severity=payload["severity"],
        severity_label=SEVERITY_LABELS[payload["severity"]],
        category=CATEGORY_LABELS.get(payload["category"], payload["category"]),
        title=payload["title"],
        reason=payload["reason"],
        summary=payload["summary"],
        recommendation=payload["recommendation"],
        when=when_text(advisory.starts_at, advisory.ends_at, tz),
        link=link,
    )


def _by_severity(advisories: list[Advisory]) -> list[Advisory]:
    return sorted(advisories, key=lambda a: (-SEVERITY_RANK[a.severity], a.starts_at, a.id))


def _client_details(client_id: int, now: datetime) -> list[Detail]:
    """The client's active and upcoming details: not complete, ending after now."""
    return list(
        db.session.scalars(
            sa.select(Detail)
            .where(Detail.client_id == client_id, Detail.state != "complete", Detail.ends_at > now)
            .order_by(Detail.starts_at, Detail.id)
        )
    )


def _client_watch_areas(client_id: int) -> list[WatchArea]:
    return list(
        db.session.scalars(sa.select(WatchArea).where(WatchArea.client_id == client_id).order_by(WatchArea.name))
    )


def _detail_section(detail: Detail, advisories: list[Advisory], now: datetime) -> DetailSection:
    base = _public_url()
    link = f"{base}/portal/details/{detail.id}"
    tz = detail_zone(detail)
    venues: dict[int, Site] = {}
    for visit in sorted(detail.visits, key=lambda v: v.arrives_at):
        venues.setdefault(visit.site_id, visit.site)
    grouped: dict[int | None, list[Advisory]] = {}
    for advisory in advisories:
        grouped.setdefault(advisory.site_id if advisory.site_id in venues else None, []).append(advisory)
    groups = []
    for site_id, site in venues.items():
        if site_id in grouped:
            lines = [_advisory_line(a, known_zone(site.timezone), link) for a in _by_severity(grouped[site_id])]
            groups.append(AdvisoryGroup(site.name, lines))
    if None in grouped:
        lines = [
            _advisory_line(a, known_zone(a.site.timezone) if a.site else tz, link) for a in _by_severity(grouped[None])
        ]
        groups.append(AdvisoryGroup("On the routes and elsewhere", lines))
    return DetailSection(
        name=detail.name,
        dates=when_text(detail.starts_at, detail.ends_at, tz),
        readiness=readiness_line(detail, now),
        link=link,
        groups=groups,
    )


def readable_by(advisory: Advisory, user: User) -> bool:
    """Published and the contact's own client's: checked again whatever the query said."""
    owner = advisory.detail.client_id if advisory.detail is not None else advisory.watch_area.client_id
    return advisory.status == "published" and owner == user.client_id


def build_content(
    user: User, email: str, zone: str, cadence: str, advisories: list[Advisory], now: datetime
) -> DigestContent:
    """A digest's content for a contact (times in `zone`): their client's details and watch areas, these advisories."""
    advisories = [a for a in advisories if readable_by(a, user)]
    details = {d.id: d for d in _client_details(user.client_id, now)}
    for advisory in advisories:  # a detail that ended since the digest was prepared still shows what it carries
        if advisory.detail is not None:
            details.setdefault(advisory.detail_id, advisory.detail)
    ordered = sorted(details.values(), key=lambda d: (d.starts_at, d.id))
    per_detail: dict[int, list[Advisory]] = {}
    per_area: dict[int, list[Advisory]] = {}
    for advisory in advisories:
        if advisory.detail_id is not None:
            per_detail.setdefault(advisory.detail_id, []).append(advisory)
        else:
            per_area.setdefault(advisory.watch_area_id, []).append(advisory)
    areas = {a.id: a for a in _client_watch_areas(user.client_id)}
    for advisory in advisories:
        if advisory.watch_area is not None:
            areas.setdefault(advisory.watch_area_id, advisory.watch_area)
    base = _public_url()
    return DigestContent(
        client_name=user.client.name,
        recipient=email,
        cadence=cadence,
        as_of=local_time(now, known_zone(zone), "%a %d %b %Y %H:%M %Z"),
        details=[_detail_section(d, per_detail.get(d.id, []), now) for d in ordered],
        watch_areas=[
            WatchAreaSection(
                name=area.name,
                link=f"{base}/portal",
                advisories=[
                    _advisory_line(a, known_zone(area.timezone), f"{base}/portal")
                    for a in _by_severity(per_area.get(area.id, []))
                ],
            )
            for area in sorted(areas.values(), key=lambda a: (a.name, a.id))
        ],
        portal_url=f"{base}/portal",
        unsubscribe_url=unsubscribe_url(user.id),
    )
