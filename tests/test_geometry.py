"""detail.domain.distance, intel.domain.geometry and intel.domain.spatial: checked coordinates, distances,
shapes and the distance to their edge, the spatial prefilter; and intel.domain.timezones, the zone at a point."""

import math
import random

import numpy as np
import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from detail.domain import distance
from intel.domain import gazetteer, geometry, spatial, timezones

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
        geometry.point(lat, lon)
    with pytest.raises(ValueError):
        geometry.polygon([(0, 0), (lat, lon), (1, 1)])


def test_distance_of_850_metres():
    # Trafalgar Square to a point 850 m along a bearing of 60 degrees, on the ellipsoid.
    start = (51.50809, -0.12804)
    end = Geodesic.WGS84.Direct(*start, 60.0, 850.0)
    assert distance.distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, abs=0.001)
    assert distance.fast_distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, rel=0.006)
    venue = geometry.point(end["lat2"], end["lon2"])
    assert geometry.edge_distance_m(venue, *start) == (pytest.approx(850.0, abs=0.001), False)
    assert distance.geodesics_m(*start, [end["lat2"]], [end["lon2"]]) == pytest.approx([850.0], abs=0.001)


def test_known_distances():
    # London to Paris (GeoNames points) is about 343.9 km; across the antimeridian stays short.
    assert distance.distance_m(51.50853, -0.12574, 48.85341, 2.3488) / 1000 == pytest.approx(343.9, abs=0.5)
    assert distance.distance_m(0, 179.9, 0, -179.9) == pytest.approx(22_264, rel=0.001)
    assert distance.distance_m(89.9, 0, 89.9, 180) == pytest.approx(22_338, rel=0.002)
    assert distance.distance_m(10, 10, 10, 10) == 0


# --------------------------------------------------------------------------------------------------------
# The spatial prefilter against brute force


def random_points(rng, count):
    """Uniform on the sphere, plus crowds at the antimeridian, near both poles and on the poles."""
    points = []
    for _ in range(count):
        points.append((math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)))
    for _ in range(count // 4):
        points.append((rng.uniform(-60, 60), rng.choice([-1, 1]) * rng.uniform(179.0, 180.0)))
        points.append((rng.uniform(84, 90), rng.uniform(-180, 180)))
        points.append((rng.uniform(-90, -84), rng.uniform(-180, 180)))
    return [*points, (90.0, 0.0), (-90.0, 123.0), (0.0, 180.0)]


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


def test_the_tree_finds_every_point_within_the_radius_and_few_others():
    rng = random.Random(20240517)
    points = random_points(rng, 800)
    tree = spatial.ShapeTree(geometry.Shapes.of([geometry.point(*p) for p in points]))
    lats, lons = np.array(points).T
    found_in_all = 0
    for lat, lon, radius in random_queries(rng, 30):
        distances = distance.geodesics_m(lat, lon, lats, lons)
        _, candidates = tree.query(np.array([[lat, lon, lat, lon]]), np.array([radius]))
        assert len(candidates) == len(set(candidates.tolist()))  # each once, across the antimeridian too
        assert set(np.flatnonzero(distances <= radius).tolist()) <= set(candidates.tolist()), (lat, lon, radius)
        # A prefilter, not a pass-through: a box around a small circle holds little more than the circle.
        if radius < 1_000_000 and abs(lat) < 60:
            assert len(candidates) <= 3 * max(1, (distances <= 1.5 * radius).sum())
        found_in_all += (distances <= radius).sum()
    assert found_in_all > 1000  # the queries do find things


def test_search_boxes_split_at_the_antimeridian_and_take_every_longitude_at_a_pole():
    boxes, owners = spatial.search_boxes(np.array([[0.0, 179.9, 0.0, 179.9], [89.9, 0, 89.9, 0]]), [50_000, 50_000])
    assert owners.tolist() == [0, 1, 0]
    assert [tuple(round(v, 3) for v in b.bounds) for b in boxes][1] == (-180.0, 89.448, 180.0, 90.0)
    west, east = boxes[0].bounds, boxes[2].bounds
    assert west[0] < 179.9 and west[2] == 180.0 and east[0] == -180.0 and -179.7 < east[2] < -179.6
    with pytest.raises(ValueError):
        spatial.search_boxes(np.array([[0.0, 0.0, 0.0, 0.0]]), [math.nan])


def test_the_tree_finds_shapes_across_the_antimeridian_from_either_side():
    drawn = [
        geometry.route((-17.76, 177.44), (-13.83, -171.76)),  # Nadi to Apia
        geometry.route((-13.83, -171.76), (-17.76, 177.44)),  # and back
        geometry.polygon([(-20, 179), (-20, -179), (-19, -179), (-19, 179)]),
        geometry.box(-20, 179, -19, -179),
        geometry.circle(-19.5, 180.0, 60_000),
    ]
    tree = spatial.ShapeTree(geometry.Shapes.of(drawn))
    for lon in (-179.5, 179.5):
        _, found = tree.query(np.array([[-19.5, lon, -19.5, lon]]), [10_000])
        assert sorted(found.tolist()) == [2, 3, 4], lon
    flight = Geodesic.WGS84.InverseLine(-17.76, 177.44, -13.83, -171.76)
    for metres in (150_000, 500_000):  # west of the antimeridian, then east of it
        on_the_way = flight.Position(metres)
        lat, lon = on_the_way["lat2"], on_the_way["lon2"]
        _, found = tree.query(np.array([[lat, lon, lat, lon]]), [5_000])
        assert sorted(found.tolist()) == [0, 1], lon


latitudes = st.floats(-89.0, 89.0)
longitudes = st.floats(-180.0, 180.0)


@st.composite
def shapes(draw):
    """A point, circle, polygon, box or route anywhere, areas up to a few degrees, across 180 degrees too."""
    lat, lon = draw(latitudes), draw(longitudes)
    kind = draw(st.sampled_from(["point", "circle", "polygon", "box", "route"]))
    if kind == "point":
        return geometry.point(lat, lon)
    if kind == "circle":
        return geometry.circle(lat, lon, draw(st.floats(0, 200_000)))
    size = draw(st.floats(0.01, 3.0))
    if kind == "box":
        south, north = max(-89.5, lat - size), min(89.5, lat + size)
        return geometry.box(south, geometry._wrap_lon(lon - size), north, geometry._wrap_lon(lon + size))
    if kind == "route":
        other = (
            max(-89.0, min(89.0, lat + draw(st.floats(-20, 20)))),
            geometry._wrap_lon(lon + draw(st.floats(-30, 30))),
        )
        return geometry.route((lat, lon), other)
    corners = draw(st.lists(st.floats(0, 2 * math.pi), min_size=3, max_size=8, unique=True))
    ring = [
        (max(-89.5, min(89.5, lat + size * math.sin(a))), geometry._wrap_lon(lon + size * math.cos(a)))
        for a in sorted(corners)
    ]
    assume(len(set(ring)) >= 3 and ring[0] != ring[-1])
    return geometry.polygon(ring)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes(), bearing=st.floats(0, 360), away=st.floats(0, 400_000), radius=st.floats(0, 300_000))
def test_the_tree_is_a_superset_of_what_lies_within_the_radius(shape, bearing, away, radius):
    # A point some way from a vertex of the shape, in any direction: inside, near the edge or far.
    vertex = Geodesic.WGS84.Direct(float(shape.lats[0]), float(shape.lons[0]), bearing, away)
    lat, lon = vertex["lat2"], geometry._wrap_lon(vertex["lon2"])
    exact, inside = geometry.edge_distance_m(shape, lat, lon)
    _, candidates = spatial.ShapeTree(geometry.Shapes.of([shape])).query(np.array([[lat, lon, lat, lon]]), [radius])
    if exact <= radius or inside:
        assert candidates.tolist() == [0]


# --------------------------------------------------------------------------------------------------------
# Shapes, and the distance to their edge


def _to_route(lat, lon, start, end):
    return geometry.edge_distance_m(geometry.route(start, end), lat, lon)[0]


def test_distance_to_a_route():
    # A route along the equator from 0°E to 1°E (111 km).
    a, b = (0.0, 0.0), (0.0, 1.0)
    assert _to_route(0.0, 0.5, a, b) == pytest.approx(0.0, abs=0.5)
    north = Geodesic.WGS84.Direct(0.0, 0.5, 0.0, 1_000.0)
    assert _to_route(north["lat2"], north["lon2"], a, b) == pytest.approx(1_000.0, abs=1.0)
    # Beyond an end, the distance is to that end.
    assert _to_route(0.0, 1.2, a, b) == pytest.approx(distance.distance_m(0.0, 1.2, 0.0, 1.0), abs=0.01)
    assert _to_route(0.3, -0.4, a, b) == pytest.approx(distance.distance_m(0.3, -0.4, 0, 0), abs=0.01)
    # A route of one point is that point.
    assert _to_route(51.5, -0.1, (51.5, -0.12), (51.5, -0.12)) == pytest.approx(
        distance.distance_m(51.5, -0.1, 51.5, -0.12), abs=0.01
    )
    # Across the antimeridian.
    assert _to_route(0.01, 180.0, (0.0, 179.9), (0.0, -179.9)) == pytest.approx(1_106, abs=2)
    assert _to_route(0.01, -180.0, (0.0, -179.9), (0.0, 179.9)) == pytest.approx(1_106, abs=2)


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
def test_distance_to_a_route_matches_a_dense_geodesic(point, start, end):
    expected = densified_distance(*point, start, end)
    assert _to_route(*point, start, end) == pytest.approx(expected, rel=0.002, abs=5)


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
        (-15, -180, PACIFIC, True),
        (-15, 160, PACIFIC, False),
        (-15, -160, PACIFIC, False),
        (-25, 179, PACIFIC, False),
    ],
)
def test_inside_a_polygon_is_zero_metres_away(lat, lon, polygon, inside):
    metres, covered = geometry.edge_distance_m(geometry.polygon(polygon), lat, lon)
    assert covered is inside
    assert (metres == 0.0) is inside


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
def test_inside_a_box_is_zero_metres_away(lat, lon, bbox, inside):
    metres, covered = geometry.edge_distance_m(geometry.box(*bbox), lat, lon)
    assert covered is inside and (metres == 0.0) is inside


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError):
        geometry.polygon([(0, 0), (1, 1)])
    with pytest.raises(ValueError):
        geometry.polygon([(0, 0), (1, 1), (95, 1)])
    with pytest.raises(ValueError):
        geometry.box(10, 0, 5, 1)  # south of its north
    with pytest.raises(ValueError):
        geometry.box(0, 0, 1, 200)
    with pytest.raises(ValueError):
        geometry.circle(0, 0, -1)
    for bad in ({"type": "polygon", "coordinates": [[0, 0]]}, {"type": "blob"}, {"type": "box", "coordinates": [1]}):
        with pytest.raises(ValueError):
            geometry.of_geometry(bad)


def edge_by_sampling(shape, lat, lon):
    """The geodesic to the nearest of many points along each edge (as drawn: straight in lat/lon), refined
    around the best: the true distance to the edge, to a millimetre."""
    lon = lon + 360 * round(((shape.bounds[1] + shape.bounds[3]) / 2 - lon) / 360)
    best = math.inf
    for i in range(len(shape.lats) - 1):
        low, high = 0.0, 1.0
        for _ in range(4):
            t = np.linspace(low, high, 201)
            lats = shape.lats[i] + t * (shape.lats[i + 1] - shape.lats[i])
            lons = shape.lons[i] + t * (shape.lons[i + 1] - shape.lons[i])
            metres = distance.geodesics_m(lat, lon, lats, lons)
            k, step = int(metres.argmin()), (high - low) / 200
            low, high = max(0.0, t[k] - step), min(1.0, t[k] + step)
        best = min(best, float(metres.min()))
    return best


def test_a_venue_3_km_outside_a_big_area_whose_middle_is_80_km_away_is_3_km_away():
    venue = (48.8566, 2.3522)
    middle = Geodesic.WGS84.Direct(*venue, 90.0, 80_000)
    ring = [Geodesic.WGS84.Direct(middle["lat2"], middle["lon2"], b, 77_000) for b in range(0, 360, 3)]
    area = geometry.polygon([(p["lat2"], p["lon2"]) for p in ring])
    metres, inside = geometry.edge_distance_m(area, *venue)
    assert not inside and 3_000 <= metres < 3_100  # the ring's chords lie a little inside the circle
    assert metres == pytest.approx(edge_by_sampling(area, *venue), abs=0.01)
    # And a town inside it is 0 m away, though its middle is kilometres off.
    town = Geodesic.WGS84.Direct(middle["lat2"], middle["lon2"], 200.0, 60_000)
    assert geometry.edge_distance_m(area, town["lat2"], town["lon2"]) == (0.0, True)


def test_a_box_is_measured_to_its_nearest_side():
    warning = geometry.box(51.0, -1.0, 52.0, 1.0)
    assert geometry.edge_distance_m(warning, 52.1, 0.0)[0] == pytest.approx(distance.distance_m(52.1, 0, 52.0, 0))
    assert geometry.edge_distance_m(warning, 50.9, 0.5)[0] == pytest.approx(distance.distance_m(50.9, 0.5, 51.0, 0.5))
    corner = geometry.edge_distance_m(warning, 52.5, 1.5)[0]
    assert corner == pytest.approx(edge_by_sampling(warning, 52.5, 1.5), abs=0.01)
    assert corner <= distance.distance_m(52.5, 1.5, 52.0, 1.0)


def test_areas_across_the_antimeridian_are_measured_across_it():
    for area in (geometry.polygon(PACIFIC), geometry.box(-20, 170, -10, -170)):
        east = geometry.edge_distance_m(area, -15.0, -169.0)[0]
        west = geometry.edge_distance_m(area, -15.0, 169.0)[0]
        assert east == pytest.approx(west, rel=1e-9) and 107_000 < east < 108_000
        assert east == pytest.approx(edge_by_sampling(area, -15.0, -169.0), rel=1e-5)
        assert geometry.edge_distance_m(area, -9.5, 180.0)[0] == pytest.approx(distance.distance_m(-9.5, 180, -10, 180))


def test_a_circle_is_measured_from_its_rim():
    alert = geometry.circle(51.5, -0.1, 2_000)
    assert geometry.edge_distance_m(alert, 51.505, -0.1) == (0.0, True)
    outside = distance.distance_m(51.55, -0.1, 51.5, -0.1) - 2_000
    assert geometry.edge_distance_m(alert, 51.55, -0.1) == (pytest.approx(outside), False)


def test_of_geometry_reads_what_the_parsers_give():
    assert geometry.of_geometry({"type": "point", "coordinates": [1.0, 2.0]}).kind == "point"
    assert geometry.of_geometry({"type": "point", "coordinates": [1.0, 2.0], "radius_km": 5}).radius_m == 5_000
    line = geometry.of_geometry({"type": "line", "coordinates": [[0, 0], [0, 1]]})
    assert line.kind == "line" and geometry.edge_distance_m(line, 0.01, 0.5)[0] == pytest.approx(1_106, abs=2)
    assert geometry.of_geometry({"type": "box", "coordinates": [0, 0, 1, 1]}).kind == "area"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes(), bearing=st.floats(0, 360), away=st.floats(1, 300_000))
def test_the_distance_to_an_edge_is_never_short_and_at_most_a_thousandth_long(shape, bearing, away):
    if shape.kind != "area" or max(abs(shape.bounds[0]), abs(shape.bounds[2])) > 70:
        return
    start = Geodesic.WGS84.Direct(float(shape.lats[1]), float(shape.lons[1]), bearing, away)
    lat, lon = start["lat2"], geometry._wrap_lon(start["lon2"])
    metres, inside = geometry.edge_distance_m(shape, lat, lon)
    if inside:
        return
    truth = edge_by_sampling(shape, lat, lon)
    assert truth - 0.01 <= metres <= truth * 1.001 + 0.01


def test_many_pairs_at_once_are_measured_exactly_as_one_at_a_time():
    rng = random.Random(11)
    drawn = [
        geometry.polygon(PACIFIC),
        geometry.polygon(U_SHAPE),
        geometry.box(51.0, -1.0, 52.0, 1.0),
        geometry.route((-17.76, 177.44), (-16.83, -179.96)),
        geometry.route((43.65, -79.38), (25.29, 51.53)),
        geometry.circle(10.0, 10.0, 5_000),
        geometry.point(0.0, 180.0),
    ]
    packed = geometry.Shapes.of(drawn)
    which = np.array([rng.randrange(len(drawn)) for _ in range(400)])
    lats = np.array([float(drawn[i].lats[0]) + rng.uniform(-3, 3) for i in which]).clip(-90, 90)
    lons = np.array([geometry._wrap_lon(float(drawn[i].lons[0]) + rng.uniform(-3, 3)) for i in which])
    distances, inside = geometry.edge_distances_m(packed, which, lats, lons)
    one_by_one = [geometry.edge_distance_m(drawn[i], a, b) for i, a, b in zip(which, lats, lons, strict=True)]
    assert list(zip(distances.tolist(), inside.tolist(), strict=True)) == one_by_one
    assert inside.any() and not inside.all()


def test_an_area_and_a_route_meet_or_are_measured_edge_to_route():
    fiji = geometry.route((-17.76, 177.44), (-16.83, -179.96))
    assert geometry.distance_to_line_m(geometry.polygon(PACIFIC), fiji) == (0.0, True)
    venue = (48.8566, 2.3522)
    middle = Geodesic.WGS84.Direct(*venue, 90.0, 80_000)
    ring = [Geodesic.WGS84.Direct(middle["lat2"], middle["lon2"], b, 77_000) for b in range(0, 360, 3)]
    area = geometry.polygon([(p["lat2"], p["lon2"]) for p in ring])
    west = Geodesic.WGS84.Direct(*venue, 270.0, 20_000)
    metres, inside = geometry.distance_to_line_m(area, geometry.route(venue, (west["lat2"], west["lon2"])))
    assert not inside and metres == pytest.approx(geometry.edge_distance_m(area, *venue)[0], abs=1.0)
    # A circle around the route's end covers it; a point is measured to the route.
    assert geometry.distance_to_line_m(geometry.circle(*venue, 500), fiji)[1] is False
    assert geometry.distance_to_line_m(geometry.circle(-17.76, 177.45, 2_000), fiji) == (0.0, True)


def test_extent_is_how_far_an_area_reaches_from_its_middle():
    assert geometry.extent_m(geometry.point(1, 1)) == 0.0
    assert geometry.extent_m(geometry.circle(1, 1, 2_500)) == 2_500
    box = geometry.box(-1, 179, 1, -179)  # across the antimeridian: its middle is at 180, not 0
    assert geometry.extent_m(box) == pytest.approx(distance.fast_distance_m(0, 180, 1, 179))


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
