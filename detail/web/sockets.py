"""Socket.IO namespaces: /board for coordinators, /phone for agents.

/board: who may connect, which rooms they may join, and catch-up.

Connecting needs a signed-in coordinator (the session cookie) or a coordinator's token in the
connect auth ({"token": TOKEN}); agents and client contacts are refused. Rooms are joined only
after a check of the user's rights, and catch-up returns only the user's organisation's events.
"""

import functools

from flask import current_app, g, request, session
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, join_room, leave_room

from detail.domain import live
from detail.domain.scoping import get_owned
from detail.domain.statuses import active_detail_ids
from detail.extensions import db
from detail.models import Detail, User, utcnow
from detail.web.auth import current_session, user_for_token
from detail.web.security import screen_socket_guess
from detail.web.socket_guard import allowed, guard


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
    signed_in = current_session() if token is None else None
    guard.watch(
        current_app._get_current_object(),
        namespace,
        request.sid,
        user.id,
        token.id if token else None,
        user.organisation_id,
        signed_in.id if signed_in else None,
    )


def _revoked(namespace: str) -> bool:
    return not guard.still_allowed(namespace, request.sid)


REVOKED = {"ok": False, "error": "your sign-in or token is no longer valid: connect again"}


# Ids are 64-bit in the database: a larger number names no row, and the drivers refuse to bind it.
MAX_ID = 2**63 - 1
NO_DATA = object()
NOT_AN_OBJECT = "send an object: {} or {detail_id: N} (catch_up: {after: N})"


class BadInput(ValueError):
    """A socket event's data the handler cannot use; its message is the error answer."""


def _object(data) -> dict:
    if not isinstance(data, dict):
        raise BadInput(NOT_AN_OBJECT)
    return data


def _whole_number(data: dict, key: str, default: int | None, smallest: int) -> int | None:
    """data[key] as an id between smallest and MAX_ID; default if absent; BadInput otherwise."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ID)):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not smallest <= value <= MAX_ID:
        raise BadInput(f"{key} must be a whole number from {smallest} to {MAX_ID}")
    return value


def _detail_id(data: dict) -> int | None:
    return _whole_number(data, "detail_id", None, 1)


def _answers_bad_input(handler):
    """Bad data gets an error answer in the ack, never silence and never an exception."""

    @functools.wraps(handler)
    def checked(self, data=NO_DATA):
        try:
            return handler(self, _object(None if data is NO_DATA else data))
        except BadInput as exc:
            return {"ok": False, "error": str(exc)}

    return checked


def _admitted(namespace: str, auth, refusal: str) -> User:
    """The connecting user, if signed in (or holding a good token) and allowed in this namespace."""
    user = screen_socket_guess(_connecting_user(auth), auth)
    if user is None:
        raise ConnectionRefusedError("sign in, or connect with auth {token: TOKEN}")
    if not allowed(namespace, user):  # the rule the socket guard checks again later
        raise ConnectionRefusedError(refusal)
    return user


class BoardNamespace(Namespace):
    """Coordinators' boards."""

    def on_connect(self, auth=None):
        user = _admitted(self.namespace, auth, "only coordinators may watch the board")
        session["board_user_id"] = user.id
        session["board_organisation_id"] = user.organisation_id
        _watch(self.namespace, user)

    def on_disconnect(self, reason=None):
        guard.forget(self.namespace, request.sid)

    @_answers_bad_input
    def on_join(self, data: dict):
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

    @_answers_bad_input
    def on_leave(self, data: dict):
        detail_id = _detail_id(data)
        if detail_id is not None:
            leave_room(live.detail_room(detail_id))
        return {"ok": True}

    @_answers_bad_input
    def on_catch_up(self, data: dict):
        """The events after the last id the board saw ({after: N, detail_id?: M}), in order."""
        organisation_id = session.get("board_organisation_id")
        if organisation_id is None:
            return {"ok": False, "error": "not connected as a coordinator"}
        if _revoked(self.namespace):
            return REVOKED
        after = _whole_number(data, "after", 0, 0)
        detail_id = _detail_id(data)
        if detail_id is not None and get_owned(Detail, detail_id, organisation_id) is None:
            return {"ok": False, "error": f"no detail {detail_id} on your board"}
        events = live.events_after(organisation_id, after, detail_id)
        return {"ok": True, "events": events}


class PhoneNamespace(Namespace):
    """Agents' phones: told of published intel and state changes on their own details only, and of
    the team messages sent to them."""

    def on_connect(self, auth=None):
        user = _admitted(self.namespace, auth, "only agents connect here")
        agent = user.agent
        # Rooms of the details the agent is on now: the server picks them, the phone asks for nothing.
        for detail_id in active_detail_ids(agent, utcnow()):
            join_room(live.agents_room(detail_id))
        join_room(live.user_room(user.id))  # messages addressed to this person
        _watch(self.namespace, user)

    def on_disconnect(self, reason=None):
        guard.forget(self.namespace, request.sid)
