"""Team messages with receipts: a coordinator's word to a detail's agents, to some agents or to one;
an agent's to the coordinators; and, per person, when it reached their phone (its socket, or a push
handed over), when they opened it and when they acknowledged it.

Rules kept here:
- Recipients are the organisation's own people: agents when a coordinator sends, coordinators (and
  admins) when an agent sends. A client's contact is never one.
- A send is stored once per (sender, client_id): a retried send returns the stored message.
- Each receipt time is set once; a second tap changes nothing and appends nothing.
- Every change appends an event (live.append_event). The boards see it all; a phone hears only the
  messages it is a recipient (or the sender) of, in its own room: the event's payload names those
  phones ("to_phones") and what they are shown ("phone", which lists no other recipient).
- Nothing is sent from here: a push is queued for the push job (push.queue_push), a text for the
  texts job (texts.queue_text). Functions flush, never commit, and return the events they appended.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain import live, push, texts
from detail.domain.devices import is_phone_number, normalise_phone
from detail.domain.statuses import Refused
from detail.domain.timefmt import DEFAULT_FORMAT, detail_zone, local_time
from detail.extensions import db
from detail.models import (
    STAFF_ROLES,
    Agent,
    Assignment,
    Client,
    Detail,
    Device,
    Event,
    MessageRecipient,
    TeamMessage,
    User,
    utcnow,
)

MAX_BODY = 1000
# A second "send again by text" to the same person this soon is a double click, not a decision.
TEXT_AGAIN_AFTER = timedelta(minutes=1)
RECEIPTS = ("delivered", "read", "acknowledged")
EVENT_SENT = "team_message"
EVENT_RECEIPT = "team_message_receipt"
EVENT_TEXTED = "team_message_texted"
EVENT_KINDS = (EVENT_SENT, EVENT_RECEIPT, EVENT_TEXTED)


@dataclass
class Sent:
    message: TeamMessage
    created: bool
    events: list[Event] = field(default_factory=list)


# --- who receives it ------------------------------------------------------------------------------


def _detail_of(organisation_id: int, detail_id: int) -> Detail | None:
    return db.session.scalar(
        sa.select(Detail).join(Client).where(Detail.id == detail_id, Client.organisation_id == organisation_id)
    )


def detail_agent_users(detail: Detail) -> list[User]:
    """The active accounts of every agent assigned to the detail, once each, by call sign."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Agent, Agent.user_id == User.id)
            .where(
                Agent.id.in_(sa.select(Assignment.agent_id).where(Assignment.detail_id == detail.id)),
                User.active,
                User.role == "agent",
            )
            .order_by(Agent.call_sign)
        )
    )


def _agent_users(organisation_id: int, agent_ids: list[int]) -> list[User]:
    users = list(
        db.session.scalars(
            sa.select(User)
            .join(Agent, Agent.user_id == User.id)
            .where(Agent.id.in_(agent_ids), Agent.organisation_id == organisation_id, User.role == "agent")
            .order_by(Agent.call_sign)
        )
    )
    found = {u.agent.id for u in users}
    missing = sorted(set(agent_ids) - found)
    if missing:
        raise Refused(f"no agent {missing[0]} in your organisation", 422, "agent_ids")
    inactive = [u.agent.call_sign for u in users if not u.active]
    if inactive:
        raise Refused(f"{inactive[0]}'s account is inactive: it cannot receive messages", 422, "agent_ids")
    return users


def coordinator_users(organisation_id: int) -> list[User]:
    """The organisation's active coordinators and admins."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.organisation_id == organisation_id, User.role.in_(STAFF_ROLES), User.active)
            .order_by(User.name, User.id)
        )
    )


def agent_detail_ids(agent: Agent) -> set[int]:
    """Every detail the agent is assigned to."""
    return set(db.session.scalars(sa.select(Assignment.detail_id).where(Assignment.agent_id == agent.id)))


# --- sending -------------------------------------------------------------------------------------


def _clean_body(body) -> str:
    text = (body or "").strip() if isinstance(body, str) else ""
    if not text:
        raise Refused("write the message first", 422, "body")
    if len(text) > MAX_BODY:
        raise Refused(f"a message is at most {MAX_BODY} characters", 422, "body")
    return text


def _clean_client_id(client_id) -> str:
    # As the API's document states it (and as a status's retry key): 1 to 64 characters, not all blank.
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64 or not client_id.strip():
        raise Refused("client_id is 1 to 64 characters, the device's own id for this send", 422, "client_id")
    return client_id


def _stored(sender: User, client_id: str) -> TeamMessage | None:
    return db.session.scalar(
        sa.select(TeamMessage).where(TeamMessage.sender_id == sender.id, TeamMessage.client_id == client_id)
    )


def send_from_coordinator(
    sender: User,
    *,
    body: str,
    client_id: str,
    detail_id: int | None = None,
    agent_ids: list[int] | None = None,
    asks_ack: bool = False,
) -> Sent:
    """A coordinator's message: to the detail's agents (detail_id), or to the agents named (agent_ids,
    with detail_id saying which detail it concerns, if any)."""
    if sender.role not in STAFF_ROLES:
        raise Refused("only coordinators send to agents", 403)
    client_id = _clean_client_id(client_id)
    stored = _stored(sender, client_id)
    if stored is not None:
        return Sent(stored, False)
    body = _clean_body(body)
    detail = None
    if detail_id is not None:
        detail = _detail_of(sender.organisation_id, detail_id)
        if detail is None:
            raise Refused(f"no detail {detail_id} in your organisation", 404, "detail_id")
    if agent_ids:
        recipients, audience = _agent_users(sender.organisation_id, sorted(set(agent_ids))), "agents"
    elif detail is not None:
        recipients, audience = detail_agent_users(detail), "detail"
        if not recipients:
            raise Refused(f"{detail.name} has no agents assigned to tell", 422, "detail_id")
    else:
        raise Refused("say who it is for: a detail, or one or more agents", 422, "agent_ids")
    return _store(sender, detail, audience, body, asks_ack, client_id, recipients)


def send_from_agent(
    sender: User, *, body: str, client_id: str, detail_id: int | None = None, asks_ack: bool = False
) -> Sent:
    """An agent's message to the coordinators, about one of the agent's details (or none)."""
    agent = sender.agent
    if sender.role != "agent" or agent is None:
        raise Refused("only agents send from the phone", 403)
    client_id = _clean_client_id(client_id)
    stored = _stored(sender, client_id)
    if stored is not None:
        return Sent(stored, False)
    body = _clean_body(body)
    detail = None
    if detail_id is not None:
        if detail_id not in agent_detail_ids(agent):
            raise Refused(f"you are not on detail {detail_id}", 404, "detail_id")
        detail = db.session.get(Detail, detail_id)
    recipients = coordinator_users(sender.organisation_id)
    if not recipients:
        raise Refused("your organisation has no active coordinator to receive it", 422)
    return _store(sender, detail, "coordinators", body, asks_ack, client_id, recipients)


def _store(sender, detail, audience, body, asks_ack, client_id, recipients) -> Sent:
    message = TeamMessage(
        organisation_id=sender.organisation_id,
        detail=detail,
        sender=sender,
        audience=audience,
        body=body,
        asks_ack=bool(asks_ack),
        client_id=client_id,
        recipients=[MessageRecipient(user=user) for user in recipients],
    )
    try:
        # A savepoint: a concurrent send with the same client_id loses here, not at the commit.
        with db.session.begin_nested():
            db.session.add(message)
            db.session.flush()
    except sa.exc.IntegrityError:
        stored = _stored(sender, client_id)
        if stored is None:
            raise
        return Sent(stored, False)
    for user in recipients:
        if user.role == "agent":
            push.queue_push(
                user.id,
                push.PushMessage(
                    title=f"Message from {sender.name}" + (" – please acknowledge" if message.asks_ack else ""),
                    body=body[:240],
                    url=f"/phone/#message-{message.id}",
                    tag=push_tag(message.id),
                ),
            )
    event = live.append_event(message.organisation_id, message.detail_id, EVENT_SENT, _sent_payload(message))
    return Sent(message, True, [event])


# --- receipts ------------------------------------------------------------------------------------


def push_tag(message_id: int) -> str:
    """The tag of a message's push notification; push_handed_over reads the message back from it."""
    return f"team-message-{message_id}"


def recipient_row(message: TeamMessage, user: User) -> MessageRecipient | None:
    return next((r for r in message.recipients if r.user_id == user.id), None)


def record_receipt(
    message: TeamMessage, user: User, what: str, via: str = "socket", at: datetime | None = None
) -> list[Event]:
    """Mark the message delivered (via socket or push), read or acknowledged for this recipient.

    Reading implies delivery and acknowledging implies both. A time already set stays; nothing new,
    no event. `at` is when the phone says it happened (a tap queued offline), kept between the
    message's sending and now.
    """
    if what not in RECEIPTS:
        raise Refused(f"a receipt is one of {', '.join(RECEIPTS)}", 422)
    row = recipient_row(message, user)
    if row is None:
        raise Refused("no such message for you", 404)
    if what == "acknowledged" and not message.asks_ack:
        raise Refused("this message asks for no acknowledgment", 409)
    now = utcnow()
    at = min(max(at or now, message.created_at), now)
    changed = []
    if row.delivered_at is None:
        row.delivered_at, row.delivered_via = at, via if what == "delivered" else "socket"
        changed.append("delivered")
    if what in ("read", "acknowledged") and row.read_at is None:
        row.read_at = at
        changed.append("read")
    if what == "acknowledged" and row.acknowledged_at is None:
        row.acknowledged_at = at
        changed.append("acknowledged")
    if not changed:
        return []
    db.session.flush()
    payload = {
        "message_id": message.id,
        "user_id": user.id,
        "name": _name(user),
        "changed": changed,
        "receipt": _receipt(row),
        "summary": summary(message),
        "to_phones": [user.id] if user.role == "agent" else [],
        "phone": {"message_id": message.id, "receipt": _receipt(row)},
    }
    return [live.append_event(message.organisation_id, message.detail_id, EVENT_RECEIPT, payload)]


def push_handed_over(user_id: int, tag: str) -> list[Event]:
    """For the push job: a push with a team message's tag was handed to the push service for this
    person, so the message counts as delivered by push (unless the phone's socket had it already)."""
    prefix = "team-message-"
    if not tag.startswith(prefix) or not tag[len(prefix) :].isdigit():
        return []
    message = db.session.get(TeamMessage, int(tag[len(prefix) :]))
    user = db.session.get(User, user_id)
    if message is None or user is None or recipient_row(message, user) is None:
        return []
    return record_receipt(message, user, "delivered", via="push")


# --- reading -------------------------------------------------------------------------------------


def visible_message(user: User, message_id: int) -> TeamMessage | None:
    """The message if this user may see it: staff of its organisation, or its sender or a recipient."""
    message = db.session.get(TeamMessage, message_id)
    if message is None or message.organisation_id != user.organisation_id:
        return None
    if user.role in STAFF_ROLES:
        return message
    if user.role == "agent" and (message.sender_id == user.id or recipient_row(message, user) is not None):
        return message
    return None


def messages_for(user: User, detail_id: int | None = None, limit: int = 100) -> list[TeamMessage]:
    """Newest first: the organisation's messages for staff; for an agent only those sent or received."""
    query = (
        sa.select(TeamMessage)
        .where(TeamMessage.organisation_id == user.organisation_id)
        .options(so.selectinload(TeamMessage.recipients).selectinload(MessageRecipient.user))
    )
    if user.role not in STAFF_ROLES:
        mine = sa.select(MessageRecipient.message_id).where(MessageRecipient.user_id == user.id)
        query = query.where(sa.or_(TeamMessage.sender_id == user.id, TeamMessage.id.in_(mine)))
    if detail_id is not None:
        query = query.where(TeamMessage.detail_id == detail_id)
    return list(db.session.scalars(query.order_by(TeamMessage.created_at.desc(), TeamMessage.id.desc()).limit(limit)))


def summary(message: TeamMessage) -> dict:
    """How far it got: counts, who has not acknowledged (or read), and the line the board shows."""
    rows = message.recipients
    counts = {
        "recipients": len(rows),
        "delivered": sum(r.delivered_at is not None for r in rows),
        "read": sum(r.read_at is not None for r in rows),
        "acknowledged": sum(r.acknowledged_at is not None for r in rows),
    }
    done = "acknowledged" if message.asks_ack else "read"
    waiting = [_name(r.user) for r in rows if getattr(r, f"{done}_at") is None]
    return {**counts, "waiting": waiting, "text": f"{counts[done]} of {len(rows)} {done}"}


def _name(user: User) -> str:
    return f"{user.agent.call_sign} ({user.name})" if user.agent is not None else user.name


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


_RECEIPT_KEYS = ("delivered_at", "delivered_via", "read_at", "acknowledged_at")


def _receipt(row: MessageRecipient) -> dict:
    return {
        "delivered_at": _iso(row.delivered_at),
        "delivered_via": row.delivered_via,
        "read_at": _iso(row.read_at),
        "acknowledged_at": _iso(row.acknowledged_at),
    }


def message_zone(message: TeamMessage) -> str:
    """The detail's zone (its venues'), else the organisation's: where the times are read."""
    return detail_zone(message.detail) if message.detail is not None else message.organisation.timezone


def _base(message: TeamMessage) -> dict:
    zone = message_zone(message)
    return {
        "id": message.id,
        "detail_id": message.detail_id,
        "detail": message.detail.name if message.detail else None,
        "from": _name(message.sender),
        "from_user_id": message.sender_id,
        "audience": message.audience,
        "body": message.body,
        "asks_ack": message.asks_ack,
        "created_at": message.created_at.isoformat(),
        "created_at_local": local_time(message.created_at, zone, DEFAULT_FORMAT),
        "timezone": zone,
    }


def payload(message: TeamMessage) -> dict:
    """What a coordinator sees of a message: every recipient's receipts and the summary."""
    return {
        **_base(message),
        "recipients": [
            {"user_id": r.user_id, "name": _name(r.user), "texted_at": _iso(r.texted_at), **_receipt(r)}
            for r in message.recipients
        ],
        "summary": summary(message),
    }


def phone_payload(message: TeamMessage, user: User) -> dict:
    """What a phone shows: the message, and this person's own receipt; no other recipient is named."""
    row = recipient_row(message, user)
    mine = message.sender_id == user.id
    shown = {**_base(message), "mine": mine, "receipt": _receipt(row) if row else None}
    if mine:
        shown["client_id"] = message.client_id  # the phone matches its queued copy by it
    return shown


def view(message: TeamMessage, user: User) -> dict:
    return payload(message) if user.role in STAFF_ROLES else phone_payload(message, user)


def _sent_payload(message: TeamMessage) -> dict:
    phones = [r.user_id for r in message.recipients if r.user.role == "agent"]
    if message.sender.role == "agent":
        phones.append(message.sender_id)  # the sender's own phone lists it as sent
    return {
        **payload(message),
        "to_phones": phones,
        "phone": {**_base(message), "receipt": dict.fromkeys(_RECEIPT_KEYS)},
    }


# --- sending again by text -----------------------------------------------------------------------


def mobile_number(user: User) -> str | None:
    """Where a text reaches the agent: a phone number bound to the agent, else the one on the profile."""
    agent = user.agent
    if agent is not None:
        bound = db.session.scalar(
            sa.select(Device.identifier)
            .where(Device.agent_id == agent.id, Device.kind == "phone")
            .order_by(Device.created_at.desc(), Device.id.desc())
            .limit(1)
        )
        if bound:
            return bound
    number = normalise_phone(user.phone)
    return number if is_phone_number(number) else None


@dataclass
class Texted:
    texted: list[str] = field(default_factory=list)
    no_number: list[str] = field(default_factory=list)
    just_texted: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def text_those_waiting(message: TeamMessage, by: User) -> Texted:
    """Send the message again by text to every recipient who has not acknowledged it (or, when it asks
    for no acknowledgment, not read it); queued for the texts job, one text per person."""
    if by.role not in STAFF_ROLES or by.organisation_id != message.organisation_id:
        raise Refused("only the organisation's coordinators send messages again by text", 403)
    now = utcnow()
    done = "acknowledged_at" if message.asks_ack else "read_at"
    outcome = Texted()
    for row in message.recipients:
        if getattr(row, done) is not None or row.user.role != "agent":
            continue
        name = _name(row.user)
        if row.texted_at is not None and now - row.texted_at < TEXT_AGAIN_AFTER:
            outcome.just_texted.append(name)
            continue
        number = mobile_number(row.user)
        if number is None:
            outcome.no_number.append(name)
            continue
        ask = " Reply on the phone page to acknowledge." if message.asks_ack else ""
        text = texts.queue_text(
            organisation_id=message.organisation_id,
            to_number=number,
            body=f"Oscar Mike, from {message.sender.name}: {message.body}{ask}",
            user_id=row.user_id,
            purpose="team_message",
        )
        row.texted_at, row.text_message = now, text
        outcome.texted.append(name)
    if outcome.texted:
        db.session.flush()
        event_payload = {
            "message_id": message.id,
            "by": by.name,
            "texted": outcome.texted,
            "no_number": outcome.no_number,
            "summary": summary(message),
        }
        event = live.append_event(message.organisation_id, message.detail_id, EVENT_TEXTED, event_payload)
        outcome.events.append(event)
    return outcome


# --- what a coordinator may address ----------------------------------------------------------------


def addressees(organisation_id: int, now: datetime | None = None) -> dict:
    """For the board's form: the details not yet complete (ending from yesterday on), each with its
    agents, and every active agent of the organisation."""
    now = now or utcnow()
    details = db.session.scalars(
        sa.select(Detail)
        .join(Client)
        .where(
            Client.organisation_id == organisation_id,
            Detail.state != "complete",
            Detail.ends_at >= now - timedelta(days=1),
        )
        .order_by(Detail.starts_at, Detail.id)
    )
    agents = db.session.execute(
        sa.select(Agent.id, Agent.call_sign, User.name)
        .join(User, Agent.user_id == User.id)
        .where(Agent.organisation_id == organisation_id, User.active, User.role == "agent")
        .order_by(Agent.call_sign)
    )
    return {
        "details": [
            {"id": d.id, "name": d.name, "agents": [u.agent.id for u in detail_agent_users(d)]} for d in details
        ],
        "agents": [{"id": agent_id, "call_sign": call_sign, "name": name} for agent_id, call_sign, name in agents],
    }
