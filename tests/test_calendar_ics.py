"""An agent's assignments as a private ICS feed that phone calendars subscribe to, read back with icalendar."""

from datetime import timedelta

import icalendar
import pytest
import time_machine

from detail.extensions import db
from detail.models import Agent, Assignment, User
from detail.web.calendar import issue_link, revoke_link

from .conftest import T0

NOW = T0 - timedelta(minutes=40)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _link(agent):
    path = issue_link(agent)
    db.session.commit()
    assert path.startswith("/calendar/") and path.endswith(".ics")
    return path


def _fetch(client, path):
    """The feed as a calendar app gets it: anonymously, by the secret URL alone."""
    response = client.get(path)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/calendar"
    return icalendar.Calendar.from_ical(response.data)


def _events(calendar):
    return list(calendar.walk("VEVENT"))


def _second_agent(world):
    user = User(organisation=world.org, email="b2@aegis.example", name="Alex Reid", role="agent")
    agent = Agent(organisation=world.org, user=user, call_sign="Bravo 2")
    assignment = Assignment(
        detail=world.detail,
        agent=agent,
        role="agent",
        site=world.venue,
        report_at=T0 + timedelta(hours=2),
        shift_starts_at=T0 + timedelta(hours=1, minutes=30),
        shift_ends_at=T0 + timedelta(hours=8),
    )
    db.session.add_all([user, agent, assignment])
    db.session.commit()
    return agent


def test_feed_has_one_event_for_the_assignment(client, world):
    world.hotel.address = "1 Albemarle St, London W1S 4BP"
    db.session.commit()
    calendar = _fetch(client, _link(world.agent))
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar.get("PRODID", ""))
    [event] = _events(calendar)
    start = event.decoded("DTSTART")
    assert start.tzinfo is not None and start == T0 - timedelta(minutes=30)  # report time
    assert event.decoded("DTEND") == T0 + timedelta(hours=12)  # end of shift
    assert "Northwind CEO London" in str(event["SUMMARY"])
    assert "lead" in str(event["SUMMARY"]).lower()
    location = str(event["LOCATION"])
    assert "Grand Hotel" in location and "1 Albemarle St" in location
    geo = event["GEO"]
    assert (geo.latitude, geo.longitude) == pytest.approx((51.5101, -0.1340))
    assert "Sam Carter" in str(event["DESCRIPTION"])  # the detail lead


def test_events_carry_the_uid_and_dtstamp_calendar_apps_need(client, world):
    path = _link(world.agent)
    [first] = _events(_fetch(client, path))
    [again] = _events(_fetch(client, path))
    assert str(first["UID"]) and "DTSTAMP" in first
    # A stable UID lets a subscribed calendar update the event in place instead of duplicating it.
    assert str(first["UID"]) == str(again["UID"])


def test_description_names_the_detail_lead_for_another_agent(client, world):
    agent = _second_agent(world)
    [event] = _events(_fetch(client, _link(agent)))
    assert event.decoded("DTSTART") == T0 + timedelta(hours=2)
    assert "ExCeL London" in str(event["LOCATION"])
    geo = event["GEO"]
    assert (geo.latitude, geo.longitude) == pytest.approx((51.5081, 0.0295))
    assert "Sam Carter" in str(event["DESCRIPTION"])


def test_one_event_per_assignment(client, world):
    db.session.add(
        Assignment(
            detail=world.other_client_detail,
            agent=world.agent,
            role="driver",
            site=world.venue,
            report_at=T0 + timedelta(days=1),
            shift_starts_at=T0 + timedelta(days=1),
            shift_ends_at=T0 + timedelta(days=1, hours=6),
        )
    )
    db.session.commit()
    events = _events(_fetch(client, _link(world.agent)))
    assert len(events) == 2
    assert len({str(e["UID"]) for e in events}) == 2
    assert sorted(e.decoded("DTSTART") for e in events) == [T0 - timedelta(minutes=30), T0 + timedelta(days=1)]


def test_another_agents_assignments_never_appear(client, world):
    idle = world.idle_agent_user.agent
    db.session.add(
        Assignment(
            detail=world.other_client_detail,
            agent=idle,
            role="agent",
            site=world.venue,
            report_at=T0 + timedelta(hours=3),
            shift_starts_at=T0 + timedelta(hours=3),
            shift_ends_at=T0 + timedelta(hours=6),
        )
    )
    db.session.commit()
    _second_agent(world)  # on the same detail as Bravo 1
    mine = _fetch(client, _link(world.agent))
    [event] = _events(mine)
    assert event.decoded("DTSTART") == T0 - timedelta(minutes=30)  # not Bravo 2's 10:00 on the same detail
    assert "Contoso" not in mine.to_ical().decode()
    theirs = _events(_fetch(client, _link(idle)))
    assert len(theirs) == 1
    assert "Contoso board visit" in str(theirs[0]["SUMMARY"])
    assert "Northwind" not in str(theirs[0]["SUMMARY"])


def test_issuing_again_revokes_the_previous_link(client, world):
    old = _link(world.agent)
    new = _link(world.agent)
    assert new != old
    assert client.get(old).status_code == 404
    assert len(_events(_fetch(client, new))) == 1


def test_revoked_and_unknown_links_are_not_found(client, world):
    path = _link(world.agent)
    revoke_link(world.agent)
    db.session.commit()
    assert client.get(path).status_code == 404
    assert client.get("/calendar/not-a-secret.ics").status_code == 404
