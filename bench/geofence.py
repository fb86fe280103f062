"""The geofence's cost: one evaluation of an agent whose phone has sent a fix every 5 s.

    .venv/bin/python bench/geofence.py                 # 2,160 fixes in the 3-hour look-back (one every 5 s)

The server evaluates the geofence after every stored position and, every 15 s, for every agent
on shift, so this is paid per fix and per agent. The agent here has no status yet, the worst
case: the rules then read the whole look-back (once he has one, only the fixes since it).
Prints the median CPU time of --repeat evaluations, the statements one makes, and the fixes read.
"""

import argparse
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

from bench.statements import counted  # noqa: E402
from detail import create_app
from detail.config import testing  # noqa: E402
from detail.domain import geofence  # noqa: E402
from detail.extensions import db  # noqa: E402
from detail.models import (  # noqa: E402
    Agent,
    Assignment,
    Client,
    Detail,
    Organisation,
    Position,
    Site,
    User,
    Visit,
    seed_status_codes,
    utcnow,
)


def build(fixes: int, now) -> Agent:
    org = Organisation(name="Bench", timezone="Europe/London")
    seed_status_codes(org)
    hotel = Site(organisation=org, name="Hotel", latitude=51.5101, longitude=-0.134, timezone="Europe/London")
    venue = Site(organisation=org, name="Venue", latitude=51.5081, longitude=0.0295, timezone="Europe/London")
    detail = Detail(
        client=Client(organisation=org, name="Client"),
        name="Detail",
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(hours=8),
    )
    detail.visits.append(Visit(site=venue, arrives_at=now + timedelta(hours=1), departs_at=now + timedelta(hours=3)))
    agent = Agent(
        organisation=org,
        user=User(organisation=org, email="a@bench.example", name="Agent", role="agent"),
        call_sign="A",
    )
    db.session.add_all([org, hotel, venue, detail, agent])
    db.session.add(
        Assignment(
            detail=detail,
            agent=agent,
            site=hotel,
            report_at=now - timedelta(hours=1),
            shift_starts_at=now - timedelta(hours=2),
            shift_ends_at=now + timedelta(hours=8),
        )
    )
    db.session.commit()
    # Walking about 3 km from the hotel, never inside: every fix is read, none decides.
    db.session.execute(
        sa.insert(Position),
        [
            {
                "agent_id": agent.id,
                "latitude": 51.5155 + (i % 50) / 1e4,
                "longitude": -0.0922,
                "accuracy_m": 10.0,
                "reported_at": now - geofence.LOOKBACK + timedelta(seconds=5 * (i + 1)),
                "received_at": now,
            }
            for i in range(fixes)
        ],
    )
    db.session.commit()
    return agent


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixes", type=int, default=2160, help="fixes in the look-back (default 2,160)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--workdir", help="where the SQLite database goes (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="om-geofence-")
    app = create_app(testing(workdir, SQLALCHEMY_DATABASE_URI=f"sqlite:///{os.path.join(workdir, 'geofence.db')}"))
    with app.app_context():
        db.create_all()
        now = utcnow()
        agent_id = build(args.fixes, now).id
        times = []
        for run in range(args.repeat + 1):
            db.session.remove()
            agent = db.session.get(Agent, agent_id)
            with counted(db.engine) as statements:
                started = time.process_time()
                events = geofence.evaluate_agent(agent, now)
                elapsed = time.process_time() - started
            db.session.rollback()
            if run:  # the first fills the statement caches
                times.append(elapsed)
        results = {
            "fixes": args.fixes,
            "events": len(events),
            "statements": len(statements),
            "median_cpu_ms": round(statistics.median(times) * 1000, 1),
            "min_cpu_ms": round(min(times) * 1000, 1),
            "load_average": os.getloadavg(),
        }
        db.session.remove()
        db.engine.dispose()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"evaluate_agent with {args.fixes} fixes in the look-back: median {results['median_cpu_ms']} ms CPU "
            f"(min {results['min_cpu_ms']}), {results['statements']} statements, {results['events']} events\n"
            "load average: " + ", ".join(f"{x:.2f}" for x in results["load_average"])
        )
    return results


if __name__ == "__main__":
    main()
