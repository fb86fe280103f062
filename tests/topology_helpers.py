"""Helpers for the tests that run the production topology: a world in PostgreSQL, real boards."""

import contextlib
import threading
import time
from datetime import timedelta

import socketio

from detail.extensions import db
from detail.models import utcnow
from detail.web.auth import issue_token

from .conftest import build_world, make_app


def seed(tmp_path, database_url: str):
    """The conftest world in the topology's database (already migrated), starting now; returns
    (world ids, coordinator token, agent token)."""
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        world = build_world(start=utcnow() + timedelta(minutes=20))
        coordinator = issue_token(world.coordinator, "board")
        agent = issue_token(world.agent_user, "phone")
        db.session.commit()
        ids = {"detail_id": world.detail.id, "agent_id": world.agent.id, "organisation_id": world.org.id}
        db.session.remove()
        db.engine.dispose()
    return ids, coordinator, agent


class Board:
    """A coordinator's board on one web process: joins the organisation's room and records events."""

    def __init__(self, base_url: str, token: str):
        self.token = token
        self.events: list[dict] = []
        # As board.js: the id up to which the board holds everything; only catch-up replies move it.
        self.synced = 0
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("event", self._on_event, namespace="/board")
        self.connect(base_url)

    def _on_event(self, event):
        with self.lock:
            self.events.append(event)

    def connect(self, base_url: str) -> None:
        self.client.connect(
            base_url, namespaces=["/board"], transports=["websocket"], auth={"token": self.token}, wait_timeout=10
        )
        ack = self.client.call("join", {}, namespace="/board", timeout=10)
        assert ack["ok"], ack

    def move_to(self, base_url: str) -> None:
        """Reconnect to another web process (what the proxy does when one dies) and catch up."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client = socketio.Client(reconnection=False)
        self.client.on("event", self._on_event, namespace="/board")
        self.connect(base_url)
        self.catch_up()

    def catch_up(self) -> list[dict]:
        """Everything after the synced id (as board.js does), page by page; returns what came."""
        brought = []
        while True:
            reply = self.client.call("catch_up", {"after": self.synced}, namespace="/board", timeout=10)
            assert reply["ok"], reply
            brought.extend(reply["events"])
            with self.lock:
                self.events.extend(reply["events"])
            if not reply["events"]:
                return brought
            self.synced = reply["events"][-1]["id"]
            if len(reply["events"]) < 500:
                return brought

    def last_id(self) -> int:
        with self.lock:
            return max((e["id"] for e in self.events), default=0)

    def ids(self, kind: str | None = None) -> list[int]:
        with self.lock:
            return [e["id"] for e in self.events if kind is None or e["kind"] == kind]

    def wait_for(self, predicate, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.events)):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
