"""intel.domain.matching and the index under it (intel.domain.exposures.DetailIndex): the prefilter never
loses an exposure within reach, match_items finds what measuring every pair finds, and an item is measured
from its area's edge."""

import math
import random
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.intel_matching import compare, naive_match_items
from detail.extensions import db
from intel.domain import exposures, geometry, matching
from intel.models import Feed, FeedItem

from .conftest import T0

START = datetime(2026, 11, 24, 6, tzinfo=timezone.utc)
# Cities where shapes meet the antimeridian, high latitudes and the equator, and ordinary ones.
CITIES = {
    "Suva": (-18.14, 178.44),
    "Taveuni": (-16.83, -179.96),
    "Apia": (-13.83, -171.76),
    "Tromso": (69.65, 18.96),
    "Reykjavik": (64.15, -21.94),
    "Quito": (-0.18, -78.47),
    "London": (51.51, -0.13),
    "Paris": (48.86, 2.35),
}


def _site(n, name, lat, lon):
    return SimpleNamespace(id=n, name=name, latitude=lat, longitude=lon, timezone="UTC")


def _near(rng, lat, lon, metres):
    p = Geodesic.WGS84.Direct(lat, lon, rng.uniform(0, 360), rng.uniform(0, metres))
    return p["lat2"], geometry._wrap_lon(p["lon2"])


def random_world(seed: int, details: int = 12, items: int = 250):
    """Details (visits, movements, posts) and items (points, polygons, boxes, circles, lines) around CITIES,
    as plain objects with the attributes matching reads."""
    rng = random.Random(seed)
    sites, built = [], []
    for name, (lat, lon) in CITIES.items():
        for _ in range(4):
            sites.append(_site(len(sites) + 1, f"{name} venue {len(sites)}", *_near(rng, lat, lon, 15_000)))
    for d in range(details):
        starts = START + timedelta(hours=rng.uniform(0, 72))
        stops = rng.sample(sites, 3)
        visits, movements, at = [], [], starts
        for site in stops:
            visits.append(
                SimpleNamespace(site=site, site_id=site.id, arrives_at=at, departs_at=at + timedelta(hours=2))
            )
            at += timedelta(hours=3)
        for a, b in zip(visits, visits[1:], strict=False):
            movements.append(
                SimpleNamespace(from_site=a.site, to_site=b.site, departs_at=a.departs_at, arrives_at=b.arrives_at)
            )
        post = rng.choice(sites)
        built.append(
            SimpleNamespace(
                id=d + 1,
                starts_at=starts,
                ends_at=at,
                visits=visits,
                movements=movements,
                assignments=[SimpleNamespace(site_id=post.id, site=post)],
            )
        )
    made = []
    for n in range(items):
        city = rng.choice(list(CITIES.values()))
        lat, lon = _near(rng, *city, 60_000)
        roll = rng.random()
        if roll < 0.2:
            size = rng.uniform(0.05, 1.0)
            corners = sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(3, 7)))
            ring = [
                (lat + size * math.sin(a), geometry._wrap_lon(lon + size * math.cos(a) / math.cos(math.radians(lat))))
                for a in corners
            ]
            shape = {"type": "polygon", "coordinates": [*ring, ring[0]]}
        elif roll < 0.3:
            half = rng.uniform(0.1, 1.5)
            box = [lat - half, geometry._wrap_lon(lon - half), lat + half, geometry._wrap_lon(lon + half)]
            shape = {"type": "box", "coordinates": box}
        elif roll < 0.4:
            shape = {"type": "point", "coordinates": [lat, lon], "radius_km": rng.uniform(0.5, 30)}
        elif roll < 0.45:
            shape = {"type": "line", "coordinates": [[lat, lon], list(_near(rng, lat, lon, 40_000))]}
        else:
            shape = {"type": "point", "coordinates": [lat, lon]}
        category = rng.choice(["protest", "crime", "weather", "natural_hazard", "transport", "other"])
        starts = START + timedelta(hours=rng.uniform(-30, 110))
        made.append(
            SimpleNamespace(
                id=n + 1,
                latitude=lat,
                longitude=lon,
                geometry=shape,
                category=category,
                source_severity=rng.choice([None, None, "low", "high"]),
                located_by=rng.choice(["feed", "feed", "feed", "gazetteer"]),
                place_name="the city",
                details={"impacts": ["transport"]} if rng.random() < 0.1 else {},
                time_basis="",
                starts_at=starts,
                ends_at=starts + timedelta(hours=rng.uniform(1, 30)),
                located=True,
            )
        )
    return built, made


@pytest.mark.parametrize("seed", [1, 2])
def test_match_items_finds_what_measuring_every_pair_finds(seed):
    details, items = random_world(seed)
    found = matching.match_items(items, details)
    exact, _ = naive_match_items(items, details)
    assert compare(found, exact)["same"]
    assert len(found) > 50
    # The world exercises what matters: areas covering venues and routes, routes across the antimeridian.
    assert any(m.reason.startswith("inside the area") for m in found)
    assert any("inside the area" in m.reason and "the route" in m.reason for m in found)
    assert any(m.site_id is None for m in found)


@st.composite
def item_shapes(draw):
    lat, lon = draw(st.floats(-80, 80)), draw(st.floats(-180, 180))
    kind = draw(st.sampled_from(["point", "polygon", "box", "circle"]))
    if kind == "point":
        return SimpleNamespace(latitude=lat, longitude=lon, geometry=None)
    if kind == "circle":
        radius = draw(st.floats(0.1, 100))
        return SimpleNamespace(
            latitude=lat, longitude=lon, geometry={"type": "point", "coordinates": [lat, lon], "radius_km": radius}
        )
    size = draw(st.floats(0.01, 2.0))
    if kind == "box":
        box = [lat - size, geometry._wrap_lon(lon - size), lat + size, geometry._wrap_lon(lon + size)]
        return SimpleNamespace(latitude=lat, longitude=lon, geometry={"type": "box", "coordinates": box})
    ring = [(lat + size * math.sin(a), geometry._wrap_lon(lon + size * math.cos(a))) for a in (0.3, 2.1, 3.5, 5.0)]
    return SimpleNamespace(latitude=lat, longitude=lon, geometry={"type": "polygon", "coordinates": ring})


@st.composite
def details_near(draw, item):
    """A detail with two venues and the route between them, somewhere within a few hundred km of the item."""
    places = []
    for n in range(2):
        p = Geodesic.WGS84.Direct(item.latitude, item.longitude, draw(st.floats(0, 360)), draw(st.floats(0, 4e5)))
        places.append(_site(n + 1, f"venue {n}", p["lat2"], geometry._wrap_lon(p["lon2"])))
    visits = [
        SimpleNamespace(site=s, site_id=s.id, arrives_at=START, departs_at=START + timedelta(hours=1)) for s in places
    ]
    movement = SimpleNamespace(from_site=places[0], to_site=places[1], departs_at=START, arrives_at=START)
    return SimpleNamespace(id=1, starts_at=START, ends_at=START, visits=visits, movements=[movement], assignments=[])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), radius=st.floats(0, 300_000))
def test_the_index_never_drops_an_exposure_within_reach(data, radius):
    item = data.draw(item_shapes())
    index = exposures.DetailIndex([data.draw(details_near(item))])
    candidates = index.candidates(item, radius)
    shape = exposures.item_shape(item)
    for i, place in enumerate(index.place_of.tolist()):
        distance, inside = exposures.reach_m(shape, index.place_shapes[place])
        if distance <= radius or inside:
            assert i in candidates


def _route_detail(start, end):
    a, b = _site(1, "A", *start), _site(2, "B", *end)
    movement = SimpleNamespace(from_site=a, to_site=b, departs_at=START, arrives_at=START + timedelta(hours=5))
    return SimpleNamespace(id=1, starts_at=START, ends_at=START, visits=[], movements=[movement], assignments=[])


def test_long_routes_are_found_along_their_geodesic_and_across_the_antimeridian():
    # Toronto to Doha passes over Poland, far north of both ends' latitudes.
    index = exposures.DetailIndex([_route_detail((43.65, -79.38), (25.29, 51.53))])
    on_route = Geodesic.WGS84.InverseLine(43.65, -79.38, 25.29, 51.53).Position(0.55 * 11_000_000)
    below = SimpleNamespace(latitude=on_route["lat2"] - 0.3, longitude=on_route["lon2"], geometry=None)
    assert below.latitude > 43.65  # north of both ends: a box of the ends would miss it
    assert index.candidates(below, 50_000) == {0}
    # Nadi to Taveuni, Fiji, across 180 degrees: found from either side, and nothing from Africa.
    index = exposures.DetailIndex([_route_detail((-17.76, 177.44), (-16.83, -179.96))])
    for lon in (179.5, -179.99):
        assert index.candidates(SimpleNamespace(latitude=-17.0, longitude=lon, geometry=None), 20_000) == {0}
    assert index.candidates(SimpleNamespace(latitude=-17.0, longitude=20.0, geometry=None), 50_000) == set()


# --- against the database's world: the Grand Hotel, T0..T0+2h, then ExCeL London --------------------------


@pytest.fixture
def feed(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/w.xml", name="Warnings", country_code="GB")
    db.session.add(feed)
    db.session.commit()
    return feed


def _ring_around(lat, lon, metres, step=3):
    ring = [Geodesic.WGS84.Direct(lat, lon, b, metres) for b in range(0, 360, step)]
    return [[p["lat2"], p["lon2"]] for p in ring]


def _warning(feed, ring, category="weather", title="Warning of severe thunderstorms"):
    middle = (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
    item = FeedItem(
        feed=feed,
        guid=title,
        title=title,
        category=category,
        latitude=middle[0],
        longitude=middle[1],
        located_by="feed",
        geometry={"type": "polygon", "coordinates": [*ring, ring[0]]},
        starts_at=T0,
        ends_at=T0 + timedelta(hours=6),
    )
    db.session.add(item)
    db.session.flush()
    return item


def _match(world, item):
    matches = matching.match_items([item], matching.active_details(world.org.id, T0))
    return {m.detail_id: m for m in matches}.get(world.detail.id)


def test_a_venue_inside_a_warning_area_is_0_m_away(world, feed):
    h = world.hotel
    # A crime cordon 40 km long whose middle is 20 km from the hotel, though the hotel is inside it.
    east = Geodesic.WGS84.Direct(h.latitude, h.longitude, 90, 20_000)
    ring = _ring_around(east["lat2"], east["lon2"], 21_000)
    match = _match(world, _warning(feed, ring, category="crime", title="Police cordon"))
    assert match.distance_m == 0.0 and match.site_id == h.id
    assert match.reason.startswith("inside the area of the alert, covering Grand Hotel")


def test_a_venue_3_km_outside_a_big_area_is_3_km_away(world, feed):
    h = world.hotel
    # A warning area whose middle is 80 km north-west of the hotel; its edge passes 3 km from it. Crime reaches
    # 10 km: measured from the middle, the hotel would be far out of reach.
    middle = Geodesic.WGS84.Direct(h.latitude, h.longitude, 315, 80_000)
    item = _warning(feed, _ring_around(middle["lat2"], middle["lon2"], 77_000), category="crime")
    match = _match(world, item)
    assert match.distance_m == pytest.approx(3_000, abs=60)
    assert match.reason.startswith(f"{match.distance_m / 1000:.1f} km from Grand Hotel")
    assert match.distance_m == pytest.approx(
        geometry.edge_distance_m(exposures.item_shape(item), h.latitude, h.longitude)[0]
    )
