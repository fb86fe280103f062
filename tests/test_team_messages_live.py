"""Team messages over a real server and real Socket.IO clients: a phone hears the messages sent to it
(to its detail, or to it by name) and nothing sent to another detail or another agent; the boards
hear every message and receipt.
"""

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests
import socketio as sio_client

from detail.extensions import db
from detail.models import Agent, Assignment, User
from detail.web.auth import issue_token

from .conftest import build_world
from .test_live import Board


@pytest.fixture
def now_world(app):
    """The detail starts in 20 minutes; the idle agent is on the other client's detail, also now."""
    world = build_world(datetime.now(timezone.utc) + timedelta(minutes=20))
    other = world.other_client_detail
    db.session.add(
        Assignment(
            detail=other,
            agent=world.idle_agent_user.agent,
            role="agent",
            report_at=other.starts_at,
            shift_starts_at=other.starts_at - timedelta(hours=1),
            shift_ends_at=other.ends_at,
        )
    )
    db.session.commit()
    return world


def _token(user) -> str:
    token = issue_token(user, "live")
    db.session.commit()
    return token


class Phone:
    """An agent's phone page as it connects: websocket, /phone namespace, every event collected."""

    def __init__(self, url: str, token: str):
        self.events: list[dict] = []
        self.arrived = threading.Condition()
        self.client = sio_client.Client(reconnection=False)
        self.client.on("event", self._on_event, namespace="/phone")
        self.client.connect(url, namespaces=["/phone"], transports=["websocket"], auth={"token": token}, wait_timeout=5)

    def _on_event(self, event):
        with self.arrived:
            self.events.append(event)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.events) >= count, timeout=timeout)
            return list(self.events)

    def close(self):
        self.client.eio.disconnect(abort=True)


def _send(url, token, **body):
    response = requests.post(
        f"{url}/api/v1/messages", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_phone_hears_messages_to_its_detail_and_to_it_and_nothing_else(live_server, now_world):
    w = now_world
    coordinator = _token(w.coordinator)
    agent_token, idle_token = _token(w.agent_user), _token(w.idle_agent_user)
    board = Board(live_server, coordinator)
    phone, other_phone = Phone(live_server, agent_token), Phone(live_server, idle_token)
    try:
        to_ours = _send(live_server, coordinator, body="Hold positions", client_id="l-1", detail_id=w.detail.id)
        to_theirs = _send(
            live_server, coordinator, body="Contoso: car at 10", client_id="l-2", detail_id=w.other_client_detail.id
        )
        to_him = _send(live_server, coordinator, body="Call me", client_id="l-3", agent_ids=[w.agent.id], asks_ack=True)
        # Events reach each socket in the order they were published: had the phone been sent the other
        # detail's message, it would be among its first two.
        heard = phone.wait_for(2)
        assert [e["kind"] for e in heard] == ["team_message", "team_message"]
        assert [e["payload"]["id"] for e in heard] == [to_ours["id"], to_him["id"]]
        assert heard[0]["payload"]["body"] == "Hold positions"
        assert "recipients" not in heard[0]["payload"] and "to_phones" not in heard[0]["payload"]
        assert [e["payload"]["id"] for e in other_phone.wait_for(1)] == [to_theirs["id"]]

        # The phone says the message arrived and acknowledges it: the board hears both receipts.
        for path in ("delivered", "acknowledge"):
            response = requests.post(
                f"{live_server}/api/v1/messages/{to_him['id']}/{path}",
                json={},
                headers={"Authorization": f"Bearer {agent_token}"},
                timeout=5,
            )
            assert response.status_code == 200, response.text
        events = board.wait_for(5)
        assert [e["kind"] for e in events] == ["team_message"] * 3 + ["team_message_receipt"] * 2
        assert events[-1]["payload"]["summary"]["text"] == "1 of 1 acknowledged"
        # The agent's own phone hears his receipts (another of his devices stays in step); the other does not.
        mine = phone.wait_for(4)
        assert [e["kind"] for e in mine[2:]] == ["team_message_receipt"] * 2
        assert mine[-1]["payload"]["receipt"]["acknowledged_at"]
        assert [e["payload"].get("id") for e in other_phone.events] == [to_theirs["id"]]
    finally:
        for client in (board, phone, other_phone):
            client.close()


def test_another_organisations_board_hears_none_of_it(live_server, now_world):
    w = now_world
    rival_detail = w.other_org_detail
    rival_user = User(organisation=w.other_org, email="agent@rival.example", name="Rex Rival", role="agent")
    rival_agent = Agent(organisation=w.other_org, user=rival_user, call_sign="Tango 7")
    db.session.add_all(
        [
            rival_user,
            rival_agent,
            Assignment(
                detail=rival_detail,
                agent=rival_agent,
                report_at=rival_detail.starts_at,
                shift_starts_at=rival_detail.starts_at,
                shift_ends_at=rival_detail.ends_at,
            ),
        ]
    )
    db.session.commit()
    ours_token, rival_token = _token(w.coordinator), _token(w.other_org_coordinator)
    ours, theirs = Board(live_server, ours_token), Board(live_server, rival_token)
    try:
        mine = _send(live_server, ours_token, body="Hold positions", client_id="o-1", detail_id=w.detail.id)
        assert [e["payload"]["id"] for e in ours.wait_for(1)] == [mine["id"]]
        # The rival firm's own message, sent after ours: the first and only thing its board hears.
        rival = _send(live_server, rival_token, body="Rival brief", client_id="o-1", detail_id=rival_detail.id)
        assert [e["payload"]["id"] for e in theirs.wait_for(1)] == [rival["id"]]
    finally:
        ours.close()
        theirs.close()
