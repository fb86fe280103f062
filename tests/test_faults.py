"""Faults in the production topology: the Redis queue restarting, a web process killed, PostgreSQL
unreachable for a while, and the mail server refusing connections.

What must hold through each: a phone that sends a status again (same client_id) until it gets a
2xx has it stored exactly once; every fault of ours answers 503 (so apps keep their report and
send it again), never a 4xx or a 500; boards end with every event (pushes may be lost, the event
log is the truth and boards catch up from it); digests wait for the mail server and go once.
"""

import concurrent.futures
import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bench.topology import Topology, free_port
from detail.domain.devices import bind
from detail.extensions import db
from detail.models import Agent, Event, Position, StatusReport
from intel.domain import digests as digest
from intel.models import Digest, DigestEntry

from .conftest import T0, make_app, service_missing
from .mailbox import Mailbox
from .test_digest import add_advisory, set_preference
from .topology_helpers import Board, seed

DEVICE = "823411"


# --------------------------------------------------------------------------------------- helpers


def _logs(topology: Topology) -> str:
    if topology.log_dir is None:
        return ""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(topology.log_dir.glob("*.log")))


def _poll(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Phone(threading.Thread):
    """An agent's phone tapping statuses: each tap has its own client_id and is sent again, with the
    same client_id, after any answer but 201/200 or a connection error, until it is taken."""

    def __init__(self, urls, token, detail_id, prefix, duration, give_up_after=30.0, pause=0.0):
        super().__init__(name=f"phone-{prefix}", daemon=True)
        self.urls, self.token, self.detail_id, self.prefix = list(urls), token, detail_id, prefix
        self.duration, self.give_up_after, self.pause = duration, give_up_after, pause
        self.taken: dict[str, int] = {}  # client_id -> the 2xx that ended its retries
        self.outcomes: list[tuple[float, str, str, int | str]] = []  # (time, url, client_id, code or error)
        self.abandoned: list[str] = []
        self.lock = threading.Lock()
        self.count = 0
        self.started = time.monotonic()
        self.session = requests.Session()

    def send(self, url: str, client_id: str) -> int | None:
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                r = self.session.post(
                    url + "/api/v1/status",
                    json={"code": "OM", "client_id": client_id, "detail_id": self.detail_id},
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=5,
                )
                outcome: int | str = r.status_code
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with self.lock:
                self.outcomes.append((time.monotonic(), url, client_id, outcome))
            if outcome in (200, 201):
                with self.lock:
                    self.taken[client_id] = outcome
                return outcome
            if time.monotonic() > deadline:
                with self.lock:
                    self.abandoned.append(client_id)
                return None
            time.sleep(0.1)

    def run(self):
        self.started = time.monotonic()
        n = 0
        while time.monotonic() - self.started < self.duration:
            self.send(self.urls[n % len(self.urls)], f"{self.prefix}-{n}")
            n += 1
            with self.lock:
                self.count = n
            if self.pause:
                time.sleep(self.pause)

    def failures(self) -> Counter:
        with self.lock:
            return Counter(outcome for _, _, _, outcome in self.outcomes if outcome not in (200, 201))


def _stored(database_url: str) -> tuple[list[tuple[int, str]], list[tuple[int, dict]]]:
    """(report id, client_id) of every StatusReport and (event id, payload) of every status Event."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            reports = [tuple(r) for r in conn.execute(sa.select(StatusReport.id, StatusReport.client_id))]
            events = [tuple(r) for r in conn.execute(sa.select(Event.id, Event.payload).where(Event.kind == "status"))]
    finally:
        engine.dispose()
    return reports, events


def assert_stored_exactly_once(database_url: str, client_ids) -> set[int]:
    """Every status sent is one StatusReport with exactly one status Event; returns the events' ids."""
    reports, events = _stored(database_url)
    per_client_id = Counter(client_id for _, client_id in reports)
    doubled = {c: n for c, n in per_client_id.items() if n > 1}
    assert not doubled, f"statuses stored more than once: {doubled}"
    assert set(per_client_id) == set(client_ids), (
        f"lost: {sorted(set(client_ids) - set(per_client_id))}, "
        f"unexpected: {sorted(set(per_client_id) - set(client_ids))}"
    )
    per_report = Counter(payload["report_id"] for _, payload in events)
    report_ids = {report_id for report_id, _ in reports}
    assert set(per_report) == report_ids, (
        f"reports without their event: {sorted(report_ids - set(per_report))}; "
        f"events of no report: {sorted(set(per_report) - report_ids)}"
    )
    assert all(n == 1 for n in per_report.values()), f"reports with several events: {per_report.most_common(3)}"
    return {event_id for event_id, _ in events}


class BoardMissedEvents(AssertionError):
    """A board ends without some status events although the event log has them all."""


def assert_boards_have_every_event(boards: dict[str, Board], expected: set[int], brought: dict[str, list[int]]):
    """Each board holds every status event (at most twice: live, and again from a racing catch-up)."""
    gaps = []
    for name, board in boards.items():
        ids = board.ids("status")
        thrice = [i for i, n in Counter(ids).items() if n > 2]
        assert not thrice, f"{name}: events received more than twice: {thrice}"
        assert not set(ids) - expected, f"{name}: events that are not in the log: {sorted(set(ids) - expected)}"
        missing = sorted(expected - set(ids))
        if missing:
            gaps.append(
                f"{name} ends without {len(missing)} of {len(expected)} status events {missing[:12]}"
                f"{'...' if len(missing) > 12 else ''}; its catch-up after {board.synced} "
                f"(the id it was synced to) returned {len(brought.get(name, []))}"
            )
    if gaps:
        raise BoardMissedEvents("; ".join(gaps))


def _catch_up(board: Board) -> list[int]:
    """Board.catch_up, returning the ids the catch-up brought (call it when nothing else is sent)."""
    before = len(board.events)
    board.catch_up()
    with board.lock:
        return [e["id"] for e in board.events[before:]]


def _the_log(board: Board) -> list[int]:
    """Every status event id in the organisation's log, as the server serves it to a board from the start."""
    reply = board.client.call("catch_up", {"after": 0}, namespace="/board", timeout=10)
    assert reply["ok"], reply
    assert len(reply["events"]) < 500, "more events than one catch-up returns: send fewer statuses"
    return [e["id"] for e in reply["events"] if e["kind"] == "status"]


class PrivateRedis:
    """A redis-server of this test's own on a free port, to kill and start again (never the shared one)."""

    def __init__(self):
        if shutil.which("redis-server") is None:
            service_missing("redis-server", "the redis-server program is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _poll(self.answers, timeout):
            self.kill()
            raise TimeoutError(f"redis-server on port {self.port} did not answer PING within {timeout:g} s")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


class TcpProxy:
    """A TCP proxy on loopback (threads and sockets) that can be cut: the listener closed, every open
    connection shut, new ones refused, until restore() listens again on the same port.

    It can also freeze, as a server stopped with SIGSTOP does: connections stay open and new ones are
    accepted (the kernel answers the handshake and acknowledges what is sent), but nothing is passed on
    in either direction until thaw()."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = free_port()
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()
        self.sockets: set[socket.socket] = set()
        self.listener: socket.socket | None = None
        self.accepting = threading.Event()
        self.accept_thread: threading.Thread | None = None
        self.connections = 0

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.1)
        self.listener = listener
        self.accepting.set()
        self.accept_thread = threading.Thread(target=self._accept, args=(listener,), name="pg-proxy", daemon=True)
        self.accept_thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self.accepting.is_set():
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            downstream.settimeout(None)
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                downstream.close()
                continue
            with self.lock:
                if not self.accepting.is_set():
                    downstream.close()
                    upstream.close()
                    return
                self.sockets.update((downstream, upstream))
                self.connections += 1
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()  # frozen: held here, neither passed on nor refused
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with self.lock:
                    self.sockets.discard(s)
                s.close()

    def cut(self) -> None:
        self.accepting.clear()
        if self.accept_thread is not None:
            self.accept_thread.join(timeout=5)
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        with self.lock:
            open_sockets, self.sockets = list(self.sockets), set()
        for s in open_sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.start()

    def freeze(self) -> None:
        self.flowing.clear()

    def thaw(self) -> None:
        self.flowing.set()

    def refuses(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return True
        return False


# ------------------------------------------------------------------------------ Redis restarted


def test_a_redis_restart_under_load_loses_no_status_and_boards_catch_up(private_redis, postgres_url, tmp_path):
    topology = Topology(
        database_url=postgres_url, redis_url=private_redis.url, web=2, jobs=False, log_dir=tmp_path / "logs"
    )
    boards: list[Board] = []
    try:
        topology.flask("db", "upgrade")
        ids, coordinator, agent = seed(tmp_path, postgres_url)
        topology.start()
        boards = [Board(topology.url(0), coordinator), Board(topology.url(1), coordinator)]
        phone = Phone([topology.url(0), topology.url(1)], agent, ids["detail_id"], "redis", duration=6, pause=0.02)
        phone.start()
        assert _poll(lambda: phone.count >= 5, 10), _logs(topology)
        time.sleep(max(0.0, phone.started + 2.0 - time.monotonic()))
        private_redis.kill()
        killed_at = time.monotonic()
        time.sleep(1.5)
        private_redis.start()
        restarted_at = time.monotonic()
        phone.join(timeout=45)
        assert not phone.is_alive(), "the phone did not finish"
        assert not phone.abandoned, f"statuses never taken: {phone.abandoned}; {phone.failures()}"
        # Statuses do not depend on Redis (rate-limit counters fall back to memory, pushes are best effort).
        assert not phone.failures(), f"answers while Redis was down: {phone.failures()}"
        during = sum(1 for t, *_ in phone.outcomes if killed_at <= t <= restarted_at)
        assert during, "no status was sent while Redis was down: the test proved nothing"
        # The queue is back: a status now reaches both boards live (the listeners retry 1, 2, 4 s apart).
        assert phone.send(topology.url(0), "redis-last") == 201
        expected = assert_stored_exactly_once(postgres_url, set(phone.taken))
        newest = max(expected)
        for index, board in enumerate(boards):
            assert board.wait_for(lambda events: any(e["id"] == newest for e in events), timeout=20), (
                f"board on web{index} never got the status sent after the restart live\n{_logs(topology)}"
            )
        # The log has every event, whoever asks from the start.
        assert sorted(_the_log(boards[0])) == sorted(expected)
        brought = {}
        for index, board in enumerate(boards):
            # Dedupe is the board's job: a catch-up may repeat what came live, never an id twice itself.
            brought[f"the board on web{index}"] = _catch_up(board)
            repeated = [i for i, n in Counter(brought[f"the board on web{index}"]).items() if n > 1]
            assert not repeated, f"web{index}: one catch-up returned ids twice: {repeated}"
        assert_boards_have_every_event(
            {f"the board on web{i}": board for i, board in enumerate(boards)}, expected, brought
        )
    finally:
        for board in boards:
            board.close()
        topology.stop()


# --------------------------------------------------------------------------- a web process killed


def test_a_killed_web_process_loses_no_status_and_its_boards_catch_up_on_another(postgres_url, redis_url, tmp_path):
    topology = Topology(database_url=postgres_url, redis_url=redis_url, web=2, jobs=False, log_dir=tmp_path / "logs")
    boards: list[Board] = []
    try:
        topology.flask("db", "upgrade")
        ids, coordinator, agent = seed(tmp_path, postgres_url)
        topology.start()
        boards = [Board(topology.url(0), coordinator), Board(topology.url(0), coordinator)]
        phone = Phone([topology.url(1)], agent, ids["detail_id"], "kill", duration=4, pause=0.02)
        phone.start()
        # Statuses posted to web1 reach the boards on web0 through Redis...
        for board in boards:
            assert board.wait_for(lambda events: sum(e["kind"] == "status" for e in events) >= 3), _logs(topology)
        topology.kill("web0")  # SIGKILL to gunicorn and its worker
        sent_before_kill = phone.count
        for board in boards:
            assert _poll(lambda b=board: not b.client.connected, 10), "a board did not notice web0 dying"
        phone.join(timeout=45)
        assert not phone.is_alive() and not phone.abandoned, (phone.abandoned, phone.failures())
        assert phone.count > sent_before_kill + 3, "too few statuses were posted while web0 was dead"
        assert not phone.failures(), f"web1 answered the phone badly while web0 died: {phone.failures()}"
        # ... and once it is dead they reconnect to web1 and catch up from the log what they missed.
        had = [len(board.ids("status")) for board in boards]
        for board in boards:
            board.move_to(topology.url(1))
        assert all(len(board.ids("status")) > n for board, n in zip(boards, had, strict=True)), "nothing to catch up"
        assert phone.send(topology.url(1), "kill-after-move") == 201
        expected = assert_stored_exactly_once(postgres_url, set(phone.taken))
        for board in boards:
            assert board.wait_for(lambda events: any(e["id"] == max(expected) for e in events)), _logs(topology)
        assert_boards_have_every_event({f"moved board {i}": b for i, b in enumerate(boards)}, expected, {})

        # web0 again: a board on it catches up from nothing and gets what either process publishes.
        topology.start_web(0)
        topology.wait_ready(0)
        fresh = Board(topology.url(0), coordinator)
        boards.append(fresh)
        fresh.catch_up()
        assert set(fresh.ids("status")) == expected
        for url, client_id in ((topology.url(0), "kill-on-web0"), (topology.url(1), "kill-on-web1")):
            assert phone.send(url, client_id) == 201
            newest = max(assert_stored_exactly_once(postgres_url, set(phone.taken)))
            for board in boards:
                assert board.wait_for(lambda events, n=newest: any(e["id"] == n for e in events)), _logs(topology)
    finally:
        for board in boards:
            board.close()
        topology.stop()


# ------------------------------------------------------------------------ PostgreSQL unreachable


def test_postgres_unreachable_answers_503_and_recovers_by_itself(postgres_url, redis_url, tmp_path):
    url = sa.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    # The same database and search_path (the fixture's options), through the proxy.
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    topology = Topology(database_url=proxied, redis_url=redis_url, web=1, jobs=False, log_dir=tmp_path / "logs")
    try:
        topology.flask("db", "upgrade")  # through the proxy
        ids, coordinator, agent = seed(tmp_path, postgres_url)
        app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
        with app.app_context():
            bind(db.session.get(Agent, ids["agent_id"]), DEVICE)
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        topology.start()
        base = topology.url(0)
        session = requests.Session()

        def status(client_id):
            return session.post(
                base + "/api/v1/status",
                json={"code": "OM", "client_id": client_id, "detail_id": ids["detail_id"]},
                headers={"Authorization": f"Bearer {agent}"},
                timeout=10,
            )

        def point(stamp: int):
            # Away from every venue: a position and nothing else (no arrival by geofence).
            params = {"id": DEVICE, "lat": 51.53, "lon": -0.09, "timestamp": stamp}
            return session.get(base + "/ingest/osmand", params=params, timeout=10)

        now = int(time.time())
        assert status("pg-before").status_code == 201
        assert point(now - 60).status_code == 200
        phone = Phone([base], agent, ids["detail_id"], "pg", duration=8, pause=0.05)
        phone.start()
        assert _poll(lambda: phone.count >= 3, 10), phone.failures()

        proxy.cut()
        assert proxy.refuses()
        cut_at = time.monotonic()
        answers = []
        while time.monotonic() - cut_at < 3:
            for what, response in (("status", status("pg-during")), ("osmand", point(now))):
                answers.append((what, response.status_code, response.headers.get("Retry-After"), response.text[:200]))
            time.sleep(0.2)
        proxy.restore()
        restored_at = time.monotonic()
        # The same requests, sent again as the apps do, succeed by themselves (pool_pre_ping).
        recovered = {}

        def recovers():
            if "status" not in recovered and status("pg-during").status_code in (200, 201):
                recovered["status"] = time.monotonic() - restored_at
            if "osmand" not in recovered and point(now).status_code == 200:
                recovered["osmand"] = time.monotonic() - restored_at
            return len(recovered) == 2

        assert _poll(recovers, 15, interval=0.2), f"not recovered 15 s after the database came back\n{_logs(topology)}"
        phone.join(timeout=45)
        assert not phone.is_alive() and not phone.abandoned, (phone.abandoned, phone.failures())

        wrong = [a for a in answers if a[1] != 503 or a[2] is None]
        assert not wrong, f"while the database was unreachable: {wrong[:5]}"
        assert {what for what, *_ in answers} == {"status", "osmand"}
        assert set(phone.failures()) <= {503}, f"the phone got {phone.failures()} (only 503 belongs)"
        assert phone.failures()[503], "the phone never met the outage: the test proved nothing"
        assert max(recovered.values()) < 5, f"recovered after {recovered} s"
        assert_stored_exactly_once(postgres_url, set(phone.taken) | {"pg-before", "pg-during"})
        engine = sa.create_engine(postgres_url)
        try:
            with engine.connect() as conn:
                points = Counter(conn.execute(sa.select(Position.reported_at).where(Position.source == "osmand")))
        finally:
            engine.dispose()
        assert sorted(points.values()) == [1, 1], f"positions stored: {points}"
    finally:
        topology.stop()
        proxy.cut()


# ----------------------------------------------------------------------------- PostgreSQL frozen


def _timed(call):
    """(seconds taken, the call's result or the name of what it raised)."""
    started = time.monotonic()
    try:
        outcome = call()
    except Exception as exc:
        outcome = type(exc).__name__
    return time.monotonic() - started, outcome


@pytest.mark.postgres
def test_a_frozen_postgres_gets_answers_within_seconds_and_recovers(postgres_url, redis_url, tmp_path):
    """PostgreSQL accepting connections and data but answering nothing (stopped with SIGSTOP, a hung
    disk): statuses get 503 with Retry-After within 5 s, /healthz 503 within 3 s, a board's socket
    calls an error answer, never silence; and once it answers again, everything works."""
    url = sa.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    topology = Topology(database_url=proxied, redis_url=redis_url, web=1, jobs=False, log_dir=tmp_path / "logs")
    boards: list[Board] = []
    try:
        topology.flask("db", "upgrade")
        ids, coordinator, agent = seed(tmp_path, postgres_url)
        topology.start()
        base = topology.url(0)

        def status(client_id):
            return requests.post(
                base + "/api/v1/status",
                json={"code": "OM", "client_id": client_id, "detail_id": ids["detail_id"]},
                headers={"Authorization": f"Bearer {agent}"},
                timeout=15,
            )

        def healthz():
            return requests.get(base + "/healthz", timeout=15)

        assert status("frozen-before").status_code == 201
        boards.append(Board(base, coordinator))
        # Several connections in the pool, as after real traffic, each to be met frozen.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert {r.status_code for r in pool.map(lambda _: healthz(), range(8))} == {200}

        proxy.freeze()
        answers = []  # (what, seconds, status or error, Retry-After)

        def note(what, call, bound):
            seconds, outcome = _timed(call)
            code = getattr(outcome, "status_code", outcome)
            retry_after = outcome.headers.get("Retry-After") if hasattr(outcome, "headers") else None
            answers.append((what, round(seconds, 2), code, retry_after, bound))

        note("status, first", lambda: status("frozen-during"), 5)
        note("healthz, first", healthz, 3)
        # Callers at once, as phones and probes are: each still answered within its bound.
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            calls = [("status, together", lambda: status("frozen-during"), 5)] * 4
            calls += [("healthz, together", healthz, 3)] * 2
            list(pool.map(lambda c: note(*c), calls))
        note("status, again", lambda: status("frozen-during"), 5)
        note("healthz, again", healthz, 3)
        wrong = [a for a in answers if a[1] >= a[4] or a[2] != 503 or (a[0].startswith("status") and not a[3])]
        assert not wrong, f"while PostgreSQL was frozen (what, s, answer, Retry-After, bound): {wrong}\n{answers}"

        # A board's call answers with an error, and a board connecting now is refused, not left waiting.
        seconds, reply = _timed(lambda: boards[0].client.call("catch_up", {"after": 0}, namespace="/board", timeout=15))
        assert seconds < 5 and isinstance(reply, dict) and reply["ok"] is False, (seconds, reply)
        assert "database" in reply["error"], reply
        seconds, outcome = _timed(lambda: boards.append(Board(base, coordinator)))
        assert seconds < 5 and outcome == "ConnectionError", (seconds, outcome)

        proxy.thaw()
        thawed_at = time.monotonic()
        assert _poll(lambda: status("frozen-during").status_code == 201, 15, interval=0.2), _logs(topology)
        assert time.monotonic() - thawed_at < 10
        assert healthz().status_code == 200
        reply = boards[0].client.call("catch_up", {"after": 0}, namespace="/board", timeout=10)
        assert reply["ok"] and sum(e["kind"] == "status" for e in reply["events"]) == 2, reply
        assert_stored_exactly_once(postgres_url, {"frozen-before", "frozen-during"})
    finally:
        proxy.thaw()
        for board in boards:
            board.close()
        topology.stop()
        proxy.cut()


# -------------------------------------------------------------------------------------- SMTP down


def test_digests_wait_for_a_mail_server_that_refuses_connections_and_go_once(app, world):
    port = free_port()  # nothing listens here until the server "comes back"
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="none",
        MAIL_FROM="Oscar Mike <digests@aegis.example>",
        PUBLIC_URL="https://om.example",
    )
    set_preference(world.contact, cadence="immediate")
    set_preference(world.other_contact, cadence="daily")  # 07:00 London
    march = add_advisory(world, "March past the Grand Hotel", "critical")
    strike = add_advisory(world, "Tube strike on the Contoso route", "high", detail=world.other_client_detail)
    now = T0 - timedelta(hours=1)  # 07:00 London: the daily digest is due too

    assert digest.send_due_digests(now) == 0
    waiting = list(db.session.scalars(sa.select(Digest).order_by(Digest.id)))
    assert [(d.status, d.attempts) for d in waiting] == [("failed", 1), ("failed", 1)]
    assert all("ConnectionRefusedError" in d.last_error for d in waiting)
    assert all(d.next_attempt_at == now + timedelta(minutes=1) for d in waiting)

    # More news while the server is down: a digest of its own, not lost, not merged into a failed one.
    second = add_advisory(world, "Second march, Piccadilly", "high", published_at=now + timedelta(seconds=30))
    assert digest.send_due_digests(now + timedelta(seconds=30)) == 0
    for minutes in (1, 2, 4, 8):  # the retries come due, and meet the same refusal
        assert digest.send_due_digests(now + timedelta(minutes=minutes, seconds=40)) == 0
    waiting = list(db.session.scalars(sa.select(Digest).order_by(Digest.id)))
    assert len(waiting) == 3 and all(d.status == "failed" for d in waiting)
    assert all(d.attempts >= 3 and d.next_attempt_at > now + timedelta(minutes=8) for d in waiting), [
        (d.attempts, d.next_attempt_at) for d in waiting
    ]
    entries = Counter(db.session.execute(sa.select(DigestEntry.user_id, DigestEntry.advisory_id)).all())
    assert entries == Counter(
        {(world.contact.id, march.id): 1, (world.contact.id, second.id): 1, (world.other_contact.id, strike.id): 1}
    )

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        back = now + timedelta(hours=1)  # every retry is due by then (they wait at most an hour)
        assert digest.send_due_digests(back) == 3
        assert digest.send_due_digests(back + timedelta(minutes=5)) == 0
        assert digest.send_due_digests(back + timedelta(hours=2)) == 0
    finally:
        controller.stop()
    sent = list(db.session.scalars(sa.select(Digest).order_by(Digest.id)))
    assert [d.status for d in sent] == ["sent"] * 3
    assert len(box.messages) == 3
    assert sorted(m["Message-ID"] for m in box.messages) == sorted(d.message_id for d in sent)
    bodies = Counter()
    for message in box.messages:
        text = message.get_body(("plain",)).get_content()
        for advisory in (march, second, strike):
            if advisory.title in text:
                bodies[(message["To"], advisory.title)] += 1
    assert bodies == Counter(
        {
            (world.contact.email, march.title): 1,
            (world.contact.email, second.title): 1,
            (world.other_contact.email, strike.title): 1,
        }
    )
