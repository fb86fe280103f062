"""Advisory digests for client contacts: what each contact is told, when, and delivered exactly once.

What a contact gets: the published advisories of their own client (its active and upcoming
details, its watch areas) at or above their minimum severity that no earlier digest of the same
cadence carried. "immediate" carries only high and critical ones, as soon as there are any;
"daily" goes once per local day at or after the contact's time, "weekly" once per ISO week on the
contact's day. A scheduled digest carries what was published up to its scheduled moment (so a
"daily at 07:00" digest never turns up at 09:31 because something was published at 09:30: that
goes in tomorrow's), and one with nothing new is not sent, nor recorded, unless the contact asked
for "all quiet" notes.

The message is built from plain data (DigestContent) holding only what a client may read: detail
and watch-area names, venues of the client's own schedule, a readiness line, and each advisory's
client-facing fields (advisory_payload(for_client=True)). Templates never see a model object, so
no agent, call sign, post, position, internal note or unpublished advisory can reach one.

Exactly once, as far as SMTP allows:

1. prepare_digest records the intent before anything is sent: the Digest (with the Message-ID it
   will carry) and one DigestEntry per advisory, in one transaction. The database's unique keys
   ((user, cadence, period) on Digest, (user, cadence, advisory) on DigestEntry) make a second
   sender's attempt fail, and it backs off: no advisory is ever in two digests of one cadence.
2. deliver claims a digest with a conditional UPDATE (pending/failed and due -> sending); only the
   process whose UPDATE changed the row sends. While "sending", next_attempt_at holds the moment
   of the claim. Success is recorded as "sent". A transient failure (refused connection, timeout,
   a 4xx reply, a dropped connection, or a 5xx about the session itself, such as authentication,
   which is our configuration, not the message) is "failed" with a retry after 1, 2, 4, ...
   minutes, at most an hour. A 5xx refusing the sender, recipient or message is permanent:
   "failed" with the error, next_attempt_at at NEVER, its advisories still attached, listed by
   digests_needing_attention until a coordinator resends it.
3. reconcile settles a digest left "sending" for more than ten minutes: the process died between
   handing the message over and recording it. With the outbox the answer is on disk (the .eml is
   written atomically): there, "sent"; missing, "failed" and retried. With SMTP nobody can know
   whether the server took it, and sending again risks a second copy, so it becomes "uncertain":
   never resent automatically, shown to coordinators with its Message-ID to look up in the mail
   server's log, and resend() sends it again on purpose (same Message-ID, so a mail client can
   tell a duplicate). That is: at most once for the crash window, with the uncertainty recorded,
   never hidden.

Without SMTP_HOST (the embedded default) messages are written to instance/outbox/ as .eml files.
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app, render_template
from itsdangerous import BadSignature, URLSafeSerializer

from detail.domain.mail import NEVER, describe, failure_kind, retry_delay, send_smtp, smtp_configured, write_outbox
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Detail, Site, StatusCode, StatusReport, User, Visit, utcnow
from intel.domain.advisories import advisory_payload
from intel.domain.classify import CATEGORY_LABELS, SEVERITIES, SEVERITY_LABELS, SEVERITY_RANK
from intel.models import Advisory, ContactPreference, Digest, DigestEntry, WatchArea

log = logging.getLogger(__name__)

PRODUCT = "Oscar Mike"
IMMEDIATE_SEVERITIES = ("high", "critical")
STALE_SENDING = timedelta(minutes=10)
UNSUBSCRIBE_SALT = "digest-unsubscribe"
SEVERITY_COLOURS = {
    "critical": ("#b71c1c", "#ffffff"),
    "high": ("#e65100", "#ffffff"),
    "moderate": ("#f9a825", "#1a1a1a"),
    "low": ("#1565c0", "#ffffff"),
    "info": ("#607d8b", "#ffffff"),
}


# ---------------------------------------------------------------- content (plain data, client-safe)


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


def _zone(name: str | None) -> str:
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC"
    return name or "UTC"


def _public_url() -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/")


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


def _span(starts_at: datetime, ends_at: datetime, tz: str) -> str:
    start = local_time(starts_at, tz, "%a %d %b %H:%M")
    same_day = local_time(starts_at, tz, "%Y-%m-%d") == local_time(ends_at, tz, "%Y-%m-%d")
    end = local_time(ends_at, tz, "%H:%M %Z" if same_day else "%a %d %b %H:%M %Z")
    return f"{start} – {end}"


def _detail_zone(detail: Detail) -> str:
    first = min(detail.visits, key=lambda v: v.arrives_at, default=None)
    return _zone(first.site.timezone if first else detail.client.organisation.timezone)


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
        tz = _zone(posts[0].site.timezone) if posts[0].site else _detail_zone(detail)
        return f"Team not yet on station; report time {_clock(posts[0].report_at, tz, now)}"
    assignment = next((a for a in detail.assignments if a.agent_id == first.agent_id), None)
    site = assignment.site if assignment else None
    # Only a venue of the client's own schedule is named: a post of the team's is internal.
    arrivals = sorted(v.arrives_at for v in detail.visits if site is not None and v.site_id == site.id)
    tz = _zone(site.timezone) if site else _detail_zone(detail)
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
        when=_span(advisory.starts_at, advisory.ends_at, tz),
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
    tz = _detail_zone(detail)
    venues: dict[int, Site] = {}
    for visit in sorted(detail.visits, key=lambda v: v.arrives_at):
        venues.setdefault(visit.site_id, visit.site)
    grouped: dict[int | None, list[Advisory]] = {}
    for advisory in advisories:
        grouped.setdefault(advisory.site_id if advisory.site_id in venues else None, []).append(advisory)
    groups = []
    for site_id, site in venues.items():
        if site_id in grouped:
            lines = [_advisory_line(a, _zone(site.timezone), link) for a in _by_severity(grouped[site_id])]
            groups.append(AdvisoryGroup(site.name, lines))
    if None in grouped:
        lines = [_advisory_line(a, _zone(a.site.timezone) if a.site else tz, link) for a in _by_severity(grouped[None])]
        groups.append(AdvisoryGroup("On the routes and elsewhere", lines))
    return DetailSection(
        name=detail.name,
        dates=_span(detail.starts_at, detail.ends_at, tz),
        readiness=readiness_line(detail, now),
        link=link,
        groups=groups,
    )


def _own(advisory: Advisory, user: User) -> bool:
    """Published and the contact's own client's: checked again whatever the query said."""
    owner = advisory.detail.client_id if advisory.detail is not None else advisory.watch_area.client_id
    return advisory.status == "published" and owner == user.client_id


def build_content(
    user: User, email: str, zone: str, cadence: str, advisories: list[Advisory], now: datetime
) -> DigestContent:
    """A digest's content for a contact (times in `zone`): their client's details and watch areas, these advisories."""
    advisories = [a for a in advisories if _own(a, user)]
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
        as_of=local_time(now, _zone(zone), "%a %d %b %Y %H:%M %Z"),
        details=[_detail_section(d, per_detail.get(d.id, []), now) for d in ordered],
        watch_areas=[
            WatchAreaSection(
                name=area.name,
                link=f"{base}/portal",
                advisories=[
                    _advisory_line(a, _zone(area.timezone), f"{base}/portal")
                    for a in _by_severity(per_area.get(area.id, []))
                ],
            )
            for area in sorted(areas.values(), key=lambda a: (a.name, a.id))
        ],
        portal_url=f"{base}/portal",
        unsubscribe_url=unsubscribe_url(user.id),
    )


# ---------------------------------------------------------------- unsubscribe


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(user_id: int) -> str:
    """The signed token in a digest's List-Unsubscribe link."""
    return _serializer().dumps(user_id)


def user_id_from_unsubscribe_token(token: str) -> int | None:
    """The user id a token was made for, or None when it is not one of ours."""
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def unsubscribe_url(user_id: int) -> str:
    return f"{_public_url()}/portal/unsubscribe/{unsubscribe_token(user_id)}"


# ---------------------------------------------------------------- preferences and schedule


def _stored_preference(user: User) -> ContactPreference | None:
    return db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == user.id))


def _default_zone(user: User, now: datetime) -> str:
    """The zone of the client's first venue (of the first detail not yet over), else the organisation's."""
    zone = db.session.scalar(
        sa.select(Site.timezone)
        .join(Visit, Visit.site_id == Site.id)
        .join(Detail, Visit.detail_id == Detail.id)
        .where(Detail.client_id == user.client_id)
        .order_by(sa.case((Detail.ends_at <= now, 1), else_=0), Detail.starts_at, Visit.arrives_at)
        .limit(1)
    )
    return _zone(zone or user.organisation.timezone)


def default_preference(user: User, now: datetime) -> ContactPreference:
    """The preference a contact has until they choose: daily at 07:00 local, moderate and above (not stored)."""
    return ContactPreference(
        user_id=user.id,
        email=user.email,
        cadence="daily",
        daily_at_minute=7 * 60,
        weekly_day=0,
        min_severity="moderate",
        timezone=_default_zone(user, now),
        all_quiet=False,
        paused=False,
    )


def preference_for(user: User, now: datetime) -> ContactPreference:
    """The contact's preference, stored with the defaults on first use (commits that on its own)."""
    stored = _stored_preference(user)
    if stored is not None:
        return stored
    db.session.add(default_preference(user, now))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another sender stored it first
        db.session.rollback()
    return _stored_preference(user)


@dataclass(frozen=True)
class Period:
    """A scheduled digest's slot: its key and the moment it is due (advisories published until then)."""

    key: str
    due_at: datetime


def due_period(preference: ContactPreference, now: datetime) -> Period | None:
    """The daily or weekly slot due at `now` in the contact's zone, or None (immediate has no slot)."""
    zone = ZoneInfo(_zone(preference.timezone))
    local = now.astimezone(zone)
    at = time(preference.daily_at_minute // 60, preference.daily_at_minute % 60)
    if preference.cadence == "daily":
        due_at = datetime.combine(local.date(), at, tzinfo=zone)
        key = local.date().isoformat()
    elif preference.cadence == "weekly":
        day: date = local.date() - timedelta(days=local.weekday() - preference.weekly_day)
        due_at = datetime.combine(day, at, tzinfo=zone)
        year, week, _ = local.date().isocalendar()
        key = f"{year}-W{week:02d}"
    else:
        return None
    # A week's digest missed on its day (the sender was down) still goes later that week.
    return Period(key, due_at.astimezone(timezone.utc)) if now >= due_at else None


def new_advisories(
    user: User, preference: ContactPreference, cadence: str, now: datetime, published_until: datetime | None = None
) -> list[Advisory]:
    """Published advisories of the contact's client not yet in a digest of this cadence, at their severity."""
    floor = SEVERITY_RANK[preference.min_severity]
    if cadence == "immediate":
        floor = max(floor, SEVERITY_RANK[IMMEDIATE_SEVERITIES[0]])
    details = sa.select(Detail.id).where(
        Detail.client_id == user.client_id, Detail.state != "complete", Detail.ends_at > now
    )
    areas = sa.select(WatchArea.id).where(WatchArea.client_id == user.client_id)
    sent = sa.select(DigestEntry.advisory_id).where(DigestEntry.user_id == user.id, DigestEntry.cadence == cadence)
    query = sa.select(Advisory).where(
        Advisory.status == "published",
        Advisory.organisation_id == user.organisation_id,
        sa.or_(Advisory.detail_id.in_(details), Advisory.watch_area_id.in_(areas)),
        Advisory.severity.in_(SEVERITIES[floor:]),
        Advisory.id.not_in(sent),
    )
    if published_until is not None:
        query = query.where(sa.or_(Advisory.published_at.is_(None), Advisory.published_at <= published_until))
    return [a for a in db.session.scalars(query.order_by(Advisory.id)) if _own(a, user)]


@dataclass
class Plan:
    """What a digest would be, before anything is recorded."""

    user: User
    preference: ContactPreference
    cadence: str
    period_key: str | None
    advisories: list[Advisory]

    @property
    def all_quiet(self) -> bool:
        return not self.advisories


def _is_contact(user: User | None) -> bool:
    return user is not None and user.role == "client" and user.client_id is not None and user.active


def plan_digest(
    user: User, now: datetime, preference: ContactPreference, scheduled: bool = True
) -> tuple[Plan | None, str]:
    """The digest due for a contact now (or, unscheduled, the one that would go now), and why not if none."""
    if not _is_contact(user):
        return None, "not a client contact"
    if preference.paused:
        return None, "paused (unsubscribed)"
    cadence = preference.cadence
    period: Period | None = None
    if scheduled and cadence != "immediate":
        period = due_period(preference, now)
        if period is None:
            return None, "not due yet"
        taken = db.session.scalar(
            sa.select(Digest.id).where(
                Digest.user_id == user.id, Digest.cadence == cadence, Digest.period_key == period.key
            )
        )
        if taken is not None:
            return None, f"already prepared for {period.key}"
    advisories = new_advisories(user, preference, cadence, now, period.due_at if period else None)
    if not advisories and not (preference.all_quiet and (cadence != "immediate" or not scheduled)):
        return None, "nothing new"
    return Plan(user, preference, cadence, period.key if period else None, advisories), ""


# ---------------------------------------------------------------- recording the intent


def _message_id() -> str:
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "oscarmike.localhost"
    return make_msgid(idstring="digest", domain=domain)


def _record(plan: Plan, now: datetime) -> Digest | None:
    """Store the digest and its entries in one transaction; None when another sender got there first."""
    preference = plan.preference
    content = build_content(plan.user, preference.email, preference.timezone, plan.cadence, plan.advisories, now)
    digest = Digest(
        user_id=plan.user.id,
        cadence=plan.cadence,
        period_key=plan.period_key,
        email=plan.preference.email,
        subject=content.subject,
        message_id=_message_id(),
        status="pending",
        all_quiet=plan.all_quiet,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    digest.entries = [
        DigestEntry(user_id=plan.user.id, cadence=plan.cadence, advisory_id=advisory.id) for advisory in plan.advisories
    ]
    db.session.add(digest)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        log.info("digest for user %s (%s) was prepared by another sender", plan.user.id, plan.cadence)
        return None
    return digest


def prepare_digest(user: User, now: datetime) -> Digest | None:
    """Record the contact's due digest (status pending, with its entries) and commit; None when none is due."""
    if not _is_contact(user):
        return None
    plan, _ = plan_digest(user, now, preference_for(user, now))
    return _record(plan, now) if plan else None


# ---------------------------------------------------------------- delivery


def build_message(digest: Digest, now: datetime) -> EmailMessage:
    """The digest as an email: plain text with an HTML alternative and the List-Unsubscribe headers."""
    advisories = [entry.advisory for entry in sorted(digest.entries, key=lambda e: e.advisory_id)]
    preference = _stored_preference(digest.user) or default_preference(digest.user, now)
    content = build_content(digest.user, digest.email, preference.timezone, digest.cadence, advisories, now)
    _, text, html = render(content)
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = digest.subject
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = digest.email
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = digest.message_id
    message["List-Unsubscribe"] = f"<{content.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def outbox_path(digest: Digest) -> Path:
    """Where the embedded default writes a digest: instance/outbox/<id>-<safe Message-ID>.eml."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", digest.message_id.strip("<>"))
    return Path(current_app.instance_path) / "outbox" / f"{digest.id}-{safe}.eml"


def _transport(digest: Digest) -> Callable[[EmailMessage], None]:
    if smtp_configured():
        return lambda message: send_smtp(message, digest.email)
    path = outbox_path(digest)
    return lambda message: write_outbox(message, path)


def _claim(digest_id: int, now: datetime) -> bool:
    result = db.session.execute(
        sa.update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(("pending", "failed")), Digest.next_attempt_at <= now)
        .values(status="sending", attempts=Digest.attempts + 1, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _record_sent(digest_id: int, now: datetime) -> None:
    digest = db.session.get(Digest, digest_id)
    digest.status, digest.sent_at = "sent", now
    db.session.commit()


def _record_failure(digest_id: int, now: datetime, error: str, kind: str) -> str:
    digest = db.session.get(Digest, digest_id)
    digest.last_error = error[:2000]
    if kind == "transient":
        digest.status, digest.next_attempt_at = "failed", now + retry_delay(digest.attempts)
    elif kind == "permanent":
        digest.status, digest.next_attempt_at = "failed", NEVER
    else:
        digest.status = "uncertain"
    db.session.commit()
    return digest.status


def deliver(digest_id: int, now: datetime | None = None) -> str | None:
    """Send one pending or failed digest whose time has come; returns its new status, None if not ours to send."""
    now = now or utcnow()
    if not _claim(digest_id, now):
        return None
    digest = db.session.get(Digest, digest_id)
    preference = _stored_preference(digest.user)
    if preference is not None and preference.paused:
        return _record_failure(digest_id, now, "not sent: the contact paused digests before it went out", "permanent")
    try:
        message = build_message(digest, now)
        send = _transport(digest)
    except Exception as exc:  # nothing left the building
        log.exception("digest %s could not be built", digest_id)
        return _record_failure(digest_id, now, f"could not build the message: {describe(exc)}", "transient")
    try:
        send(message)
    except Exception as exc:
        kind = failure_kind(exc)
        log.warning("digest %s to %s: %s failure: %s", digest_id, digest.email, kind, describe(exc))
        error = describe(exc) if kind != "unknown" else f"unexpected error while sending, may have gone: {exc!r}"
        return _record_failure(digest_id, now, error, kind)
    _record_sent(digest_id, now)
    return "sent"


def reconcile(now: datetime | None = None) -> int:
    """Settle digests left "sending" by a crash (see the module's docstring); returns how many."""
    now = now or utcnow()
    stale = db.session.scalars(
        sa.select(Digest).where(Digest.status == "sending", Digest.next_attempt_at <= now - STALE_SENDING)
    ).all()
    settled = 0
    for digest in stale:
        path = outbox_path(digest)
        if path.exists():
            written = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            values = {"status": "sent", "sent_at": written}
        elif smtp_configured():
            values = {
                "status": "uncertain",
                "last_error": (
                    "the sender stopped between handing the message to the mail server and recording it: "
                    f"look for Message-ID {digest.message_id} in the mail server's log before resending"
                ),
            }
        else:
            values = {"status": "failed", "next_attempt_at": now, "last_error": "the sender stopped before writing it"}
        result = db.session.execute(
            sa.update(Digest)
            .where(Digest.id == digest.id, Digest.status == "sending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        settled += result.rowcount
        if result.rowcount:
            log.warning("digest %s left sending: now %s", digest.id, values["status"])
    db.session.commit()
    return settled


def resend(digest_id: int, now: datetime | None = None) -> str | None:
    """A coordinator's deliberate resend of an uncertain or failed digest, to the contact's current address."""
    now = now or utcnow()
    digest = db.session.get(Digest, digest_id)
    if digest is None or digest.status not in ("uncertain", "failed"):
        return None
    preference = _stored_preference(digest.user)
    result = db.session.execute(
        sa.update(Digest)
        .where(Digest.id == digest_id, Digest.status.in_(("uncertain", "failed")))
        .values(status="pending", next_attempt_at=now, email=preference.email if preference else digest.email)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return deliver(digest_id, now) if result.rowcount == 1 else None


def digests_needing_attention(organisation_id: int) -> list[Digest]:
    """Uncertain and failed digests for coordinators, with Message-ID and error (failed for good: NEVER retried)."""
    return list(
        db.session.scalars(
            sa.select(Digest)
            .join(User, Digest.user_id == User.id)
            .where(
                User.organisation_id == organisation_id,
                Digest.status.in_(("uncertain", "failed")),
            )
            .order_by(Digest.created_at)
        )
    )


# ---------------------------------------------------------------- the job, previews, sending now


@dataclass(frozen=True)
class Outcome:
    """What a run did with one digest."""

    digest_id: int
    email: str
    subject: str
    status: str
    error: str | None = None


def _contacts() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == "client", User.active.is_(True), User.client_id.is_not(None))
            .order_by(User.id)
        )
    )


def run_digests(now: datetime | None = None) -> list[Outcome]:
    """Reconcile, prepare every due digest, deliver every one whose time has come; what happened to each."""
    now = now or utcnow()
    reconcile(now)
    for user_id in [u.id for u in _contacts()]:
        try:
            prepare_digest(db.session.get(User, user_id), now)
        except Exception:
            db.session.rollback()
            log.exception("digest for user %s could not be prepared", user_id)
    due = db.session.scalars(
        sa.select(Digest.id)
        .where(Digest.status.in_(("pending", "failed")), Digest.next_attempt_at <= now)
        .order_by(Digest.id)
    ).all()
    outcomes = []
    for digest_id in due:
        try:
            status = deliver(digest_id, now)
        except Exception:
            db.session.rollback()
            log.exception("digest %s: sent or not, it could not be recorded; reconcile will settle it", digest_id)
            continue
        if status is not None:
            digest = db.session.get(Digest, digest_id)
            outcomes.append(Outcome(digest_id, digest.email, digest.subject, status, digest.last_error))
    return outcomes


def send_due_digests(now: datetime | None = None) -> int:
    """The periodic job: run_digests in the current app context; returns how many digests were sent."""
    return sum(1 for outcome in run_digests(now) if outcome.status == "sent")


def preview(user: User, now: datetime | None = None) -> tuple[str, str, str] | None:
    """The digest send_now would send to this contact now, rendered, recording nothing; None if none."""
    now = now or utcnow()
    if not _is_contact(user):
        return None
    preference = _stored_preference(user) or default_preference(user, now)
    plan, _ = plan_digest(user, now, preference, scheduled=False)
    if plan is None:
        return None
    return render(build_content(user, preference.email, preference.timezone, plan.cadence, plan.advisories, now))


def send_now(user: User, now: datetime | None = None) -> Digest | None:
    """Prepare the contact's next digest outside the schedule (no period) and deliver it at once."""
    now = now or utcnow()
    if not _is_contact(user):
        return None
    plan, _ = plan_digest(user, now, preference_for(user, now), scheduled=False)
    digest = _record(plan, now) if plan else None
    if digest is None:
        return None
    digest_id = digest.id
    deliver(digest_id, now)
    return db.session.get(Digest, digest_id)


def dry_run(now: datetime | None = None) -> list[tuple[User, ContactPreference, Plan | None, str]]:
    """For every contact, the digest a run now would prepare (and why none), recording nothing."""
    now = now or utcnow()
    rows = []
    for user in _contacts():
        preference = _stored_preference(user) or default_preference(user, now)
        plan, why = plan_digest(user, now, preference)
        rows.append((user, preference, plan, why))
    return rows


def waiting_for_retry(now: datetime | None = None) -> list[Digest]:
    """Digests prepared earlier that a run now would try to deliver."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(Digest)
            .where(Digest.status.in_(("pending", "failed")), Digest.next_attempt_at <= now)
            .order_by(Digest.id)
        )
    )
