"""The board's first paint: `board_state.detail_board` for one detail of many agents with a long history.

    .venv/bin/python bench/board.py                                  # SQLite, 200 agents
    .venv/bin/python bench/board.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

Every board that connects (and every board that reconnects after a web process dies) asks for it, so
its cost is paid by the hundred at once. One organisation, one detail of --agents agents, each with
--statuses statuses and --positions positions (a 12-hour shift of points every 15 s is ~2,900), built
in a throwaway database; prints the statements one call makes and the median of --repeat calls.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import scratch_database  # noqa: E402
from bench.statements import counted  # noqa: E402
from detail import create_app
from detail.config import testing  # noqa: E402
from detail.domain import board_state  # noqa: E402
from detail.extensions import db  # noqa: E402
from detail.models import (  # noqa: E402
    Agent,
    Assignment,
    Client,
    Detail,
    Organisation,
    Position,
    Site,
    StatusCode,
    StatusReport,
    User,
    Visit,
    seed_status_codes,
    utcnow,
)


def build(agents: int, statuses: int, positions: int) -> int:
    """The world, written with Core inserts in batches; returns the detail's id."""
    now = utcnow()
    org = Organisation(name="Bench", timezone="Europe/London")
    seed_status_codes(org)
    site = Site(organisation=org, name="Hotel", latitude=51.51, longitude=-0.134, timezone="Europe/London")
    detail = Detail(
        client=Client(organisation=org, name="Client"),
        name="Detail",
        starts_at=now - timedelta(hours=11),
        ends_at=now + timedelta(hours=1),
    )
    detail.visits.append(Visit(site=site, arrives_at=detail.starts_at, departs_at=detail.ends_at))
    db.session.add_all([org, site, detail])
    staff = []
    for i in range(agents):
        user = User(organisation=org, email=f"a{i}@bench.example", name=f"Agent {i}", role="agent")
        agent = Agent(organisation=org, user=user, call_sign=f"Bench {i}")
        db.session.add(
            Assignment(
                detail=detail,
                agent=agent,
                site=site,
                report_at=detail.starts_at + timedelta(minutes=30),
                shift_starts_at=detail.starts_at,
                shift_ends_at=detail.ends_at,
            )
        )
        staff.append(agent)
    db.session.commit()
    codes = db.session.scalars(sa.select(StatusCode).where(StatusCode.organisation_id == org.id)).all()
    normal = [c for c in codes if not c.is_duress]
    span = (detail.ends_at - detail.starts_at).total_seconds()
    for agent in staff:
        db.session.execute(
            sa.insert(StatusReport),
            [
                {
                    "agent_id": agent.id,
                    "detail_id": detail.id,
                    "status_code_id": normal[n % len(normal)].id,
                    "client_id": f"{agent.id}-{n}",
                    "reported_at": detail.starts_at + timedelta(seconds=span * n / max(1, statuses)),
                    "received_at": now,
                }
                for n in range(statuses)
            ],
        )
        db.session.execute(
            sa.insert(Position),
            [
                {
                    "agent_id": agent.id,
                    "latitude": 51.51 + n / 1e6,
                    "longitude": -0.134,
                    "reported_at": detail.starts_at + timedelta(seconds=span * n / max(1, positions)),
                    "received_at": now,
                }
                for n in range(positions)
            ],
        )
        db.session.commit()
    return detail.id


def measure(detail_id: int, repeat: int) -> dict:
    times = []
    for run in range(repeat + 1):
        db.session.remove()
        with counted(db.engine) as statements:
            started = time.perf_counter()
            board = board_state.detail_board(db.session.get(Detail, detail_id))
            elapsed = time.perf_counter() - started
        if run:  # the first call fills caches and the pool
            times.append(elapsed)
    return {
        "agents_on_board": len(board["agents"]),
        "statements": len(statements),
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--statuses", type=int, default=50, help="per agent (default 50)")
    parser.add_argument("--positions", type=int, default=2900, help="per agent (default 2,900)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL URL: the world goes into a database of its own there")
    parser.add_argument("--workdir", help="where the SQLite database goes (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="om-board-")
    with scratch_database(workdir, "board", args.postgres) as url:
        app = create_app(testing(workdir, SQLALCHEMY_DATABASE_URI=url))
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            detail_id = build(args.agents, args.statuses, args.positions)
            built_s = time.perf_counter() - started
            # Reopened, as a server finds it: the last connection's close checkpoints SQLite's log.
            db.session.remove()
            db.engine.dispose()
            # As wsgi.py does at start: what building left behind is kept out of the collector's way.
            gc.collect()
            gc.freeze()
            results = {
                "backend": "postgresql" if args.postgres else "sqlite",
                "sizes": {"agents": args.agents, "statuses": args.statuses, "positions": args.positions},
                "built_s": round(built_s, 1),
                "detail_board": measure(detail_id, args.repeat),
                "load_average": os.getloadavg(),
            }
            gc.unfreeze()
            db.session.remove()
            db.engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        board = results["detail_board"]
        print(
            f"{results['backend']}: {args.agents} agents x {args.statuses} statuses, {args.positions} positions "
            f"(built in {results['built_s']} s)\n"
            f"detail_board: {board['statements']} statements, median {board['median_ms']} ms "
            f"(min {board['min_ms']}, max {board['max_ms']}) over {args.repeat} calls\n"
            "load average: " + ", ".join(f"{x:.2f}" for x in results["load_average"])
        )
    return results


if __name__ == "__main__":
    main()
