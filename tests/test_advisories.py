"""Items matched to details' venues, routes and times, with severity in context and reasons in words."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from geopy.distance import distance as geodesic_distance

from bench.statements import counted
from detail.domain.distance import distance_m
from detail.extensions import db
from intel.domain import advisories, matching
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
    # 1.4 km from the first, in other words: another happening.
    unrelated = _item(other_feed, *_away(world.hotel, 1_000, 270), T0, title="Taxi drivers block the Strand")
    events = advisories.record_candidates(world.org.id, [twin, unrelated], T0)
    assert sorted(e.kind for e in events) == ["advisory_candidate", "advisory_source_added"]
    rows = db.session.scalars(sa.select(Advisory).order_by(Advisory.id)).all()
    assert len(rows) == 2
    assert [s.item.feed.name for s in rows[0].sources] == ["Protest monitor", "Embassy alerts"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdvisorySource)) == 3


def test_a_batch_is_recorded_with_the_same_queries_whatever_its_size(world, feed):
    """A batch's new advisories are inserted without the unit of work, their sources in one statement, and
    their events read nothing more (a poll records thousands). (SQLite inserts the advisories one by one to
    return their ids in order; PostgreSQL in one statement.)"""

    def batch(n, hours):
        items = [_item(feed, *_away(world.hotel, 300, 10 * k), T0 + timedelta(hours=hours)) for k in range(n)]
        with counted(db.engine) as statements:
            events = advisories.record_candidates(world.org.id, items, T0)
        return events, statements

    batch(1, 0)  # the first batch also finds no advisory open yet: the two compared below both do
    (small, small_sql), (large, large_sql) = batch(3, 4), batch(30, 8)
    assert (len(small), len(large)) == (3, 30)  # one feed's items are each a happening of their own

    def selects(statements):
        return [s for s in statements if s.lstrip().upper().startswith("SELECT")]

    assert len(selects(large_sql)) == len(selects(small_sql)), "\n".join(s[:90] for s in selects(large_sql))
    assert sum(s.startswith("INSERT INTO advisory_source") for s in large_sql) == 1
    stored = db.session.get(Advisory, large[-1].payload["advisory_id"])
    assert large[-1].payload["sources"] == [{"title": "March on the square", "link": None, "feed": "Protest monitor"}]
    assert [s.item.title for s in stored.sources] == ["March on the square"]
    assert (stored.status, stored.summary, stored.created_at is not None) == ("candidate", "", True)


@pytest.fixture
def other_feed(world):
    other = Feed(organisation=world.org, url="http://127.0.0.1:1/b.xml", name="Embassy alerts")
    db.session.add(other)
    db.session.commit()
    return other


def _advisories(world):
    query = sa.select(Advisory).where(Advisory.detail_id == world.detail.id).order_by(Advisory.id)
    return [sorted(s.item.title for s in a.sources) for a in db.session.scalars(query)]


def test_two_feeds_reporting_one_march_in_other_words_make_one_advisory(world, feed, other_feed):
    march = _item(feed, *_away(world.hotel, 300), T0, title="Climate activists gather at Piccadilly Circus")
    report = _item(
        other_feed, *_away(world.hotel, 800, 180), T0 + timedelta(minutes=90), title="Road blocked by demonstrators"
    )
    assert distance_m(march.latitude, march.longitude, report.latitude, report.longitude) < 1_000
    advisories.record_candidates(world.org.id, [march], T0)
    events = advisories.record_candidates(world.org.id, [report], T0)
    assert [e.kind for e in events] == ["advisory_source_added"]
    assert _advisories(world) == [["Climate activists gather at Piccadilly Circus", "Road blocked by demonstrators"]]


def test_one_batch_merges_its_own_items_too(world, feed, other_feed):
    march = _item(feed, *_away(world.hotel, 300), T0, title="Climate activists gather at Piccadilly Circus")
    report = _item(other_feed, *_away(world.hotel, 500), T0, title="Road blocked by demonstrators")
    events = advisories.record_candidates(world.org.id, [march, report], T0)
    assert sorted(e.kind for e in events) == ["advisory_candidate", "advisory_source_added"]
    assert len(_advisories(world)) == 1


@pytest.mark.parametrize(
    "metres, hours, category, same_feed, title",
    [
        (2_500, 0, "protest", False, "Climate march at Trafalgar Square"),  # alike, but too far
        (1_500, 0, "protest", False, "Road blocked by demonstrators"),  # within 2 km, other words
        (600, 3, "protest", False, "Road blocked by demonstrators"),  # near, but 3 h apart, other words
        (300, 0, "crime", False, "Climate march at Trafalgar Square"),  # another category
        (300, 0, "protest", True, "Climate march at Trafalgar Square"),  # the same feed: two happenings
    ],
)
def test_what_is_not_the_same_happening_stays_apart(world, feed, other_feed, metres, hours, category, same_feed, title):
    _item(feed, world.hotel.latitude, world.hotel.longitude, T0, title="Climate march at Trafalgar Square")
    first = db.session.scalars(sa.select(FeedItem)).one()
    other = _item(
        feed if same_feed else other_feed,
        *_away(world.hotel, metres),
        T0 + timedelta(hours=hours),
        category=category,
        title=title,
    )
    advisories.record_candidates(world.org.id, [first, other], T0)
    assert len(_advisories(world)) == 2


def test_alike_titles_merge_within_2_km_and_6_hours(world, feed, other_feed):
    first = _item(feed, *_away(world.hotel, 300), T0, title="Climate march at Trafalgar Square")
    second = _item(
        other_feed, *_away(world.hotel, 1_500, 270), T0 + timedelta(hours=5), title="Climate march, Trafalgar Sq"
    )
    advisories.record_candidates(world.org.id, [first, second], T0)
    assert len(_advisories(world)) == 1


def _box_around(site, half_deg_lat, half_deg_lon, east_shift=0.0):
    return {
        "type": "box",
        "coordinates": [
            site.latitude - half_deg_lat,
            site.longitude - half_deg_lon + east_shift,
            site.latitude + half_deg_lat,
            site.longitude + half_deg_lon + east_shift,
        ],
    }


def test_overlapping_warning_areas_from_two_feeds_make_one_advisory(world, feed, other_feed):
    h = world.hotel
    # Both cover the hotel; their middles are 14 km apart, their words unlike.
    west = _box_around(h, 0.1, 0.2, east_shift=-0.1)
    east = _box_around(h, 0.1, 0.2, east_shift=0.1)
    storm = _item(
        feed,
        h.latitude,
        h.longitude - 0.1,
        T0,
        hours=6,
        category="weather",
        title="Yellow warning: thunderstorms",
        geometry=west,
    )
    rain = _item(
        other_feed,
        h.latitude,
        h.longitude + 0.1,
        T0 + timedelta(hours=4),
        hours=6,
        category="weather",
        title="Heavy rain alert for the capital",
        geometry=east,
    )
    advisories.record_candidates(world.org.id, [storm, rain], T0)
    assert _advisories(world) == [["Heavy rain alert for the capital", "Yellow warning: thunderstorms"]]


def test_areas_that_do_not_overlap_in_place_or_time_stay_apart(world, feed, other_feed):
    h = world.hotel
    storm = _item(
        feed,
        h.latitude,
        h.longitude,
        T0,
        hours=2,
        category="weather",
        title="Yellow warning: thunderstorms",
        geometry=_box_around(h, 0.05, 0.05),
    )
    elsewhere = _item(
        other_feed,
        h.latitude,
        h.longitude + 0.2,
        T0,
        hours=2,
        category="weather",
        title="Heavy rain alert",
        geometry=_box_around(h, 0.05, 0.05, east_shift=0.2),
    )
    later = _item(
        other_feed,
        h.latitude,
        h.longitude,
        T0 + timedelta(hours=9),
        hours=2,
        category="weather",
        title="Fog warning",
        geometry=_box_around(h, 0.05, 0.05),
    )
    advisories.record_candidates(world.org.id, [storm, elsewhere, later], T0)
    assert len(_advisories(world)) == 3


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


def test_a_watch_areas_reason_says_how_the_items_time_was_read_as_a_details_does(world, feed):
    office = WatchArea(
        client_id=world.client.id, name="Northwind HQ", latitude=51.515, longitude=-0.09, radius_m=10_000,
        timezone="Europe/London",
    )  # fmt: skip
    db.session.add(office)
    basis = "stated: Sun 29 Nov 08:00 GMT, assumed for 3 h"
    stated = _item(feed, 51.52, -0.10, T0 + timedelta(days=5), title="Strike at the bank", time_basis=basis)
    untimed = _item(feed, 51.52, -0.10, T0 + timedelta(days=5), title="Rally at the bank")
    at_hotel = _item(feed, *_away(world.hotel, 500), T0 - timedelta(minutes=15), time_basis=basis)
    advisories.record_candidates(world.org.id, [stated, untimed, at_hotel], T0)
    rows = {a.title: a for a in db.session.scalars(sa.select(Advisory).where(Advisory.watch_area_id.is_not(None)))}
    assert rows["Strike at the bank"].reason == (
        f"890 m from Northwind HQ (watch area), from Sun 29 Nov 08:00 GMT; {basis}"
    )
    assert rows["Rally at the bank"].reason == "890 m from Northwind HQ (watch area), from Sun 29 Nov 08:00 GMT"
    detail_reason = db.session.scalars(sa.select(Advisory.reason).where(Advisory.detail_id == world.detail.id)).one()
    assert detail_reason.endswith(f"; {basis}")


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
