"""Matching never misses a detail created later: what changes asks for a rematch, the job does it.

The world's detail: the principal at the Grand Hotel T0..T0+2h, then a movement to ExCeL London
T0+2h..T0+3h; the detail runs T0..T0+12h. The clock stands two hours before T0.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from geopy.distance import distance as geodesic_distance

from detail import jobs
from detail.extensions import db
from detail.models import Agent, Site, Visit
from intel.domain import advisories, rematch
from intel.models import Advisory, AdvisorySource, Feed, FeedItem, IntelRematch, WatchArea

from .conftest import T0
from .test_api import Api, iso, token_for

NOW = T0 - timedelta(hours=2)
RICHMOND = (51.4613, -0.3037)  # 12 km west of the hotel, far from the route to ExCeL


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def feed(world, clock):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/a.xml", name="Protest monitor", country_code="GB")
    db.session.add(feed)
    db.session.commit()
    rematch.run()  # what building the world asked for
    return feed


@pytest.fixture
def api(client, world):
    return Api(client, token_for(world.coordinator))


def _away(lat, lon, metres, bearing=90):
    point = geodesic_distance(meters=metres).destination((lat, lon), bearing)
    return point.latitude, point.longitude


_guid = iter(range(10_000))


def _arrived(feed, lat, lon, start, hours=1, title="March on the square", category="protest", **extra):
    """An item stored and matched as a poll does on its arrival."""
    item = FeedItem(
        feed=feed,
        guid=f"r{next(_guid)}",
        title=title,
        category=category,
        latitude=lat,
        longitude=lon,
        located_by="feed",
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        matched_at=NOW,
        **extra,
    )
    db.session.add(item)
    db.session.flush()
    advisories.record_candidates(feed.organisation_id, [item], NOW)
    db.session.commit()
    return item


def _of(detail_id):
    db.session.expire_all()
    query = sa.select(Advisory).where(Advisory.detail_id == detail_id).order_by(Advisory.id)
    return [(a.title, a.severity, a.reason) for a in db.session.scalars(query)]


def _requested():
    return {(r.detail_id, r.watch_area_id) for r in db.session.scalars(sa.select(IntelRematch))}


def _the_job():
    return next(job for job in jobs.JOBS if job.name == "matching")


def _new_detail(api, world, start=T0):
    detail = api.post(
        "/details",
        json={
            "client_id": world.client.id,
            "principal_id": world.principal.id,
            "name": "Northwind CFO London",
            "starts_at": iso(start),
            "ends_at": iso(start + timedelta(hours=12)),
        },
    )
    assert detail.status_code == 201, detail.json
    return detail.json["id"]


def test_a_detail_planned_after_the_poll_gets_what_an_identical_earlier_detail_got(world, feed, api):
    _arrived(feed, *_away(world.hotel.latitude, world.hotel.longitude, 400), T0)
    earlier = _of(world.detail.id)
    assert len(earlier) == 1 and earlier[0][1] == "critical"

    detail_id = _new_detail(api, world)
    visit = {"detail_id": detail_id, "site_id": world.hotel.id, "arrives_at": iso(T0)}
    assert api.post("/visits", json={**visit, "departs_at": iso(T0 + timedelta(hours=2))}).status_code == 201
    movement = {"detail_id": detail_id, "from_site_id": world.hotel.id, "to_site_id": world.venue.id}
    times = {"departs_at": iso(T0 + timedelta(hours=2)), "arrives_at": iso(T0 + timedelta(hours=3))}
    assert api.post("/movements", json={**movement, **times}).status_code == 201

    # The requests stored the plan and asked for a rematch; they matched nothing themselves.
    assert _of(detail_id) == []
    assert _requested() == {(detail_id, None)}

    events = _the_job().run()
    assert _of(detail_id) == earlier
    assert events == 1 and _requested() == set()
    assert _the_job().run() == 0 and len(_of(detail_id)) == 1  # done once


def test_a_detail_moved_to_another_day_gets_that_days_items(world, feed, api):
    later = T0 + timedelta(days=3)
    _arrived(feed, *_away(world.hotel.latitude, world.hotel.longitude, 400), later, title="Strike at the hotel")
    assert _of(world.detail.id) == []  # three days after the detail: nothing on arrival

    moved = {"starts_at": iso(later), "ends_at": iso(later + timedelta(hours=12))}
    assert api.patch(f"/details/{world.detail.id}", json=moved).status_code == 200
    visit = world.detail.visits[0]
    visit_times = {"arrives_at": iso(later), "departs_at": iso(later + timedelta(hours=2))}
    assert api.patch(f"/visits/{visit.id}", json=visit_times).status_code == 200
    assert _requested() == {(world.detail.id, None)} and _of(world.detail.id) == []

    rematch.run()
    [(title, severity, reason)] = _of(world.detail.id)
    assert title == "Strike at the hotel" and "Grand Hotel, during arrival" in reason


def test_a_visit_moved_to_another_venue_gets_that_venues_items(world, feed, api):
    manchester = api.post("/venues", json={"name": "Manchester Central", "latitude": 53.4763, "longitude": -2.2477})
    assert manchester.status_code == 201
    _arrived(feed, *_away(53.4763, -2.2477, 300), T0, title="Rally at the convention centre")
    assert _of(world.detail.id) == []

    visit = world.detail.visits[0]
    assert api.patch(f"/visits/{visit.id}", json={"site_id": manchester.json["id"]}).status_code == 200
    assert _of(world.detail.id) == []

    rematch.run()
    [(title, _, reason)] = _of(world.detail.id)
    assert title == "Rally at the convention centre" and "Manchester Central" in reason


def test_a_venue_moved_on_the_map_asks_for_its_details(world, feed, api):
    lat, lon = RICHMOND  # a crime's reach is 10 km
    _arrived(feed, *_away(lat, lon, 200), T0, category="crime", title="Robbery in Richmond")
    assert _of(world.detail.id) == []

    assert api.patch(f"/venues/{world.hotel.id}", json={"latitude": lat, "longitude": lon}).status_code == 200
    assert _requested() == {(world.detail.id, None)}  # the detail that visits the hotel

    rematch.run()
    assert [title for title, _, _ in _of(world.detail.id)] == ["Robbery in Richmond"]


def test_a_new_post_gets_the_items_around_it(world, feed, api):
    post = api.post("/venues", json={"name": "Embassy", "latitude": RICHMOND[0], "longitude": RICHMOND[1]})
    _arrived(feed, *_away(*RICHMOND, 300), T0 + timedelta(hours=5), category="crime", title="Robbery near the embassy")
    assert _of(world.detail.id) == []

    idle = db.session.scalar(sa.select(Agent).where(Agent.call_sign == "Bravo 9"))
    shift = {"shift_starts_at": iso(T0), "shift_ends_at": iso(T0 + timedelta(hours=12))}
    assignment = {"detail_id": world.detail.id, "agent_id": idle.id, "site_id": post.json["id"], **shift}
    assert api.post("/assignments", json={**assignment, "report_at": iso(T0)}).status_code == 201

    rematch.run()
    [(title, _, reason)] = _of(world.detail.id)
    assert title == "Robbery near the embassy" and "Embassy" in reason


def test_a_new_watch_area_gets_the_current_items_in_it_and_not_the_past_ones(world, feed):
    _arrived(feed, 53.48, -2.24, T0, title="Rally in Manchester")
    _arrived(feed, 53.47, -2.25, NOW - timedelta(hours=5), title="Yesterday's rally in Manchester")
    area = WatchArea(client_id=world.client.id, name="Manchester office", latitude=53.48, longitude=-2.24)
    db.session.add(area)
    db.session.commit()
    assert _requested() == {(None, area.id)}
    assert db.session.scalar(sa.select(Advisory).where(Advisory.watch_area_id == area.id)) is None

    rematch.run()
    titles = db.session.scalars(sa.select(Advisory.title).where(Advisory.watch_area_id == area.id)).all()
    assert titles == ["Rally in Manchester"]


def test_changes_that_expose_nothing_ask_for_nothing(world, feed, api):
    assert api.patch(f"/details/{world.detail.id}", json={"notes": "Bring umbrellas"}).status_code == 200
    assert api.patch(f"/venues/{world.venue.id}", json={"arrival_radius_m": 90}).status_code == 200
    assert _requested() == set()


def test_a_request_survives_a_job_that_died_and_one_refreshed_meanwhile_stays(world, feed, clock):
    _arrived(feed, *_away(world.hotel.latitude, world.hotel.longitude, 400), T0 + timedelta(days=3))
    rematch.claim_requests()  # nothing yet
    world.detail.starts_at, world.detail.ends_at = T0 + timedelta(days=3), T0 + timedelta(days=3, hours=12)
    db.session.commit()
    [claimed] = rematch.claim_requests()  # ... and the job dies here
    db.session.rollback()
    assert rematch.claim_requests() == []  # its lease still runs
    assert _of(world.detail.id) == []

    clock.shift(rematch.LEASE + timedelta(seconds=1))
    rematch.run()
    assert len(_of(world.detail.id)) == 1 and _requested() == set()

    # A change that comes while the job works is done by the next round, not lost.
    world.detail.ends_at += timedelta(hours=1)
    db.session.commit()
    claims = rematch.claim_requests()
    world.detail.ends_at += timedelta(hours=1)
    db.session.commit()
    rematch._finish(claims)
    db.session.commit()
    assert _requested() == {(world.detail.id, None)}
    assert [c.detail_id for c in rematch.claim_requests()] == [world.detail.id]


def test_rematching_twice_adds_nothing(world, feed):
    item = _arrived(feed, *_away(world.hotel.latitude, world.hotel.longitude, 400), T0)
    for _ in range(2):
        rematch.rematch(world.org.id, {world.detail.id}, set(), NOW)
        db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdvisorySource)) == 1
    assert [s.item_id for s in db.session.scalars(sa.select(AdvisorySource))] == [item.id]


def test_postgresql_two_jobs_claim_disjoint_requests_and_both_finish(pg_world, time_machine):
    time_machine.move_to(NOW, tick=False)
    world = pg_world
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/a.xml", name="Protest monitor")
    db.session.add(feed)
    db.session.commit()
    rematch.run()
    later = T0 + timedelta(days=3)
    sites = []
    for n in range(6):
        lat, lon = 51.0 + n * 0.2, -1.0  # 22 km apart: a crime reaches 10 km
        site = Site(organisation=world.org, name=f"Venue {n}", latitude=lat, longitude=lon, timezone="Europe/London")
        sites.append(site)
        _arrived(feed, *_away(lat, lon, 300), later, category="crime", title=f"Robbery {n}")
    db.session.add_all(sites)
    details = []
    for n, site in enumerate(sites):
        detail = type(world.detail)(
            client=world.client, name=f"Day trip {n}", starts_at=later, ends_at=later + timedelta(hours=8)
        )
        detail.visits.append(Visit(site=site, arrives_at=later, departs_at=later + timedelta(hours=2)))
        details.append(detail)
    db.session.add_all(details)
    db.session.commit()
    assert len(_requested()) == 6

    # Another job is claiming three requests right now (its rows locked): this one skips them.
    with so.Session(db.engine) as other, other.begin():
        query = sa.select(IntelRematch.id).order_by(IntelRematch.id).limit(3).with_for_update()
        locked = set(other.scalars(query))
        claimed = {c.id for c in rematch.claim_requests(limit=6)}
        assert len(locked) == 3 and len(claimed) == 3 and not locked & claimed
    db.session.execute(sa.update(IntelRematch).values(claimed_until=None))
    db.session.commit()

    first = rematch.claim_requests(limit=4)
    second = rematch.claim_requests(limit=4)
    assert len(first) == 4 and len(second) == 2 and not {c.id for c in first} & {c.id for c in second}
    db.session.execute(sa.update(IntelRematch).values(claimed_until=None))
    db.session.commit()

    assert rematch.run() == 6
    assert _requested() == set()
    assert sorted(title for d in details for title, _, _ in _of(d.id)) == [f"Robbery {n}" for n in range(6)]


def test_a_detail_planned_after_a_travel_advisory_gets_it(world, feed, api):
    """A travel advisory covers a whole country and stays in force: a detail planned there later gets it."""
    advisory = FeedItem(
        feed=feed,
        guid="travel-gb",
        title="United Kingdom - Level 2: Exercise Increased Caution",
        category="terrorism",
        source_severity="low",
        located_by="country",
        place_name="United Kingdom",
        starts_at=T0 - timedelta(days=200),
        ends_at=T0 + timedelta(days=3000),
        details={
            "country_code": "GB",
            "country_codes": ["GB"],
            "travel_advisory": {"level": 2, "advice": "Exercise Increased Caution"},
        },
        matched_at=NOW,
    )
    db.session.add(advisory)
    db.session.commit()
    detail_id = _new_detail(api, world)
    visit = {"detail_id": detail_id, "site_id": world.hotel.id, "arrives_at": iso(T0)}
    assert api.post("/visits", json={**visit, "departs_at": iso(T0 + timedelta(hours=2))}).status_code == 201
    assert _of(detail_id) == []
    _the_job().run()
    assert [(title, severity) for title, severity, _ in _of(detail_id)] == [(advisory.title, "low")]
