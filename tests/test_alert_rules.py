"""The late and silent rules of detail/domain/alerts.py, one test per condition, on a controlled clock.

Each condition of alerts.evaluate (and of the statuses that end alerts) has a test here that fails
when the condition is dropped or loosened: who is evaluated (the organisation, detail state, the
window from report time less the OM lead to the end of the shift), which signals count (the window
six hours before the shift, the detail they were sent for, which signals end which alert), when
"not on station" starts, and what "silent" means (a hot detail, a started shift, the last word by
our clock, statuses and positions alike, the organisation's own minutes).

The world's assignment: report at 07:30 UTC, shift 07:00 to 20:00, on a detail from 08:00 to 20:00;
the organisation's OM lead is 30 minutes and an agent is silent after 10.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.domain import alerts
from detail.domain.positions import record_position
from detail.domain.statuses import find_code, record_status
from detail.extensions import db
from detail.models import Alert, Position, StatusReport

from .conftest import T0

REPORT = T0 - timedelta(minutes=30)
SHIFT_STARTS = T0 - timedelta(hours=1)
SHIFT_ENDS = T0 + timedelta(hours=12)


@pytest.fixture
def clock(time_machine):
    """clock(moment): the time is now that moment, and stays there."""

    def at(moment):
        time_machine.move_to(moment, tick=False)

    return at


def evaluate(world, organisation=None) -> list[str]:
    """Run the rules at the clock's time; the kinds raised, in order."""
    events = alerts.evaluate(organisation or world.org)
    db.session.commit()
    return [e.payload["kind"] for e in events if e.kind == "alert"]


def open_kinds() -> list[str]:
    return sorted(a.kind for a in db.session.scalars(sa.select(Alert).where(Alert.resolved_at.is_(None))))


def sent(world, code: str, at, detail=None, received=None) -> StatusReport:
    """A status as stored, with the device's time and ours given (a report the phone kept and sent late)."""
    report = StatusReport(
        agent=world.agent,
        detail_id=(detail or world.detail).id,
        status_code=find_code(world.org.id, code),
        client_id=f"{code}-{at.isoformat()}-{(detail or world.detail).id}",
        reported_at=at,
        received_at=received or at,
    )
    db.session.add(report)
    db.session.commit()
    return report


def hot(world) -> None:
    world.detail.state = "hot"
    db.session.commit()


# --- who is evaluated ---------------------------------------------------------------------------


def test_only_the_organisations_own_agents_are_evaluated(world, clock):
    clock(REPORT + timedelta(minutes=1))
    assert evaluate(world, world.other_org) == []
    assert open_kinds() == []
    assert evaluate(world) == ["late_om", "late_station"]


def test_a_complete_detail_raises_nothing(world, clock):
    world.detail.state = "complete"
    db.session.commit()
    clock(REPORT + timedelta(minutes=1))
    assert evaluate(world) == []


def test_the_window_opens_the_om_lead_before_report_time(world, clock):
    clock(REPORT - timedelta(minutes=30, seconds=1))
    assert evaluate(world) == []
    clock(REPORT - timedelta(minutes=30))
    assert evaluate(world) == ["late_om"]


def test_the_om_lead_is_the_organisations_setting(world, clock):
    world.org.om_lead_minutes = 45
    db.session.commit()
    clock(REPORT - timedelta(minutes=46))
    assert evaluate(world) == []
    clock(REPORT - timedelta(minutes=44))
    assert evaluate(world) == ["late_om"]


def test_the_window_closes_when_the_shift_ends(world, clock):
    clock(SHIFT_ENDS)
    assert evaluate(world) == ["late_om", "late_station"]
    clock(SHIFT_ENDS + timedelta(seconds=1))
    assert evaluate(world) == []
    assert open_kinds() == []  # what no longer holds is resolved


# --- which signals count ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "late_om"), [("OM", False), ("OS", False), ("HOT", False), ("RTB", True), ("CLR", True)]
)
def test_which_signals_answer_the_late_om_rule(world, clock, code, late_om):
    sent(world, code, REPORT - timedelta(minutes=40))
    clock(REPORT - timedelta(minutes=10))
    assert evaluate(world) == (["late_om"] if late_om else [])


def test_a_signal_sent_long_before_the_shift_does_not_count(world, clock):
    # An OM from the day before (more than six hours before the shift) says nothing of today.
    sent(world, "OM", SHIFT_STARTS - timedelta(hours=6, seconds=1))
    clock(REPORT - timedelta(minutes=10))
    assert evaluate(world) == ["late_om"]


def test_a_signal_sent_within_six_hours_of_the_shift_counts(world, clock):
    sent(world, "OM", SHIFT_STARTS - timedelta(hours=6))
    clock(REPORT - timedelta(minutes=10))
    assert evaluate(world) == []


def test_a_signal_for_another_detail_does_not_count(world, clock):
    sent(world, "OS", REPORT - timedelta(minutes=40), detail=world.other_client_detail)
    clock(REPORT + timedelta(minutes=1))
    assert evaluate(world) == ["late_om", "late_station"]


# --- not on station -----------------------------------------------------------------------------


def test_not_on_station_starts_at_report_time(world, clock):
    sent(world, "OM", REPORT - timedelta(minutes=40))
    clock(REPORT - timedelta(seconds=1))
    assert evaluate(world) == []
    clock(REPORT)
    assert evaluate(world) == ["late_station"]


@pytest.mark.parametrize(("code", "late_station"), [("OM", True), ("OS", False), ("HOT", False), ("RTB", True)])
def test_which_signals_answer_the_on_station_rule(world, clock, code, late_station):
    sent(world, "OM", REPORT - timedelta(minutes=40))
    sent(world, code, REPORT - timedelta(minutes=5))
    clock(REPORT + timedelta(minutes=1))
    assert evaluate(world) == (["late_station"] if late_station else [])


# --- silent -------------------------------------------------------------------------------------


def test_silence_is_only_watched_on_a_hot_detail(world, clock):
    sent(world, "OS", REPORT - timedelta(minutes=5))
    clock(REPORT + timedelta(minutes=30))
    assert evaluate(world) == []
    hot(world)
    assert evaluate(world) == ["silent"]


def test_silence_is_only_watched_once_the_shift_has_started(world, clock):
    world.assignment.shift_starts_at = T0 + timedelta(hours=1)
    hot(world)
    sent(world, "OS", REPORT - timedelta(minutes=5))
    clock(T0 + timedelta(hours=1) - timedelta(seconds=1))
    assert evaluate(world) == []
    clock(T0 + timedelta(hours=1))
    assert evaluate(world) == ["silent"]


def test_an_agent_never_heard_from_is_silent_since_the_shift_began(world, clock):
    hot(world)
    clock(SHIFT_STARTS)
    events = alerts.evaluate(world.org)
    silent = [e for e in events if e.payload["kind"] == "silent"]
    assert len(silent) == 1 and "silent since the shift began" in silent[0].payload["message"]


def test_silent_after_the_organisations_minutes_and_not_before(world, clock):
    world.org.silent_after_minutes = 20
    hot(world)
    sent(world, "OS", REPORT)
    clock(REPORT + timedelta(minutes=20))
    assert evaluate(world) == []
    clock(REPORT + timedelta(minutes=20, seconds=1))
    assert evaluate(world) == ["silent"]


def test_a_position_is_a_word_from_the_phone(world, clock):
    hot(world)
    sent(world, "OS", REPORT - timedelta(minutes=30))
    clock(REPORT - timedelta(minutes=2))
    record_position(world.agent, latitude=51.5101, longitude=-0.1340)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 1
    clock(REPORT + timedelta(minutes=5))
    assert evaluate(world) == []


def test_silence_is_measured_by_when_we_heard_not_the_device_clock(world, clock):
    # A report the phone kept for half an hour arrived two minutes ago: the agent is not silent.
    hot(world)
    sent(world, "OS", REPORT - timedelta(minutes=30), received=REPORT + timedelta(minutes=28))
    clock(REPORT + timedelta(minutes=30))
    assert evaluate(world) == []


# --- what ends an alert -------------------------------------------------------------------------


def test_any_status_ends_silence_but_only_the_right_signal_ends_late_station(world, clock):
    sent(world, "OM", REPORT - timedelta(minutes=40))
    hot(world)
    clock(REPORT + timedelta(minutes=15))
    assert evaluate(world) == ["late_station", "silent"]
    record_status(world.agent, find_code(world.org.id, "RTB"), client_id="rtb")
    db.session.commit()
    assert open_kinds() == ["late_station"]
    record_status(world.agent, find_code(world.org.id, "OS"), client_id="os")
    db.session.commit()
    assert open_kinds() == []


def test_an_open_alert_is_not_raised_twice(world, clock):
    clock(REPORT - timedelta(minutes=10))
    assert evaluate(world) == ["late_om"]
    clock(REPORT - timedelta(minutes=5))
    assert evaluate(world) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
