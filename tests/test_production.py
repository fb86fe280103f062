"""The production topology for real: two gunicorn gevent web processes and a jobs process, on
PostgreSQL and the Redis message queue (bench/topology.py starts it)."""

import http.server
import threading
from datetime import timedelta

import pytest
import requests

from bench.topology import Topology
from detail.extensions import db
from detail.models import Organisation, utcnow

from .conftest import allow_loopback_feeds, make_app
from .topology_helpers import Board, seed


@pytest.fixture
def topology(postgres_url, redis_url, tmp_path):
    topology = Topology(database_url=postgres_url, redis_url=redis_url, web=2, log_dir=tmp_path / "logs")
    topology.flask("db", "upgrade")
    yield topology
    topology.stop()


def _logs(topology) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(topology.log_dir.glob("*.log")))


def test_a_status_posted_to_one_web_process_reaches_a_board_on_the_other(topology, tmp_path):
    ids, coordinator, agent = seed(tmp_path, topology.database_url)
    topology.jobs = False
    topology.start()
    boards = [Board(topology.url(0), coordinator), Board(topology.url(1), coordinator)]
    try:
        r = requests.post(
            topology.url(0) + "/api/v1/status",
            json={"code": "OM", "client_id": "topology-1", "detail_id": ids["detail_id"]},
            headers={"Authorization": f"Bearer {agent}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        for board in boards:
            assert board.wait_for(lambda events: any(e["kind"] == "status" for e in events)), _logs(topology)
            [event] = [e for e in board.events if e["kind"] == "status"]
            assert event["payload"]["code"]["code"] == "OM" and event["payload"]["report_id"] == r.json()["id"]
    finally:
        for board in boards:
            board.close()


class _Feed(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _rss(when) -> bytes:
    stamp = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    return f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:georss="http://www.georss.org/georss"><channel><title>Met alerts</title>
<item><guid>march-1</guid><title>Protest march planned outside Grand Hotel, London</title>
<description>Several hundred protesters are expected to march past the hotel.</description>
<pubDate>{stamp}</pubDate><georss:point>51.5104 -0.1342</georss:point></item>
</channel></rss>""".encode()


def _allow_loopback_feeds(tmp_path, database_url: str, organisation_id: int) -> None:
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        allow_loopback_feeds(db.session.get(Organisation, organisation_id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_the_poller_process_raises_advisories_that_reach_the_boards(topology, tmp_path):
    ids, coordinator, _ = seed(tmp_path, topology.database_url)
    _allow_loopback_feeds(tmp_path, topology.database_url, ids["organisation_id"])
    _Feed.body = _rss(utcnow() + timedelta(minutes=30))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    topology.start()
    board = Board(topology.url(1), coordinator)
    try:
        r = requests.post(
            topology.url(0) + "/api/v1/feeds",
            json={
                "url": f"http://127.0.0.1:{server.server_port}/feed.rss",
                "name": "Met alerts",
                "poll_interval_s": 300,
            },
            headers={"Authorization": f"Bearer {coordinator}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        # The jobs process polls due feeds every 15 s and emits through Redis.
        assert board.wait_for(lambda events: any(e["kind"].startswith("advisory") for e in events), timeout=45), _logs(
            topology
        )
        advisory = next(e for e in board.events if e["kind"].startswith("advisory"))
        assert "Grand Hotel" in advisory["payload"]["reason"] or "march" in advisory["payload"]["title"].lower()
        assert advisory["detail_id"] == ids["detail_id"]
    finally:
        board.close()
        server.shutdown()
