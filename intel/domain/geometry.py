"""Points, areas, boxes and routes: what lies within a distance of a point, or inside a shape.

Plain Python on (latitude, longitude) in degrees, every point checked (detail/domain/distance.py's
check_point), and every shape allowed to cross the antimeridian. ``GridIndex`` finds the points near
one through grid cells and the haversine, then the exact geodesic; a route is the geodesic between
its ends, measured piece by piece. Distances themselves are detail/domain/distance.py's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from geographiclib.geodesic import Geodesic

from detail.domain.distance import check_point, geodesic_m, haversine_m


def _check_radius(radius_m: float) -> float:
    radius_m = float(radius_m)
    if not (0.0 <= radius_m < math.inf):
        raise ValueError(f"radius {radius_m!r} must be a finite distance of 0 m or more")
    return radius_m


K = TypeVar("K")

# Bounds for the grid's search box, chosen so that it is never too small on the ellipsoid: the shortest
# degree of latitude (at the equator) and the smallest radius of curvature (meridional, at the equator).
_MIN_METRES_PER_DEGREE_LAT = 110_574.0
_MIN_RADIUS_OF_CURVATURE_M = 6_335_439.0
# The haversine is within distance.SPHERE_ERROR of the geodesic: a point this much beyond the radius is out
# for sure.
_HAVERSINE_MARGIN = 0.01


class GridIndex(Generic[K]):
    """Points on a latitude/longitude grid for "what is within r metres of here" questions.

    Cells are `cell_km` tall and (at the equator) wide. A query takes the points of the cells that its
    search box touches, wrapping across the antimeridian and taking every longitude when the box reaches a
    pole; the haversine drops those clearly out, and the geodesic decides the rest. Results are exact,
    nearest first.
    """

    def __init__(self, points: Iterable[tuple[K, float, float]] = (), cell_km: float = 10.0) -> None:
        cell_km = float(cell_km)
        if not (0.0 < cell_km < math.inf):
            raise ValueError("cell_km must be a positive number")
        cell_deg = cell_km / 111.32
        self.rows = max(1, int(180.0 // cell_deg))
        self.cols = max(1, int(360.0 // cell_deg))
        self.row_deg = 180.0 / self.rows
        self.col_deg = 360.0 / self.cols
        self._cells: dict[tuple[int, int], list[tuple[K, float, float]]] = {}
        self._size = 0
        for key, lat, lon in points:
            self.add(key, lat, lon)

    def __len__(self) -> int:
        return self._size

    def _row(self, lat: float) -> int:
        return min(self.rows - 1, max(0, int((lat + 90.0) // self.row_deg)))

    def _col(self, lon: float) -> int:
        return int((lon + 180.0) // self.col_deg) % self.cols

    def add(self, key: K, lat: float, lon: float) -> None:
        """Add a point (several keys may share a point, and a key may be added more than once)."""
        lat, lon = check_point(lat, lon)
        self._cells.setdefault((self._row(lat), self._col(lon)), []).append((key, lat, lon))
        self._size += 1

    def _columns(self, lat: float, lon: float, radius_m: float, lat_lo: float, lat_hi: float) -> Iterable[int]:
        if lat_hi >= 90.0 or lat_lo <= -90.0:
            return range(self.cols)
        angle = radius_m / _MIN_RADIUS_OF_CURVATURE_M
        ratio = math.sin(min(angle, math.pi / 2)) / math.cos(math.radians(lat))
        if ratio >= 1.0:
            return range(self.cols)
        half_width = math.degrees(math.asin(ratio)) * 1.01 + 1e-9
        first = int((lon - half_width + 180.0) // self.col_deg)
        last = int((lon + half_width + 180.0) // self.col_deg)
        if last - first + 1 >= self.cols:
            return range(self.cols)
        return (c % self.cols for c in range(first, last + 1))

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[tuple[K, float, float]]:
        half_height = radius_m / _MIN_METRES_PER_DEGREE_LAT * 1.01 + 1e-9
        lat_lo, lat_hi = lat - half_height, lat + half_height
        columns = list(self._columns(lat, lon, radius_m, lat_lo, lat_hi))
        rows = range(self._row(max(-90.0, lat_lo)), self._row(min(90.0, lat_hi)) + 1)
        if len(rows) * len(columns) > len(self._cells):
            # A search box wider than the data: walk the occupied cells rather than the empty ones.
            wanted = set(columns)
            for (row, col), points in self._cells.items():
                if row in rows and col in wanted:
                    yield from points
            return
        for row in rows:
            for col in columns:
                yield from self._cells.get((row, col), ())

    def near(self, lat: float, lon: float, radius_m: float) -> list[K]:
        """Keys of the points within `radius_m` metres (geodesic) of (lat, lon), nearest first."""
        return [key for key, _ in self.near_with_distances(lat, lon, radius_m)]

    def near_candidates(self, lat: float, lon: float, radius_m: float) -> list[K]:
        """Keys of the points that may be within `radius_m` (haversine with a margin, no geodesic): a superset
        of near()'s, for callers that filter on something cheaper before measuring exactly."""
        lat, lon = check_point(lat, lon)
        radius_m = _check_radius(radius_m)
        limit = radius_m * (1 + _HAVERSINE_MARGIN) + 1.0
        return [
            key
            for key, p_lat, p_lon in self._candidates(lat, lon, radius_m)
            if haversine_m(lat, lon, p_lat, p_lon) <= limit
        ]

    def near_with_distances(self, lat: float, lon: float, radius_m: float) -> list[tuple[K, float]]:
        """(key, geodesic metres) of the points within `radius_m` of (lat, lon), nearest first."""
        lat, lon = check_point(lat, lon)
        radius_m = _check_radius(radius_m)
        found = []
        for key, p_lat, p_lon in self._candidates(lat, lon, radius_m):
            if haversine_m(lat, lon, p_lat, p_lon) > radius_m * (1 + _HAVERSINE_MARGIN) + 1.0:
                continue
            d = geodesic_m(lat, lon, p_lat, p_lon)
            if d <= radius_m:
                found.append((d, key))
        found.sort(key=lambda item: item[0])
        return [(key, d) for d, key in found]


# A route is cut along its geodesic into pieces this long at most: within a piece, the straight line in
# latitude/longitude strays less than a metre from the geodesic at mid-latitudes (the gap grows with the
# square of the length and with the tangent of the latitude).
_SEGMENT_PIECE_M = 5_000.0
_SEGMENT_MAX_PIECES = 2_000


def _wrap_lon(delta: float) -> float:
    return (delta + 180.0) % 360.0 - 180.0


def _closest_on_piece(
    lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float, float]:
    """The point of piece a-b nearest (lat, lon) in an equirectangular projection around the point.

    Returns its squared planar distance (in degrees of latitude, squared) and its latitude and longitude.
    """
    k = math.cos(math.radians(lat))
    ax, ay = _wrap_lon(a[1] - lon) * k, a[0] - lat
    bx, by = _wrap_lon(b[1] - lon) * k, b[0] - lat
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    x, y = ax + t * dx, ay + t * dy
    c_lat = a[0] + t * (b[0] - a[0])
    c_lon = _wrap_lon(a[1] + t * _wrap_lon(b[1] - a[1]))
    return x * x + y * y, c_lat, c_lon


def distance_to_segment_m(lat: float, lon: float, start: tuple[float, float], end: tuple[float, float]) -> float:
    """Distance in metres from (lat, lon) to the route between two points, taken as their geodesic.

    The route is cut into pieces of at most 5 km; the nearest point of each piece is found in a local
    equirectangular projection around (lat, lon), and the geodesic distance to the nearest of those is
    returned. That is within a metre or so of the exact answer for routes of any length up to thousands of
    kilometres, away from the poles; a single projected segment would be good only for a few hundred.
    """
    lat, lon = check_point(lat, lon)
    vertices = _route_vertices(check_point(*start), check_point(*end))
    _, c_lat, c_lon = min(_closest_on_piece(lat, lon, a, b) for a, b in zip(vertices, vertices[1:], strict=False))
    return geodesic_m(lat, lon, c_lat, c_lon)


def route_bounds(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) of the route's geodesic (which bulges poleward between its ends), or None
    when it crosses the antimeridian and no plain longitude band holds it."""
    vertices = _route_vertices(check_point(*start), check_point(*end))
    lons = [lon for _, lon in vertices]
    if any(abs(b - a) > 180.0 for a, b in zip(lons, lons[1:], strict=False)):
        return None
    lats = [lat for lat, _ in vertices]
    return min(lats), min(lons), max(lats), max(lons)


@functools.lru_cache(maxsize=65536)
def _route_vertices(start: tuple[float, float], end: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    # A route is cut once and reused: matching asks about the same few routes for thousands of items.
    line = Geodesic.WGS84.InverseLine(start[0], start[1], end[0], end[1])
    pieces = min(_SEGMENT_MAX_PIECES, max(1, math.ceil(line.s13 / _SEGMENT_PIECE_M)))
    vertices = [start]
    for i in range(1, pieces):
        position = line.Position(line.s13 * i / pieces)
        vertices.append((position["lat2"], _wrap_lon(position["lon2"])))
    vertices.append(end)
    return tuple(vertices)


def _on_edge(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12


def point_in_polygon(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether (lat, lon) is inside the polygon of (lat, lon) vertices, or on its edge.

    Edges are straight in latitude/longitude, which is how map polygons are drawn. A polygon may cross the
    antimeridian (it is unwrapped around the point) but must span less than 180 degrees of longitude and
    not enclose a pole. Closing the ring (repeating the first vertex) is optional.
    """
    lat, lon = check_point(lat, lon)
    ring = [check_point(*vertex) for vertex in polygon]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ValueError("a polygon needs at least three vertices")
    points = [(_wrap_lon(v_lon - lon), v_lat) for v_lat, v_lon in ring]  # x east of the point, y latitude
    inside = False
    y = lat
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        if _on_edge(0.0, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y) and x1 + (y - y1) * (x2 - x1) / (y2 - y1) > 0.0:
            inside = not inside
    return inside


def bbox_contains(lat: float, lon: float, bbox: tuple[float, float, float, float]) -> bool:
    """Whether (lat, lon) is in the box (south, west, north, east); west > east means it crosses 180°."""
    lat, lon = check_point(lat, lon)
    south, west = check_point(bbox[0], bbox[1])
    north, east = check_point(bbox[2], bbox[3])
    if south > north:
        raise ValueError(f"bbox south {south} is north of its north {north}")
    if not south <= lat <= north:
        return False
    if west <= east:
        return west <= lon <= east
    return lon >= west or lon <= east
