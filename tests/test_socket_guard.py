"""A live socket is in exactly the rooms its user may see now: a revoked token, a deactivated account or
a role that no longer allows the namespace ends it when the change commits; an assignment removed or
given away, or a detail completed, takes a phone out of the detail's room at once (and one added puts it
in). What no commit of the app announced is caught at the socket's next event or at the next sweep."""

import functools
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
import redis
import socketio as socketio_pkg
import sqlalchemy as sa
from werkzeug.serving import make_server

from detail.domain import live
from detail.domain.live import NAMESPACE, PHONE_NAMESPACE
from detail.extensions import db
from detail.models import ApiToken, Assignment, User, utcnow
from detail.web.auth import issue_token, revoke_token
from detail.web.socket_guard import guard, sync_notice
from detail.web.sockets import REVOKED

from .conftest import FreshContextSocket, build_world, make_app, sign_in


def _token(user) -> str:
    token = issue_token(user, "live")
    db.session.commit()
    return token


def _revoke(plaintext: str) -> None:
    revoke_token(db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(plaintext))))
    db.session.commit()


def _board(app, client=None, auth=None) -> FreshContextSocket:
    sock = FreshContextSocket(app, namespace=NAMESPACE, flask_test_client=client, auth=auth)
    assert sock.is_connected(NAMESPACE)
    return sock


def _sweep(app) -> list:
    return guard.sweep()


def test_a_revoked_token_ends_the_board_it_opened_and_no_other(app, world):
    revoked, kept = _token(world.coordinator), _token(world.coordinator)
    board, other = _board(app, auth={"token": revoked}), _board(app, auth={"token": kept})
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is True

    _revoke(revoked)
    assert not board.is_connected(NAMESPACE)  # at the commit, not at the next sweep
    assert other.is_connected(NAMESPACE)
    assert other.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)["ok"] is True
    assert _sweep(app) == []


def test_a_deactivated_coordinator_is_disconnected_from_a_session_board(app, client, world):
    sign_in(client, world.coordinator)
    board = _board(app, client)
    world.coordinator.active = False
    db.session.commit()
    assert not board.is_connected(NAMESPACE)


def test_a_coordinator_who_is_no_longer_staff_is_disconnected(app, world):
    board = _board(app, auth={"token": _token(world.coordinator)})
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is True
    world.coordinator.role = "agent"
    db.session.commit()
    assert not board.is_connected(NAMESPACE)


def test_a_phone_whose_token_is_revoked_is_disconnected(app, world):
    token = _token(world.agent_user)
    phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": token})
    assert phone.is_connected(PHONE_NAMESPACE)
    assert _sweep(app) == []
    _revoke(token)
    assert not phone.is_connected(PHONE_NAMESPACE)


def test_a_disconnected_socket_is_forgotten(app, world):
    board = _board(app, auth={"token": _token(world.coordinator)})
    before = len(guard._sockets)
    board.disconnect(namespace=NAMESPACE)
    assert len(guard._sockets) == before - 1


# --- rights follow the data: the change's own commit moves the sockets ------------------------------


@pytest.fixture
def now_world(app):
    """A world whose detail starts in 20 minutes, so the agent is on shift now."""
    return build_world(utcnow() + timedelta(minutes=20))


def _phone(app, user) -> FreshContextSocket:
    sock = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": _token(user)})
    assert sock.is_connected(PHONE_NAMESPACE)
    return sock


def _received(sock, namespace: str, name: str = "event") -> list:
    return [r["args"][0] for r in sock.get_received(namespace) if r["name"] == name]


def _publish_advisory(world, detail_id=None) -> None:
    """A published advisory on the detail, as intel's review page commits and publishes it."""
    event = live.append_event(
        world.org.id,
        detail_id or world.detail.id,
        "advisory_published",
        {"title": "March past the hotel", "summary": "Expect delays on Piccadilly", "starts_at": "2026-11-24T10:00"},
    )
    db.session.commit()
    live.publish([event])


def _api(client, user, method: str, path: str, **kwargs):
    return client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {_token(user)}"}, **kwargs)


def _delete_assignment(client, world):
    sign_in(client, world.coordinator)
    response = client.post(
        f"/admin/details/{world.detail.id}/assignments/{world.assignment.id}/delete", data={"confirmed": "1"}
    )
    assert response.status_code == 302


def _give_assignment_to_another_agent(client, world):
    idle_agent = world.idle_agent_user.agent
    response = _api(
        client, world.coordinator, "PATCH", f"/assignments/{world.assignment.id}", json={"agent_id": idle_agent.id}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _complete_detail(client, world):
    sign_in(client, world.coordinator)
    world.detail.state = "hot"  # a detail is completed from hot; going hot is told to its phones too
    db.session.commit()
    body = {"state": "complete", "from_state": "hot", "confirmed": True}
    response = client.post(f"/board/details/{world.detail.id}/state", json=body)
    assert response.status_code == 200


@pytest.mark.parametrize("change", [_delete_assignment, _give_assignment_to_another_agent, _complete_detail])
def test_an_agent_taken_off_a_detail_hears_nothing_more_of_it(app, client, now_world, change):
    w = now_world
    phone = _phone(app, w.agent_user)
    _publish_advisory(w)
    assert [e["kind"] for e in _received(phone, PHONE_NAMESPACE)] == ["advisory_published"]  # on it: it arrives

    change(client, w)
    received = phone.get_received(PHONE_NAMESPACE)
    # Told to look again (the phone reloads its assignments), but of the detail itself: nothing.
    assert [r["name"] for r in received] == ["rooms"]
    assert received[0]["args"][0] == {}
    _publish_advisory(w)
    assert phone.get_received(PHONE_NAMESPACE) == []
    assert phone.is_connected(PHONE_NAMESPACE)  # still an agent: only the detail's room is gone
    assert guard.sweep() == []


def test_an_agent_put_on_a_detail_hears_it_at_once(app, client, now_world):
    w = now_world
    phone = _phone(app, w.idle_agent_user)
    _publish_advisory(w)
    assert _received(phone, PHONE_NAMESPACE) == []  # not on the detail yet

    a = w.assignment
    response = _api(
        client,
        w.coordinator,
        "POST",
        "/assignments",
        json={
            "detail_id": w.detail.id,
            "agent_id": w.idle_agent_user.agent.id,
            "report_at": a.report_at.isoformat(),
            "shift_starts_at": a.shift_starts_at.isoformat(),
            "shift_ends_at": a.shift_ends_at.isoformat(),
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [r["name"] for r in phone.get_received(PHONE_NAMESPACE)] == ["rooms"]
    _publish_advisory(w)
    assert [e["kind"] for e in _received(phone, PHONE_NAMESPACE)] == ["advisory_published"]


def test_a_token_revoked_on_the_tokens_page_ends_the_board_at_once(app, client, world):
    token = _token(world.coordinator)
    board = _board(app, auth={"token": token})
    kept = _board(app, auth={"token": _token(world.coordinator)})
    for sock in (board, kept):
        assert sock.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is True
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
    sign_in(client, world.admin)
    assert client.post(f"/admin/tokens/{row.id}/revoke", data={"confirmed": "1"}).status_code == 302
    assert not board.is_connected(NAMESPACE)  # no sweep needed
    assert kept.is_connected(NAMESPACE)


def test_a_deactivated_agent_hears_nothing_after_the_commit(app, client, now_world):
    """Even an event published the instant the change commits, before anything else runs after it."""
    w = now_world
    phone = _phone(app, w.agent_user)
    board = _board(app, auth={"token": _token(w.coordinator)})
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is True
    published = []

    def publish_the_moment_it_commits(session):
        # Runs first of what follows the commit, as an event published by another thread at that
        # instant would: the phone, still connected, must not get it.
        if not published:
            event = live.append_event(w.org.id, w.detail.id, "advisory_published", {"title": "x"})
            event.id, event.created_at = 10**6, utcnow()
            live.publish([event])
            published.append(phone.get_received(PHONE_NAMESPACE))

    sign_in(client, w.coordinator)  # (a commit of its own: before the listener)
    sa.event.listen(db.session, "after_commit", publish_the_moment_it_commits, insert=True)
    try:
        agent = w.agent
        response = client.post(
            f"/admin/agents/{agent.id}/edit", data={"name": "Sam Carter", "call_sign": agent.call_sign, "phone": ""}
        )
        assert response.status_code == 302
    finally:
        sa.event.remove(db.session, "after_commit", publish_the_moment_it_commits)
    assert db.session.get(User, w.agent_user.id).active is False
    assert published == [[]]
    assert not phone.is_connected(PHONE_NAMESPACE)
    assert board.is_connected(NAMESPACE)


def test_a_change_made_outside_the_app_is_caught_by_the_sweep(app, world):
    """A change the app's commits never saw (a database console, say) still ends the socket within RECHECK_SECONDS."""
    board = _board(app, auth={"token": _token(world.coordinator)})
    db.session.execute(sa.update(User).where(User.id == world.coordinator.id).values(active=False))
    db.session.commit()
    assert board.is_connected(NAMESPACE)
    assert board.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True) == REVOKED
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True) == REVOKED
    assert len(guard.sweep()) == 1
    assert not board.is_connected(NAMESPACE)


class _RealPhone:
    """A phone on a real server over websockets (Flask-SocketIO's test client refuses a message queue)."""

    def __init__(self, url: str, token: str):
        self.received: list[str] = []
        self.lock = threading.Lock()
        self.client = socketio_pkg.Client(reconnection=False)
        for name in ("event", live.ROOMS_CHANGED):
            self.client.on(name, functools.partial(self._on, name), namespace=PHONE_NAMESPACE)
        self.client.connect(
            url, namespaces=[PHONE_NAMESPACE], transports=["websocket"], auth={"token": token}, wait_timeout=5
        )

    def _on(self, name, data):
        with self.lock:
            self.received.append(name)

    def wait_for(self, name: str, timeout: float = 5) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if name in self.received:
                    return self.received
            time.sleep(0.02)
        return self.received


def test_a_change_committed_by_another_process_moves_this_processs_sockets(tmp_path, redis_url):
    """Web processes share the Redis queue: a change committed in one moves the sockets held by another."""
    channel = f"om-test-{uuid.uuid4().hex}"
    app = make_app(tmp_path, SOCKETIO_MESSAGE_QUEUE=redis_url, SOCKETIO_CHANNEL=channel)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    other_process = socketio_pkg.RedisManager(redis_url, channel=channel, write_only=True)
    phone = None
    try:
        with app.app_context():
            w = build_world(utcnow() + timedelta(minutes=20))
            phone = _RealPhone(f"http://127.0.0.1:{server.server_port}", _token(w.agent_user))
            _publish_advisory(w)
            assert phone.wait_for("event") == ["event"]  # on the detail: it arrives

            # Another process takes the agent off the detail: its statement is one this process never saw,
            # and its commit announces the change on the queue.
            db.session.execute(sa.delete(Assignment).where(Assignment.id == w.assignment.id))
            db.session.commit()
            live.announce_rights(sync_notice({w.agent_user.id}, set()), manager=other_process)
            assert phone.wait_for(live.ROOMS_CHANGED) == ["event", live.ROOMS_CHANGED]
            _publish_advisory(w)
            time.sleep(0.5)
            assert phone.received == ["event", live.ROOMS_CHANGED]

            # And this process's own commits announce themselves on the queue, for the other processes.
            listener.subscribe(channel)
            listener.get_message(timeout=1)  # the subscription's confirmation
            w.agent_user.active = False
            db.session.commit()
            seen = []
            deadline = time.monotonic() + 5
            while len(seen) < 2 and time.monotonic() < deadline:
                message = listener.get_message(timeout=0.1)
                if message and live.RIGHTS_NAMESPACE.encode() in message["data"]:
                    seen.append(json.loads(message["data"])["data"][0])
            assert [next(iter(notice)) for notice in seen] == ["deny", "sync"]
            assert seen[0]["deny"]["users"][0]["phone"] is False, seen
            deadline = time.monotonic() + 5
            while phone.client.connected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert not phone.client.connected
            db.session.remove()
            db.engine.dispose()
    finally:
        if phone is not None:
            phone.client.eio.disconnect(abort=True)
        listener.close()
        server.shutdown()


def test_the_sweep_takes_a_phone_out_of_a_detail_whose_shift_window_has_passed(app, now_world, time_machine):
    w = now_world
    phone = _phone(app, w.agent_user)
    time_machine.move_to(w.assignment.shift_ends_at + timedelta(hours=7))  # past SHIFT_GRACE
    assert guard.sweep() == []
    assert [r["name"] for r in phone.get_received(PHONE_NAMESPACE)] == [live.ROOMS_CHANGED]
    _publish_advisory(w)
    assert phone.get_received(PHONE_NAMESPACE) == []
