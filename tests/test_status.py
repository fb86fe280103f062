"""Status reports: parsing, validation, idempotency, and the late, silent and duress rules."""

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from detail.domain import alerts
from detail.domain.statuses import (
    Refused,
    find_code,
    organisation_codes,
    parse_short_burst,
    record_status,
    submit_status,
)
from detail.extensions import db
from detail.models import Alert, Event, Position, StatusReport

from .conftest import T0


@pytest.fixture
def codes(world):
    return organisation_codes(world.org.id)


@pytest.mark.parametrize(
    "text, code, eta, note",
    [
        ("OM", "OM", None, ""),
        ("om", "OM", None, ""),
        ("  oscar   mike ", "OM", None, ""),
        ("om eta 0615", "OM", time(6, 15), ""),
        ("OM ETA 06:15 via north gate", "OM", time(6, 15), "via north gate"),
        ("OS", "OS", None, ""),
        ("on station lobby", "OS", None, "lobby"),
        ("clr", "CLR", None, ""),
        ("Return to base", "RTB", None, ""),
    ],
)
def test_short_burst(codes, text, code, eta, note):
    burst = parse_short_burst(text, codes)
    assert (burst.code.code, burst.eta, burst.note) == (code, eta, note)


@pytest.mark.parametrize("text", ["XYZ", "omelette", "o m", ""])
def test_unknown_short_burst_lists_valid_codes(codes, text):
    with pytest.raises(Refused) as info:
        parse_short_burst(text, codes)
    assert info.value.status == 422
    assert "OM (Oscar Mike)" in info.value.message and "OS (On station)" in info.value.message
    # The duress code is never advertised in an error a bystander might read.
    assert "DUR" not in info.value.message
    assert "DUR" not in info.value.extra["valid_codes"]


def test_eta_out_of_range(codes):
    with pytest.raises(Refused, match="not a time of day"):
        parse_short_burst("om eta 2575", codes)


def test_find_code_by_spoken_name(world):
    assert find_code(world.org.id, "oscar mike").code == "OM"
    with pytest.raises(Refused):
        find_code(world.org.id, "code 4")


def _om(world):
    return find_code(world.org.id, "OM")


def _count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_record_status_stores_once_per_client_id(world):
    now = T0 - timedelta(minutes=40)
    first = record_status(world.agent, _om(world), client_id="abc", latitude=51.5, longitude=-0.12, now=now)
    db.session.commit()
    again = record_status(
        world.agent, _om(world), client_id="abc", latitude=1, longitude=1, now=now + timedelta(minutes=1)
    )
    db.session.commit()
    assert first.created and not again.created
    assert again.report.id == first.report.id
    assert again.events == []
    assert _count(StatusReport) == 1
    assert _count(Event) == 1
    assert _count(Position) == 1
    report = first.report
    assert report.detail_id == world.detail.id
    assert report.reported_at == now and report.received_at == now


def test_device_time_far_ahead_is_refused(world):
    with pytest.raises(Refused, match="ahead of the server"):
        record_status(world.agent, _om(world), client_id="x", reported_at=T0 + timedelta(minutes=6), now=T0)
    assert _count(StatusReport) == 0


def test_old_report_is_stored_and_flagged_late(world):
    result = record_status(world.agent, _om(world), client_id="x", reported_at=T0 - timedelta(minutes=45), now=T0)
    assert result.report.late_upload
    recent = record_status(world.agent, _om(world), client_id="y", reported_at=T0 - timedelta(minutes=2), now=T0)
    assert not recent.report.late_upload


@pytest.mark.parametrize(
    "lat, lon, message",
    [
        (91, 0, "latitude"),
        (0, 181, "longitude"),
        (float("nan"), 0, "latitude"),
        (0, float("inf"), "longitude"),
        (51.5, None, "together"),
    ],
)
def test_bad_positions_are_refused(world, lat, lon, message):
    with pytest.raises(Refused, match=message):
        record_status(world.agent, _om(world), client_id="p", latitude=lat, longitude=lon, now=T0)
    assert _count(StatusReport) == 0


def test_report_only_on_own_assignments(world):
    with pytest.raises(Refused) as info:
        record_status(world.agent, _om(world), client_id="z", detail_id=world.other_client_detail.id, now=T0)
    assert info.value.status == 403
    idle = world.idle_agent_user.agent
    with pytest.raises(Refused, match="no assignment"):
        record_status(idle, _om(world), client_id="z", now=T0)


def test_code_of_another_organisation_is_refused(world):
    rival_om = find_code(world.other_org.id, "OM")
    with pytest.raises(Refused, match="unknown status code"):
        record_status(world.agent, rival_om, client_id="r", now=T0)


def test_only_agents_report(world):
    with pytest.raises(Refused) as info:
        submit_status(world.coordinator, {"code": "OM", "client_id": "c"}, "api", now=T0)
    assert info.value.status == 403


def test_text_eta_is_taken_in_the_venue_zone(world):
    # 24 Nov: London is on GMT, so 08:15 local is 08:15 UTC.
    result = submit_status(world.agent_user, {"text": "om eta 0815 heavy traffic", "client_id": "t"}, "api", now=T0)
    assert result.report.eta.isoformat() == "2026-11-24T08:15:00+00:00"
    assert result.report.note == "heavy traffic"
    assert result.report.source == "text"


def test_duress_raises_an_alarm_that_only_acknowledgement_ends(world):
    result = submit_status(
        world.agent_user, {"duress": True, "client_id": "d", "latitude": 51.51, "longitude": -0.13}, "phone", now=T0
    )
    db.session.commit()
    alarm = db.session.scalars(sa.select(Alert)).one()
    assert alarm.kind == "duress" and alarm.latitude == 51.51
    assert [e.kind for e in result.events] == ["status", "alert"]
    # A later ordinary status does not clear it, nor do the rules.
    record_status(world.agent, find_code(world.org.id, "OS"), client_id="after", now=T0 + timedelta(minutes=1))
    alerts.evaluate(world.org, T0 + timedelta(minutes=2))
    db.session.commit()
    assert alarm.resolved_at is None
    event = alerts.acknowledge(alarm, world.coordinator, "Called agent, police en route", now=T0 + timedelta(minutes=3))
    db.session.commit()
    assert alarm.resolved_at is not None and alarm.acknowledged_by == world.coordinator
    assert event.payload["acknowledgement_note"] == "Called agent, police en route"
    with pytest.raises(ValueError):
        alerts.mute(alarm, world.coordinator, 15)


# The world's assignment: report at T0 - 30 min (07:30 UTC), shift from 07:00; the org's OM lead is 30 min.
REPORT = T0 - timedelta(minutes=30)


def _open_kinds():
    return sorted(a.kind for a in db.session.scalars(sa.select(Alert).where(Alert.resolved_at.is_(None))))


def test_late_om_rule(world):
    assert alerts.evaluate(world.org, REPORT - timedelta(minutes=31)) == []
    events = alerts.evaluate(world.org, REPORT - timedelta(minutes=29))
    assert [e.payload["kind"] for e in events] == ["late_om"]
    assert "report time 07:30" in events[0].payload["message"]
    # Evaluating again raises nothing new.
    assert alerts.evaluate(world.org, REPORT - timedelta(minutes=28)) == []
    record_status(world.agent, _om(world), client_id="om", now=REPORT - timedelta(minutes=20))
    assert _open_kinds() == []


def test_late_on_station_rule_and_early_arrival(world):
    record_status(world.agent, _om(world), client_id="om", now=REPORT - timedelta(minutes=40))
    assert alerts.evaluate(world.org, REPORT - timedelta(minutes=1)) == []
    alerts.evaluate(world.org, REPORT + timedelta(minutes=1))
    assert _open_kinds() == ["late_station"]
    record_status(world.agent, find_code(world.org.id, "OS"), client_id="os", now=REPORT + timedelta(minutes=5))
    assert _open_kinds() == []


def test_on_station_early_is_shown(world):
    from detail.domain.board_state import punctuality

    record_status(world.agent, find_code(world.org.id, "OS"), client_id="os", now=REPORT - timedelta(minutes=45))
    assert punctuality(world.assignment)["text"] == "on station 45 min before report time"


def test_silent_rule_on_hot_detail(world):
    record_status(world.agent, find_code(world.org.id, "OS"), client_id="os", now=REPORT - timedelta(minutes=5))
    world.detail.state = "hot"
    db.session.commit()
    assert alerts.evaluate(world.org, REPORT + timedelta(minutes=4)) == []
    events = alerts.evaluate(world.org, REPORT + timedelta(minutes=6))
    assert [e.payload["kind"] for e in events] == ["silent"]
    assert "silent for 11 min" in events[0].payload["message"]
    # Any word from the phone ends it: here a position.
    from detail.domain.positions import record_position

    record_position(world.agent, latitude=51.5, longitude=-0.1, now=REPORT + timedelta(minutes=17))
    assert _open_kinds() == []


def test_acknowledged_late_alert_is_not_raised_again(world):
    alerts.evaluate(world.org, REPORT - timedelta(minutes=29))
    alert = db.session.scalars(sa.select(Alert)).one()
    alerts.acknowledge(alert, world.coordinator, "called him: stuck in traffic", now=REPORT - timedelta(minutes=25))
    assert alerts.evaluate(world.org, REPORT - timedelta(minutes=20)) == []
    assert _count(Alert) == 1


def test_alert_rules_resolve_when_detail_completes(world):
    alerts.evaluate(world.org, REPORT + timedelta(minutes=1))
    assert _open_kinds() == ["late_om", "late_station"]
    world.detail.state = "complete"
    alerts.evaluate(world.org, REPORT + timedelta(minutes=2))
    assert _open_kinds() == []
