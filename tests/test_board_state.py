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


def _row(world, now):
    db.session.expire_all()
    return board_state.detail_board(db.session.get(type(world.detail), world.detail.id), now=now)["agents"][0]


def _report(world, code: str, minutes_after_t0: int) -> None:
    from detail.domain.statuses import find_code, record_status

    record_status(
        world.agent,
        find_code(world.org.id, code),
        client_id=f"{code}{minutes_after_t0}",
        reported_at=T0 + timedelta(minutes=minutes_after_t0),
        detail_id=world.detail.id,
        now=T0 + timedelta(minutes=minutes_after_t0),
    )
    db.session.commit()


def test_an_agent_row_carries_the_report_time_and_is_not_late_before_it(world):
    # Bravo 1 reports at T0 - 30 min, at the Grand Hotel (London: GMT in November).
    row = _row(world, T0 - timedelta(minutes=45))
    assert row["report_at"] == (T0 - timedelta(minutes=30)).isoformat()
    assert row["report_at_local"] == "07:30 GMT" and row["timezone"] == "Europe/London"
    assert row["shift_ends_at"] == (T0 + timedelta(hours=12)).isoformat()
    assert row["on_station_at"] is None and row["late"] is None


@pytest.mark.parametrize(
    "after, minutes, text",
    [
        (timedelta(0), 0, "Late 0 s"),
        (timedelta(seconds=45), 0, "Late 45 s"),
        (timedelta(minutes=4, seconds=59), 4, "Late 4 min"),
        (timedelta(minutes=89), 89, "Late 89 min"),
        (timedelta(minutes=125), 125, "Late 2 h 05 min"),
    ],
)
def test_an_agent_not_on_station_at_the_report_time_is_late(world, after, minutes, text):
    row = _row(world, T0 - timedelta(minutes=30) + after)
    assert row["late"] == {"since": (T0 - timedelta(minutes=30)).isoformat(), "minutes": minutes, "text": text}


def test_on_the_move_is_still_late_and_on_station_clears_it(world):
    _report(world, "OM", -40)
    assert _row(world, T0 - timedelta(minutes=26))["late"]["text"] == "Late 4 min"
    _report(world, "OS", -25)
    row = _row(world, T0 - timedelta(minutes=20))
    assert row["late"] is None
    assert row["on_station_at"] == (T0 - timedelta(minutes=25)).isoformat()
    assert row["punctuality"]["text"] == "on station 5 min late"
    _report(world, "OM", -10)  # off to the next venue: arrived once, so never late again on this detail
    assert _row(world, T0)["late"] is None


def test_no_lateness_once_the_detail_is_complete_or_the_shift_is_over(world):
    world.detail.state = "complete"
    db.session.commit()
    assert _row(world, T0)["late"] is None
    world.detail.state = "hot"
    db.session.commit()
    assert _row(world, T0)["late"]["minutes"] == 30
    assert _row(world, T0 + timedelta(hours=12, seconds=1))["late"] is None


def test_the_board_states_carry_the_server_time_they_were_read_at(world):
    now = T0 - timedelta(minutes=5)
    assert board_state.organisation_board(world.org.id, now)["server_now"] == now.isoformat()
    page = board_state.detail_page_state(world.detail, now)
    assert page["server_now"] == now.isoformat()
    assert page["detail"]["agents"][0]["late"]["minutes"] == 25
