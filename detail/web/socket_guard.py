"""Live sockets are in exactly the rooms their users may see now.

A socket is authorised when it connects and may then stay open for days, while what its user may
see changes under it: an assignment removed, given to another agent or moved, a detail completed,
a role, a client or an account changed, a token revoked. Three things keep the rooms true:

- The change's own commit. Each flush notes what it touched (an assignment, a detail's state, an
  account, an agent profile, a token). Just before the commit, the committing transaction decides
  what each affected user may still see and announces it as a "deny" notice: every web process (this
  one in this thread, the others through the message queue) takes the affected sockets out of the
  rooms they may no longer be in. It is sent *before* the commit because from the commit on, any
  process may publish an event the change forbids; sent first, the notice is ahead of all such
  events in the queue's one ordered channel, so a socket hears nothing the committed change denies.
  After the commit a "sync" notice has each process read the committed rights of its own affected
  sockets and apply them whole: joins (an agent put on a detail hears it at once), disconnects, and
  an empty "rooms" message that makes a phone reload its assignments. A deny notice never joins:
  decided inside a transaction that has not committed, it could grant what a concurrent commit took
  away; the sync notice reads what is committed, in each process, when the notice arrives.
- Every event a socket sends is checked again first (still_allowed).
- Each web process looks over its own sockets every RECHECK_SECONDS (sweep): for what no commit of
  the app announced, such as a shift window that has passed, a change made in a database console or
  a notice lost while the queue was down.
"""

import itertools
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask

from detail.domain import live
from detail.domain.sessions import live_sessions_of
from detail.domain.statuses import active_detail_ids
from detail.extensions import db, socketio
from detail.models import Agent, ApiToken, Assignment, Detail, User, UserSession, utcnow

log = logging.getLogger(__name__)
RECHECK_SECONDS = 15


def allowed(namespace: str, user: User | None) -> bool:
    """Whether this user may be connected to the namespace at all."""
    if user is None or not user.active:
        return False
    if namespace == live.NAMESPACE:
        return user.is_staff
    if namespace == live.PHONE_NAMESPACE:
        return user.role == "agent" and user.agent is not None
    return False


def rights(session: so.Session, user_ids, token_ids, now: datetime) -> dict:
    """What these users may see now and which of these tokens are no longer good, as the session
    sees it: {"users": [{user_id, organisation_id, board, phone, details, sessions}], "revoked_tokens": [...]}
    (sessions: the user's live sign-in sessions, which a socket opened with a session cookie needs)."""
    users = {
        u.id: u
        for u in session.scalars(sa.select(User).where(User.id.in_(user_ids)).options(so.selectinload(User.agent)))
    }
    live_tokens = set(
        session.scalars(sa.select(ApiToken.id).where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None)))
        if token_ids
        else []
    )
    sessions: dict[int, list[int]] = {}
    for user_id, session_id in session.execute(live_sessions_of(user_ids, now)):
        sessions.setdefault(user_id, []).append(session_id)
    decided = []
    for user_id in sorted(user_ids):
        user = users.get(user_id)
        phone = allowed(live.PHONE_NAMESPACE, user)
        decided.append(
            {
                "user_id": user_id,
                "organisation_id": user.organisation_id if user else None,
                "board": allowed(live.NAMESPACE, user),
                "phone": phone,
                "details": active_detail_ids(user.agent, now) if phone else [],
                "sessions": sessions.get(user_id, []),
            }
        )
    return {"users": decided, "revoked_tokens": sorted(set(token_ids) - live_tokens)}


@dataclass
class _Socket:
    app: Flask
    user_id: int
    token_id: int | None
    organisation_id: int
    session_id: int | None = None  # the sign-in session it connected with (None for a token)
    denied: bool = False  # taken out of its rooms: it is disconnected at the next sync
    rooms_moved: bool = False  # a phone whose rooms changed since it was last told


@dataclass
class _Touched:
    """What one transaction's flushes changed that decides who may see what."""

    users: set[int] = field(default_factory=set)
    agents: set[int] = field(default_factory=set)
    details: set[int] = field(default_factory=set)
    tokens: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.users or self.agents or self.details or self.tokens)

    def user_ids(self, session: so.Session) -> set[int]:
        """The users whose sockets the change may move: agents and a detail's agents by their accounts."""
        users = set(self.users)
        if self.agents:
            users.update(session.scalars(sa.select(Agent.user_id).where(Agent.id.in_(self.agents))))
        if self.details:
            users.update(
                session.scalars(
                    sa.select(Agent.user_id)
                    .join(Assignment, Assignment.agent_id == Agent.id)
                    .where(Assignment.detail_id.in_(self.details))
                )
            )
        return users


class SocketGuard:
    """This process's sockets, by (namespace, sid): the app, the user, the token (if any) and the
    organisation they connected with. (One app per process in production; tests build many.)"""

    def __init__(self):
        self._sockets: dict[tuple[str, str], _Socket] = {}
        self._lock = threading.Lock()
        self._started = False

    def watch(
        self,
        app: Flask,
        namespace: str,
        sid: str,
        user_id: int,
        token_id: int | None,
        organisation_id: int,
        session_id: int | None = None,
    ) -> None:
        with self._lock:
            self._sockets[(namespace, sid)] = _Socket(app, user_id, token_id, organisation_id, session_id)
            if not self._started:
                self._started = True
                socketio.start_background_task(self._run)

    def forget(self, namespace: str, sid: str) -> None:
        with self._lock:
            self._sockets.pop((namespace, sid), None)

    def still_allowed(self, namespace: str, sid: str) -> bool:
        """For an event from a socket, in its app context: are its user and token still good?"""
        with self._lock:
            known = self._sockets.get((namespace, sid))
        if known is None or known.denied:
            return False
        decided = rights(db.session, {known.user_id}, {known.token_id} - {None}, utcnow())
        return _allows(namespace, known, decided["users"][0], set(decided["revoked_tokens"]))

    def receive(self, notice: dict) -> None:
        """A rights notice from this process or another (see the module's docstring)."""
        if "deny" in notice:
            self._apply(notice["deny"], final=False)
        if "sync" in notice:
            self.sync(set(notice["sync"]["users"]), set(notice["sync"]["tokens"]))

    def sync(self, user_ids: set[int] | None = None, token_ids: set[int] | None = None) -> list[tuple[str, str]]:
        """Read the committed rights of this process's sockets of these users or tokens (all of them
        if None) and apply them: leave, join, disconnect. Returns the sockets disconnected."""
        by_app: dict[Flask, tuple[set, set]] = {}
        manager = socketio.server.manager
        with self._lock:
            for key, known in list(self._sockets.items()):
                if not manager.is_connected(key[1], key[0]):
                    del self._sockets[key]  # gone without a disconnect event (a server replaced, say)
                    continue
                if user_ids is None or known.user_id in user_ids or known.token_id in (token_ids or ()):
                    users, tokens = by_app.setdefault(known.app, (set(), set()))
                    users.add(known.user_id)
                    tokens.update({known.token_id} - {None})
        gone = []
        for app, (users, tokens) in by_app.items():
            with app.app_context():
                try:
                    decided = rights(db.session, users, tokens, utcnow())
                except Exception:  # a database outage must not end the loop: the next sweep tries again
                    log.exception("checking live sockets failed")
                    continue
                finally:
                    db.session.rollback()  # read only: a long-lived loop holds no transaction open
                gone += self._apply(decided, final=True)
        return gone

    def sweep(self) -> list[tuple[str, str]]:
        """Bring every socket of this process into line with its user's rights; returns those disconnected."""
        return self.sync()

    def _apply(self, decided: dict, final: bool) -> list[tuple[str, str]]:
        """Move this process's sockets of the decided users to the rooms they may be in.

        Not final (a deny notice): only leave. Final (a sync): also join, tell phones whose rooms
        moved, and disconnect the sockets that may no longer be connected."""
        users = {d["user_id"]: d for d in decided["users"]}
        revoked = set(decided["revoked_tokens"])
        manager = socketio.server.manager
        gone, told = [], []
        with self._lock:
            for key, known in self._sockets.items():
                if (known.user_id in users or known.token_id in revoked) and manager.is_connected(key[1], key[0]):
                    outcome = _move(manager, key, known, users.get(known.user_id), revoked, final)
                    if outcome == "gone":
                        gone.append(key)
                    elif outcome == "told":
                        told.append(key)
            for key in gone:
                self._sockets.pop(key, None)
        for namespace, sid in told:
            live.tell_rooms_changed(namespace, sid)
        for namespace, sid in gone:
            log.info("disconnecting socket %s on %s: its token or account no longer allows it", sid, namespace)
            socketio.server.disconnect(sid, namespace=namespace)
        return gone

    def _run(self) -> None:
        while True:
            socketio.sleep(RECHECK_SECONDS)
            try:
                self.sweep()
            except Exception:
                log.exception("checking live sockets failed")


def _move(manager, key: tuple[str, str], known: _Socket, may: dict | None, revoked: set[int], final: bool) -> str:
    """Leave (and, if final, join) rooms for one socket; "gone" if it must be disconnected, "told"
    if it must be told its rooms moved."""
    namespace, sid = key
    have = {room for room in manager.get_rooms(sid, namespace) if room != sid}
    if not _allows(namespace, known, may, revoked):
        known.denied, want = True, set()
    elif namespace == live.PHONE_NAMESPACE and may is not None:
        want = {live.agents_room(detail_id) for detail_id in may["details"]} | {live.user_room(known.user_id)}
    else:
        want = have  # a board's rooms are all its organisation's: it keeps them while allowed
    for room in have - want:
        manager.leave_room(sid, namespace, room)
    known.rooms_moved |= not known.denied and have != want
    if not final:
        return ""
    if known.denied:
        return "gone"
    for room in want - have:
        manager.enter_room(sid, namespace, room)
    if known.rooms_moved:
        known.rooms_moved = False
        return "told"
    return ""


def _allows(namespace: str, known: _Socket, may: dict | None, revoked: set[int]) -> bool:
    if known.token_id is not None and known.token_id in revoked:
        return False
    if may is None:
        return True  # only its token was in question
    if known.session_id is not None and known.session_id not in may["sessions"]:
        return False  # signed out there, or everywhere
    in_namespace = may["board"] if namespace == live.NAMESPACE else may["phone"]
    return in_namespace and may["organisation_id"] == known.organisation_id


guard = SocketGuard()
live.on_rights_notice(guard.receive)


# --- the change's own commit announces it (see the module's docstring) ------------------------------

_TOUCHED = "om_rights_touched"
_ANNOUNCED = "om_rights_announced"
_WATCHED = (User, Agent, Assignment, Detail, ApiToken, UserSession)
_USER_RIGHTS = ("role", "active", "client_id", "organisation_id", "session_version")
_PLACEMENT = ("agent_id", "agent", "detail_id", "detail", "shift_starts_at", "shift_ends_at")


def _changed(obj, names) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _before(obj, name: str) -> list:
    """The attribute's values before this flush's change (an id, or a related object)."""
    return list(sa.inspect(obj).attrs[name].history.deleted)


def _touched(session: so.Session) -> _Touched:
    touched = _Touched()
    for obj in itertools.chain(session.new, session.deleted):
        if isinstance(obj, Assignment):
            touched.agents.add(obj.agent_id)
        elif isinstance(obj, Agent):
            touched.users.add(obj.user_id)
        elif isinstance(obj, ApiToken) and obj in session.deleted:
            touched.tokens.add(obj.id)
        elif isinstance(obj, User | Detail) and obj in session.deleted:
            (touched.users if isinstance(obj, User) else touched.details).add(obj.id)
    for obj in session.dirty:
        _note_changed(obj, touched)
    touched.agents.discard(None)
    touched.users.discard(None)
    return touched


def _note_changed(obj, touched: _Touched) -> None:
    if isinstance(obj, Assignment) and _changed(obj, _PLACEMENT):
        # The agent it was given to hears of it, and so does the one it was taken from.
        touched.agents.update([obj.agent_id, *_before(obj, "agent_id")])
        touched.agents.update(agent.id for agent in _before(obj, "agent") if agent is not None)
    elif isinstance(obj, Detail) and _changed(obj, ("state",)):
        touched.details.add(obj.id)
    elif isinstance(obj, User) and _changed(obj, _USER_RIGHTS):
        touched.users.add(obj.id)
    elif isinstance(obj, Agent) and _changed(obj, ("user_id",)):
        touched.users.update([obj.user_id, *_before(obj, "user_id")])
    elif isinstance(obj, ApiToken) and _changed(obj, ("revoked_at",)):
        touched.tokens.add(obj.id)
    elif isinstance(obj, UserSession) and _changed(obj, ("ended_at",)):
        touched.users.add(obj.user_id)


@sa.event.listens_for(db.session, "after_flush")
def _note_rights_changes(session, flush_context) -> None:
    # After the flush: ids of new rows are known; new, dirty, deleted and history are still the flush's.
    touched = _touched(session)
    if touched:
        noted = session.info.setdefault(_TOUCHED, _Touched())
        for name in ("users", "agents", "details", "tokens"):
            getattr(noted, name).update(getattr(touched, name))


@sa.event.listens_for(db.session, "before_commit")
def _deny_before_commit(session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint being released: the real commit announces
    if any(isinstance(obj, _WATCHED) for obj in itertools.chain(session.new, session.dirty, session.deleted)):
        session.flush()  # the commit would flush them next; the decision must see them
    touched = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    users, tokens = touched.user_ids(session), touched.tokens
    if not users and not tokens:
        return
    session.info[_ANNOUNCED] = (users, tokens)
    live.announce_rights({"deny": rights(session, users, tokens, utcnow())})


def sync_notice(user_ids, token_ids) -> dict:
    """The notice that has each web process apply the committed rights of these users' and tokens' sockets."""
    return {"sync": {"users": sorted(user_ids), "tokens": sorted(token_ids)}}


def _announce_sync(session) -> None:
    announced = session.info.pop(_ANNOUNCED, None)
    if announced:
        live.announce_rights(sync_notice(*announced))


@sa.event.listens_for(db.session, "after_commit")
def _sync_after_commit(session) -> None:
    _announce_sync(session)


@sa.event.listens_for(db.session, "after_transaction_end")
def _forget_or_restore(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)
        # Denied, then not committed after all: the sockets get their rooms back from what is committed.
        _announce_sync(session)
