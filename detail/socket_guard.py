"""Live sockets keep only the rights they connected with.

A socket is authorised once, when it connects; it may then stay open for days. Revoking a token,
deactivating an account or changing its role must end what that socket sees: every event a socket
sends is checked again first, and each web process looks over its own sockets every
RECHECK_SECONDS and disconnects those whose rights have gone, so a revoked board stops receiving
pushes within that time, even if it never sends anything.
"""

import logging
import threading

import sqlalchemy as sa
from flask import Flask

from .extensions import db, socketio
from .models import ApiToken, User

log = logging.getLogger(__name__)
RECHECK_SECONDS = 15


def allowed(namespace: str, user: User | None) -> bool:
    """Whether this user may be connected to the namespace at all."""
    from .live import NAMESPACE, PHONE_NAMESPACE

    if user is None or not user.active:
        return False
    if namespace == NAMESPACE:
        return user.is_staff
    if namespace == PHONE_NAMESPACE:
        return user.role == "agent" and user.agent is not None
    return False


class SocketGuard:
    """This process's sockets, by (namespace, sid): the app, the user and the token (if any) they
    connected with. (One app per process in production; tests build many.)"""

    def __init__(self):
        self._sockets: dict[tuple[str, str], tuple[Flask, int, int | None]] = {}
        self._lock = threading.Lock()
        self._started = False

    def watch(self, app: Flask, namespace: str, sid: str, user_id: int, token_id: int | None) -> None:
        with self._lock:
            self._sockets[(namespace, sid)] = (app, user_id, token_id)
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
        if known is None:
            return False
        _, user_id, token_id = known
        return not _revoked({(namespace, sid): (user_id, token_id)})

    def sweep(self) -> list[tuple[str, str]]:
        """Disconnect this process's sockets whose rights have gone; returns them."""
        by_app: dict[Flask, dict] = {}
        with self._lock:
            for key, (app, user_id, token_id) in list(self._sockets.items()):
                if not socketio.server.manager.is_connected(key[1], key[0]):
                    del self._sockets[key]  # gone without a disconnect event (a server replaced, say)
                    continue
                by_app.setdefault(app, {})[key] = (user_id, token_id)
        gone = []
        for app, sockets in by_app.items():
            with app.app_context():
                try:
                    gone += _revoked(sockets)
                except Exception:  # a database outage must not end the loop: the next sweep tries again
                    log.exception("checking live sockets failed")
                finally:
                    db.session.rollback()  # read only: a long-lived loop holds no transaction open
        for namespace, sid in gone:
            self.forget(namespace, sid)
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


def _revoked(sockets: dict[tuple[str, str], tuple[int, int | None]]) -> list[tuple[str, str]]:
    """Which of these sockets' users or tokens no longer allow them (in an app context)."""
    if not sockets:
        return []
    user_ids = {user_id for user_id, _ in sockets.values()}
    token_ids = {token_id for _, token_id in sockets.values() if token_id is not None}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}
    live_tokens = set(
        db.session.scalars(sa.select(ApiToken.id).where(ApiToken.id.in_(token_ids), ApiToken.revoked_at.is_(None)))
        if token_ids
        else []
    )
    return [
        key
        for key, (user_id, token_id) in sockets.items()
        if not allowed(key[0], users.get(user_id)) or (token_id is not None and token_id not in live_tokens)
    ]


guard = SocketGuard()
