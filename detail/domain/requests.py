"""Client requests: logged (from the portal, or by a coordinator for a call or an email), acknowledged,
answered; each step timed from receipt, pushed to the board, and mailed to the contact.

Functions here flush and return the events they appended; the caller commits and publishes.
"""

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from detail import hooks
from detail.domain import live, notices
from detail.domain.timefmt import detail_zone, known_zone, local_time
from detail.extensions import db
from detail.models import Client, ClientRequest, Detail, Event, Organisation, User, utcnow
from detail.models.base import UTCDateTime

PRIORITY_LABELS = {"urgent": "Urgent", "normal": "Normal", "low": "Low"}
CHANNEL_LABELS = {"portal": "portal", "phone": "phone call", "email": "email", "in_person": "in person"}


def minutes_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 60


def overdue(request: ClientRequest, organisation: Organisation, now: datetime) -> bool:
    """An urgent request still unacknowledged after the organisation's alert time."""
    return (
        request.priority == "urgent"
        and request.acknowledged_at is None
        and now - request.received_at >= timedelta(minutes=organisation.request_alert_minutes)
    )


def payload(request: ClientRequest, now: datetime | None = None) -> dict:
    """What the board shows of a request (coordinators only: the board is theirs)."""
    now = now or utcnow()
    return {
        "request_id": request.id,
        "client": request.client.name,
        "detail_id": request.detail_id,
        "subject": request.subject,
        "priority": request.priority,
        "channel": request.channel,
        "contact": request.contact.name if request.contact else None,
        "state": request.state,
        "received_at": request.received_at.isoformat(),
        "acknowledged_at": request.acknowledged_at.isoformat() if request.acknowledged_at else None,
        "answered_at": request.answered_at.isoformat() if request.answered_at else None,
        "overdue": overdue(request, request.client.organisation, now),
        # When an urgent one turns overdue, so a board can flag it on its own clock.
        "overdue_at": (
            (request.received_at + timedelta(minutes=request.client.organisation.request_alert_minutes)).isoformat()
            if request.priority == "urgent"
            else None
        ),
    }


def _event(request: ClientRequest, kind: str, now: datetime | None = None) -> Event:
    db.session.flush()
    return live.append_event(request.client.organisation_id, request.detail_id, kind, payload(request, now))


def log_request(
    *,
    client: Client,
    subject: str,
    body: str = "",
    priority: str = "normal",
    channel: str = "portal",
    contact: User | None = None,
    logged_by: User | None = None,
    detail: Detail | None = None,
    received_at: datetime | None = None,
) -> tuple[ClientRequest, Event]:
    request = ClientRequest(
        client=client,
        detail=detail,
        contact=contact,
        logged_by=logged_by,
        channel=channel,
        priority=priority,
        subject=subject,
        body=body,
        received_at=received_at or utcnow(),
    )
    db.session.add(request)
    return request, _event(request, "request")


def _next_detail(request: ClientRequest) -> Detail | None:
    return db.session.scalar(
        sa.select(Detail)
        .where(
            Detail.client_id == request.client_id,
            Detail.state != "complete",
            Detail.ends_at >= request.received_at,
        )
        .order_by(Detail.starts_at, Detail.id)
        .limit(1)
    )


def request_zone(request: ClientRequest) -> str:
    """The one clock of a request, for its days, its mails and the intel beside it: the named detail's
    venue's zone, else the client's next detail's (unfinished, ending after receipt), else the organisation's."""
    detail = request.detail or _next_detail(request)
    return known_zone(detail_zone(detail) if detail is not None else request.client.organisation.timezone)


def _tell_contact(request: ClientRequest, subject: str, lines: list[str]) -> None:
    if request.contact is None:
        return
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/portal/requests/{request.id}"
    body = "\n".join([f"Your request: {request.subject}", "", *lines, "", f"See it in the portal: {link}"])
    notices.queue(request.contact, subject, body)


# How far a request's receipt may be ahead of our clock and still be acknowledged at once: a call
# logged with a typed time a little ahead, or a web process whose clock runs slightly behind another's.
CLOCK_SKEW = timedelta(minutes=5)


class BeforeReceipt(ValueError):
    """An acknowledgment or answer that would be timed before the request was received."""


def _not_before(request: ClientRequest, earliest: datetime, now: datetime) -> datetime:
    """Now, or `earliest` when now is before it by no more than clock skew (the database refuses
    an acknowledgment before the receipt, and an answer before the acknowledgment)."""
    if now >= earliest:
        return now
    if earliest - now <= CLOCK_SKEW:
        return earliest
    ahead = round((earliest - now).total_seconds() / 60)
    raise BeforeReceipt(
        f"This request is recorded as received at {local_time(request.received_at, request_zone(request))}, "
        f"{ahead} min from now: it cannot be acknowledged or answered before then. "
        "Check the time it was logged with."
    )


def acknowledge(request: ClientRequest, by: User, note: str = "", now: datetime | None = None) -> Event | None:
    """Acknowledge once; a second acknowledgment changes nothing (None). BeforeReceipt if received
    later than now by more than clock skew (within it, acknowledged at the receipt)."""
    if request.acknowledged_at is not None:
        return None
    now = _not_before(request, request.received_at, now or utcnow())
    request.acknowledged_at, request.acknowledged_by, request.acknowledgement = now, by, note
    when = local_time(now, request_zone(request))
    lines = [f"{by.name} of your protection team acknowledged it at {when}."]
    if note:
        lines += ["", note]
    lines += ["", "We will answer as soon as we can."]
    _tell_contact(request, f"Received: {request.subject}", lines)
    return _event(request, "request_acknowledged", now)


def answer(request: ClientRequest, by: User, text: str, now: datetime | None = None) -> Event | None:
    """Record the answer (acknowledging first if that was skipped); an answered request is not answered
    again, even by two answers sent at the same moment (None: the caller rolls back what it did for it).
    BeforeReceipt as for acknowledge.

    The mail carries what was attached to the answer (hooks.REQUEST_ATTACHMENTS) before this call."""
    if request.answered_at is not None:
        return None
    now = _not_before(request, request.acknowledged_at or request.received_at, now or utcnow())
    # One UPDATE that only an unanswered request passes: a second answer racing this one (a double
    # click, two coordinators) waits for its row lock, then finds it answered and changes nothing.
    stamp = sa.literal(now, UTCDateTime())
    claimed = db.session.execute(
        sa.update(ClientRequest)
        .where(ClientRequest.id == request.id, ClientRequest.answered_at.is_(None))
        .values(
            answered_at=stamp,
            answered_by_id=by.id,
            answer=text,
            # Answered straight away: the answer is the acknowledgment, and no separate mail goes out.
            acknowledged_at=sa.func.coalesce(ClientRequest.acknowledged_at, stamp),
            acknowledged_by_id=sa.func.coalesce(ClientRequest.acknowledged_by_id, by.id),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(request)
    if not claimed:
        return None
    zone = request_zone(request)
    lines = [f"{by.name} answered at {local_time(now, zone)}:", "", text]
    for attachments in hooks.REQUEST_ATTACHMENTS:
        lines += attachments.mail_lines(request, zone)
    _tell_contact(request, f"Answer: {request.subject}", lines)
    return _event(request, "request_answered", now)


def unacknowledged(organisation_id: int) -> list[ClientRequest]:
    """Requests waiting for an acknowledgment, oldest first: the board's inbox."""
    return list(
        db.session.scalars(
            sa.select(ClientRequest)
            .join(Client)
            .where(Client.organisation_id == organisation_id, ClientRequest.acknowledged_at.is_(None))
            .order_by(ClientRequest.received_at, ClientRequest.id)
        )
    )


def evaluate(organisation: Organisation, now: datetime | None = None) -> list[Event]:
    """Alert the board, once per request, when an urgent one has waited past the organisation's limit."""
    now = now or utcnow()
    events = []
    for request in unacknowledged(organisation.id):
        if request.overdue_alerted_at is None and overdue(request, organisation, now):
            request.overdue_alerted_at = now
            events.append(_event(request, "request_overdue", now))
    return events


# ---------------------------------------------------------------- figures


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: a value that was actually observed (0.9 of 10 values: the 9th)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class MonthFigures:
    client: str
    month: str  # "2026-11", in the organisation's time zone
    count: int
    acknowledged: int
    answered: int
    ack_median: float | None
    ack_p90: float | None
    answer_median: float | None
    answer_p90: float | None


def figures(organisation: Organisation, client_id: int | None = None) -> list[MonthFigures]:
    """Per client and month of receipt: median and 90th-percentile minutes to acknowledge and to answer.

    Only requests that were acknowledged (answered) count towards those times; the counts say how
    many are still waiting, so an unanswered backlog is never hidden by fast answers to the rest.
    """
    query = sa.select(ClientRequest).join(Client).where(Client.organisation_id == organisation.id)
    if client_id is not None:
        query = query.where(ClientRequest.client_id == client_id)
    zone = ZoneInfo(organisation.timezone)
    groups: dict[tuple[str, str], list[ClientRequest]] = {}
    for request in db.session.scalars(query):
        month = request.received_at.astimezone(zone).strftime("%Y-%m")
        groups.setdefault((request.client.name, month), []).append(request)
    rows = []
    for (client, month), requests in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0]), reverse=True):
        acks = [minutes_between(r.received_at, r.acknowledged_at) for r in requests if r.acknowledged_at]
        answers = [minutes_between(r.received_at, r.answered_at) for r in requests if r.answered_at]
        rows.append(
            MonthFigures(
                client=client,
                month=month,
                count=len(requests),
                acknowledged=len(acks),
                answered=len(answers),
                ack_median=statistics.median(acks) if acks else None,
                ack_p90=percentile(acks, 0.9),
                answer_median=statistics.median(answers) if answers else None,
                answer_p90=percentile(answers, 0.9),
            )
        )
    return rows
