"""The board's first paint reads a detail in a fixed number of queries, however many agents it has."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bench.statements import counted
from detail.domain import board_state
from detail.extensions import db
from detail.models import Agent, Assignment, Position, StatusCode, StatusReport, User

from .conftest import T0


def _staff(world, count: int, start: int = 0) -> None:
    """count more agents on the detail, each with statuses (on station first) and positions."""
    codes = {
        c.code: c for c in db.session.scalars(sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id))
    }
    for i in range(start, start + count):
        user = User(organisation=world.org, email=f"extra{i}@aegis.example", name=f"Extra {i}", role="agent")
        agent = Agent(organisation=world.org, user=user, call_sign=f"Extra {i}")
        db.session.add(
            Assignment(
                detail=world.detail,
                agent=agent,
                role="agent",
                site=world.hotel if i % 2 else world.venue,
                report_at=T0 - timedelta(minutes=30),
                shift_starts_at=T0 - timedelta(hours=1),
                shift_ends_at=T0 + timedelta(hours=12),
            )
        )
        for minutes, code in ((-40, "OM"), (-35 + i, "OS"), (10, "OM")):
            db.session.add(
                StatusReport(
                    agent=agent,
                    detail=world.detail,
                    status_code=codes[code],
                    client_id=f"{i}-{minutes}",
                    reported_at=T0 + timedelta(minutes=minutes),
                )
            )
        for minutes in (-20, -5):
            db.session.add(
                Position(
                    agent=agent, latitude=51.51, longitude=-0.13 + i / 1000, reported_at=T0 + timedelta(minutes=minutes)
                )
            )
    db.session.commit()


def _queries_for_the_board(world) -> int:
    db.session.expire_all()
    with counted(db.engine) as statements:
        board_state.detail_board(db.session.get(type(world.detail), world.detail.id), now=T0 + timedelta(minutes=15))
    return len(statements)


def test_the_board_reads_a_detail_in_queries_that_do_not_grow_with_its_agents(backend):
    world = backend
    _staff(world, 3)
    few = _queries_for_the_board(world)
    _staff(world, 12, start=3)
    many = _queries_for_the_board(world)
    assert many == few


def test_each_agent_row_shows_its_own_latest_status_position_and_punctuality(backend):
    world = backend
    _staff(world, 4)
    board = board_state.detail_board(world.detail, now=T0 + timedelta(minutes=15))
    rows = {row["call_sign"]: row for row in board["agents"]}
    assert len(rows) == 5
    for i in range(4):
        row = rows[f"Extra {i}"]
        assert row["status"]["code"]["code"] == "OM"
        assert row["status"]["reported_at"] == (T0 + timedelta(minutes=10)).isoformat()
        assert row["position"]["longitude"] == pytest.approx(-0.13 + i / 1000)
        assert row["punctuality"]["minutes"] == -5 + i
        assert row["name"] == f"Extra {i}"
    assert rows["Bravo 1"]["status"] is None and rows["Bravo 1"]["punctuality"] is None
