"""One instant, one label: every time a person reads carries the venue's zone abbreviation (the
organisation's where there is no venue), the same on the board, the detail's pages and the after-action
report; "UTC" only where UTC is the zone that applies.

The world's organisation keeps Europe/London, GMT in November; a detail at a New York venue reads EST.
"""

from datetime import timedelta

import sqlalchemy as sa

from detail.domain import alerts, staffing
from detail.domain.timefmt import assignment_zone, detail_zone, local_time, zone_labels
from detail.extensions import db
from detail.models import Alert, Assignment, Detail, Movement, PersonOfInterest, Site, Unavailability, Visit

from .conftest import T0, sign_in

RAISED = T0 + timedelta(minutes=70)  # 09:10 UTC, 09:10 GMT, 04:10 EST


def _new_york_detail(world) -> Detail:
    site = Site(
        organisation=world.org,
        name="Lotte New York Palace",
        latitude=40.758,
        longitude=-73.975,
        timezone="America/New_York",
    )
    detail = Detail(client=world.client, name="Northwind CEO New York", starts_at=T0, ends_at=T0 + timedelta(hours=12))
    detail.visits.append(Visit(site=site, arrives_at=T0, departs_at=T0 + timedelta(hours=12)))
    db.session.add_all([site, detail])
    db.session.commit()
    return detail


def _alert(world, detail, kind):
    alerts.raise_alert(kind=kind, agent=world.agent, detail_id=detail.id, raised_at=RAISED, message=f"{kind} test")
    db.session.commit()
    return db.session.scalar(sa.select(Alert).where(Alert.kind == kind, Alert.detail_id == detail.id))


def _board_alert(client, detail, alert_id):
    organisation = client.get("/board/state").json["alerts"]
    of_detail = client.get(f"/board/details/{detail.id}/state").json["detail"]["alerts"]
    first = next(a for a in organisation if a["alert_id"] == alert_id)
    second = next(a for a in of_detail if a["alert_id"] == alert_id)
    assert first == second
    return first


def test_a_duress_alarm_reads_the_same_on_the_board_and_in_the_after_action_report(client, world):
    alert = _alert(world, world.detail, "duress")
    sign_in(client, world.coordinator)
    shown = _board_alert(client, world.detail, alert.id)["raised_at_local"]
    assert shown == "Tue 24 Nov 09:10 GMT"
    report = client.get(f"/admin/details/{world.detail.id}/after-action").get_data(as_text=True)
    assert shown in report
    assert "UTC" not in report


def test_a_venue_in_new_york_labels_its_alarms_est_though_the_organisation_keeps_london(client, world):
    detail = _new_york_detail(world)
    alert = _alert(world, detail, "duress")
    sign_in(client, world.coordinator)
    shown = _board_alert(client, detail, alert.id)["raised_at_local"]
    assert shown == "Tue 24 Nov 04:10 EST"
    report = client.get(f"/admin/details/{detail.id}/after-action").get_data(as_text=True)
    assert shown in report and "UTC" not in report


def test_a_muted_alert_says_until_when_in_the_venue_zone(client, world):
    alert = _alert(world, world.detail, "silent")
    alerts.mute(alert, world.coordinator, 15, now=RAISED)
    db.session.commit()
    sign_in(client, world.coordinator)
    shown = _board_alert(client, world.detail, alert.id)
    assert shown["muted_until_local"] == "09:25 GMT"
    assert shown["raised_at_local"] == "Tue 24 Nov 09:10 GMT"


def test_the_board_js_adds_no_utc_label_of_its_own():
    # The duress and mute lines print the server's labelled strings, not a browser-made "UTC" one.
    with open("static/js/board.js", encoding="utf-8") as script:
        source = script.read()
    assert '" UTC"' not in source and '"UTC", true' not in source


def test_the_agents_report_time_on_the_board_carries_the_label(client, world):
    sign_in(client, world.coordinator)
    board = client.get(f"/board/details/{world.detail.id}/state").json["detail"]
    assert board["agents"][0]["report_at_local"] == "07:30 GMT"


def test_a_zones_labels_by_offset_cover_the_year_around(world):
    # The board formats times in the browser and labels them from these, by the instant's offset.
    assert zone_labels("America/New_York", T0) == {"-300": "EST", "-240": "EDT"}
    assert zone_labels("Europe/London", T0) == {"0": "GMT", "60": "BST"}
    assert zone_labels("Asia/Kolkata", T0) == {"330": "IST"}
    assert zone_labels(None, T0) == {"0": "UTC"}


def test_the_board_state_carries_the_labels_of_every_zone_it_shows(client, world):
    detail = _new_york_detail(world)
    db.session.commit()
    sign_in(client, world.coordinator)
    board = client.get(f"/board/details/{detail.id}/state").json["detail"]
    assert board["zone_labels"]["America/New_York"] == {"-300": "EST", "-240": "EDT"}
    zones = {board["timezone"], *(s["timezone"] for s in board["sites"]), *(a["timezone"] for a in board["agents"])}
    assert zones <= set(board["zone_labels"])


def test_staffing_conflicts_name_each_shift_in_its_own_venue_zone(world):
    new_york = _new_york_detail(world)
    # As the forms build it before saving: ids, not relationships.
    overlapping = Assignment(
        detail_id=new_york.id,
        agent_id=world.agent.id,
        role="advance",
        report_at=T0,
        shift_starts_at=T0,
        shift_ends_at=T0 + timedelta(hours=4),
    )
    db.session.add(Unavailability(agent=world.agent, kind="training", starts_at=T0, ends_at=T0 + timedelta(hours=2)))
    db.session.flush()
    messages = [c.message for c in staffing.conflicts(overlapping)]
    overlap = next(m for m in messages if m.startswith("already on"))
    # world.assignment's shift, at the Grand Hotel in London: 07:00 to 20:00 GMT.
    assert overlap == "already on Northwind CEO London from 24 Nov 07:00 GMT to 24 Nov 20:00 GMT"
    # Leave has no venue: the organisation's zone.
    away = next(m for m in messages if m.startswith("unavailable"))
    assert away.endswith("from 24 Nov 08:00 GMT to 24 Nov 10:00 GMT")
    assert not any("UTC" in m for m in messages)


def test_a_person_of_interest_shows_when_assessed_in_the_detail_zone(client, world, time_machine):
    time_machine.move_to(RAISED, tick=False)
    sign_in(client, world.coordinator)
    form = {"client_id": world.client.id, "detail_id": world.detail.id, "name": "Victor Vane", "assessment": "elevated"}
    assert client.post("/admin/persons/new", data=form).status_code == 302
    assert db.session.scalar(sa.select(PersonOfInterest)).assessed_at == RAISED
    page = client.get("/admin/persons").get_data(as_text=True)
    assert "Tue 24 Nov 09:10 GMT" in page and "UTC" not in page


def test_a_page_that_names_no_zone_reads_in_the_organisations(app, world):
    from flask import render_template_string
    from flask_login import login_user

    from detail.domain.sessions import start_session

    start_session(world.coordinator, "test")
    with app.test_request_context():
        assert render_template_string("{{ at | local }}", at=RAISED) == "Tue 24 Nov 09:10 UTC"  # nobody signed in
    with app.test_request_context():
        login_user(world.coordinator)
        assert render_template_string("{{ at | local }}", at=RAISED) == "Tue 24 Nov 09:10 GMT"


def test_a_details_clock_is_its_earliest_venue_else_where_it_first_moves_from(world):
    def site(name, zone):
        return Site(organisation=world.org, name=name, latitude=40.0, longitude=-70.0, timezone=zone)

    tokyo, london, paris = site("Tokyo", "Asia/Tokyo"), site("London", "Europe/London"), site("Paris", "Europe/Paris")
    later_first = Detail(client=world.client, name="Two visits", starts_at=T0, ends_at=T0 + timedelta(days=2))
    later_first.visits.append(Visit(site=paris, arrives_at=T0 + timedelta(days=1), departs_at=T0 + timedelta(days=2)))
    later_first.visits.append(Visit(site=tokyo, arrives_at=T0, departs_at=T0 + timedelta(hours=5)))
    moving = Detail(client=world.client, name="Only a movement", starts_at=T0, ends_at=T0 + timedelta(hours=3))
    moving.movements.append(
        Movement(from_site=paris, to_site=london, departs_at=T0, arrives_at=T0 + timedelta(hours=3))
    )
    unknown = Detail(client=world.client, name="Stale zone", starts_at=T0, ends_at=T0 + timedelta(hours=1))
    unknown.visits.append(
        Visit(site=site("Nowhere", "Mars/Olympus"), arrives_at=T0, departs_at=T0 + timedelta(hours=1))
    )

    assert detail_zone(later_first) == "Asia/Tokyo"  # the earliest visit, whatever order they were added in
    assert detail_zone(moving) == "Europe/Paris"
    assert detail_zone(unknown) == "UTC"


def test_zones_of_a_detail_and_an_assignment(world):
    new_york = _new_york_detail(world)
    assert detail_zone(new_york) == "America/New_York"
    assert detail_zone(world.other_client_detail) == "Europe/London"  # no venue: the organisation's
    assert assignment_zone(world.assignment) == "Europe/London"
    assert local_time(RAISED, "America/New_York") == "Tue 24 Nov 04:10 EST"


def test_one_list_of_zones_for_every_picker():
    """The admin pickers and the digest preferences offer the same zones: places only."""
    from detail.domain.timefmt import zone_names
    from detail.web.admin.base import time_zone_names

    assert set(time_zone_names()) == zone_names()
    assert "Factory" not in time_zone_names() and "localtime" not in time_zone_names()
