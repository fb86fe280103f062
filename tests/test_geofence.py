"""Arrival and departure by geofence, from positions of any source, with a controlled clock."""

import math
import random
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bench.statements import counted
from detail.domain import geofence
from detail.domain.distance import distance_m
from detail.domain.positions import record_position
from detail.domain.statuses import record_status
from detail.extensions import db
from detail.jobs import evaluate_geofences
from detail.models import Agent, Assignment, Event, Movement, Site, StatusCode, StatusReport, User, Visit

from .conftest import T0

START = T0 - timedelta(minutes=50)  # 07:10, twenty minutes before the agent's report time at the hotel
HOTEL = (51.5101, -0.1340)  # radius 150 m
INSIDE = (51.5104, -0.1340)  # about 33 m from the hotel's point
EDGE = (51.51155, -0.1340)  # about 161 m: beyond the radius, within the drift margin
OUTSIDE = (51.5201, -0.1340)  # about 1.1 km away


def at(minutes: float):
    return START + timedelta(minutes=minutes)


def fix(world, where, minutes, accuracy=10.0, source="phone"):
    """A position taken and received at START + minutes; returns the events it caused."""
    recorded = record_position(
        world.agent,
        latitude=where[0],
        longitude=where[1],
        accuracy=accuracy,
        reported_at=at(minutes),
        source=source,
        now=at(minutes),
    )
    db.session.commit()
    return recorded.events


def statuses(world):
    return db.session.scalars(
        sa.select(StatusReport).where(StatusReport.agent_id == world.agent.id).order_by(StatusReport.reported_at)
    ).all()


def signals(world):
    return [(r.status_code.signal, r.automatic) for r in statuses(world)]


def tap(world, code, minutes):
    """The agent sets a status by hand."""
    sc = db.session.scalar(
        sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id, StatusCode.code == code)
    )
    record_status(world.agent, sc, client_id=f"tap-{code}-{minutes}", reported_at=at(minutes), now=at(minutes))
    db.session.commit()


def test_inside_for_the_dwell_time_sets_on_station_automatically(world):
    assert fix(world, INSIDE, 0) == []
    fix(world, INSIDE, 1)
    assert signals(world) == []  # one minute inside: not yet (dwell is two minutes)
    events = fix(world, INSIDE, 2)
    assert signals(world) == [("on_station", True)]
    report = statuses(world)[0]
    assert report.source == "automatic" and report.reported_at == at(0)  # arrival is when the stay began
    assert "Grand Hotel" in report.note and not report.late_upload
    assert [e.kind for e in events] == ["status"] and events[0].payload["automatic"] is True
    # more fixes inside change nothing
    fix(world, INSIDE, 3)
    assert len(statuses(world)) == 1


def test_the_job_completes_a_dwell_when_the_phone_goes_quiet(world):
    fix(world, INSIDE, 0)
    assert signals(world) == []
    geofence_events = geofence.evaluate(world.org, now=at(2.5))
    db.session.commit()
    assert signals(world) == [("on_station", True)] and len(geofence_events) == 1
    assert geofence.evaluate(world.org, now=at(3)) == []  # once


def test_job_entry_point_publishes(world, time_machine):
    fix(world, INSIDE, 0)
    time_machine.move_to(at(3), tick=False)
    assert evaluate_geofences() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.kind == "status")) == 1


def test_drift_at_the_edge_neither_arrives_nor_leaves(world):
    # Arrived and on station...
    fix(world, INSIDE, 0)
    fix(world, INSIDE, 2)
    assert signals(world) == [("on_station", True)]
    # ...then GPS drift puts the fix just beyond the radius, on and off, for a long time: still on station.
    for minute in range(3, 20):
        fix(world, EDGE if minute % 2 else INSIDE, minute)
    assert signals(world) == [("on_station", True)]


def test_a_vague_fix_far_away_is_ignored(world):
    fix(world, INSIDE, 0)
    fix(world, INSIDE, 2)
    # A cell-tower fix 1 km off with 800 m accuracy says nothing about the door.
    fix(world, OUTSIDE, 3, accuracy=800)
    fix(world, OUTSIDE, 10, accuracy=800)
    assert signals(world) == [("on_station", True)]


def test_a_fix_beyond_the_radius_but_within_its_own_accuracy_is_not_outside(world):
    fix(world, INSIDE, 0)
    fix(world, INSIDE, 2)
    # 161 m away, radius 150 m, accuracy 60 m: could be inside, so not a departure.
    for minute in range(3, 10):
        fix(world, EDGE, minute, accuracy=60)
    assert signals(world) == [("on_station", True)]


def test_leaving_for_the_dwell_time_sets_om(world):
    fix(world, INSIDE, 0)
    fix(world, INSIDE, 2)
    fix(world, OUTSIDE, 5)
    assert signals(world) == [("on_station", True)]  # just left
    fix(world, OUTSIDE, 7)
    assert signals(world) == [("on_station", True), ("moving", True)]
    assert statuses(world)[-1].reported_at == at(5) and "left" in statuses(world)[-1].note


def test_leaving_sets_clear_where_the_organisation_says_so(world):
    world.org.geofence_leave_signal = "clear"
    db.session.commit()
    fix(world, INSIDE, 0)
    fix(world, INSIDE, 2)
    fix(world, OUTSIDE, 5)
    fix(world, OUTSIDE, 8)
    assert signals(world)[-1] == ("clear", True)


def test_coming_back_after_leaving_arrives_again(world):
    for minute, where in ((0, INSIDE), (2, INSIDE), (5, OUTSIDE), (7, OUTSIDE), (30, INSIDE), (33, INSIDE)):
        fix(world, where, minute)
    assert signals(world) == [("on_station", True), ("moving", True), ("on_station", True)]


def test_the_other_venue_of_the_detail_counts_too(world):
    excel = (world.venue.latitude, world.venue.longitude)
    fix(world, excel, 0)
    fix(world, excel, 3)
    assert signals(world) == [("on_station", True)]
    assert "ExCeL" in statuses(world)[0].note


def test_a_status_set_by_hand_outranks_the_geofence_for_the_window(world):
    fix(world, INSIDE, 0)
    tap(world, "OM", 1)  # leaving on foot, still inside the radius
    fix(world, INSIDE, 4)
    fix(world, INSIDE, 8)
    assert signals(world) == [("moving", False)]  # ten minutes of precedence
    fix(world, INSIDE, 12)  # still inside twelve minutes after saying OM: the geofence may speak again
    assert signals(world) == [("moving", False), ("on_station", True)]


def test_manual_on_station_away_from_our_venues_is_not_undone(world):
    # An agent posted somewhere that is not one of the detail's venues says OS by hand.
    tap(world, "OS", 0)
    for minute in range(11, 30, 3):
        fix(world, OUTSIDE, minute)
    assert signals(world) == [("on_station", False)]


def test_hot_and_duress_are_never_changed_automatically(world):
    tap(world, "HOT", 0)
    for minute in range(11, 30, 3):
        fix(world, OUTSIDE, minute)
    assert signals(world) == [("hot", False)]
    tap(world, "DUR", 31)
    for minute in range(42, 60, 3):
        fix(world, INSIDE, minute)
    assert signals(world) == [("hot", False), ("duress", False)]


def test_positions_from_any_source_count(world):
    fix(world, INSIDE, 0, source="osmand")
    fix(world, INSIDE, 2, source="owntracks")
    assert signals(world) == [("on_station", True)]


def test_nothing_happens_outside_the_shift(world):
    late = timedelta(hours=20)
    for minutes in (0, 3):
        record_position(
            world.agent,
            latitude=INSIDE[0],
            longitude=INSIDE[1],
            accuracy=10,
            reported_at=at(minutes) + late,
            now=at(minutes) + late,
        )
    db.session.commit()
    assert signals(world) == []


@pytest.mark.parametrize("dwell", [0, 300])
def test_dwell_is_the_organisations(world, dwell):
    world.org.geofence_dwell_seconds = dwell
    db.session.commit()
    fix(world, INSIDE, 0)
    assert bool(signals(world)) is (dwell == 0)
    fix(world, INSIDE, 4)
    assert bool(signals(world)) is (dwell == 0)
    fix(world, INSIDE, 5)
    assert signals(world) == [("on_station", True)]


def test_the_quick_sphere_screen_reads_every_fix_as_the_geodesic_would():
    # Fixes scattered 0-600 m around venues at several latitudes, many right at the radius and at
    # the drift margin: the mark must be the one the exact geodesic distance gives.
    rng = random.Random(20261204)
    for latitude in (0.5, 38.7, 51.51, 64.1, -33.9):
        site = SimpleNamespace(latitude=latitude, longitude=12.5, arrival_radius_m=rng.choice((50, 150, 400)))
        places = [(site, site.latitude, site.longitude, site.arrival_radius_m)]
        for _ in range(2000):
            accuracy = rng.choice((None, 5.0, 30.0, 80.0))
            boundary = site.arrival_radius_m + rng.choice((0, max(geofence.EDGE_MARGIN_M, accuracy or 0)))
            distance = rng.choice((rng.uniform(0, 600), boundary + rng.uniform(-2, 2)))
            bearing = rng.uniform(0, 2 * math.pi)
            lat = latitude + distance * math.cos(bearing) / 111_132
            lon = 12.5 + distance * math.sin(bearing) / (111_320 * math.cos(math.radians(latitude)))
            fix = SimpleNamespace(latitude=lat, longitude=lon, accuracy_m=accuracy)
            exact = distance_m(lat, lon, site.latitude, site.longitude)
            outer = site.arrival_radius_m + max(geofence.EDGE_MARGIN_M, accuracy or 0.0)
            expected = "in" if exact <= site.arrival_radius_m else "edge" if exact <= outer else "out"
            assert geofence.mark(fix, places).state == expected, (latitude, exact, site.arrival_radius_m, accuracy)


def test_venues_are_the_post_then_the_details_venues_in_order_for_every_assignment(backend):
    # venues_of reads every assignment's venues in one query; it must give what the relationships give.
    world = backend
    org, detail, idle_agent = world.org, world.detail, world.idle_agent_user.agent

    def site(name, lat):
        return Site(organisation=org, name=name, latitude=lat, longitude=-0.1, timezone="Europe/London")

    airport, lunch, gala, depot = site("Airport", 51.47), site("Lunch", 51.52), site("Gala", 51.50), site("Depot", 51.4)
    # Added out of time order: the order is by time, as Detail.sites reads it.
    detail.visits.append(Visit(site=gala, arrives_at=T0 + timedelta(hours=9), departs_at=T0 + timedelta(hours=11)))
    detail.visits.append(Visit(site=lunch, arrives_at=T0 + timedelta(hours=4), departs_at=T0 + timedelta(hours=5)))
    detail.movements.append(
        Movement(from_site=airport, to_site=world.hotel, departs_at=T0 - timedelta(hours=1), arrives_at=T0)
    )
    user = User(organisation=org, email="roamer@aegis.example", name="Roamer", role="agent")
    roamer = Agent(organisation=org, user=user, call_sign="Bravo 4")
    on_the_venue = Assignment(
        detail=detail, agent=roamer, role="agent", site=world.venue, report_at=T0,
        shift_starts_at=T0, shift_ends_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    at_the_depot = Assignment(
        detail=world.other_client_detail, agent=roamer, role="agent", site=depot, report_at=T0,
        shift_starts_at=T0, shift_ends_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    no_post = Assignment(
        detail=detail, agent=idle_agent, role="agent", report_at=T0,
        shift_starts_at=T0, shift_ends_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    db.session.add_all([on_the_venue, at_the_depot, no_post])
    db.session.commit()
    db.session.expire_all()
    assignments = [db.session.get(Assignment, a.id) for a in (world.assignment, on_the_venue, at_the_depot, no_post)]

    venues = geofence.venues_of(assignments)

    def names(assignment):
        return [s.name for s in venues[assignment.id]]

    by_time = ["Grand Hotel", "Lunch", "Gala", "Airport", "ExCeL London"]  # visits by arrival, then movements
    assert [s.name for s in assignments[0].detail.sites] == by_time
    assert names(assignments[0]) == by_time  # posted at the hotel, already first
    assert names(assignments[1]) == ["ExCeL London", "Grand Hotel", "Lunch", "Gala", "Airport"]
    assert names(assignments[2]) == ["Depot"]  # a detail without visits: its post only
    assert names(assignments[3]) == by_time
    assert geofence.venues_of([]) == {}


def test_a_position_is_stored_and_weighed_in_a_fixed_number_of_queries(backend):
    world = backend
    for i in range(3):  # more venues than the hotel and the conference: still one query for them
        site = Site(organisation=world.org, name=f"Venue {i}", latitude=51.5 + i / 100, longitude=-0.1)
        world.detail.visits.append(Visit(site=site, arrives_at=at(60 * i), departs_at=at(60 * i + 30)))
    fix(world, INSIDE, 0)
    db.session.expire_all()
    assert world.agent.call_sign  # the agent, as the request's sign-in has it
    with counted(db.engine) as statements:
        record_position(
            world.agent, latitude=INSIDE[0], longitude=INSIDE[1], accuracy=10.0, reported_at=at(1), now=at(1)
        )
    # The insert, open silence alerts, the organisation, assignments, venues, latest report, fixes;
    # no query per relationship (the venues' detail, visits, movements and sites, the report's code).
    assert len(statements) == 7, "\n".join(statements)
