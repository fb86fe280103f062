"""A real server on loopback, real Socket.IO clients over websockets, and statuses posted over HTTP."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
import socketio as sio_client

from detail.extensions import db
from detail.web.auth import issue_token

from .conftest import build_world


@pytest.fixture
def now_world(app):
    """A world whose detail starts in 20 minutes, so the agent is on shift now."""
    return build_world(datetime.now(timezone.utc) + timedelta(minutes=20))


def _token(user) -> str:
    token = issue_token(user, "live")
    db.session.commit()
    return token


class Board:
    """A board as a browser runs it: websocket transport, join, and every event collected."""

    def __init__(self, url: str, token: str | None, detail_id: int | None = None):
        self.events: list[dict] = []
        self.positions: list[dict] = []
        self.arrived = threading.Condition()
        self.client = sio_client.Client(reconnection=False)
        self.client.on("event", self._on_event, namespace="/board")
        self.client.on("position", self._on_position, namespace="/board")
        self.client.connect(
            url,
            namespaces=["/board"],
            transports=["websocket"],
            auth={"token": token} if token else None,
            wait_timeout=5,
        )
        room = {"detail_id": detail_id} if detail_id else {}
        self.join = self.client.call("join", room, namespace="/board", timeout=5)

    def _on_event(self, event):
        with self.arrived:
            self.events.append(event)
            self.arrived.notify_all()

    def _on_position(self, position):
        with self.arrived:
            self.positions.append(position)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0, attr: str = "events") -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(getattr(self, attr)) >= count, timeout=timeout)
            return list(getattr(self, attr))

    def close(self):
        # Drop the connection as a phone losing signal would: a polite close waits seconds for the
        # server's side of the websocket, which adds nothing to what these tests check.
        self.client.eio.disconnect(abort=True)


def _post_status(url, token, **body):
    return requests.post(f"{url}/api/v1/status", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_status_over_http_reaches_the_boards_of_its_detail_and_no_other_organisation(live_server, now_world):
    w = now_world
    agent = _token(w.agent_user)
    ours = Board(live_server, _token(w.coordinator))
    detail_board = Board(live_server, _token(w.admin), detail_id=w.detail.id)
    theirs = Board(live_server, _token(w.other_org_coordinator))
    assert ours.join["ok"] and detail_board.join["ok"] and theirs.join["ok"]
    try:
        response = _post_status(live_server, agent, code="OM", client_id="live-1", latitude=51.51, longitude=-0.13)
        assert response.status_code == 201, response.text
        for board in (ours, detail_board):
            events = board.wait_for(1)
            assert [e["kind"] for e in events] == ["status"]
            assert events[0]["payload"]["code"]["code"] == "OM"
            assert events[0]["payload"]["call_sign"] == "Bravo 1"
        # A retry of the same report is stored once and pushed once.
        assert _post_status(live_server, agent, code="OM", client_id="live-1").status_code == 200
        positions = ours.wait_for(1, attr="positions", timeout=1.0)
        assert theirs.wait_for(1, timeout=0.5) == []
        assert len(ours.events) == 1
        assert positions == [] or positions[0]["agent_id"] == w.agent.id
    finally:
        for board in (ours, detail_board, theirs):
            board.close()


def test_positions_are_pushed_coalesced(live_server, now_world):
    w = now_world
    agent = {"Authorization": f"Bearer {_token(w.agent_user)}"}
    board = Board(live_server, _token(w.coordinator))
    try:
        for n in range(5):
            response = requests.post(
                f"{live_server}/api/v1/positions",
                headers=agent,
                timeout=5,
                json={"latitude": 51.5 + n / 1000, "longitude": -0.12},
            )
            assert response.status_code == 201
        # The newest arrives; the ones it superseded within an interval never do.
        with board.arrived:
            board.arrived.wait_for(
                lambda: any(p["latitude"] == pytest.approx(51.504) for p in board.positions), timeout=5
            )
        positions = list(board.positions)
        assert positions[-1]["latitude"] == pytest.approx(51.504)
        assert 1 <= len(positions) < 5
    finally:
        board.close()


def test_catch_up_after_a_dropped_connection(live_server, now_world):
    w = now_world
    agent = _token(w.agent_user)
    coordinator = _token(w.coordinator)
    board = Board(live_server, coordinator)
    _post_status(live_server, agent, code="OM", client_id="before")
    last_seen = board.wait_for(1)[-1]["id"]
    board.close()
    for n in range(3):  # while the board is away
        assert _post_status(live_server, agent, code="OS", client_id=f"away-{n}").status_code == 201
    board = Board(live_server, coordinator)
    try:
        reply = board.client.call("catch_up", {"after": last_seen}, namespace="/board", timeout=5)
        missed = reply["events"]
        assert [e["payload"]["code"]["code"] for e in missed] == ["OS", "OS", "OS"]
        assert [e["id"] for e in missed] == sorted(e["id"] for e in missed)
        assert all(e["id"] > last_seen for e in missed)
    finally:
        board.close()


@pytest.mark.parametrize("who", ["agent", "client", "anonymous", "revoked"])
def test_refused_connections(live_server, now_world, who):
    w = now_world
    token = None
    if who == "agent":
        token = _token(w.agent_user)
    elif who == "client":
        token = _token(w.contact)
    elif who == "revoked":
        from detail.models import ApiToken
        from detail.web.auth import revoke_token

        token = _token(w.coordinator)
        revoke_token(db.session.scalars(db.select(ApiToken)).one())
        db.session.commit()
    with pytest.raises(sio_client.exceptions.ConnectionError):
        Board(live_server, token)


def test_duress_reaches_every_board_and_stays_until_acknowledged(live_server, now_world):
    w = now_world
    agent = _token(w.agent_user)
    board = Board(live_server, _token(w.coordinator))
    try:
        response = _post_status(live_server, agent, code="DUR", client_id="sos", latitude=51.5101, longitude=-0.134)
        assert response.status_code == 201
        kinds = [e["kind"] for e in board.wait_for(2)]
        assert kinds == ["status", "alert"]
        alert = board.events[1]["payload"]
        assert alert["kind"] == "duress" and alert["latitude"] == 51.5101
        # A board that connects later still sees it in the board state.
        session = requests.Session()
        page = session.get(f"{live_server}/login", timeout=5)
        assert page.status_code == 200
    finally:
        board.close()
