"""intel.domain.nearby: stored items near a point, measured to an area's edge; the items API's near=, and
watch areas, which measure the same way."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from geographiclib.geodesic import Geodesic

from detail.extensions import db
from detail.web.auth import issue_token
from intel.domain import advisories, nearby
from intel.models import Advisory, Feed, FeedItem, WatchArea

from .conftest import T0

_guid = iter(range(10_000))


@pytest.fixture
def feed(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/n.xml", name="Warnings", country_code="GB")
    db.session.add(feed)
    db.session.commit()
    return feed


def _away(lat, lon, metres, bearing=90):
    p = Geodesic.WGS84.Direct(lat, lon, bearing, metres)
    return p["lat2"], p["lon2"]


def _item(feed, lat, lon, title, geometry=None, start=T0):
    item = FeedItem(
        feed=feed,
        guid=f"n{next(_guid)}",
        title=title,
        category="weather",
        latitude=lat,
        longitude=lon,
        located_by="feed",
        geometry=geometry,
        starts_at=start,
        ends_at=start + timedelta(hours=6),
    )
    db.session.add(item)
    db.session.flush()
    return item


def _area(feed, middle, radius_m, title):
    """A warning polygon around middle, its item placed at its middle (as the poller places one)."""
    ring = [list(_away(*middle, radius_m, bearing)) for bearing in range(0, 360, 3)]
    return _item(feed, *middle, title, {"type": "polygon", "coordinates": [*ring, ring[0]]})


def test_near_answers_with_distances_nearest_first(world, feed):
    h = (world.hotel.latitude, world.hotel.longitude)
    close = _item(feed, *_away(*h, 1_200), "Close")
    _item(feed, *_away(*h, 30_000), "Far")
    assert [(item.id, round(d)) for item, d in nearby.near(world.org.id, *h, 5_000)] == [(close.id, 1200)]
    assert nearby.near(world.org.id, *h, 5_000, starts_at=T0 + timedelta(days=2)) == []


def test_near_measures_to_an_areas_edge(world, feed):
    h = (world.hotel.latitude, world.hotel.longitude)
    # The hotel is inside this one, 40 km from its middle; and 3 km outside the other, 80 km from its middle.
    covering = _area(feed, _away(*h, 40_000, bearing=200), 60_000, "Covering")
    beside = _area(feed, _away(*h, 80_000, bearing=20), 77_000, "Beside")
    _area(feed, _away(*h, 200_000, bearing=20), 77_000, "Away")
    found = nearby.near(world.org.id, *h, 5_000)
    assert [item.title for item, _ in found] == ["Covering", "Beside"]
    assert found[0] == (covering, 0.0)
    assert found[1][0] == beside and found[1][1] == pytest.approx(3_000, abs=60)
    assert nearby.item_distance_m(beside, *h) == found[1][1]
    # Another organisation's warnings are not ours.
    assert nearby.near(world.other_org.id, *h, 5_000) == []


def test_near_across_the_antimeridian(world, feed):
    fiji = _item(feed, -17.5, 180.0, "Cyclone", {"type": "box", "coordinates": [-20, 175, -15, -175]})
    found = nearby.near(world.org.id, -16.83, -179.96, 1_000)  # Taveuni, inside the box
    assert found == [(fiji, 0.0)]
    east = nearby.near(world.org.id, -17.5, -174.9, 20_000)
    assert [item for item, _ in east] == [fiji] and 10_000 < east[0][1] < 11_000


def test_the_items_api_answers_near_with_edge_distances(client, world, feed):
    h = (world.hotel.latitude, world.hotel.longitude)
    _area(feed, _away(*h, 40_000, bearing=200), 60_000, "Covering")
    _area(feed, _away(*h, 80_000, bearing=20), 77_000, "Beside")
    db.session.commit()
    token = issue_token(world.coordinator, "t")
    db.session.commit()
    answer = client.get(
        f"/api/v1/items?near={h[0]:.6f},{h[1]:.6f}&radius_km=5", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200
    assert [(i["title"], round(i["distance_m"], -2)) for i in answer.json] == [("Covering", 0), ("Beside", 3000)]


def test_a_watch_area_inside_a_warning_is_0_m_away(world, feed):
    office = WatchArea(
        client_id=world.client.id,
        name="Northwind HQ",
        latitude=world.hotel.latitude,
        longitude=world.hotel.longitude,
        radius_m=5_000,
        timezone="Europe/London",
    )
    db.session.add(office)
    h = (world.hotel.latitude, world.hotel.longitude)
    covering = _area(feed, _away(*h, 40_000, bearing=200), 60_000, "Covering")
    covering.starts_at, covering.ends_at = T0 + timedelta(days=5), T0 + timedelta(days=6)
    advisories.record_watch_area_candidates(world.org.id, [covering])
    advisory = db.session.scalars(sa.select(Advisory).where(Advisory.watch_area_id == office.id)).one()
    assert advisory.distance_m == 0.0
