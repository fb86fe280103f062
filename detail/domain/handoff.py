"""Handing a detail to another lead: the new lead gets the notes and the detail's history, the client's
contacts are told who leads now and what that agent has done for them before, and the timeline records it.

The previous lead stays on the detail as an agent, so his record of having worked it is kept; a
coordinator removes the assignment if he is not there at all. A new lead who was not on the detail
is assigned with the previous lead's post and times, through the usual staffing checks (a conflict
needs a reason to override).
"""

from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from detail.domain import live, notices, push, timeline
from detail.domain.itinerary import Invalid, check_assignment
from detail.domain.timefmt import DEFAULT_FORMAT, detail_zone, local_time
from detail.extensions import db
from detail.models import Agent, Assignment, Detail, Event, Handoff, User, utcnow


def lead_record(agent: Agent, detail: Detail) -> tuple[int, datetime | None]:
    """How many other details of this detail's client the agent has led, and since when."""
    row = db.session.execute(
        sa.select(sa.func.count(Detail.id), sa.func.min(Detail.starts_at))
        .join(Assignment, Assignment.detail_id == Detail.id)
        .where(
            Assignment.agent_id == agent.id,
            Assignment.role == "detail_lead",
            Detail.client_id == detail.client_id,
            Detail.id != detail.id,
            Detail.starts_at < detail.starts_at,
        )
    ).one()
    return row[0], row[1]


def client_notice(agent: Agent, detail: Detail) -> str:
    """What the client's contacts are told: who leads now and their record with this client."""
    led, since = lead_record(agent, detail)
    if led == 0:
        record = "This is the first detail they lead for you."
    else:
        plural = "detail" if led == 1 else "details"
        record = f"{agent.name} has led {led} {plural} for you since {since:%B %Y}."
    return f"{agent.name} now leads {detail.name}. {record}"


def _history_lines(detail: Detail, limit: int = 30) -> list[str]:
    """The detail's recent timeline as text lines, for the new lead."""
    tz = detail_zone(detail)
    lines = []
    for event in live.recent_events(detail.client.organisation_id, detail.id, limit):
        line = _history_line(datetime.fromisoformat(event["created_at"]), event["kind"], event["payload"], tz)
        if line is not None:
            lines.append(line)
    return lines


def _history_line(at: datetime, kind: str, payload: dict, tz: str) -> str | None:
    # The team's lines: the new lead reads neither a duress nor intel not yet published.
    text = timeline.describe(kind, payload, for_team=True)
    return None if text is None else f"{local_time(at, tz, DEFAULT_FORMAT)}  {text}"


def _tell_new_lead(handoff: Handoff, detail: Detail, event: Event) -> None:
    user = handoff.to_agent.user
    if user is None:
        return
    earlier = db.session.scalars(
        sa.select(Handoff).where(Handoff.detail_id == detail.id, Handoff.id != handoff.id).order_by(Handoff.at)
    ).all()
    tz = detail_zone(detail)
    body = [
        f"You now lead {detail.name} ({detail.client.name}),",
        f"{local_time(detail.starts_at, tz)} to {local_time(detail.ends_at, tz)}.",
        "",
        f"Handoff notes from {handoff.by.name if handoff.by else 'the team'}:",
        handoff.notes or "(none)",
    ]
    if earlier:
        body += ["", "Earlier handoffs:"]
        body += [f"- {local_time(h.at, tz)}: to {h.to_agent.name}. {h.notes}" for h in earlier]
    # The handoff's own event is written to the log at commit, after this is queued.
    history = [*_history_lines(detail), _history_line(handoff.at, event.kind, event.payload, tz)]
    body += ["", "The detail so far:", *(history or ["(nothing recorded yet)"])]
    body += ["", f"Your phone page: {current_app.config['PUBLIC_URL'].rstrip('/')}/phone/"]
    notices.queue(user, f"You now lead {detail.name}", "\n".join(body))


def _push_new_lead(handoff: Handoff, detail: Detail) -> None:
    user = handoff.to_agent.user
    if user is None or not user.active:
        return
    notes = f" Notes: {handoff.notes}" if handoff.notes else ""
    message = push.PushMessage(
        title=f"You now lead {detail.name}",
        body=f"Handed over by {handoff.by.name if handoff.by else 'the team'}.{notes}",
        url=push.PHONE_PAGE,
        tag=f"detail-{detail.id}-lead",
    )
    push.queue_push(user.id, message)


def _tell_client(handoff: Handoff, detail: Detail) -> None:
    contacts = db.session.scalars(
        sa.select(User).where(User.client_id == detail.client_id, User.role == "client", User.active)
    ).all()
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}/portal/details/{detail.id}"
    body = "\n".join(
        [
            handoff.client_notice,
            "",
            "Your protection team is unchanged in purpose: the new lead has the detail's notes and history.",
            f"Details in the portal: {link}",
        ]
    )
    for contact in contacts:
        notices.queue(contact, f"New detail lead for {detail.name}: {handoff.to_agent.name}", body)


def hand_off(
    detail: Detail, to_agent: Agent, notes: str, by: User, override_reason: str = "", now: datetime | None = None
) -> tuple[Handoff, Event]:
    """Make to_agent the detail's lead; raises Invalid (nothing changed) when that cannot be."""
    now = now or utcnow()
    if to_agent.organisation_id != detail.client.organisation_id or not to_agent.user.active:
        raise Invalid({"to_agent_id": "no such active agent in your organisation"})
    if detail.state == "complete":
        raise Invalid({"to_agent_id": "the detail is complete; there is nothing left to hand over"})
    current = next((a for a in detail.assignments if a.role == "detail_lead"), None)
    if current is not None and current.agent_id == to_agent.id:
        raise Invalid({"to_agent_id": f"{to_agent.call_sign} already leads this detail"})
    target = next((a for a in detail.assignments if a.agent_id == to_agent.id), None)
    notice = client_notice(to_agent, detail)
    if current is not None:
        current.role = "agent"
        db.session.flush()  # one lead per detail (a unique index): the old one steps down first
    if target is None:
        template = current or min(detail.assignments, key=lambda a: a.report_at, default=None)
        target = Assignment(
            detail=detail,
            agent_id=to_agent.id,
            role="detail_lead",
            site_id=template.site_id if template else None,
            report_at=template.report_at if template else detail.starts_at,
            shift_starts_at=template.shift_starts_at if template else detail.starts_at,
            shift_ends_at=template.shift_ends_at if template else detail.ends_at,
            override_reason=override_reason,
        )
        check_assignment(target, by)
        db.session.add(target)
    else:
        target.role = "detail_lead"
    handoff = Handoff(
        detail=detail,
        from_agent_id=current.agent_id if current else None,
        to_agent=to_agent,
        notes=notes,
        by=by,
        at=now,
        client_notice=notice,
    )
    db.session.add(handoff)
    db.session.flush()
    event = live.append_event(
        detail.client.organisation_id,
        detail.id,
        "handoff",
        {
            "handoff_id": handoff.id,
            "from": current.agent.call_sign if current else None,
            "to": to_agent.call_sign,
            "to_name": to_agent.name,
            "by": by.name,
            "notes": notes,
            "at": now.isoformat(),
        },
    )
    _tell_new_lead(handoff, detail, event)
    _push_new_lead(handoff, detail)
    _tell_client(handoff, detail)
    return handoff, event


def latest(detail: Detail) -> Handoff | None:
    return db.session.scalar(
        sa.select(Handoff).where(Handoff.detail_id == detail.id).order_by(Handoff.at.desc(), Handoff.id.desc()).limit(1)
    )
