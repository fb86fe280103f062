"""The app's own cost of its two busiest writes: a status and a position, through the API.

    .venv/bin/python bench/api_writes.py                # SQLite
    .venv/bin/python bench/api_writes.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/api_writes.py --profile 40   # and cProfile's top 40 of the positions

Requests go through Flask's test client: no network and no websockets (bench/load.py measures those),
so what is left is the app's work per request: authentication, validation, the SQL, the event log
and the geofence. Rate limits are off here (load.py runs with them). --agents agents on one hot
detail each post --requests / --agents statuses, then as many positions, one every 5 s of device
time, walking about 1 km from their post: every position is weighed by the geofence, none decides.
Prints the CPU per request and the statements one request makes, for each kind.
"""

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import scratch_database  # noqa: E402
from bench.statements import counted  # noqa: E402
from detail import create_app  # noqa: E402
from detail.config import testing  # noqa: E402
from detail.extensions import db  # noqa: E402
from detail.models import Agent, Assignment, Client, Detail, Organisation, Site, User, Visit, seed_status_codes, utcnow  # noqa: E402
from detail.web.auth import issue_token  # noqa: E402

WARM_UP = 50  # requests of each kind before measuring: caches and the connection pool fill


def build(agents: int, now) -> tuple[int, list[str]]:
    """One organisation, one detail on now with a hotel post, and its agents; their tokens."""
    org = Organisation(name="Bench", timezone="Europe/London")
    seed_status_codes(org)
    hotel = Site(organisation=org, name="Hotel", latitude=51.5101, longitude=-0.134, timezone="Europe/London")
    detail = Detail(
        client=Client(organisation=org, name="Client"),
        name="Detail",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=11),
    )
    detail.visits.append(Visit(site=hotel, arrives_at=now - timedelta(hours=1), departs_at=now + timedelta(hours=11)))
    db.session.add_all([org, hotel, detail])
    tokens = []
    for i in range(agents):
        user = User(organisation=org, email=f"a{i}@bench.example", name=f"Agent {i}", role="agent")
        db.session.add(
            Assignment(
                detail=detail,
                agent=Agent(organisation=org, user=user, call_sign=f"A{i}"),
                site=hotel,
                report_at=now - timedelta(minutes=30),
                shift_starts_at=now - timedelta(hours=1),
                shift_ends_at=now + timedelta(hours=11),
            )
        )
        tokens.append(issue_token(user, "bench"))
    db.session.commit()
    return detail.id, tokens


class Requests:
    """Numbered requests of each kind, agent after agent."""

    def __init__(self, client, tokens: list[str], detail_id: int, start):
        self.client, self.tokens, self.detail_id, self.start = client, tokens, detail_id, start

    def _headers(self, n: int) -> dict:
        return {"Authorization": "Bearer " + self.tokens[n % len(self.tokens)]}

    def status(self, n: int) -> None:
        body = {"code": "OM", "client_id": f"bench-{n}", "note": "moving", "detail_id": self.detail_id}
        self._check(self.client.post("/api/v1/status", json=body, headers=self._headers(n)))

    def position(self, n: int) -> None:
        step = n // len(self.tokens)  # this agent's nth fix
        body = {
            "latitude": 51.5191 + (step % 20) / 1e4,  # about 1 km north of the hotel
            "longitude": -0.134,
            "accuracy": 10,
            "reported_at": (self.start + timedelta(seconds=5 * step)).isoformat(),
        }
        self._check(self.client.post("/api/v1/positions", json=body, headers=self._headers(n)))

    @staticmethod
    def _check(response) -> None:
        if response.status_code != 201:
            raise SystemExit(f"{response.status_code}: {response.get_data(as_text=True)}")


def measure(send, engine: sa.Engine, first: int, count: int) -> dict:
    for n in range(first, first + WARM_UP):
        send(n)
    first += WARM_UP
    with counted(engine) as statements:
        send(first)
    started = time.process_time()
    for n in range(first + 1, first + 1 + count):
        send(n)
    elapsed = time.process_time() - started
    return {"requests": count, "cpu_ms_per_request": round(elapsed / count * 1000, 2), "statements": len(statements)}


def profile(send, first: int, count: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(first, first + count):
        send(n)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="of each kind (default 1,000)")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--postgres", help="a PostgreSQL URL: the world goes into a database of its own there")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the positions, print the top N")
    parser.add_argument("--workdir", help="where the SQLite database goes (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="om-writes-")
    with scratch_database(workdir, "writes", args.postgres) as url:
        app = create_app(testing(workdir, SQLALCHEMY_DATABASE_URI=url))
        with app.app_context():
            db.create_all()
            now = utcnow()
            detail_id, tokens = build(args.agents, now)
            db.session.remove()
            engine = db.engine
        # As wsgi.py does at start: what building left behind is kept out of the collector's way.
        gc.collect()
        gc.freeze()
        fixes_per_agent = (WARM_UP + 1 + args.requests) // args.agents + 1
        requests = Requests(app.test_client(), tokens, detail_id, now - timedelta(seconds=5 * fixes_per_agent))
        results = {
            "backend": "postgresql" if args.postgres else "sqlite",
            "agents": args.agents,
            "status": measure(requests.status, engine, 0, args.requests),
            "position": measure(requests.position, engine, 0, args.requests),
            "load_average": os.getloadavg(),
        }
        if args.profile:
            results["profile"] = profile(requests.position, WARM_UP + 1 + args.requests, args.requests, args.profile)
        gc.unfreeze()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for kind in ("status", "position"):
            r = results[kind]
            print(
                f"{kind}: {r['cpu_ms_per_request']} ms CPU per request, {r['statements']} statements ({r['requests']})"
            )
        print(results.get("profile", ""), end="")
        print("load average: " + ", ".join(f"{x:.2f}" for x in results["load_average"]))
    return results


if __name__ == "__main__":
    main()
