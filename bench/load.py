"""Load: boards on websockets and agents posting statuses, against the app and against the floor.

    .venv/bin/python bench/load.py                       # every scenario on floor, embedded, production
    .venv/bin/python bench/load.py --targets floor,embedded --quick

Targets, measured in the same run so the figures compare on this shared machine:
  floor       bench/floor.py: a bare Flask-SocketIO server that emits what it is posted
              (gunicorn, one gevent worker), with no database, no authentication, no rooms per detail;
  embedded    the README's `python wsgi.py`: gevent, SQLite, the jobs in-process;
  production  bench/topology.py: two gunicorn gevent web processes and a jobs process on PostgreSQL
              and Redis (boards and agents spread over both web processes).

Boards are lightweight Socket.IO clients (websocket-client under gevent, Engine.IO 4 / Socket.IO 5
spoken directly, events matched by a marker rather than parsed) so that the generator is not what
saturates. Each status carries a sequence number in its note; latency runs from just before its
POST to its arrival at each board. Lost = deliveries expected (statuses stored x boards) but not
received live; duplicated = received twice. Every figure is printed, and all of them with --json.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.queue  # noqa: E402
import requests  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.topology import Topology, free_port  # noqa: E402

BIN = Path(sys.executable).parent
MARK = re.compile(rb"bench-([0-9a-f]{8})-(\d+)")


# --- the targets ---------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    urls: list[str]
    namespace: str  # "/board" for the app, "/" for the floor
    status_path: str
    auth: dict | None = None
    agent_tokens: list[str] = field(default_factory=list)
    detail_id: int | None = None
    pids: list[int] = field(default_factory=list)  # the processes that serve (for CPU and memory)
    stop: object = None

    def status_body(self, run: str, seq: int) -> dict:
        body = {"code": "OM", "client_id": f"bench-{run}-{seq}", "note": f"bench-{run}-{seq}"}
        if self.detail_id:
            body["detail_id"] = self.detail_id
        return body

    def headers(self, seq: int) -> dict:
        if not self.agent_tokens:
            return {}
        return {"Authorization": "Bearer " + self.agent_tokens[seq % len(self.agent_tokens)]}


def wait_http(url: str, timeout: float = 180) -> None:
    # Generous: a server starting on a machine busy with the test suite can take a minute.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            gevent.sleep(0.2)
    raise TimeoutError(url)


def worker_pids(master: int) -> list[int]:
    """gunicorn's worker: the child of its master (where the work and the memory are)."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return [master]
    return [int(c) for c in children] or [master]


def seed(database_url: str, agents: int, workdir: str) -> tuple[str, list[str], int]:
    """One organisation on a hot detail with `agents` agents; returns the coordinator's token, the
    agents' tokens and the detail's id."""
    from detail import create_app
    from detail.config import from_environment
    from detail.extensions import db
    from detail.models import (
        Agent,
        Assignment,
        Client,
        Detail,
        Organisation,
        Site,
        User,
        Visit,
        seed_status_codes,
        utcnow,
    )
    from detail.web.auth import issue_token

    config = from_environment(workdir, env={"DATABASE_URL": database_url, "SECRET_KEY": "bench"})
    app = create_app({**config, "RATELIMIT_ENABLED": False})
    with app.app_context():
        now = utcnow()
        org = Organisation(name=f"Bench {uuid.uuid4().hex[:6]}", timezone="Europe/London")
        seed_status_codes(org)
        client = Client(organisation=org, name="Bench plc")
        site = Site(organisation=org, name="Bench Hotel", latitude=51.51, longitude=-0.134, timezone="Europe/London")
        detail = Detail(
            client=client, name="Bench detail", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=11)
        )
        detail.visits.append(
            Visit(site=site, arrives_at=now - timedelta(hours=1), departs_at=now + timedelta(hours=11))
        )
        coordinator = User(
            organisation=org, email=f"coord-{uuid.uuid4().hex[:6]}@bench.example", name="C", role="coordinator"
        )
        db.session.add_all([org, client, site, detail, coordinator])
        tokens = []
        for i in range(agents):
            user = User(
                organisation=org, email=f"a{i}-{uuid.uuid4().hex[:6]}@bench.example", name=f"A{i}", role="agent"
            )
            agent = Agent(organisation=org, user=user, call_sign=f"Bench {i}")
            db.session.add(
                Assignment(
                    detail=detail,
                    agent=agent,
                    role="agent",
                    site=site,
                    report_at=now - timedelta(minutes=30),
                    shift_starts_at=now - timedelta(hours=1),
                    shift_ends_at=now + timedelta(hours=11),
                )
            )
            tokens.append(issue_token(user, "bench"))
        coordinator_token = issue_token(coordinator, "bench")
        db.session.commit()
        detail_id = detail.id
        db.session.remove()
        db.engine.dispose()
    return coordinator_token, tokens, detail_id


def start_floor(workdir: str) -> Target:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}", "bench.floor:app"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz")
    return Target(
        "floor",
        [url],
        "/",
        "/status",
        pids=worker_pids(process.pid),
        stop=lambda: os.killpg(process.pid, signal.SIGTERM),
    )


def start_embedded(workdir: str, agents: int) -> Target:
    database = f"sqlite:///{workdir}/embedded.db"
    env = {**os.environ, "DATABASE_URL": database, "SECRET_KEY": "bench", "PORT": str(free_port()), "HOST": "127.0.0.1"}
    subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    coordinator, tokens, detail_id = seed(database, agents, workdir)
    process = subprocess.Popen(
        [str(BIN / "python"), "wsgi.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    wait_http(url + "/healthz")
    return Target(
        "embedded",
        [url],
        "/board",
        "/api/v1/status",
        auth={"token": coordinator},
        agent_tokens=tokens,
        detail_id=detail_id,
        pids=[process.pid],
        stop=lambda: os.killpg(process.pid, signal.SIGTERM),
    )


def start_production(workdir: str, agents: int, postgres: str, redis: str, web: int) -> Target:
    import sqlalchemy as sa

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = (
        sa.make_url(postgres)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    topology = Topology(database_url=url, redis_url=redis, web=web, log_dir=Path(workdir) / "logs")
    topology.flask("db", "upgrade")
    coordinator, tokens, detail_id = seed(url, agents, workdir)
    topology.start()

    def stop():
        topology.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    pids = [pid for i in range(web) for pid in worker_pids(topology.processes[f"web{i}"].pid)]
    return Target(
        "production",
        [topology.url(i) for i in range(web)],
        "/board",
        "/api/v1/status",
        auth={"token": coordinator},
        agent_tokens=tokens,
        detail_id=detail_id,
        pids=pids,
        stop=stop,
    )


# --- boards --------------------------------------------------------------------------------------


class Board:
    """A Socket.IO board over a raw websocket, as light as a client can be: one recv reads many
    frames, and an event is matched by its marker, never parsed. Connects to the namespace with
    the auth, joins the organisation's room, notes when each marker arrives."""

    def __init__(self, url: str, namespace: str, auth: dict | None):
        self.received: dict[tuple[str, int], float] = {}
        self.duplicates = 0
        self.buffer = b""
        self.handshake: list[bytes] = []
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"no websocket: {head[:200]!r}")
        self._message()  # the Engine.IO open packet
        prefix = "" if namespace == "/" else namespace + ","
        self.send("40" + prefix + (json.dumps(auth) if auth else ""))
        reply = self._message()
        if not reply.startswith(b"40"):
            raise RuntimeError(f"board refused: {reply[:200]!r}")
        if namespace != "/":
            self.send(f"42{prefix}1" + json.dumps(["join", {}]))
            ack = self._message()
            while ack.startswith(b"42"):  # an event pushed between the join and its answer
                ack = self._message()
            if b'"ok":true' not in ack.replace(b" ", b""):
                raise RuntimeError(f"join refused: {ack[:200]!r}")
        self.greenlet = gevent.spawn(self._run)

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x81])
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _frames(self) -> list[bytes]:
        """The complete frames in the buffer (servers never mask); a partial one stays for later."""
        frames, data, offset = [], self.buffer, 0
        while len(data) - offset >= 2:
            length = data[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if len(data) - offset < 4:
                    break
                length, start = struct.unpack_from("!H", data, offset + 2)[0], offset + 4
            elif length == 127:
                if len(data) - offset < 10:
                    break
                length, start = struct.unpack_from("!Q", data, offset + 2)[0], offset + 10
            if len(data) < start + length:
                break
            frames.append(data[start : start + length])
            offset = start + length
        self.buffer = data[offset:]
        return frames

    def _message(self) -> bytes:
        """The next message during the handshake (one read may bring several: the rest wait their turn)."""
        while True:
            while self.handshake:
                frame = self.handshake.pop(0)
                if frame == b"2":
                    self.send("3")
                else:
                    return frame
            self.handshake = self._frames()
            if not self.handshake:
                self.buffer += self.sock.recv(65536)

    def _run(self) -> None:
        try:
            while True:
                chunk = self.sock.recv(262144)
                if not chunk:
                    return
                now = time.perf_counter()
                self.buffer += chunk
                for frame in self._frames():
                    if frame == b"2":
                        self.send("3")
                        continue
                    match = MARK.search(frame)
                    if match:
                        key = (match.group(1).decode(), int(match.group(2)))
                        if key in self.received:
                            self.duplicates += 1
                        else:
                            self.received[key] = now
        except OSError:
            return

    def close(self) -> None:
        self.greenlet.kill(block=False)
        with contextlib.suppress(OSError):
            self.sock.close()


def connect_boards(target: Target, count: int) -> list[Board]:
    boards = gevent.pool.Pool(20).map(
        lambda i: Board(target.urls[i % len(target.urls)], target.namespace, target.auth), range(count)
    )
    return list(boards)


# --- one measurement -----------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure(target: Target, boards: list[Board], rate: float, seconds: float, sessions: int = 64) -> dict:
    run = uuid.uuid4().hex[:8]
    pool = gevent.queue.Queue()
    for _ in range(sessions):
        pool.put(requests.Session())
    sent: dict[int, float] = {}
    answers: dict[int, int] = {}

    def post(seq: int) -> None:
        session = pool.get()
        url = target.urls[seq % len(target.urls)] + target.status_path
        started = time.perf_counter()
        sent[seq] = started
        try:
            answers[seq] = session.post(
                url, json=target.status_body(run, seq), headers=target.headers(seq), timeout=30
            ).status_code
        except requests.RequestException:
            answers[seq] = 0
        finally:
            pool.put(session)

    # The boards' records of arrivals grow to hundreds of thousands of objects: a full collection
    # of them paused the generator (sending and receiving) for 100 ms and more, as timeit knows.
    gc.disable()
    cpu_before = cpu_seconds(target.pids)
    greenlets = []
    start = time.perf_counter()
    seq = 0
    while True:
        due = start + seq / rate
        if due - start >= seconds:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        greenlets.append(gevent.spawn(post, seq))
        seq += 1
    gevent.joinall(greenlets, timeout=60)
    posted_in = time.perf_counter() - start
    # Let the last deliveries arrive.
    deadline = time.perf_counter() + 5
    stored = [s for s, code in answers.items() if code in (200, 201)]
    while time.perf_counter() < deadline:
        if all(sum(1 for s in stored if (run, s) in b.received) == len(stored) for b in boards[:5]):
            break
        gevent.sleep(0.1)
    gevent.sleep(0.5)
    cpu = cpu_seconds(target.pids) - cpu_before
    gc.enable()
    gc.collect()
    latencies = [
        (board.received[(run, s)] - sent[s]) * 1000 for board in boards for s in stored if (run, s) in board.received
    ]
    expected = len(stored) * len(boards)
    return {
        "target": target.name,
        "boards": len(boards),
        "offered_per_s": rate,
        "seconds": round(seconds, 1),
        "posted": seq,
        "stored": len(stored),
        "refused_or_failed": seq - len(stored),
        "throughput_per_s": round(len(stored) / max(posted_in, seconds), 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "expected_deliveries": expected,
        "lost": expected - len(latencies),
        "duplicated": sum(b.duplicates for b in boards),
        "server_cpu_ms_per_status": round(cpu * 1000 / max(1, len(stored)), 2),
    }


def saturation(target: Target, boards: list[Board], rates: list[float], seconds: float) -> dict:
    """Raise the offered rate until the server falls behind (stores < 95 % of offered, or p99 over 1 s)."""
    steps = []
    for rate in rates:
        result = measure(target, boards, rate, seconds)
        steps.append(result)
        if result["throughput_per_s"] < 0.95 * rate or result["p99_ms"] > 1000:
            break
    best = max(steps, key=lambda r: r["throughput_per_s"])
    return {"target": target.name, "saturation_per_s": best["throughput_per_s"], "steps": steps}


def idle_memory(target: Target, count: int) -> dict:
    before = rss_mb(target.pids)
    boards = connect_boards(target, count)
    gevent.sleep(2)
    after = rss_mb(target.pids)
    for board in boards:
        board.close()
    return {
        "target": target.name,
        "idle_boards": count,
        "rss_mb_before": round(before, 1),
        "rss_mb_with_boards": round(after, 1),
    }


# --- the run -------------------------------------------------------------------------------------


def start(name: str, args, workdir: str) -> Target:
    if name == "floor":
        return start_floor(workdir)
    if name == "embedded":
        return start_embedded(workdir, args.agents)
    if name == "production":
        return start_production(workdir, args.agents, args.postgres, args.redis, args.web)
    raise SystemExit(f"unknown target {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="floor,embedded,production")
    parser.add_argument("--agents", type=int, default=200, help="agents posting (default 200)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each steady scenario (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 s scenarios, 100 idle boards: a smoke run")
    parser.add_argument("--idle-boards", type=int, default=500)
    parser.add_argument(
        "--scenarios", default="100x100,200x50", help="steady scenarios as BOARDSxRATE (default 100x100,200x50)"
    )
    parser.add_argument(
        "--saturation-rates", default="100,200,300,400,600,800,1000,1200", help="offered rates, in order ('' for none)"
    )
    parser.add_argument("--warm-up", type=float, default=5, help="seconds of statuses before measuring (default 5)")
    parser.add_argument("--web", type=int, default=2, help="web processes of the production target")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seconds = 5 if args.quick else args.seconds
    idle = 100 if args.quick else args.idle_boards
    rates = [float(r) for r in args.saturation_rates.split(",") if r]
    scenarios = [(int(b), float(r)) for b, r in (s.split("x") for s in args.scenarios.split(","))]
    results = {"scenarios": [], "saturation": [], "memory": [], "load_average": None}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.targets.split(","):
            target = start(name, args, workdir)
            try:
                for index, (boards_count, rate) in enumerate(scenarios):
                    boards = connect_boards(target, boards_count)
                    if index == 0:
                        # Not counted: the first requests of a fresh process fill its caches and
                        # connection pools, and its jobs raise the seeded world's late alerts.
                        measure(target, boards, rate, args.warm_up)
                    results["scenarios"].append(measure(target, boards, rate, seconds))
                    if index == 0 and rates:
                        results["saturation"].append(saturation(target, boards, rates, max(4.0, seconds / 3)))
                    for board in boards:
                        board.close()
                    gevent.sleep(1)
                results["memory"].append(idle_memory(target, idle))
            finally:
                target.stop()
    results["load_average"] = os.getloadavg()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    report(results)


def report(results: dict) -> None:
    floor = {(r["boards"], r["offered_per_s"]): r for r in results["scenarios"] if r["target"] == "floor"}
    print(
        f"{'target':<11} {'boards':>6} {'rate/s':>6} {'stored/s':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} "
        f"{'lost':>5} {'dup':>4} {'cpu ms':>7}  p99 / floor"
    )
    for r in results["scenarios"]:
        base = floor.get((r["boards"], r["offered_per_s"]))
        ratio = f"{r['p99_ms'] / base['p99_ms']:.1f}x" if base and base["p99_ms"] else ""
        print(
            f"{r['target']:<11} {r['boards']:>6} {r['offered_per_s']:>6g} {r['throughput_per_s']:>8} {r['p50_ms']:>7} "
            f"{r['p95_ms']:>7} {r['p99_ms']:>7} {r['max_ms']!s:>7} {r['lost']:>5} {r['duplicated']:>4} "
            f"{r['server_cpu_ms_per_status']:>7}  {ratio}"
        )
    floor_sat = next((s["saturation_per_s"] for s in results["saturation"] if s["target"] == "floor"), None)
    for s in results["saturation"]:
        ratio = f" ({s['saturation_per_s'] / floor_sat:.2f} of the floor)" if floor_sat else ""
        steps = ", ".join(
            f"{st['offered_per_s']:g}->{st['throughput_per_s']} (p99 {st['p99_ms']} ms)" for st in s["steps"]
        )
        print(f"saturation {s['target']}: {s['saturation_per_s']} statuses/s{ratio}; offered->stored: {steps}")
    for m in results["memory"]:
        print(f"memory {m['target']}: {m['rss_mb_before']} MB idle, {m['rss_mb_with_boards']} MB", end="")
        print(f" with {m['idle_boards']} boards")
    print("load average at the end: " + ", ".join(f"{x:.2f}" for x in results["load_average"]))


if __name__ == "__main__":
    main()
