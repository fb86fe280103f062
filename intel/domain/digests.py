"""Advisory digests for client contacts: when each contact is told what, and each digest recorded and sent once.

What a contact gets: the published advisories of their own client (its active and upcoming
details, its watch areas) at or above their minimum severity that no earlier digest of the same
cadence carried. "immediate" carries only high and critical ones, as soon as there are any;
"daily" goes once per local day at or after the contact's time, "weekly" once per ISO week on the
contact's day. A scheduled digest carries what was published up to its scheduled moment (so a
"daily at 07:00" digest never turns up at 09:31 because something was published at 09:30: that
goes in tomorrow's), and one with nothing new is not sent, nor recorded, unless the contact asked
for "all quiet" notes. What a digest says, and that it says nothing internal, is
intel.domain.digest_content; the contact's choices are intel.domain.preferences.

Exactly once, as far as SMTP allows:

1. prepare_digest records the intent before anything is sent: the Digest (with the Message-ID it
   will carry) and one DigestEntry per advisory, in one transaction. The database's unique keys
   ((user, cadence, period) on Digest, (user, cadence, advisory) on DigestEntry) make a second
   sender's attempt fail, and it backs off: no advisory is ever in two digests of one cadence.
2. deliver and reconcile are detail's outbox (detail.domain.outbox, DIGESTS here): claimed by one
   sender, retried with backoff, failed for good on a permanent refusal, and "uncertain" when a
   sender stopped between sending and recording. A digest whose contact paused digests before it
   went out fails for good. A failed or uncertain digest keeps its advisories, is listed by
   digests_needing_attention, and resend() sends it again on purpose (same Message-ID, so a mail
   client can tell a duplicate): at most once for the crash window, the uncertainty recorded.

Like the outbox, these functions commit at each step: they are the digest job's (and a
coordinator's send-now and resend), and each step must be durable before the next.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from detail.domain.outbox import NEEDS_ATTENTION, Outbox, Withheld, envelope, new_message_id
from detail.domain.timefmt import known_zone
from detail.extensions import db
from detail.models import Detail, User, utcnow
from intel.domain.classify import SEVERITIES, SEVERITY_RANK
from intel.domain.digest_content import build_content, readable_by, render
from intel.domain.preferences import preference_for, preference_or_default, stored_preference
from intel.models import Advisory, ContactPreference, Digest, DigestEntry, WatchArea

log = logging.getLogger(__name__)

DIGESTS = Outbox(Digest, "digest")
IMMEDIATE_SEVERITIES = ("high", "critical")


# ---------------------------------------------------------------- schedule and plan


@dataclass(frozen=True)
class Period:
    """A scheduled digest's slot: its key and the moment it is due (advisories published until then)."""

    key: str
    due_at: datetime


def due_period(preference: ContactPreference, now: datetime) -> Period | None:
    """The daily or weekly slot due at `now` in the contact's zone, or None (immediate has no slot)."""
    zone = ZoneInfo(known_zone(preference.timezone))
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
    return [a for a in db.session.scalars(query.order_by(Advisory.id)) if readable_by(a, user)]


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
        message_id=new_message_id("digest"),
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


def _kept_preference(user: User, now: datetime) -> ContactPreference:
    """The preference a digest is planned by, the default kept (committed) from the first digest on."""
    preference = preference_for(user, now)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another sender stored it first
        db.session.rollback()
        preference = stored_preference(user)
    return preference


def prepare_digest(user: User, now: datetime) -> Digest | None:
    """Record the contact's due digest (status pending, with its entries) and commit; None when none is due."""
    if not _is_contact(user):
        return None
    plan, _ = plan_digest(user, now, _kept_preference(user, now))
    return _record(plan, now) if plan else None


# ---------------------------------------------------------------- delivery


def build_message(digest: Digest, now: datetime) -> EmailMessage:
    """The digest as an email: plain text with an HTML alternative and the List-Unsubscribe headers."""
    advisories = [entry.advisory for entry in sorted(digest.entries, key=lambda e: e.advisory_id)]
    preference = preference_or_default(digest.user, now)
    content = build_content(digest.user, digest.email, preference.timezone, digest.cadence, advisories, now)
    _, text, html = render(content)
    message = envelope(digest, now)
    message["List-Unsubscribe"] = f"<{content.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _message_unless_paused(digest: Digest, now: datetime) -> EmailMessage:
    preference = stored_preference(digest.user)
    if preference is not None and preference.paused:
        raise Withheld("not sent: the contact paused digests before it went out")
    return build_message(digest, now)


def deliver(digest_id: int, now: datetime | None = None) -> str | None:
    """Send one pending or failed digest whose time has come; returns its new status, None if not ours to send."""
    return DIGESTS.deliver(digest_id, _message_unless_paused, now or utcnow())


def reconcile(now: datetime | None = None) -> int:
    """Settle digests left "sending" by a sender that stopped (see detail.domain.outbox); returns how many."""
    return DIGESTS.reconcile(now or utcnow())


def resend(digest_id: int, now: datetime | None = None) -> str | None:
    """A coordinator's deliberate resend of an uncertain or failed digest, to the contact's current address."""
    now = now or utcnow()
    digest = db.session.get(Digest, digest_id)
    if digest is None or digest.status not in NEEDS_ATTENTION:
        return None
    preference = stored_preference(digest.user)
    email = preference.email if preference else digest.email
    return deliver(digest_id, now) if DIGESTS.requeue(digest_id, now, email=email) else None


def digests_needing_attention(organisation_id: int) -> list[Digest]:
    """Uncertain and failed digests for coordinators, with Message-ID and error (failed for good: NEVER retried)."""
    return list(
        db.session.scalars(
            sa.select(Digest)
            .join(User, Digest.user_id == User.id)
            .where(
                User.organisation_id == organisation_id,
                Digest.status.in_(NEEDS_ATTENTION),
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
    due = DIGESTS.due_ids(now)
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
    preference = preference_or_default(user, now)
    plan, _ = plan_digest(user, now, preference, scheduled=False)
    if plan is None:
        return None
    return render(build_content(user, preference.email, preference.timezone, plan.cadence, plan.advisories, now))


def send_now(user: User, now: datetime | None = None) -> Digest | None:
    """Prepare the contact's next digest outside the schedule (no period) and deliver it at once."""
    now = now or utcnow()
    if not _is_contact(user):
        return None
    plan, _ = plan_digest(user, now, _kept_preference(user, now), scheduled=False)
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
        preference = preference_or_default(user, now)
        plan, why = plan_digest(user, now, preference)
        rows.append((user, preference, plan, why))
    return rows


def waiting_for_retry(now: datetime | None = None) -> list[Digest]:
    """Digests prepared earlier that a run now would try to deliver."""
    return list(db.session.scalars(DIGESTS.due(now or utcnow())))
