"""Socket.IO namespaces: /board for coordinators, /phone for agents.

/board: who may connect, which rooms they may join, and catch-up.

Connecting needs a signed-in coordinator (the session cookie) or a coordinator's token in the
connect auth ({"token": TOKEN}); agents and client contacts are refused. Rooms are joined only
after a check of the user's rights, and catch-up returns only the user's organisation's events.
"""

from flask import current_app, g, request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, join_room, leave_room

from . import live
from .auth import user_for_token
from .extensions import db
from .models import Detail, User, utcnow
from .scoping import get_owned
from .security import screen_socket_guess
from .socket_guard import allowed, guard
from .status import active_detail_ids


def _connecting_user(auth) -> User | None:
    if isinstance(auth, dict) and auth.get("token"):
        user = user_for_token(str(auth["token"]))
        db.session.commit()  # keeps the token's last-used stamp
        return user
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def _watch(namespace: str, user: User) -> None:
    """From now on the socket lives only as long as the user's rights (and token, if it used one)."""
    token = g.get("api_token")
    guard.watch(current_app._get_current_object(), namespace, request.sid, user.id, token.id if token else None)


def _revoked(namespace: str) -> bool:
    return not guard.still_allowed(namespace, request.sid)


REVOKED = {"ok": False, "error": "your sign-in or token is no longer valid: connect again"}


def _detail_id(data) -> int | None:
    value = data.get("detail_id") if isinstance(data, dict) else None
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class BoardNamespace(Namespace):
    """Coordinators' boards."""

    def on_connect(self, auth=None):
        user = screen_socket_guess(_connecting_user(auth), auth)
        if user is None:
            raise ConnectionRefusedError("sign in, or connect with auth {token: TOKEN}")
        if not allowed(self.namespace, user):  # the rule the socket guard checks again later
            raise ConnectionRefusedError("only coordinators may watch the board")
        session["board_user_id"] = user.id
        session["board_organisation_id"] = user.organisation_id
        _watch(self.namespace, user)

    def on_disconnect(self, reason=None):
        guard.forget(self.namespace, request.sid)

    def on_join(self, data):
        """Join the organisation's room ({}) or a detail's ({detail_id: N}); the ack says whether it worked."""
        organisation_id = session.get("board_organisation_id")
        if organisation_id is None:
            return {"ok": False, "error": "not connected as a coordinator"}
        if _revoked(self.namespace):
            return REVOKED
        detail_id = _detail_id(data)
        if detail_id is None:
            join_room(live.org_room(organisation_id))
            return {"ok": True, "room": "organisation"}
        if get_owned(Detail, detail_id, organisation_id) is None:
            return {"ok": False, "error": f"no detail {detail_id} on your board"}
        join_room(live.detail_room(detail_id))
        return {"ok": True, "room": f"detail {detail_id}"}

    def on_leave(self, data):
        detail_id = _detail_id(data)
        if detail_id:
            leave_room(live.detail_room(detail_id))
        return {"ok": True}

    def on_catch_up(self, data):
        """The events after the last id the board saw ({after: N, detail_id?: M}), in order."""
        organisation_id = session.get("board_organisation_id")
        if organisation_id is None:
            return {"ok": False, "error": "not connected as a coordinator"}
        if _revoked(self.namespace):
            return REVOKED
        try:
            after = int(data.get("after", 0)) if isinstance(data, dict) else 0
        except (TypeError, ValueError):
            return {"ok": False, "error": "after must be an event id"}
        detail_id = _detail_id(data)
        if detail_id is not None and get_owned(Detail, detail_id, organisation_id) is None:
            return {"ok": False, "error": f"no detail {detail_id} on your board"}
        events = live.events_after(organisation_id, after, detail_id)
        return {"ok": True, "events": events}


class PhoneNamespace(Namespace):
    """Agents' phones: told of published intel and state changes on their own details only."""

    def on_connect(self, auth=None):
        user = screen_socket_guess(_connecting_user(auth), auth)
        if user is None:
            raise ConnectionRefusedError("sign in, or connect with auth {token: TOKEN}")
        if not allowed(self.namespace, user):  # the rule the socket guard checks again later
            raise ConnectionRefusedError("only agents connect here")
        agent = user.agent
        # Rooms of the details the agent is on now: the server picks them, the phone asks for nothing.
        for detail_id in active_detail_ids(agent, utcnow()):
            join_room(live.agents_room(detail_id))
        _watch(self.namespace, user)

    def on_disconnect(self, reason=None):
        guard.forget(self.namespace, request.sid)
