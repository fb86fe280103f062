"""detail.domain.distance and intel.domain.geometry: checked coordinates, distances, the grid, routes and
shapes; and intel.domain.timezones, the zone at a point."""

import math
import random

import pytest
from geographiclib.geodesic import Geodesic

from detail.domain import distance
from intel.domain import gazetteer, geometry, timezones

# --------------------------------------------------------------------------------------------------------
# Coordinates and distances


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 0),
        (0, math.nan),
        (91, 0),
        (-90.0001, 0),
        (0, 180.5),
        (0, -181),
        (math.inf, 0),
        ("north", 0),
        (None, 0),
    ],
)
def test_bad_coordinates_raise_value_error(lat, lon):
    with pytest.raises(ValueError):
        distance.check_point(lat, lon)
    with pytest.raises(ValueError):
        distance.distance_m(lat, lon, 0, 0)
    with pytest.raises(ValueError):
        distance.fast_distance_m(0, 0, lat, lon)
    with pytest.raises(ValueError):
        timezones.timezone_at(lat, lon)
    with pytest.raises(ValueError):
        geometry.GridIndex([("x", lat, lon)])


def test_distance_of_850_metres():
    # Trafalgar Square to a point 850 m along a bearing of 60 degrees, on the ellipsoid.
    start = (51.50809, -0.12804)
    end = Geodesic.WGS84.Direct(*start, 60.0, 850.0)
    assert distance.distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, abs=0.001)
    assert distance.fast_distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, rel=0.006)
    index = geometry.GridIndex([("venue", end["lat2"], end["lon2"])], cell_km=1)
    assert index.near(*start, 851) == ["venue"]
    assert index.near(*start, 849) == []


def test_known_distances():
    # London to Paris (GeoNames points) is about 343.9 km; across the antimeridian stays short.
    assert distance.distance_m(51.50853, -0.12574, 48.85341, 2.3488) / 1000 == pytest.approx(343.9, abs=0.5)
    assert distance.distance_m(0, 179.9, 0, -179.9) == pytest.approx(22_264, rel=0.001)
    assert distance.distance_m(89.9, 0, 89.9, 180) == pytest.approx(22_338, rel=0.002)
    assert distance.distance_m(10, 10, 10, 10) == 0


# --------------------------------------------------------------------------------------------------------
# GridIndex against brute force


def random_points(rng, count):
    """Uniform on the sphere, plus crowds at the antimeridian, near both poles and on the poles."""
    points = []
    for i in range(count):
        points.append((f"u{i}", math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)))
    for i in range(count // 4):
        points.append((f"a{i}", rng.uniform(-60, 60), rng.choice([-1, 1]) * rng.uniform(179.0, 180.0)))
        points.append((f"n{i}", rng.uniform(84, 90), rng.uniform(-180, 180)))
        points.append((f"s{i}", rng.uniform(-90, -84), rng.uniform(-180, 180)))
    points += [("north-pole", 90.0, 0.0), ("south-pole", -90.0, 123.0), ("dateline", 0.0, 180.0)]
    return points


def brute_force(points, lat, lon, radius_m):
    found = []
    for key, p_lat, p_lon in points:
        d = Geodesic.WGS84.Inverse(lat, lon, p_lat, p_lon, Geodesic.DISTANCE)["s12"]
        if d <= radius_m:
            found.append(key)
    return set(found)


def random_queries(rng, count):
    queries = [
        (0.0, 179.95, 30_000),
        (-12.0, -179.99, 150_000),
        (45.0, 180.0, 80_000),
        (89.95, 10.0, 50_000),
        (88.0, -100.0, 400_000),
        (-89.0, 0.0, 200_000),
        (90.0, 0.0, 1_000_000),
        (-90.0, 0.0, 700_000),
        (70.0, 179.5, 300_000),
        (0.0, 0.0, 25_000_000),  # more than half the way round: everything
        (10.0, 10.0, 0.0),
    ]
    for _ in range(count):
        lat = math.degrees(math.asin(rng.uniform(-1, 1)))
        queries.append((lat, rng.uniform(-180, 180), 10 ** rng.uniform(3, 6.5)))
    return queries


@pytest.fixture(scope="module")
def scattered():
    """Points, queries and the brute-force answers, computed once for all cell sizes (geodesics are slow)."""
    rng = random.Random(20240517)
    points = random_points(rng, 800)
    queries = random_queries(rng, 20)
    return points, [(q, brute_force(points, *q)) for q in queries]


@pytest.mark.parametrize("cell_km", [2.0, 50.0, 500.0])
def test_grid_index_matches_brute_force(scattered, cell_km):
    points, answers = scattered
    index = geometry.GridIndex(points, cell_km=cell_km)
    assert len(index) == len(points)
    for (lat, lon, radius), expected in answers:
        near = index.near(lat, lon, radius)
        assert set(near) == expected, (lat, lon, radius)
        assert len(near) == len(set(near))
    assert sum(len(expected) for _, expected in answers) > 1000  # the queries do find things


def test_grid_index_near_boundaries_and_order():
    rng = random.Random(7)
    centre = (-16.5, 179.8)  # Fiji, across the antimeridian
    points = []
    for i in range(300):
        bearing, dist = rng.uniform(0, 360), rng.uniform(0, 60_000)
        p = Geodesic.WGS84.Direct(*centre, bearing, dist)
        points.append((i, p["lat2"], (p["lon2"] + 180) % 360 - 180, dist))
    index = geometry.GridIndex([(k, lat, lon) for k, lat, lon, _ in points], cell_km=10)
    near = index.near(*centre, 30_000)
    expected = sorted((d, k) for k, _, _, d in points if d <= 30_000)
    assert near == [k for _, k in expected]
    assert any(lon < 0 for k, _, lon, d in points if d <= 30_000)  # some really are across the line


def test_grid_index_rejects_bad_input():
    index = geometry.GridIndex(cell_km=10)
    with pytest.raises(ValueError):
        index.near(0, 0, -1)
    with pytest.raises(ValueError):
        index.near(0, 0, math.nan)
    with pytest.raises(ValueError):
        geometry.GridIndex(cell_km=0)
    index.add("a", 1, 1)
    index.add("a", 1, 1)
    assert index.near(1, 1, 0) == ["a", "a"]


# --------------------------------------------------------------------------------------------------------
# Routes and shapes


def test_distance_to_segment():
    # A route along the equator from 0°E to 1°E (111 km).
    a, b = (0.0, 0.0), (0.0, 1.0)
    assert geometry.distance_to_segment_m(0.0, 0.5, a, b) == pytest.approx(0.0, abs=0.5)
    north = Geodesic.WGS84.Direct(0.0, 0.5, 0.0, 1_000.0)
    assert geometry.distance_to_segment_m(north["lat2"], north["lon2"], a, b) == pytest.approx(1_000.0, abs=1.0)
    # Beyond an end, the distance is to that end.
    assert geometry.distance_to_segment_m(0.0, 1.2, a, b) == pytest.approx(
        distance.distance_m(0.0, 1.2, 0.0, 1.0), abs=0.01
    )
    assert geometry.distance_to_segment_m(0.3, -0.4, a, b) == pytest.approx(
        distance.distance_m(0.3, -0.4, 0, 0), abs=0.01
    )
    # A segment of one point is that point.
    assert geometry.distance_to_segment_m(51.5, -0.1, (51.5, -0.12), (51.5, -0.12)) == pytest.approx(
        distance.distance_m(51.5, -0.1, 51.5, -0.12), abs=0.01
    )
    # Across the antimeridian.
    assert geometry.distance_to_segment_m(0.01, 180.0, (0.0, 179.9), (0.0, -179.9)) == pytest.approx(1_106, abs=2)


def densified_distance(lat, lon, start, end, steps=4000):
    line = Geodesic.WGS84.InverseLine(*start, *end)
    best = math.inf
    for i in range(steps + 1):
        p = line.Position(line.s13 * i / steps)
        best = min(best, Geodesic.WGS84.Inverse(lat, lon, p["lat2"], p["lon2"], Geodesic.DISTANCE)["s12"])
    return best


@pytest.mark.parametrize(
    ("point", "start", "end"),
    [
        ((51.45, -0.05), (51.50809, -0.12804), (51.3, 0.3)),  # a few km, London
        ((48.9, 2.0), (48.85, 2.35), (45.76, 4.83)),  # Paris to Lyon, 390 km
        ((60.2, 24.5), (59.44, 24.75), (60.17, 24.94)),  # Tallinn to Helsinki, over the sea
        ((40.0, -100.0), (34.05, -118.24), (40.71, -74.01)),  # Los Angeles to New York: cut in pieces
    ],
)
def test_distance_to_segment_matches_a_dense_geodesic(point, start, end):
    expected = densified_distance(*point, start, end)
    assert geometry.distance_to_segment_m(*point, start, end) == pytest.approx(expected, rel=0.002, abs=5)


SQUARE = [(51.50, -0.14), (51.50, -0.11), (51.52, -0.11), (51.52, -0.14)]
# A U: the notch between its arms is outside.
U_SHAPE = [(0, 0), (0, 3), (3, 3), (3, 2), (1, 2), (1, 1), (3, 1), (3, 0)]
# A zone across the antimeridian, around Fiji and Samoa.
PACIFIC = [(-20, 170), (-20, -170), (-10, -170), (-10, 170)]


@pytest.mark.parametrize(
    ("lat", "lon", "polygon", "inside"),
    [
        (51.51, -0.125, SQUARE, True),
        (51.53, -0.125, SQUARE, False),
        (51.51, -0.15, SQUARE, False),
        (51.50, -0.12, SQUARE, True),  # on an edge
        (51.52, -0.14, SQUARE, True),  # on a vertex
        (51.51, -0.125, [*SQUARE, SQUARE[0]], True),  # closed ring
        (0.5, 1.5, U_SHAPE, True),
        (2.0, 1.5, U_SHAPE, False),  # in the notch
        (2.0, 0.5, U_SHAPE, True),
        (2.0, 2.5, U_SHAPE, True),
        (-15, 179.5, PACIFIC, True),
        (-15, -175, PACIFIC, True),
        (-15, 180, PACIFIC, True),
        (-15, 160, PACIFIC, False),
        (-15, -160, PACIFIC, False),
        (-25, 179, PACIFIC, False),
    ],
)
def test_point_in_polygon(lat, lon, polygon, inside):
    assert geometry.point_in_polygon(lat, lon, polygon) is inside


def test_point_in_polygon_rejects_bad_shapes():
    with pytest.raises(ValueError):
        geometry.point_in_polygon(0, 0, [(0, 0), (1, 1)])
    with pytest.raises(ValueError):
        geometry.point_in_polygon(0, 0, [(0, 0), (1, 1), (95, 1)])
    with pytest.raises(ValueError):
        geometry.point_in_polygon(math.nan, 0, SQUARE)


@pytest.mark.parametrize(
    ("lat", "lon", "bbox", "inside"),
    [
        (51.51, -0.12, (51.5, -0.14, 51.52, -0.11), True),
        (51.51, -0.10, (51.5, -0.14, 51.52, -0.11), False),
        (51.53, -0.12, (51.5, -0.14, 51.52, -0.11), False),
        (51.5, -0.14, (51.5, -0.14, 51.52, -0.11), True),
        (-15, 179, (-20, 170, -10, -170), True),  # west > east: across the antimeridian
        (-15, -175, (-20, 170, -10, -170), True),
        (-15, 0, (-20, 170, -10, -170), False),
    ],
)
def test_bbox_contains(lat, lon, bbox, inside):
    assert geometry.bbox_contains(lat, lon, bbox) is inside


def test_bbox_contains_rejects_bad_boxes():
    with pytest.raises(ValueError):
        geometry.bbox_contains(0, 0, (10, 0, 5, 1))
    with pytest.raises(ValueError):
        geometry.bbox_contains(0, 0, (0, 0, 1, 200))


# --------------------------------------------------------------------------------------------------------
# Time zones


@pytest.mark.parametrize(
    ("lat", "lon", "zone"),
    [
        (51.5074, -0.1278, "Europe/London"),
        (40.7128, -74.0060, "America/New_York"),
        (35.6762, 139.6503, "Asia/Tokyo"),
        (-33.8688, 151.2093, "Australia/Sydney"),
    ],
)
def test_timezone_at(lat, lon, zone):
    assert timezones.timezone_at(lat, lon) == zone


def test_timezone_at_sea_and_of_gazetteer_places():
    assert timezones.timezone_at(40.0, -30.0).startswith("Etc/GMT")
    zurich = gazetteer.lookup("Zurich")[0]
    assert timezones.timezone_at(zurich.latitude, zurich.longitude) == zurich.timezone == "Europe/Zurich"
