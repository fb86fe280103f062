"""Items matched to details' venues, routes and times, with severity in context and reasons in words."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from geographiclib.geodesic import Geodesic
from geopy.distance import distance as geodesic_distance

from detail.extensions import db
from intel.domain import advisories, exposures, geometry, matching
from intel.models import Advisory, AdvisorySource, Feed, FeedItem, WatchArea

from .conftest import T0

# The world's detail: the principal at the Grand Hotel T0..T0+2h (08:00-10:00 London), then a
# movement to ExCeL London T0+2h..T0+3h; the detail runs T0..T0+12h.


@pytest.fixture
def feed(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/a.xml", name="Protest monitor", country_code="GB")
    db.session.add(feed)
    db.session.commit()
    return feed


def _away(site, metres, bearing=90):
    point = geodesic_distance(meters=metres).destination((site.latitude, site.longitude), bearing)
    return point.latitude, point.longitude


_guid = iter(range(10_000))


def _item(feed, lat, lon, start, hours=1, category="protest", title="March on the square", **extra):
    item = FeedItem(
        feed=feed,
        guid=f"g{next(_guid)}",
        title=title,
        category=category,
        latitude=lat,
        longitude=lon,
        located_by="feed" if lat is not None else None,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        **extra,
    )
    db.session.add(item)
    db.session.flush()
    return item


def _match(world, item):
    matches = matching.match_items([item], matching.active_details(world.org.id, T0))
    return {m.detail_id: m for m in matches}.get(world.detail.id)


def test_march_500_m_away_during_arrival_is_critical(world, feed):
    item = _item(feed, *_away(world.hotel, 500), T0 - timedelta(minutes=15))
    match = _match(world, item)
    assert match.severity == "critical"
    assert match.reason == "500 m from Grand Hotel, during arrival Tue 24 Nov 07:30–08:30 GMT"
    assert match.distance_m == pytest.approx(500, abs=1)


def test_the_same_march_40_km_away_or_the_day_after_is_low(world, feed):
    far = _match(world, _item(feed, *_away(world.hotel, 40_000, bearing=0), T0 - timedelta(minutes=15)))
    assert far.severity == "low"
    assert far.reason.startswith("40.0 km from Grand Hotel, during arrival")
    day_after = _match(world, _item(feed, *_away(world.hotel, 500), T0 + timedelta(hours=20)))
    assert day_after.severity == "low"
    assert day_after.reason.endswith("8 h after the detail")
    noise = _match(world, _item(feed, *_away(world.hotel, 40_000, bearing=0), T0 + timedelta(hours=20)))
    assert noise.severity == "info"


def test_point_0_85_km_away_matches_and_the_wrong_axis_order_does_not(world, feed):
    lat, lon = _away(world.hotel, 850, bearing=200)
    assert _match(world, _item(feed, lat, lon, T0)).distance_m == pytest.approx(850, abs=1)
    # The same numbers read as (longitude, latitude) land in the Southern Ocean, thousands of km away.
    assert _match(world, _item(feed, lon, lat, T0)) is None


def test_out_of_time_and_out_of_reach_items_do_not_match(world, feed):
    assert _match(world, _item(feed, *_away(world.hotel, 500), T0 + timedelta(days=3))) is None
    assert _match(world, _item(feed, *_away(world.hotel, 60_000, bearing=270), T0)) is None  # beyond 50 km
    assert _match(world, _item(feed, None, None, T0)) is None  # unlocated items are kept, not matched


def test_an_area_around_the_venue_counts_even_when_its_centre_is_far(world, feed):
    h = world.hotel
    # A long thin cordon whose middle is 25 km east of the hotel but which covers it.
    polygon = [
        (h.latitude - 0.01, h.longitude - 0.01),
        (h.latitude - 0.01, h.longitude + 0.7),
        (h.latitude + 0.01, h.longitude + 0.7),
        (h.latitude + 0.01, h.longitude - 0.01),
    ]
    centre = (h.latitude, h.longitude + 0.345)
    item = _item(
        feed,
        *centre,
        T0 - timedelta(minutes=10),
        category="crime",
        title="Police cordon",
        geometry={"type": "polygon", "coordinates": polygon},
    )
    match = _match(world, item)
    assert match is not None and match.distance_m == 0
    assert match.reason.startswith("inside the area of the alert, covering Grand Hotel")


def test_route_exposure_during_the_movement(world, feed):
    h, v = world.hotel, world.venue
    middle = ((h.latitude + v.latitude) / 2 + 0.002, (h.longitude + v.longitude) / 2)
    match = _match(
        world, _item(feed, *middle, T0 + timedelta(hours=2, minutes=10), category="transport", title="Road closed")
    )
    assert "from the route Grand Hotel → ExCeL London, during the movement" in match.reason


def test_candidates_are_recorded_once_and_near_duplicates_merge(world, feed):
    other_feed = Feed(organisation=world.org, url="http://127.0.0.1:1/b.xml", name="Embassy alerts")
    db.session.add(other_feed)
    first = _item(feed, *_away(world.hotel, 400), T0, title="Climate march at Trafalgar Square")
    events = advisories.record_candidates(world.org.id, [first], T0)
    assert [e.kind for e in events] == ["advisory_candidate"]
    assert advisories.record_candidates(world.org.id, [first], T0) == []  # stored once
    twin = _item(other_feed, *_away(world.hotel, 600), T0 + timedelta(hours=1), title="Climate march, Trafalgar Sq")
    unrelated = _item(other_feed, *_away(world.hotel, 700), T0, title="Taxi drivers block the Strand")
    events = advisories.record_candidates(world.org.id, [twin, unrelated], T0)
    assert sorted(e.kind for e in events) == ["advisory_candidate", "advisory_source_added"]
    rows = db.session.scalars(sa.select(Advisory).order_by(Advisory.id)).all()
    assert len(rows) == 2
    assert [s.item.feed.name for s in rows[0].sources] == ["Protest monitor", "Embassy alerts"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdvisorySource)) == 3


def test_another_organisations_details_get_nothing(world, feed):
    rival_site = world.other_org_detail.visits[0].site
    item = _item(feed, rival_site.latitude, rival_site.longitude, world.other_org_detail.starts_at)
    assert advisories.record_candidates(world.org.id, [item], T0) == []


def test_review_publish_dismiss_merge(world, feed):
    a = _item(feed, *_away(world.hotel, 400), T0, title="Rally at the hotel")
    b = _item(feed, *_away(world.venue, 300), T0 + timedelta(hours=3), title="Strike at the docks")
    c = _item(feed, *_away(world.venue, 350), T0 + timedelta(hours=3), category="crime", title="Pickpockets")
    advisories.record_candidates(world.org.id, [a, b, c], T0)
    first, second, third = db.session.scalars(sa.select(Advisory).order_by(Advisory.id)).all()
    with pytest.raises(advisories.ReviewError, match="summary and a recommendation"):
        advisories.publish(first, world.coordinator, "", "")
    event = advisories.publish(first, world.coordinator, "A rally outside the hotel", "Use the rear entrance")
    assert event.kind == "advisory_published" and first.status == "published" and first.published_at
    with pytest.raises(advisories.ReviewError):
        advisories.dismiss(first, world.coordinator, "no")
    advisories.dismiss(second, world.coordinator, "Ended before our arrival")
    assert second.status == "dismissed" and second.dismiss_reason == "Ended before our arrival"
    advisories.merge(third, first, world.coordinator)
    assert third.status == "merged" and third.merged_into_id == first.id
    assert [s.item.title for s in first.sources] == ["Rally at the hotel", "Pickpockets"]


def test_near_answers_with_distances(world, feed):
    close = _item(feed, *_away(world.hotel, 1_200), T0, title="Close")
    _item(feed, *_away(world.hotel, 30_000), T0, title="Far")
    found = advisories.near(world.org.id, world.hotel.latitude, world.hotel.longitude, 5_000)
    assert [(item.id, round(d)) for item, d in found] == [(close.id, 1200)]
    later = advisories.near(
        world.org.id, world.hotel.latitude, world.hotel.longitude, 5_000, starts_at=T0 + timedelta(days=2)
    )
    assert later == []


def test_watch_areas_get_candidates_by_radius_and_by_country(world, feed):
    office = WatchArea(
        client_id=world.client.id,
        name="Northwind HQ, London",
        latitude=51.515,
        longitude=-0.09,
        radius_m=10_000,
        timezone="Europe/London",
    )
    france = WatchArea(client_id=world.client.id, name="France", country_code="FR", timezone="Europe/Paris")
    db.session.add_all([office, france])
    near_office = _item(feed, 51.52, -0.10, T0 + timedelta(days=5), title="Strike at the bank")
    in_paris = _item(
        feed, 48.8566, 2.3522, T0 + timedelta(days=5), title="Manifestation à Paris", details={"country_code": "FR"}
    )
    far = _item(feed, 53.48, -2.24, T0 + timedelta(days=5), title="Rally in Manchester")
    advisories.record_candidates(world.org.id, [near_office, in_paris, far], T0)
    rows = {a.title: a for a in db.session.scalars(sa.select(Advisory).where(Advisory.watch_area_id.is_not(None)))}
    assert set(rows) == {"Strike at the bank", "Manifestation à Paris"}
    assert (
        rows["Strike at the bank"].reason == "890 m from Northwind HQ, London (watch area), from Sun 29 Nov 08:00 GMT"
    )
    assert rows["Manifestation à Paris"].reason.startswith("in France (watch area)")
    assert rows["Strike at the bank"].detail_id is None
    advisories.record_candidates(world.org.id, [near_office], T0)  # once per watch area
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Advisory)) == 2


def test_items_placed_from_a_city_name_get_no_nearness_bonus(world, feed):
    lat, lon = _away(world.hotel, 400)
    precise = _match(world, _item(feed, lat, lon, T0 - timedelta(minutes=15)))
    city = _item(feed, lat, lon, T0 - timedelta(minutes=15), title="Demonstration alert: London")
    city.located_by, city.place_name = "gazetteer", "London"
    vague = _match(world, city)
    assert precise.severity == "critical" and vague.severity == "high"
    assert vague.reason.startswith("in London, about 400 m from Grand Hotel (placed from its text), during arrival")


def test_a_wide_warning_area_is_not_raised_by_covering_the_venue(world, feed):
    h = world.hotel
    region = [
        (h.latitude - 0.1, h.longitude - 0.2),
        (h.latitude - 0.1, h.longitude + 0.2),
        (h.latitude + 0.1, h.longitude + 0.2),
        (h.latitude + 0.1, h.longitude - 0.2),
    ]
    item = _item(
        feed,
        h.latitude,
        h.longitude,
        T0 + timedelta(minutes=30),
        category="weather",
        hours=1,
        title="Yellow warning of thunderstorms",
        source_severity="moderate",
        geometry={"type": "polygon", "coordinates": region},
    )
    match = _match(world, item)
    assert match.reason.startswith("inside the area of the alert, covering Grand Hotel, during arrival")
    # Its own severity, raised one step by the arrival only: covering the venue adds nothing.
    assert match.severity == "high"


def test_long_routes_match_along_their_geodesic_and_across_the_antimeridian():
    # Toronto to Doha passes over Poland, far north of both ends' latitudes.
    flight = SimpleNamespace(segment=((43.65, -79.38), (25.29, 51.53)), point=None)
    index = exposures.DetailIndex.__new__(exposures.DetailIndex)
    index.points = None
    index.exposures = [flight]
    index.segments = [(0, flight)]
    index.route_bounds = {0: geometry.route_bounds(*flight.segment)}
    line = Geodesic.WGS84.InverseLine(43.65, -79.38, 25.29, 51.53)
    on_route = line.Position(line.s13 * 0.55)
    below = SimpleNamespace(latitude=on_route["lat2"] - 0.3, longitude=on_route["lon2"], geometry=None)
    assert below.latitude > 43.65  # north of both ends: a box of the ends would miss it
    assert geometry.distance_to_segment_m(below.latitude, below.longitude, *flight.segment) < 50_000
    assert index.candidates(below, 50_000) == {0}
    # Fiji: a route across 180 degrees has no plain longitude band and is always measured.
    fiji = ((-17.7, 178.0), (-16.5, -179.9))
    assert geometry.route_bounds(*fiji) is None
    index.route_bounds = {0: None}
    assert index.candidates(SimpleNamespace(latitude=-17.0, longitude=179.5, geometry=None), 20_000) == {0}


def test_the_clients_payload_names_no_feed_source_or_venue(world, feed):
    item = _item(feed, *_away(world.hotel, 400), T0, title="Rally at the hotel", link="http://127.0.0.1:1/x")
    advisories.record_candidates(world.org.id, [item], T0)
    advisory = db.session.scalars(sa.select(Advisory)).one()
    team = advisories.advisory_payload(advisory)
    assert team["sources"][0]["feed"] == "Protest monitor" and team["site"]
    client = advisories.advisory_payload(advisory, for_client=True)
    assert "sources" not in client and "site" not in client
    assert "Protest monitor" not in repr(client) and "127.0.0.1:1/x" not in repr(client)


def test_a_general_strikes_transport_impact_is_said_in_the_reason(world, feed):
    strike = _item(feed, *_away(world.hotel, 400), T0, title="General strike", details={"impacts": ["transport"]})
    assert "with transport impact" in _match(world, strike).reason
    march = _item(feed, *_away(world.hotel, 400), T0)
    assert "impact" not in _match(world, march).reason
