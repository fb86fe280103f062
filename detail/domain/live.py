"""The one publisher: the event log and what goes out over Socket.IO.

The database is the truth and websockets are notifications. Domain code appends an Event row
in the same transaction as the change (append_event); after commit the caller hands those rows
to publish(), which emits them to the rooms allowed to see them. A board that reconnects asks
for the events after the last id it saw (events_after) and gets exactly what it missed.

Positions are the exception: they are not events. Boards get the latest position per agent,
coalesced to at most one every POSITION_INTERVAL seconds, so a flood of positions never delays
a status.
"""

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import socketio as socketio_server
import sqlalchemy as sa

from detail.extensions import db, socketio
from detail.models import Event, Position, StatusReport, utcnow

NAMESPACE = "/board"
PHONE_NAMESPACE = "/phone"
# What agents' phones are told, on their details: published intel and the detail going hot or complete.
AGENT_EVENT_KINDS = ("advisory_published", "detail_state")
# Events for named people rather than a detail's phones (team messages and their receipts): the
# payload lists the phones' users ("to_phones") and the part they are shown ("phone"); each phone
# hears them in its own room, so no agent hears a message sent to others.
PERSONAL_EVENT_KINDS = ("team_message", "team_message_receipt")
POSITION_INTERVAL = 0.5
# pg_advisory_xact_lock(class, organisation): the first key keeps our locks apart from anyone else's.
EVENT_LOCK_CLASS = 0x4F4D  # "OM"
# Rights notices travel as emits in a namespace no client is served (see client_manager).
RIGHTS_NAMESPACE = "/om-rights"
RIGHTS_EVENT = "rights"
# Sent to a phone whose rooms changed: no content, the phone reloads its assignments.
ROOMS_CHANGED = "rooms"

log = logging.getLogger(__name__)


def org_room(organisation_id: int) -> str:
    return f"org:{organisation_id}"


def detail_room(detail_id: int) -> str:
    return f"detail:{detail_id}"


def agents_room(detail_id: int) -> str:
    """The phones of a detail's agents (in the /phone namespace)."""
    return f"agents:{detail_id}"


def user_room(user_id: int) -> str:
    """One person's phones (in the /phone namespace)."""
    return f"user:{user_id}"


def append_event(organisation_id: int, detail_id: int | None, kind: str, payload: dict) -> Event:
    """Add an event to the log of the current transaction; it is written when the transaction commits.

    Its id is known after the commit, which is when publish() needs it. Append outside savepoints:
    an event appended inside one that is rolled back would still be written.
    """
    event = Event(organisation_id=organisation_id, detail_id=detail_id, kind=kind, payload=payload)
    db.session.info.setdefault(PENDING_EVENTS, []).append(event)
    return event


PENDING_EVENTS = "om_pending_events"


def call_listeners(listeners: list[Callable[[Any], list]], row: Any, what: str) -> list[Event]:
    """Call each listener with the row, each in a savepoint, and return the events they appended.

    A listener that fails is logged and undone alone, its events with it (events wait outside
    savepoints until the commit, so they are dropped by hand); the row's own change stays.
    `what` names the row in the log ("text 12").
    """
    events: list[Event] = []
    for listener in listeners:
        before = len(db.session.info.setdefault(PENDING_EVENTS, []))
        try:
            with db.session.begin_nested():
                events += listener(row)
        except Exception:
            del db.session.info.get(PENDING_EVENTS, [])[before:]
            log.exception("%s: listener %s failed", what, getattr(listener, "__qualname__", listener))
    return events


@sa.event.listens_for(db.session, "before_commit")
def _write_pending_events(session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint being released: the events wait for the real commit
    events = session.info.pop(PENDING_EVENTS, None)
    if not events:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Ids come from a sequence, but transactions commit in any order: without this lock a
        # board could see event 11 commit before 10 and, catching up "after 11", miss 10 for good.
        # Held to commit, it makes each organisation's events commit in id order. Taken here, as
        # the transaction ends, so a long unit of work (a job raising many alerts) never holds
        # up other writers of the log for more than its own last write.
        for organisation_id in sorted({e.organisation_id for e in events}):
            session.execute(
                sa.text("SELECT pg_advisory_xact_lock(:cls, :org)"), {"cls": EVENT_LOCK_CLASS, "org": organisation_id}
            )
    # Core, not the unit of work: the events are plain rows, and this runs on every status.
    now = utcnow()
    for event in events:
        event.created_at = event.created_at or now
    rows = session.execute(
        _INSERT_EVENTS,
        [
            {
                "organisation_id": e.organisation_id,
                "detail_id": e.detail_id,
                "kind": e.kind,
                "payload": e.payload,
                "created_at": e.created_at,
            }
            for e in events
        ],
    )
    for event, event_id in zip(events, rows.scalars(), strict=True):
        event.id = event_id


_INSERT_EVENTS = sa.insert(Event.__table__).returning(Event.id, sort_by_parameter_order=True)


@sa.event.listens_for(db.session, "after_transaction_end")
def _drop_pending_events(session, transaction) -> None:
    # The outermost transaction ended without committing them (rolled back, or the session closed).
    if transaction.parent is None:
        session.info.pop(PENDING_EVENTS, None)


def event_message(event: Event) -> dict:
    return {
        "id": event.id,
        "kind": event.kind,
        "detail_id": event.detail_id,
        "created_at": event.created_at.isoformat(),
        "payload": event.payload,
    }


def publish(events: list[Event]) -> None:
    """Emit committed events to the organisation's coordinators and the detail's room."""
    for event in events:
        rooms = [org_room(event.organisation_id)]
        if event.detail_id is not None:
            rooms.append(detail_room(event.detail_id))
        # A list of rooms reaches a socket in both only once.
        socketio.emit("event", event_message(event), namespace=NAMESPACE, to=rooms)
        if event.kind in AGENT_EVENT_KINDS and event.detail_id is not None:
            socketio.emit("event", event_message(event), namespace=PHONE_NAMESPACE, to=agents_room(event.detail_id))
        phones = event.payload.get("to_phones") if event.kind in PERSONAL_EVENT_KINDS else None
        if phones:
            shown = {**event_message(event), "payload": event.payload.get("phone", {})}
            socketio.emit("event", shown, namespace=PHONE_NAMESPACE, to=[user_room(u) for u in phones])


def events_after(organisation_id: int, after_id: int, detail_id: int | None = None, limit: int = 500) -> list[dict]:
    """The organisation's events with id > after_id, in order: what a reconnecting board missed."""
    query = sa.select(Event).where(Event.organisation_id == organisation_id, Event.id > after_id)
    if detail_id is not None:
        query = query.where(Event.detail_id == detail_id)
    return [event_message(e) for e in db.session.scalars(query.order_by(Event.id).limit(limit))]


def recent_events(organisation_id: int, detail_id: int, count: int = 200) -> list[dict]:
    """The detail's newest events, oldest first: its timeline."""
    query = (
        sa.select(Event)
        .where(Event.organisation_id == organisation_id, Event.detail_id == detail_id)
        .order_by(Event.id.desc())
        .limit(count)
    )
    return [event_message(e) for e in reversed(db.session.scalars(query).all())]


def last_event_id(organisation_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.max(Event.id)).where(Event.organisation_id == organisation_id)) or 0


def status_payload(report: StatusReport) -> dict:
    """What a board shows for a status: enough to redraw the agent's row without asking."""
    agent = report.agent
    return {
        "report_id": report.id,
        "agent_id": agent.id,
        "call_sign": agent.call_sign,
        "agent_name": agent.name,
        "detail_id": report.detail_id,
        "code": report.status_code.as_dict(),
        "note": report.note,
        "eta": report.eta.isoformat() if report.eta else None,
        "latitude": report.latitude,
        "longitude": report.longitude,
        "accuracy_m": report.accuracy_m,
        "source": report.source,
        "automatic": report.automatic,
        "reported_at": report.reported_at.isoformat(),
        "received_at": report.received_at.isoformat(),
        "late_upload": report.late_upload,
        "clock_offset_s": report.clock_offset_s,
    }


def position_payload(p: Position, now: datetime | None = None) -> dict:
    """What a board shows of a position; age_s is as of now."""
    now = now or utcnow()
    return {
        "agent_id": p.agent_id,
        "call_sign": p.agent.call_sign,
        "latitude": p.latitude,
        "longitude": p.longitude,
        "accuracy_m": p.accuracy_m,
        "source": p.source,
        "speed_kmh": p.speed_kmh,
        "battery_pct": p.battery_pct,
        "reported_at": p.reported_at.isoformat(),
        "age_s": max(0, int((now - p.reported_at).total_seconds())),
        "clock_offset_s": p.clock_offset_s,
    }


class PositionCoalescer:
    """Keeps the newest position per agent and emits them together every POSITION_INTERVAL seconds."""

    def __init__(self):
        self._pending: dict[int, tuple[list[str], dict]] = {}
        self._lock = threading.Lock()
        self._started = False

    def add(self, agent_id: int, rooms: list[str], payload: dict) -> None:
        with self._lock:
            self._pending[agent_id] = (rooms, payload)
            if not self._started:
                self._started = True
                socketio.start_background_task(self._run)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for rooms, payload in pending.values():
            socketio.emit("position", payload, namespace=NAMESPACE, to=rooms)

    def _run(self) -> None:
        while True:
            socketio.sleep(POSITION_INTERVAL)
            self.flush()


positions = PositionCoalescer()


def publish_position(organisation_id: int, detail_ids: list[int], payload: dict) -> None:
    """Queue the agent's newest position for the boards of the organisation and its details."""
    rooms = [org_room(organisation_id)] + [detail_room(d) for d in detail_ids]
    positions.add(payload["agent_id"], rooms, payload)


# --- rights notices: what lets every web process move its own sockets when rights change ---------

_rights_receivers: list[Callable[[dict], None]] = []


def on_rights_notice(receiver: Callable[[dict], None]) -> None:
    """Have receiver(notice) called in this process for every rights notice, from any process."""
    if receiver not in _rights_receivers:
        _rights_receivers.append(receiver)


def announce_rights(notice: dict, manager=None) -> None:
    """Send a rights notice to every web process: this one at once, in this thread, the others
    through the message queue. It travels in the queue's one channel with the events, so each
    process handles it before any event published after this call. (manager: the client manager
    to send it with, for a process that has no server of its own; this app's by default.)"""
    try:
        if manager is None:
            socketio.emit(RIGHTS_EVENT, notice, namespace=RIGHTS_NAMESPACE)
        else:
            manager.emit(RIGHTS_EVENT, notice, namespace=RIGHTS_NAMESPACE)
    except Exception:  # a queue outage must not undo the change: the guard's sweep catches up
        log.exception("announcing a change of rights failed")


def tell_rooms_changed(namespace: str, sid: str) -> None:
    """Tell a socket (held by this process) that its rooms changed, so it reloads what it shows."""
    socketio.emit(ROOMS_CHANGED, {}, namespace=namespace, to=sid, ignore_queue=True)


def _receive_rights(notice) -> None:
    for receiver in _rights_receivers:
        try:
            receiver(notice)
        except Exception:  # one bad notice must not stop the queue's listener
            log.exception("handling a rights notice failed")


class _RightsNoticesFromTheQueue:
    """Mixin for the message-queue managers: a rights notice is handed to the receivers, never to a client."""

    def _handle_emit(self, message):
        if message.get("namespace") == RIGHTS_NAMESPACE:
            return _receive_rights(message["data"][0])
        return super()._handle_emit(message)


class _LocalManager(socketio_server.Manager):
    """One process, no queue: a rights notice goes straight to the receivers."""

    def emit(self, event, data, namespace, room=None, **kwargs):
        if namespace == RIGHTS_NAMESPACE:
            return _receive_rights(data)
        return super().emit(event, data, namespace, room=room, **kwargs)


def client_manager(message_queue: str | None, channel: str):
    """The Socket.IO client manager (Flask-SocketIO's choice of class for the URL) that also
    carries rights notices.

    Why ride the manager rather than a channel of our own: its listener handles the queue's
    messages one at a time in the order they were published, so a notice sent before an event is
    handled before it in every process, and a process needs no second connection to Redis.
    """
    if not message_queue:
        return _LocalManager()
    if message_queue.startswith(("redis://", "rediss://")):
        base = socketio_server.RedisManager
    elif message_queue.startswith("kafka://"):
        base = socketio_server.KafkaManager
    elif message_queue.startswith("zmq"):
        base = socketio_server.ZmqManager
    else:
        base = socketio_server.KombuManager
    manager_class = type(f"RightsAware{base.__name__}", (_RightsNoticesFromTheQueue, base), {})
    return manager_class(message_queue, channel=channel)
