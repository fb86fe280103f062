"""Escalation: an alarm nobody answers climbs its policy's steps until a person acknowledges it.

Pull-based and run by the "escalation" job, one evaluator per organisation at a time. Each run
(evaluate) opens an escalation for each new subject (an open alert, an urgent client request gone
overdue, what other packages offer through hooks.ESCALATION_SUBJECTS), ends those whose subject was
settled elsewhere (a package's own subjects are asked of it: hooks.ESCALATION_SUBJECT_SETTLED), pauses
those whose alert is muted (and resumes them, every later step moved by the pause, when the mute runs
out), and runs the steps that are due: a step writes its notification attempts (one per
person and channel) in the transaction that moves the escalation on, so a restarted job neither
repeats a step nor skips one. Then deliver_queued hands each queued attempt to its channel once,
behind a conditional claim: email into the notices outbox, text into the texts outbox, push straight
to the push services. A channel failing is recorded on its attempt and stops no other.

Everything appends escalation_* events, so the boards, the after-action report and a restarted job
read the same record. Functions here flush and return their events; the callers commit and publish
(deliver_queued, a job's own unit of work, commits at each claim as the outbox does).
"""

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from detail import hooks
from detail.domain import alerts, contacts, live, notices, oncall, push, texts
from detail.domain import requests as requests_inbox
from detail.domain.timefmt import CLOCK, DEFAULT_FORMAT, local_time
from detail.extensions import db
from detail.models import (
    ESCALATION_KINDS,
    STAFF_ROLES,
    Alert,
    Client,
    ClientRequest,
    Escalation,
    EscalationPolicy,
    EscalationStep,
    Event,
    Notice,
    NotificationAttempt,
    Organisation,
    PushSubscription,
    StatusReport,
    TextMessage,
    User,
    utcnow,
)
from detail.models.base import UTCDateTime

log = logging.getLogger(__name__)

# The defaults each organisation gets for a kind it has no policy for: (delay s, target, channels).
DEFAULT_STEPS: dict[str, list[tuple[int, str, str]]] = {
    "duress": [(0, "primary", "push,sms"), (60, "backup", "push,sms"), (120, "coordinators", "push,sms,email")],
    "sos": [(0, "primary", "push,sms"), (60, "backup", "push,sms"), (120, "coordinators", "push,sms,email")],
    "late": [(0, "primary", "push"), (300, "backup", "push")],
    "silent": [(0, "primary", "push"), (300, "backup", "push")],
    "request": [(0, "primary", "push,email"), (600, "coordinators", "push,email")],
    "advisory": [(0, "primary", "push,email")],
}
KIND_LABELS = {
    "duress": "Duress (the team's duress code)",
    "sos": "SOS (a phone app's own alarm button)",
    "late": "Late (no OM, not on station)",
    "silent": "Silent phone",
    "request": "Urgent client request waiting",
    "advisory": "Critical advisory published",
}
TARGET_LABELS = {
    "primary": "On-call primary",
    "backup": "On-call backup",
    "coordinators": "All coordinators",
    "person": "A named person",
}
# How the board names a step's people in a sentence: "Step 2 of 3: on-call backup notified 08:01 GMT".
STEP_TARGETS_SHORT = {"primary": "on-call primary", "backup": "on-call backup", "coordinators": "all coordinators"}
CHANNEL_LABELS = {"push": "push", "sms": "text", "email": "email"}
# A subject raised longer ago than this is not escalated: switching escalation on must not page
# everyone about last week's unresolved alerts.
OPEN_WINDOW = timedelta(hours=24)
LINK_LIFETIME = timedelta(hours=24)
# A push claimed this long ago and never settled: its sender stopped mid-send.
SENDING_STALE_AFTER = timedelta(minutes=5)
# A push that no service took, for a passing reason (PASSING_PUSH_STATUSES, a timeout, a refused
# connection), is tried again after each of these in turn while the escalation is open. A push one
# of the person's devices took is never tried again: the others would show it twice.
PUSH_RETRY_AFTER = (timedelta(seconds=10), timedelta(seconds=30), timedelta(seconds=90))
PASSING_PUSH_STATUSES = frozenset({429, 500, 502, 503, 504})
PASSING_PUSH_ERRORS = frozenset({"timed out", "connection failed"})
# Retries are seconds apart: their time is said to the second.
RETRY_CLOCK = "%H:%M:%S %Z"
# An app's own alarm button (status_from in detail/web/ingest/base.py), not the team's duress code.
APP_ALARM_SOURCES = ("owntracks", "osmand", "gpslogger")
ALERT_KINDS = {"duress": "duress", "late_om": "late", "late_station": "late", "silent": "silent"}
ACK_REPLY = re.compile(r"^\s*ack\s*#?\s*(\d{4})\s*[.!]?\s*$", re.IGNORECASE)


# --- policies -------------------------------------------------------------------------------------


def ensure_policies(organisation_id: int) -> dict[str, EscalationPolicy]:
    """The organisation's policy for each kind, the defaults created for any kind it lacks (flushes)."""
    policies = {
        p.kind: p
        for p in db.session.scalars(
            sa.select(EscalationPolicy).where(EscalationPolicy.organisation_id == organisation_id)
        )
    }
    for kind in ESCALATION_KINDS:
        if kind in policies:
            continue
        policy = EscalationPolicy(organisation_id=organisation_id, kind=kind, active=True)
        for position, (delay, target, channels) in enumerate(DEFAULT_STEPS[kind]):
            policy.steps.append(
                EscalationStep(position=position, delay_seconds=delay, target=target, channels=channels)
            )
        try:
            # Two evaluators (or a page and a job) may create the same defaults: the unique key decides.
            with db.session.begin_nested():
                db.session.add(policy)
                db.session.flush()
        except sa.exc.IntegrityError:
            policy = db.session.scalar(
                sa.select(EscalationPolicy).where(
                    EscalationPolicy.organisation_id == organisation_id, EscalationPolicy.kind == kind
                )
            )
        policies[kind] = policy
    return policies


def replace_steps(
    policy: EscalationPolicy, steps: list[dict], active: bool, by: User, now: datetime | None = None
) -> list[Event]:
    """Replace the policy's steps as a whole, in the order given; the events appended (flushes). Each
    dict: delay_seconds, target, person (a User or None), channels ("push,sms").

    The alarms already climbing the policy follow the edit, as an operator expects of "the policy":
    switched off, they end ("policy switched off by NAME"); else each goes on with the first new step
    whose delay is still ahead of the time it has climbed (steps already behind it are not run late)."""
    now = now or utcnow()
    climbing_it = db.session.scalars(
        sa.select(Escalation)
        .where(
            Escalation.organisation_id == policy.organisation_id,
            Escalation.kind == policy.kind,
            Escalation.ended_at.is_(None),
        )
        .order_by(Escalation.id)
    ).all()
    # The delay of the step each was about to run: a step due but not yet run when the page is saved
    # (the job runs every few seconds) is not yet run, and the new steps from that delay on are not either.
    old_delays = {s.position: s.delay_seconds for s in policy.steps}
    pending = {e.id: old_delays.get(e.next_step) for e in climbing_it}
    policy.active = active
    policy.steps.clear()
    db.session.flush()  # (policy, position) is unique: the old rows go before the new ones come
    for position, step in enumerate(steps):
        policy.steps.append(
            EscalationStep(
                position=position,
                delay_seconds=step["delay_seconds"],
                target=step["target"],
                person_id=step["person"].id if step["person"] is not None else None,
                channels=step["channels"],
            )
        )
    db.session.flush()
    db.session.refresh(policy, ["steps"])
    events = []
    for escalation in climbing_it:
        if not active:
            if _end(escalation, f"policy switched off by {by.name}", now):
                events.append(_event(escalation, "escalation_ended"))
        elif _reaim(escalation, policy, now, pending[escalation.id]):
            events.append(_event(escalation, "escalation_policy_changed", changed_by=by.name))
    return events


def climbing(policy: EscalationPolicy) -> int:
    """How many alarms are climbing the policy now (open escalations of its organisation and kind)."""
    return db.session.scalar(
        sa.select(sa.func.count(Escalation.id)).where(
            Escalation.organisation_id == policy.organisation_id,
            Escalation.kind == policy.kind,
            Escalation.ended_at.is_(None),
        )
    )


def _climbed(escalation: Escalation, now: datetime) -> timedelta:
    """How long the escalation has climbed: since it started, less the time it was paused."""
    until = escalation.paused_at or now
    return until - escalation.started_at - timedelta(seconds=escalation.paused_seconds)


def _step_due(escalation: Escalation, step: EscalationStep) -> datetime:
    return escalation.started_at + timedelta(seconds=step.delay_seconds + escalation.paused_seconds)


def _reaim(escalation: Escalation, policy: EscalationPolicy, now: datetime, pending_delay: int | None) -> bool:
    """Point the escalation at the first step of the (new) policy not yet behind it: its delay still
    ahead of the time climbed, or at least that of the step it was about to run (pending_delay); True
    if that moved it."""
    climbed = _climbed(escalation, now).total_seconds()
    ahead = next(
        (
            s
            for s in policy.steps
            if s.delay_seconds > climbed or (pending_delay is not None and s.delay_seconds >= pending_delay)
        ),
        None,
    )
    position = ahead.position if ahead else None
    due = _step_due(escalation, ahead) if ahead else None
    if (escalation.next_step, escalation.next_step_at) == (position, due):
        return False
    moved = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.ended_at.is_(None))
        .values(next_step=position, next_step_at=sa.literal(due, UTCDateTime()) if due else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    return bool(moved)


def coordinators(organisation_id: int) -> list[User]:
    """The organisation's active coordinators and admins, by name."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.organisation_id == organisation_id, User.role.in_(STAFF_ROLES), User.active.is_(True))
            .order_by(User.name, User.id)
        )
    )


# --- what an escalation says ----------------------------------------------------------------------


def _zone(escalation: Escalation) -> str:
    return escalation.organisation.timezone


def attempt_payload(attempt: NotificationAttempt, zone: str) -> dict:
    return {
        "id": attempt.id,
        "step": attempt.step,
        "user_id": attempt.user_id,
        "user": attempt.user.name,
        "channel": attempt.channel,
        "channel_label": CHANNEL_LABELS[attempt.channel],
        "status": attempt.status,
        "error": attempt.error,
        "created_at": attempt.created_at.isoformat(),
        "sent_at_local": local_time(attempt.sent_at, zone, CLOCK) if attempt.sent_at else None,
        "delivered_at_local": local_time(attempt.delivered_at, zone, CLOCK) if attempt.delivered_at else None,
    }


def _step_target(step: EscalationStep) -> str:
    if step.target == "person":
        return step.person.name if step.person is not None else "a named person"
    return STEP_TARGETS_SHORT[step.target]


def _progress(escalation: Escalation, zone: str) -> dict:
    """Where the escalation is on its policy as it stands: the step it is at (the last one behind it),
    when it last notified someone, the step after it, and who is on call now while it is open."""
    steps = list(
        db.session.scalars(
            sa.select(EscalationStep)
            .join(EscalationPolicy)
            .where(
                EscalationPolicy.organisation_id == escalation.organisation_id,
                EscalationPolicy.kind == escalation.kind,
            )
            .order_by(EscalationStep.position)
        )
    )
    following = next((s for s in steps if s.position == escalation.next_step), None)
    if escalation.next_step is None:
        behind = steps if escalation.attempts else []
    else:
        behind = [s for s in steps if s.position < escalation.next_step]
    at = behind[-1] if behind else None
    last_sent = max((a.created_at for a in escalation.attempts), default=None)
    alert = db.session.get(Alert, escalation.alert_id) if escalation.alert_id is not None else None
    paused = escalation.paused_at is not None and escalation.ended_at is None
    on_call = None
    if escalation.ended_at is None:
        now_on_call = oncall.on_call_at(escalation.organisation_id, utcnow())
        on_call = {
            "primary": now_on_call.primary.name if now_on_call.primary else None,
            "backup": now_on_call.backup.name if now_on_call.backup else None,
        }
    return {
        "steps_total": len(steps),
        "step_number": steps.index(at) + 1 if at is not None else None,
        "step_target": _step_target(at) if at is not None else None,
        "step_at_local": local_time(last_sent, zone, CLOCK) if last_sent else None,
        "next_target": _step_target(following) if following is not None else None,
        "paused": paused,
        "paused_until_local": (
            local_time(alert.muted_until, zone, CLOCK) if paused and alert is not None and alert.muted_until else None
        ),
        "on_call": on_call,
    }


def escalation_payload(escalation: Escalation) -> dict:
    """What the board shows of an escalation: its step, who was notified how, and what became of it."""
    zone = _zone(escalation)
    return _progress(escalation, zone) | {
        "escalation_id": escalation.id,
        "kind": escalation.kind,
        "subject": escalation.subject,
        "alert_id": escalation.alert_id,
        "detail_id": escalation.detail_id,
        "title": escalation.title,
        "started_at": escalation.started_at.isoformat(),
        "started_at_local": local_time(escalation.started_at, zone, DEFAULT_FORMAT),
        "next_step": escalation.next_step,
        "next_step_at_local": local_time(escalation.next_step_at, zone, CLOCK) if escalation.next_step_at else None,
        "acknowledged_by": escalation.acknowledged_by.name if escalation.acknowledged_by else None,
        "acknowledged_via": escalation.acknowledged_via,
        "acknowledged_at_local": (
            local_time(escalation.acknowledged_at, zone, CLOCK) if escalation.acknowledged_at else None
        ),
        "ended": escalation.ended_at is not None,
        "end_reason": escalation.end_reason,
        "attempts": [attempt_payload(a, zone) for a in escalation.attempts],
    }


def _event(escalation: Escalation, kind: str, **extra) -> Event:
    db.session.flush()
    db.session.refresh(escalation, ["attempts"])
    return live.append_event(
        escalation.organisation_id, escalation.detail_id, kind, escalation_payload(escalation) | extra
    )


def for_alerts(alert_ids: list[int]) -> dict[int, dict]:
    """The escalation of each alert that has one, as the board shows it (one query for them all)."""
    if not alert_ids:
        return {}
    rows = db.session.scalars(sa.select(Escalation).where(Escalation.alert_id.in_(alert_ids)))
    return {e.alert_id: escalation_payload(e) for e in rows}


# --- opening --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    subject: str
    kind: str
    detail_id: int | None
    title: str
    link: str
    raised_at: datetime
    alert_id: int | None = None


def _alert_kind(alert: Alert) -> str:
    if alert.kind == "duress":
        source = (
            db.session.scalar(sa.select(StatusReport.source).where(StatusReport.id == alert.status_report_id))
            if alert.status_report_id
            else None
        )
        return "sos" if source in APP_ALARM_SOURCES else "duress"
    return ALERT_KINDS[alert.kind]


def _link(detail_id: int | None) -> str:
    return f"/board/details/{detail_id}" if detail_id else "/board"


def _new_subjects(organisation_id: int, now: datetime) -> list[_Subject]:
    since = now - OPEN_WINDOW
    opened = sa.select(Escalation.subject)
    subjects = []
    open_alerts = db.session.scalars(
        sa.select(Alert).where(
            Alert.organisation_id == organisation_id,
            Alert.kind.in_(ALERT_KINDS),
            Alert.resolved_at.is_(None),
            Alert.acknowledged_at.is_(None),
            # A muted alert opens too: its escalation starts paused and climbs once the mute runs out.
            Alert.raised_at >= since,
            ~sa.exists().where(Escalation.alert_id == Alert.id),
        )
    )
    for alert in open_alerts:
        kind = _alert_kind(alert)
        where = f" on {alert.detail.name}" if alert.detail is not None else ""
        subjects.append(
            _Subject(
                f"alert:{alert.id}", kind, alert.detail_id, f"{alert.message}{where}"[:300],
                _link(alert.detail_id), alert.raised_at, alert.id,
            )
        )  # fmt: skip
    overdue = db.session.scalars(
        sa.select(ClientRequest)
        .join(Client)
        .where(
            Client.organisation_id == organisation_id,
            ClientRequest.overdue_alerted_at.is_not(None),
            ClientRequest.overdue_alerted_at >= since,
            ClientRequest.acknowledged_at.is_(None),
            sa.literal("request:").concat(sa.cast(ClientRequest.id, sa.String)).not_in(opened),
        )
    )
    for request in overdue:
        subjects.append(
            _Subject(
                f"request:{request.id}", "request", request.detail_id,
                f"Urgent request from {request.client.name} waiting: {request.subject}"[:300],
                f"/admin/requests/{request.id}", request.overdue_alerted_at,
            )
        )  # fmt: skip
    offered = [given for offer in hooks.ESCALATION_SUBJECTS for given in offer(organisation_id, since)]
    if offered:
        known = set(db.session.scalars(opened.where(Escalation.subject.in_([g.subject for g in offered]))))
        subjects += [
            _Subject(given.subject, given.kind, given.detail_id, given.title[:300], given.link, given.raised_at)
            for given in offered
            if given.kind in ESCALATION_KINDS and given.subject not in known
        ]
    return subjects


def _ack_code(organisation_id: int) -> str:
    """Four digits no other open escalation of the organisation has, for "ACK 1234"."""
    taken = set(
        db.session.scalars(
            sa.select(Escalation.ack_code).where(
                Escalation.organisation_id == organisation_id, Escalation.ended_at.is_(None)
            )
        )
    )
    while True:
        code = f"{secrets.randbelow(9000) + 1000}"
        if code not in taken:
            return code


def _open(organisation_id: int, subject: _Subject, policy: EscalationPolicy) -> Escalation | None:
    first = policy.steps[0]
    escalation = Escalation(
        organisation_id=organisation_id,
        kind=subject.kind,
        subject=subject.subject,
        alert_id=subject.alert_id,
        detail_id=subject.detail_id,
        title=subject.title,
        link=subject.link,
        ack_code=_ack_code(organisation_id),
        started_at=subject.raised_at,
        next_step=first.position,
        next_step_at=subject.raised_at + timedelta(seconds=first.delay_seconds),
    )
    try:
        with db.session.begin_nested():  # subject is unique: another evaluator may have opened it
            db.session.add(escalation)
            db.session.flush()
    except sa.exc.IntegrityError:
        return None
    return escalation


# --- ending ---------------------------------------------------------------------------------------


def _settled_elsewhere(escalation: Escalation, now: datetime) -> tuple[str, User | None] | None:
    """Why the escalation's subject needs no one any more (and who took it), or None while it does."""
    family, _, key = escalation.subject.partition(":")
    if family == "alert" and escalation.alert_id is not None:
        alert = db.session.get(Alert, escalation.alert_id)
        if alert is None:
            return "the alert was removed", None
        if alert.acknowledged_at is not None:
            return "acknowledged", alert.acknowledged_by
        if alert.resolved_at is not None:
            return "the alert cleared", None
    elif family == "request" and key.isdigit():
        request = db.session.get(ClientRequest, int(key))
        if request is None:
            return "the request was removed", None
        if request.acknowledged_at is not None:
            return "acknowledged", request.acknowledged_by
    elif family in hooks.ESCALATION_SUBJECT_SETTLED:
        reason = hooks.ESCALATION_SUBJECT_SETTLED[family](key, now)
        if reason:
            return reason, None
    return None


def _end(escalation: Escalation, reason: str, now: datetime) -> bool:
    """End it (conditionally: once, whoever else is ending it); True when this call did."""
    ended = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.ended_at.is_(None))
        .values(ended_at=sa.literal(now, UTCDateTime()), end_reason=reason[:200], next_step=None, next_step_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    return bool(ended)


# --- steps ----------------------------------------------------------------------------------------


def _recipients(step: EscalationStep, organisation_id: int, now: datetime) -> tuple[list[User], str]:
    """Who a step notifies, and a note when they are not whom the step names (nobody on call)."""
    if step.target in ("primary", "backup"):
        person = getattr(oncall.on_call_at(organisation_id, now), step.target)
        if person is None:
            return coordinators(organisation_id), f"nobody on call as {step.target}: sent to every coordinator"
        return [person], ""
    if step.target == "person":
        if step.person is not None and step.person.active:
            return [step.person], ""
        return coordinators(organisation_id), "the named person's account is inactive: sent to every coordinator"
    return coordinators(organisation_id), ""


def _has_push(user_id: int) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(PushSubscription.user_id == user_id)))


def _attempt(escalation: Escalation, step: int, user: User, channel: str, note: str) -> NotificationAttempt:
    address, status, error = "", "queued", note
    if channel == "push":
        if not _has_push(user.id):
            status, error = "skipped", f"{user.name} has no push subscription (browser or phone)"
    else:
        found = contacts.verified_addresses(user.id, "sms" if channel == "sms" else "email")
        if found:
            address = found[0]
        else:
            what = "mobile number" if channel == "sms" else "email address"
            status, error = "skipped", f"{user.name} has no verified {what}"
    if note and status == "skipped":
        error = f"{note}; {error}"
    return NotificationAttempt(
        escalation_id=escalation.id,
        step=step,
        user_id=user.id,
        channel=channel,
        address=address,
        status=status,
        error=error[:500],
    )


def _next_step(policy: EscalationPolicy, after: int | None) -> EscalationStep | None:
    return next((s for s in policy.steps if after is None or s.position > after), None)


def _run_step(escalation: Escalation, policy: EscalationPolicy, now: datetime) -> bool:
    """Run the escalation's due step: its attempts and the move to the next step, in one transaction.
    False when another evaluator ran it first (the conditional UPDATE found the step moved)."""
    current = escalation.next_step
    step = next((s for s in policy.steps if s.position >= current), None)
    following = _next_step(policy, step.position) if step is not None else None
    moved = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.next_step == current, Escalation.ended_at.is_(None))
        .values(
            next_step=following.position if following else None,
            next_step_at=sa.literal(_step_due(escalation, following), UTCDateTime()) if following else None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    if not moved or step is None:
        return False
    users, note = _recipients(step, escalation.organisation_id, now)
    # A policy edited mid-climb renumbers its steps: a person already reached on a channel under this
    # step number (by the old policy) is not sent the same again.
    reached = set(
        db.session.execute(
            sa.select(NotificationAttempt.user_id, NotificationAttempt.channel).where(
                NotificationAttempt.escalation_id == escalation.id, NotificationAttempt.step == step.position
            )
        ).all()
    )
    for user in users:
        for channel in step.channel_list:
            if (user.id, channel) not in reached:
                db.session.add(_attempt(escalation, step.position, user, channel, note))
    db.session.flush()
    return True


def _open_new(organisation_id: int, policies: dict[str, EscalationPolicy], now: datetime) -> list[Event]:
    events = []
    for subject in _new_subjects(organisation_id, now):
        policy = policies[subject.kind]
        if not policy.active or not policy.steps:
            continue
        escalation = _open(organisation_id, subject, policy)
        if escalation is not None:
            events.append(_event(escalation, "escalation_started"))
    return events


def _muted_until(escalation: Escalation) -> datetime | None:
    if escalation.alert_id is None:
        return None
    alert = db.session.get(Alert, escalation.alert_id)
    return alert.muted_until if alert is not None else None


def _pause(escalation: Escalation, now: datetime) -> list[Event]:
    """Its alert is muted: no step runs until the mute runs out (once; a second evaluator changes nothing)."""
    paused = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.ended_at.is_(None), Escalation.paused_at.is_(None))
        .values(paused_at=sa.literal(now, UTCDateTime()))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    return [_event(escalation, "escalation_paused")] if paused else []


def _resume(escalation: Escalation, muted_until: datetime | None, now: datetime) -> list[Event]:
    """The mute ran out: the climb goes on with the time it had left, every later step moved by the pause.
    The pause lasted until the mute's end, not until this evaluator noticed it."""
    since = escalation.paused_at
    until = max(since, min(now, muted_until) if muted_until is not None else now)
    seconds = int((until - since).total_seconds())
    paused = timedelta(seconds=seconds)
    values: dict = {"paused_at": None, "paused_seconds": Escalation.paused_seconds + seconds}
    if escalation.next_step_at is not None:
        values["next_step_at"] = sa.literal(escalation.next_step_at + paused, UTCDateTime())
    resumed = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.ended_at.is_(None), Escalation.paused_at == since)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    return [_event(escalation, "escalation_resumed")] if resumed else []


def _advance(escalation: Escalation, policies: dict[str, EscalationPolicy], now: datetime) -> list[Event]:
    """End it if its subject was settled elsewhere (or nobody answered for a day); pause it while its
    alert is muted, resume it when the mute runs out; else run its due steps."""
    settled = _settled_elsewhere(escalation, now)
    if settled is not None:
        reason, by = settled
        if reason == "acknowledged" and by is not None:
            return acknowledge(escalation, by, "board", now=now, subject_too=False)
        return [_event(escalation, "escalation_ended")] if _end(escalation, reason, now) else []
    if escalation.next_step is None and escalation.started_at < now - OPEN_WINDOW:
        # Every step ran a day ago and nobody answered: stop reading it every few seconds.
        ended = _end(escalation, "nobody acknowledged it within 24 hours", now)
        return [_event(escalation, "escalation_ended")] if ended else []
    muted_until = _muted_until(escalation)
    if muted_until is not None and muted_until > now:
        return _pause(escalation, now) if escalation.paused_at is None else []
    events = _resume(escalation, muted_until, now) if escalation.paused_at is not None else []
    ran_a_step = False
    # Every due step runs, in order: a job that was down for two minutes catches up, skipping none.
    while escalation.next_step is not None and escalation.next_step_at <= now:
        if not _run_step(escalation, policies[escalation.kind], now):
            break
        ran_a_step = True
    return [*events, _event(escalation, "escalation_attempt")] if ran_a_step else events


def evaluate(organisation: Organisation, now: datetime | None = None) -> list[Event]:
    """Open, end and climb the organisation's escalations as of now; the events appended (flushes)."""
    now = now or utcnow()
    policies = ensure_policies(organisation.id)
    events = _open_new(organisation.id, policies, now)
    open_escalations = db.session.scalars(
        sa.select(Escalation)
        .where(Escalation.organisation_id == organisation.id, Escalation.ended_at.is_(None))
        .order_by(Escalation.id)
    ).all()
    for escalation in open_escalations:
        events += _advance(escalation, policies, now)
    return events


# --- delivery -------------------------------------------------------------------------------------


def _retry_due(now: datetime):
    """A failed push whose next try is due (PUSH_RETRY_AFTER)."""
    return sa.and_(
        NotificationAttempt.status == "failed",
        NotificationAttempt.retry_at.is_not(None),
        NotificationAttempt.retry_at <= sa.literal(now, UTCDateTime()),
    )


def _claim(attempt_id: int, now: datetime) -> bool:
    return bool(
        db.session.execute(
            sa.update(NotificationAttempt)
            .where(
                NotificationAttempt.id == attempt_id,
                sa.or_(NotificationAttempt.status == "queued", _retry_due(now)),
            )
            .values(status="sending", sent_at=sa.literal(now, UTCDateTime()), retry_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def _public_url() -> str:
    return current_app.config.get("PUBLIC_URL", "").rstrip("/")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(attempt: NotificationAttempt, now: datetime) -> str:
    """A one-use acknowledge link for this person and escalation; only its hash is kept."""
    token = secrets.token_urlsafe(12)
    attempt.link_token_hash = hash_token(token)
    attempt.link_expires_at = now + LINK_LIFETIME
    return f"{_public_url()}/ack/{token}"


def _text_body(escalation: Escalation, link: str) -> str:
    return f"OM ALARM: {escalation.title[:120]}. Reply ACK {escalation.ack_code} or open {link}"


def _mail(escalation: Escalation, attempt: NotificationAttempt, link: str) -> tuple[str, str]:
    zone = _zone(escalation)
    subject = f"ALARM: {escalation.title}"
    body = "\n".join(
        [
            escalation.title,
            "",
            f"Raised {local_time(escalation.started_at, zone)}. It goes on to the next people until someone "
            "acknowledges it.",
            "",
            f"Acknowledge (one use, for you only, valid 24 hours): {link}",
            f"Or text ACK {escalation.ack_code} from your verified mobile number.",
            "",
            f"The board: {_public_url()}{escalation.link}",
        ]
    )
    return subject, body


def _deliver_one(attempt_id: int, now: datetime) -> list[Event]:
    """Hand one queued attempt to its channel, once; the events to publish (commits as it goes)."""
    if not _claim(attempt_id, now):
        db.session.rollback()
        return []
    attempt = db.session.get(NotificationAttempt, attempt_id)
    escalation = attempt.escalation
    if escalation.ended_at is not None:
        attempt.status, attempt.sent_at = "skipped", None
        attempt.error = _with_note(
            attempt.error, f"not sent: {escalation.end_reason or 'the escalation ended'} before it went"
        )
        return [_event(escalation, "escalation_attempt", changed=[attempt.id])]
    if attempt.channel == "email":
        link = _new_link(attempt, now)
        subject, body = _mail(escalation, attempt, link)
        notice = notices.queue(attempt.user, subject, body, address=attempt.address)
        db.session.flush()
        attempt.notice_id = notice.id if notice else None
        attempt.status = "sent" if notice else "failed"
        if notice is None:
            attempt.error = "the account is inactive"
    elif attempt.channel == "sms":
        link = _new_link(attempt, now)
        text = texts.queue_text(
            organisation_id=escalation.organisation_id,
            to_number=attempt.address,
            body=_text_body(escalation, link),
            user_id=attempt.user_id,
            purpose="alarm",
        )
        attempt.text_message_id = text.id
        attempt.status = "sent"
    else:
        # The claim is committed before the push goes: a sender that stops now leaves "sending",
        # which reconcile settles, and no restart sends it again.
        db.session.commit()
        attempt = db.session.get(NotificationAttempt, attempt_id)
        escalation = attempt.escalation
        _push(attempt, escalation, now)
    return [_event(escalation, "escalation_attempt", changed=[attempt.id])]


def _passing(outcomes: list[push.PushOutcome]) -> bool:
    """Whether every push service that refused did so for the moment (busy, down, unreachable)."""
    return bool(outcomes) and all(
        o.status in PASSING_PUSH_STATUSES or (o.status is None and o.error in PASSING_PUSH_ERRORS) for o in outcomes
    )


def _push(attempt: NotificationAttempt, escalation: Escalation, now: datetime) -> None:
    message = push.PushMessage(
        title="Alarm: acknowledge",
        body=escalation.title[:200],
        url=escalation.link,
        tag=f"escalation-{escalation.id}",
    )
    attempt.push_tries += 1
    passing = True
    try:
        outcomes = push.send_to_user(attempt.user_id, message)
    except Exception as exc:  # a push service down fails this attempt, never the others
        log.warning("push for escalation %s to user %s failed: %s", escalation.id, attempt.user_id, exc)
        outcomes, failure = [], f"push failed: {exc}" if str(exc) else f"push failed: {type(exc).__name__}"
    else:
        failure = "no push subscription answered" if not outcomes else ""
        passing = _passing(outcomes)
    if any(o.ok for o in outcomes):
        attempt.status = "sent"
        if attempt.push_tries > 1:
            attempt.error = _with_note(attempt.error, f"sent on a later try ({attempt.push_tries} tries)")
        refused = [o for o in outcomes if not o.ok]
        if refused:  # another of the person's devices did not take it: said, as it may be the one they carry
            refusal = f"{len(refused)} of {len(outcomes)} devices refused: {_said(refused)}"
            attempt.error = _with_note(attempt.error, refusal)
        return
    attempt.status, attempt.sent_at = "failed", None
    failure = failure or f"push refused: {_said(outcomes)}"
    if passing and attempt.push_tries <= len(PUSH_RETRY_AFTER):
        attempt.retry_at = now + PUSH_RETRY_AFTER[attempt.push_tries - 1]
        failure += f"; tried again at {local_time(attempt.retry_at, _zone(escalation), RETRY_CLOCK)}"
    attempt.error = _with_note(attempt.error, failure)


def _said(outcomes: list[push.PushOutcome]) -> str:
    """What each push service answered, and that a subscription it said is gone was dropped."""
    return "; ".join(
        (o.error or f"HTTP {o.status}") + (" (subscription dropped)" if o.status in (404, 410) else "")
        for o in outcomes
    )


def _with_note(earlier: str, failure: str) -> str:
    return (f"{earlier}; {failure}" if earlier else failure)[:500]


def reconcile(now: datetime) -> list[Event]:
    """Settle pushes left "sending" by a sender that stopped: they may have gone, so they are not sent again."""
    events = []
    stale = db.session.scalars(
        sa.select(NotificationAttempt).where(
            NotificationAttempt.status == "sending", NotificationAttempt.sent_at < now - SENDING_STALE_AFTER
        )
    ).all()
    for attempt in stale:
        attempt.status = "failed"
        attempt.error = _with_note(attempt.error, "the sender stopped while sending: it may or may not have arrived")
        events.append(_event(attempt.escalation, "escalation_attempt", changed=[attempt.id]))
    return events


def deliver_queued(now: datetime | None = None, limit: int = 200) -> list[Event]:
    """Hand every queued attempt to its channel once; the events appended (committed as it goes)."""
    now = now or utcnow()
    events = reconcile(now)
    db.session.commit()
    # Texts and emails first: handing them over is a row in an outbox, while a push waits on a push
    # service (up to its deadline when one hangs), which must not hold up the text behind it.
    ids = db.session.scalars(
        sa.select(NotificationAttempt.id)
        .where(sa.or_(NotificationAttempt.status == "queued", _retry_due(now)))
        .order_by(NotificationAttempt.channel == "push", NotificationAttempt.id)
        .limit(limit)
    ).all()
    for attempt_id in ids:
        try:
            events += _deliver_one(attempt_id, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("delivering notification attempt %s failed", attempt_id)
    return events


def follow_text(text: TextMessage) -> list[Event]:
    """texts.STATUS_LISTENERS: a text of an escalation was sent, delivered or failed; its attempt follows."""
    events = []
    for attempt in db.session.scalars(
        sa.select(NotificationAttempt).where(NotificationAttempt.text_message_id == text.id)
    ):
        if text.status == "delivered":
            attempt.status, attempt.delivered_at = "delivered", text.delivered_at or utcnow()
        elif text.status == "sent" and attempt.status == "failed":
            # A provider that was down took it on a later try: the earlier failure stays noted.
            attempt.status = "sent"
            attempt.error = _with_note(attempt.error, f"sent on a later try ({text.attempts} tries)")
        elif text.status in ("failed", "undelivered"):
            again = "; the texts job tries again" if texts.retrying(text) else ""
            attempt.status = "failed"
            attempt.error = _with_note(
                attempt.error, f"text {text.status}: {text.last_error or 'no reason given'}{again}"
            )
        else:
            continue
        events.append(_event(attempt.escalation, "escalation_attempt", changed=[attempt.id]))
    return events


def follow_notice(notice: Notice) -> list[Event]:
    """notices.STATUS_LISTENERS: an escalation's email was sent, failed or may have gone; its attempt follows."""
    events = []
    for attempt in db.session.scalars(sa.select(NotificationAttempt).where(NotificationAttempt.notice_id == notice.id)):
        if notice.status == "sent" and attempt.status == "failed":
            attempt.status = "sent"
            attempt.error = _with_note(attempt.error, f"sent on a later try ({notice.attempts} tries)")
        elif notice.status in ("failed", "uncertain") and attempt.status == "sent":
            again = "; the mail sender tries again" if notices.retrying(notice) else ""
            attempt.status = "failed"
            attempt.error = _with_note(
                attempt.error, f"email {notice.status}: {notice.last_error or 'no reason given'}{again}"
            )
        else:
            continue
        events.append(_event(attempt.escalation, "escalation_attempt", changed=[attempt.id]))
    return events


# --- acknowledging --------------------------------------------------------------------------------


def acknowledge(
    escalation: Escalation,
    user: User,
    via: str,
    now: datetime | None = None,
    note: str = "",
    subject_too: bool = True,
) -> list[Event]:
    """The person takes the alarm: the escalation stops, its subject is acknowledged (subject_too),
    and those already notified are told who took it. Once only: a second acknowledgment (a double
    click, a text and a link at once) changes nothing and returns no events."""
    now = now or utcnow()
    taken = db.session.execute(
        sa.update(Escalation)
        .where(Escalation.id == escalation.id, Escalation.ended_at.is_(None))
        .values(
            acknowledged_at=sa.literal(now, UTCDateTime()),
            acknowledged_by_id=user.id,
            acknowledged_via=via,
            ended_at=sa.literal(now, UTCDateTime()),
            end_reason=f"acknowledged by {user.name}"[:200],
            next_step=None,
            next_step_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(escalation)
    if not taken:
        return []
    events = []
    if subject_too:
        events += _acknowledge_subject(escalation, user, via, now, note)
    events.append(_event(escalation, "escalation_acknowledged"))
    _tell_notified(escalation, user, now)
    return events


def _acknowledge_subject(escalation: Escalation, user: User, via: str, now: datetime, note: str) -> list[Event]:
    family, _, key = escalation.subject.partition(":")
    note = note or f"acknowledged by {'text message' if via == 'sms' else 'the link in the alarm message'}"
    if family == "alert" and escalation.alert_id is not None:
        alert = db.session.get(Alert, escalation.alert_id)
        if alert is not None and alert.acknowledged_at is None:
            return [alerts.acknowledge(alert, user, note, now)]
    elif family == "request" and key.isdigit():
        request = db.session.get(ClientRequest, int(key))
        if request is not None and request.acknowledged_at is None:
            try:
                event = requests_inbox.acknowledge(request, user, "", now)
            except requests_inbox.BeforeReceipt:
                return []
            return [event] if event is not None else []
    return []


def _tell_notified(escalation: Escalation, taker: User, now: datetime) -> None:
    """Tell each person already reached who took it: by push, and on the channels that reached them."""
    zone = _zone(escalation)
    line = f"{escalation.title[:120]}: acknowledged by {taker.name} at {local_time(now, zone, CLOCK)}."
    reached: dict[int, dict[str, str]] = {}
    for attempt in escalation.attempts:
        if attempt.user_id != taker.id and attempt.status in ("sent", "delivered"):
            reached.setdefault(attempt.user_id, {})[attempt.channel] = attempt.address
    for user_id, channels in reached.items():
        user = db.session.get(User, user_id)
        message = push.PushMessage(
            title="Alarm acknowledged", body=line, url=escalation.link, tag=f"escalation-{escalation.id}"
        )
        try:
            # Telling the others is second to the acknowledgment itself: a failure here must not undo it.
            with db.session.begin_nested():
                push.queue_push(user_id, message)
        except Exception:
            log.exception("queueing the acknowledgment push for user %s failed", user_id)
        if "sms" in channels:
            texts.queue_text(
                organisation_id=escalation.organisation_id,
                to_number=channels["sms"],
                body=f"OM: {line}",
                user_id=user_id,
                purpose="acknowledged",
            )
        if "email" in channels:
            notices.queue(user, f"Acknowledged: {escalation.title}", line, address=channels["email"])


def acknowledge_alert(alert: Alert, user: User, via: str, note: str = "", now: datetime | None = None) -> list[Event]:
    """Acknowledge an alert (the board's button) and stop its escalation, if it has one."""
    now = now or utcnow()
    events = [alerts.acknowledge(alert, user, note, now)]
    escalation = db.session.scalar(sa.select(Escalation).where(Escalation.alert_id == alert.id))
    if escalation is not None:
        events += acknowledge(escalation, user, via, now=now, subject_too=False)
    return events


def acknowledge_request(request: ClientRequest, user: User, via: str, now: datetime | None = None) -> list[Event]:
    """Stop the escalation of a request that was just acknowledged (its own page or the board)."""
    escalation = db.session.scalar(sa.select(Escalation).where(Escalation.subject == f"request:{request.id}"))
    if escalation is None:
        return []
    return acknowledge(escalation, user, via, now=now, subject_too=False)


# --- the acknowledge link and the text reply ------------------------------------------------------


class LinkRefused(Exception):
    """An acknowledge link that cannot be used: the message for its holder, and the HTTP status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.message, self.status = message, status


def attempt_for_link(token: str, user: User, now: datetime | None = None) -> NotificationAttempt:
    """The attempt whose link this is, if this person may use it now; LinkRefused says why not."""
    now = now or utcnow()
    attempt = db.session.scalar(
        sa.select(NotificationAttempt).where(NotificationAttempt.link_token_hash == hash_token(token))
    ) if 8 <= len(token) <= 64 else None  # fmt: skip
    if attempt is None:
        raise LinkRefused("This acknowledge link is not known. Check that it was copied whole.", 404)
    if attempt.user_id != user.id:
        raise LinkRefused(
            "This link was sent to someone else. Sign out and sign in as the person it was sent to, "
            "or acknowledge the alarm from the board.",
            403,
        )
    zone = _zone(attempt.escalation)
    if attempt.link_used_at is not None:
        raise LinkRefused(f"This link was already used, at {local_time(attempt.link_used_at, zone)}.", 410)
    if attempt.link_expires_at is not None and attempt.link_expires_at <= now:
        raise LinkRefused(
            f"This link expired at {local_time(attempt.link_expires_at, zone)}. Acknowledge the alarm from the board.",
            410,
        )
    return attempt


def acknowledge_by_link(token: str, user: User, now: datetime | None = None) -> tuple[Escalation, list[Event]]:
    """Use the link once: the escalation is acknowledged by its holder (or already was, by someone)."""
    now = now or utcnow()
    attempt = attempt_for_link(token, user, now)
    used = db.session.execute(
        sa.update(NotificationAttempt)
        .where(NotificationAttempt.id == attempt.id, NotificationAttempt.link_used_at.is_(None))
        .values(link_used_at=sa.literal(now, UTCDateTime()))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(attempt)
    if not used:  # the other click of a double click got here first
        raise LinkRefused("This link was already used, a moment ago.", 410)
    return attempt.escalation, acknowledge(attempt.escalation, user, "link", now=now)


def acknowledge_by_text(number: str, body: str, now: datetime | None = None) -> tuple[str, list[Event]] | None:
    """A text "ACK 1234": None when it is not one; else the reply and the events. It counts only from
    a verified number of a person the escalation notified."""
    match = ACK_REPLY.match(body or "")
    if match is None:
        return None
    code = match.group(1)
    candidates = db.session.scalars(
        sa.select(Escalation)
        .where(Escalation.ack_code == code)
        .order_by(Escalation.ended_at.is_(None).desc(), Escalation.id.desc())
    ).all()
    for escalation in candidates:
        user = contacts.user_for_verified_number(escalation.organisation_id, number)
        if user is None:
            continue
        notified = any(a.user_id == user.id and a.status in ("sent", "delivered") for a in escalation.attempts)
        if not notified:
            continue
        if escalation.ended_at is not None:
            by = escalation.acknowledged_by.name if escalation.acknowledged_by else None
            return (f"Already {'acknowledged by ' + by if by else 'ended'}: {escalation.title[:100]}", [])
        events = acknowledge(escalation, user, "sms", now=now)
        return f"Acknowledged: {escalation.title[:100]}. The others are told you have it.", events
    return f"No alarm with code {code} was sent to this number. Acknowledge from the board.", []
