"""Web Push (RFC 8030 with VAPID, RFC 8292): notifications to a browser or phone whose page is closed.

- Subscriptions: a signed-in person's browser hands over its endpoint and keys (subscribe), made
  with the server's key (detail.domain.vapid); the endpoint is checked as the untrusted URL it is
  (endpoint_problem), and the subscription lasts as long as the sign-in session that made it.
- Sending: send_to_user posts one encrypted message to each of a person's subscriptions (pywebpush)
  and reports what each push service answered; a subscription the service says is gone (404, 410)
  is dropped. Every connection goes through the address guard (netguard): public addresses only,
  over https, unless PUSH_ALLOWED_HOSTS names the host. Call it only from jobs.
- queue_push records a notification for the "push" job (send_due), so a request never waits on a
  push service; the job claims each row with a conditional UPDATE and sends it once. When a push
  service takes one, each of HANDOVER_LISTENERS hears of it (team messages count it as delivered).

Flushes, never commits; except send_due, the job, whose claim and outcome must each be durable
before the next step (as in detail.domain.outbox).
"""

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from pywebpush import WebPushException, webpush

from detail.domain import live, netguard, sessions
from detail.domain.guarded_http import guarded_session
from detail.domain.vapid import vapid_key
from detail.extensions import db
from detail.models import Agent, Assignment, PushSubscription, QueuedPush, User, utcnow

log = logging.getLogger(__name__)

# How long a push service keeps a message for a device that is off; a phone switched on later
# still hears that its detail went hot.
TTL_SECONDS = 3600
# Every notification here is operational: ask the push service to wake the device for it.
URGENCY = "high"
TIMEOUT = (5, 10)  # seconds to connect, then to wait for each read
# A queued push older than this when the job reaches it (the jobs were down) is not worth showing.
MAX_AGE = timedelta(hours=1)
# A row left "sending" this long lost its sender; it may have gone, so it is not sent again.
STALE_SENDING = timedelta(minutes=10)
# Settled rows are kept this long (what was sent, to whom, what failed), then deleted.
RETENTION = timedelta(days=7)
BATCH = 100
MAX_SUBSCRIPTIONS_PER_USER = 10
MAX_ENDPOINT_LENGTH = 2048
PHONE_PAGE = "/phone/"

# Called with (user id, tag) of a queued push a push service took, in the transaction that records it;
# each returns the events it appended (the job commits and publishes them). Registered by create_app
# for the modules whose rows follow a push (team messages: delivered by push); a listener that fails
# is logged and undone alone.
HANDOVER_LISTENERS: list[Callable[[int, str], list]] = []

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


@dataclass(frozen=True)
class PushMessage:
    """What one notification says, and the page of this site a tap on it opens."""

    title: str
    body: str
    url: str  # the page the notification opens, a path on this site
    tag: str = ""  # notifications with the same tag replace each other on the device


@dataclass(frozen=True)
class PushOutcome:
    """What one subscription's push service made of one message."""

    subscription_id: int
    ok: bool
    status: int | None  # the push service's HTTP status, None when it could not be reached
    error: str = ""


class SubscriptionRefused(ValueError):
    """A subscription that cannot be saved: the message, the HTTP status to answer, the field at fault."""

    def __init__(self, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.message, self.status, self.field = message, status, field


# --- subscriptions ---------------------------------------------------------------------------------


def allow_list() -> netguard.AllowList:
    """The push hosts allowed although not public (PUSH_ALLOWED_HOSTS); config checked it reads."""
    return netguard.parse_allow_list(current_app.config.get("PUSH_ALLOWED_HOSTS"))


def endpoint_problem(endpoint, allow: netguard.AllowList) -> str | None:
    """Why a push endpoint may not be posted to, or None: https to a host that is not plainly private
    (a name is judged again on the addresses it resolves to when a message is sent)."""
    if not isinstance(endpoint, str) or not endpoint:
        return "endpoint is required"
    if len(endpoint) > MAX_ENDPOINT_LENGTH:
        return f"endpoint is at most {MAX_ENDPOINT_LENGTH} characters"
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018  (a port that is no number raises here)
    except ValueError:
        return "endpoint is not a URL"
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None or any(c.isspace() for c in endpoint):
        return "endpoint is not a push service URL"
    if parts.scheme != "https" and not (parts.scheme == "http" and _listed(host, allow)):
        return "endpoint must be an https URL"
    try:
        netguard.check_url(endpoint, allow)
    except netguard.AddressNotAllowed:
        return "endpoint is not a public address"
    return None


def _listed(host: str, allow: netguard.AllowList) -> bool:
    literal = netguard.literal_address(host)
    if literal is not None:
        return allow.allows(literal)
    return host.rstrip(".").lower() in allow.hosts


def _decoded(value, name: str, size: int) -> bytes:
    if not isinstance(value, str) or len(value) > 200 or not _BASE64URL.match(value):
        raise SubscriptionRefused(f"keys.{name} must be base64url text", field=f"keys.{name}")
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise SubscriptionRefused(f"keys.{name} must be base64url text", field=f"keys.{name}") from None
    if len(raw) != size:
        raise SubscriptionRefused(f"keys.{name} must be {size} bytes, got {len(raw)}", field=f"keys.{name}")
    return raw


def check_keys(p256dh, auth) -> None:
    """The subscription's keys as RFC 8291 has them: a P-256 public point (65 bytes) and a 16-byte secret."""
    point = _decoded(p256dh, "p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise SubscriptionRefused("keys.p256dh is not a P-256 public key", field="keys.p256dh") from None
    _decoded(auth, "auth", 16)


def subscribe(
    user: User, endpoint, p256dh, auth, user_agent: str = "", session_id: int | None = None
) -> tuple[PushSubscription, bool]:
    """Save (or renew) a browser's subscription for the user, tied to the sign-in session that asks:
    it, and whether it is new; raises SubscriptionRefused (nothing saved).

    An endpoint already saved for someone else is refused (409): the browser makes a new one.
    """
    problem = endpoint_problem(endpoint, allow_list())
    if problem:
        raise SubscriptionRefused(problem, field="endpoint")
    check_keys(p256dh, auth)
    existing = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if existing is not None and existing.user_id != user.id:
        raise SubscriptionRefused("this browser's subscription belongs to another account", status=409)
    created = existing is None
    if created:
        existing = PushSubscription(user_id=user.id, endpoint=endpoint)
        db.session.add(existing)
    existing.p256dh, existing.auth, existing.user_agent = p256dh, auth, (user_agent or "")[:200]
    existing.session_id, existing.last_error = session_id, None
    db.session.flush()
    older = db.session.scalars(
        sa.select(PushSubscription)
        .where(PushSubscription.user_id == user.id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .offset(MAX_SUBSCRIPTIONS_PER_USER)
    ).all()
    for stale in older:  # a person's oldest browsers give way to the newest
        db.session.delete(stale)
    db.session.flush()
    return existing, created


def unsubscribe(user: User, endpoint) -> bool:
    """Forget the user's subscription at this endpoint; False when the user has none there."""
    if not isinstance(endpoint, str):
        return False
    result = db.session.execute(
        sa.delete(PushSubscription).where(PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id)
    )
    return result.rowcount == 1


def subscription_count(user_id: int) -> int:
    query = sa.select(sa.func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user_id)
    return db.session.scalar(query) or 0


# --- sending ---------------------------------------------------------------------------------------


def send_to_user(user_id: int, message: PushMessage) -> list[PushOutcome]:
    """Send the message to every subscription of the user; an empty list when they have none."""
    subscriptions = _live_subscriptions(user_id)
    if not subscriptions:
        return []
    allow = allow_list()
    payload = json.dumps({"title": message.title, "body": message.body, "url": message.url, "tag": message.tag})
    outcomes = []
    with guarded_session(allow) as session:
        for subscription in subscriptions:
            outcomes.append(_send_one(subscription, payload, allow, session))
    db.session.flush()
    return outcomes


def _live_subscriptions(user_id: int) -> list[PushSubscription]:
    """The user's subscriptions whose sign-in session is still live (or that have none); those of a
    session that ended are dropped here, unsent: a device signed out hears nothing more."""
    subscriptions = db.session.scalars(
        sa.select(PushSubscription).where(PushSubscription.user_id == user_id).order_by(PushSubscription.id)
    ).all()
    live = {tuple(row) for row in db.session.execute(sessions.live_sessions_of([user_id], utcnow()))}
    kept = []
    for subscription in subscriptions:
        if subscription.session_id is None or (user_id, subscription.session_id) in live:
            kept.append(subscription)
        else:
            log.info("push subscription %s: its sign-in session ended; dropped", subscription.id)
            db.session.delete(subscription)
    db.session.flush()
    return kept


def _send_one(subscription: PushSubscription, payload: str, allow, session) -> PushOutcome:
    problem = endpoint_problem(subscription.endpoint, allow)
    status = None
    if problem is None:
        status, problem = _post(subscription, payload, session)
    outcome = PushOutcome(subscription.id, problem is None, status, problem or "")
    if outcome.ok:
        subscription.last_success_at, subscription.last_error = utcnow(), None
    elif status in (404, 410):  # the browser unsubscribed, or the push service forgot it
        log.info("push subscription %s is gone (HTTP %s): dropped", subscription.id, status)
        db.session.delete(subscription)
    else:
        log.warning("push to subscription %s failed: %s", subscription.id, problem)
        subscription.last_error = problem[:500]
    return outcome


def _post(subscription: PushSubscription, payload: str, session) -> tuple[int | None, str | None]:
    """Post the message; (HTTP status, None) when the push service took it, else (status or None, why)."""
    try:
        response = webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=payload,
            vapid_private_key=vapid_key(),
            vapid_claims={"sub": current_app.config["VAPID_SUBJECT"]},  # a fresh dict: webpush adds aud and exp
            ttl=TTL_SECONDS,
            timeout=TIMEOUT,
            headers={"Urgency": URGENCY},
            requests_session=session,
        )
        return response.status_code, None
    except WebPushException as exc:
        response = exc.response
        if response is None:
            return None, f"could not encrypt for this subscription: {exc.message}"[:500]
        said = " ".join((response.text or "").split())[:200]
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        return response.status_code, f"{reason}: {said}" if said else reason
    except netguard.AddressNotAllowed:
        return None, netguard.NOT_ALLOWED
    except requests.Timeout:
        return None, "timed out"
    except (requests.RequestException, OSError):
        return None, "connection failed"
    except ValueError as exc:  # keys that do not decrypt to a point, for instance
        return None, f"could not encrypt for this subscription: {exc}"[:500]


# --- the queue and its job -------------------------------------------------------------------------


def queue_push(user_id: int, message: PushMessage) -> None:
    """Record a notification for the "push" job to send (flushes; safe from a request)."""
    if not message.url.startswith("/") or message.url.startswith("//") or "\\" in message.url:
        raise ValueError(f"a push opens a path on this site, not {message.url!r}")
    db.session.add(
        QueuedPush(
            user_id=user_id,
            title=message.title[:200],
            body=message.body[:1000],
            url=message.url[:300],
            tag=message.tag[:100],
            status="pending",
        )
    )
    db.session.flush()


def detail_agent_user_ids(detail_id: int) -> list[int]:
    """The active accounts of the agents assigned to a detail."""
    return list(
        db.session.scalars(
            sa.select(User.id)
            .join(Agent, Agent.user_id == User.id)
            .join(Assignment, Assignment.agent_id == Agent.id)
            .where(Assignment.detail_id == detail_id, User.active)
            .distinct()
            .order_by(User.id)
        )
    )


def queue_for_detail(detail_id: int, message: PushMessage) -> int:
    """Queue the message for every agent assigned to the detail; how many were queued."""
    users = detail_agent_user_ids(detail_id)
    for user_id in users:
        queue_push(user_id, message)
    return len(users)


def send_due(now: datetime | None = None) -> int:
    """The "push" job: send each pending notification once; returns how many reached a device's push service."""
    now = now or utcnow()
    _expire(now)
    delivered = 0
    pending = db.session.scalars(
        sa.select(QueuedPush.id).where(QueuedPush.status == "pending").order_by(QueuedPush.id).limit(BATCH)
    ).all()
    for row_id in pending:
        if not _claim(row_id, now):
            continue  # another sender took it
        row = db.session.get(QueuedPush, row_id)
        message = PushMessage(row.title, row.body, row.url, row.tag)
        try:
            outcomes = send_to_user(row.user_id, message)
        except Exception as exc:
            db.session.rollback()
            log.exception("queued push %s could not be sent", row_id)
            outcomes, error = None, f"could not send: {exc!r}"[:500]
        row, events = db.session.get(QueuedPush, row_id), []
        if outcomes is None:
            row.status, row.last_error = "failed", error
        elif not outcomes:
            row.status = "skipped"
        else:
            failures = "; ".join(o.error for o in outcomes if not o.ok)[:500] or None
            if any(o.ok for o in outcomes):
                row.status, row.sent_at, row.last_error = "sent", utcnow(), failures
                delivered += 1
                events = _handed_over(row)
            else:
                row.status, row.last_error = "failed", failures
        db.session.commit()
        live.publish(events)
    return delivered


def _handed_over(row: QueuedPush) -> list:
    """Tell each of HANDOVER_LISTENERS, each in a savepoint: one that fails is logged and undone alone."""
    events: list = []
    if not row.tag:
        return events
    for listener in HANDOVER_LISTENERS:
        pending = db.session.info.setdefault(live.PENDING_EVENTS, [])
        before = len(pending)
        try:
            with db.session.begin_nested():
                events += listener(row.user_id, row.tag)
        except Exception:
            # Events wait outside savepoints until the commit (live.append_event): drop the failed one's.
            del db.session.info.get(live.PENDING_EVENTS, [])[before:]
            name = getattr(listener, "__qualname__", listener)
            log.exception("queued push %s: handover listener %s failed", row.id, name)
    return events


def _claim(row_id: int, now: datetime) -> bool:
    result = db.session.execute(
        sa.update(QueuedPush)
        .where(QueuedPush.id == row_id, QueuedPush.status == "pending")
        .values(status="sending", claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _expire(now: datetime) -> None:
    db.session.execute(
        sa.update(QueuedPush)
        .where(QueuedPush.status == "pending", QueuedPush.created_at < now - MAX_AGE)
        .values(status="expired", last_error="waited too long for the push job to be worth showing")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(QueuedPush)
        .where(QueuedPush.status == "sending", QueuedPush.claimed_at < now - STALE_SENDING)
        .values(status="failed", last_error="the sender stopped while sending: it may have gone, so it is not resent")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.delete(QueuedPush)
        .where(QueuedPush.status.not_in(("pending", "sending")), QueuedPush.created_at < now - RETENTION)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
