"""Shapes on the Earth, and how far a point is from one: zero inside an area, else to its edge.

A Shape is a point, a circle (a CAP circle: a point and a radius), a line (a GeoRSS line, or a route:
the geodesic between two places cut into pieces of at most 5 km) or an area (a polygon or a box).
Positions are (latitude, longitude) in degrees, every one checked (detail/domain/distance.py's
check_point). Edges are straight in latitude/longitude, as maps draw them. A shape may cross the
antimeridian: its longitudes are unwrapped along it (170 then 190, not -170), so it is continuous in
its own frame, whose west lies in [-180, 180); a point is moved by whole turns to the shape's side.
An area spans less than 180 degrees of longitude and encloses no pole.

How far (edge_distances_m): 0 inside an area or a circle; otherwise the shape's nearest point is found
in a local projection around the point (metres east and north at its latitude on WGS84, in which
straight edges stay straight), and the answer is the WGS84 geodesic to that point. It is the exact
geodesic to a real point of the shape, so it is never less than the true distance; it is more only
where the projection's distortion (about (d/R)·tan(latitude) of a distance d, R the Earth's radius)
chose a point beside the nearest, which changes the distance only to second order along an edge:
tests/test_geometry.py measures it against densely sampled edges, within 0.1 % up to 300 km at
latitudes up to 70 degrees. Between an area (or a line) and a route, the route's point nearest the
area in a plane scaled at the area's middle latitude is measured that way.

Shapes packs many shapes into flat arrays, so that many (point, shape) pairs are measured in a few
numpy and shapely calls; a single pair goes through the same code (edge_distance_m). Distances
between points are detail/domain/distance.py's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from geographiclib.geodesic import Geodesic
from pyproj import Geod

from detail.domain.distance import check_point, geodesics_m, haversine_m

KINDS = ("point", "circle", "line", "area")
POINT, CIRCLE, LINE, AREA = range(4)

# WGS84, for the metres in a degree at a latitude.
_A = 6_378_137.0
_E2 = 0.0066943799901413165
# Beyond this, the nearest point is looked for again with the projection's scale at a better latitude.
_RESCALE_M = 50_000.0
# (point, edge) pairs measured in one go: arrays this long stay in the processor's cache (twice as fast as
# 250,000 on this machine).
_CHUNK_EDGES = 65_536


@dataclass(frozen=True, eq=False)
class Shape:
    """A point, circle, line or area, with its vertices in its own frame (see the module's docstring).

    An area's ring is closed (its first vertex repeated last). bounds is (south, west, north, east),
    west in [-180, 180) and east past 180 for a shape across the antimeridian.
    """

    kind: str
    lats: np.ndarray
    lons: np.ndarray
    radius_m: float = 0.0
    bounds: tuple[float, float, float, float] = field(init=False)

    def __post_init__(self):
        if len(self.lats) == 1:
            lat, lon = float(self.lats[0]), float(self.lons[0])
            bounds = lat, lon, lat, lon
        else:
            bounds = float(self.lats.min()), float(self.lons.min()), float(self.lats.max()), float(self.lons.max())
        object.__setattr__(self, "bounds", bounds)

    @property
    def geom(self) -> shapely.Geometry:
        """The shape for shapely, as (longitude, latitude): a Point (a circle's centre), LineString or Polygon."""
        made = self.__dict__.get("_geom")  # made once: an item's shape is met again and again
        if made is None:
            if self.kind in ("point", "circle"):
                made = shapely.Point(self.lons[0], self.lats[0])
            else:
                xy = np.column_stack((self.lons, self.lats))
                made = shapely.LineString(xy) if self.kind == "line" else shapely.Polygon(xy)
            self.__dict__["_geom"] = made
        return made


def _unwrapped(positions: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Checked latitudes and longitudes, each longitude within 180 degrees of the one before, west in [-180, 180)."""
    checked = [check_point(p[0], p[1]) for p in positions]
    if not checked:
        raise ValueError("a shape needs at least one position")
    lats = np.array([p[0] for p in checked])
    steps = np.diff([p[1] for p in checked])
    lons = checked[0][1] + np.concatenate(([0.0], np.cumsum((steps + 180.0) % 360.0 - 180.0)))
    lons -= 360.0 * np.floor((lons.min() + 180.0) / 360.0)
    return lats, lons


def point(lat: float, lon: float) -> Shape:
    lat, lon = check_point(lat, lon)
    return Shape("point", np.array([lat]), np.array([-180.0 if lon == 180.0 else lon]))


def circle(lat: float, lon: float, radius_m: float) -> Shape:
    """The points within radius_m (geodesic) of (lat, lon)."""
    radius_m = float(radius_m)
    if not (0.0 <= radius_m < math.inf):
        raise ValueError(f"radius {radius_m!r} must be a finite distance of 0 m or more")
    centre = point(lat, lon)
    return Shape("circle", centre.lats, centre.lons, radius_m)


def line(positions: Sequence[Sequence[float]]) -> Shape:
    lats, lons = _unwrapped(positions)
    if len(lats) < 2:
        return point(lats[0], lons[0])
    return Shape("line", lats, lons)


def polygon(positions: Sequence[Sequence[float]]) -> Shape:
    """An area bounded by a ring of positions (closing it, repeating the first, is optional)."""
    ring = [tuple(p) for p in positions]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ValueError("a polygon needs at least three vertices")
    lats, lons = _unwrapped([*ring, ring[0]])
    return Shape("area", lats, lons)


def box(south: float, west: float, north: float, east: float) -> Shape:
    """The area (south, west, north, east); west > east means it crosses the antimeridian."""
    south, west = check_point(south, west)
    north, east = check_point(north, east)
    if south > north:
        raise ValueError(f"bbox south {south} is north of its north {north}")
    if west > east:
        east += 360.0
    turn = 360.0 * math.floor((west + 180.0) / 360.0)
    lats = np.array([south, south, north, north, south])
    lons = np.array([west, east, east, west, west]) - turn
    return Shape("area", lats, lons)


@functools.lru_cache(maxsize=65536)
def route(start: tuple[float, float], end: tuple[float, float]) -> Shape:
    """The geodesic between two places, as the line through its vertices at most 5 km apart."""
    # Cut once and reused: matching meets the same few routes for thousands of items.
    return line(route_vertices(check_point(*start), check_point(*end)))


def of_geometry(geometry: dict) -> Shape:
    """A parsed item's geometry ({"type": "point"|"line"|"polygon"|"box", "coordinates": ...}, positions as
    (lat, lon); a point with "radius_km" is a CAP circle). ValueError when it is not one."""
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    try:
        if kind == "polygon":
            return polygon(coordinates)
        if kind == "box":
            return box(*coordinates)
        if kind == "line":
            return line(coordinates)
        if kind == "point":
            radius_km = geometry.get("radius_km")
            if radius_km:
                return circle(coordinates[0], coordinates[1], float(radius_km) * 1000.0)
            return point(coordinates[0], coordinates[1])
    except (TypeError, IndexError, KeyError) as exc:
        raise ValueError(f"not a {kind}: {coordinates!r}") from exc
    raise ValueError(f"unknown geometry type {kind!r}")


def extent_m(shape: Shape) -> float:
    """How far the shape reaches from its middle (the mean of its vertices): 0 for a point, a circle's radius."""
    if shape.kind == "point":
        return 0.0
    if shape.kind == "circle":
        return shape.radius_m
    lats, lons = (shape.lats[:-1], shape.lons[:-1]) if shape.kind == "area" else (shape.lats, shape.lons)
    lat, lon = float(lats.mean()), float(lons.mean())
    return max(haversine_m(lat, lon, float(a), float(b)) for a, b in zip(lats, lons, strict=True))


@dataclass(frozen=True, eq=False)
class Shapes:
    """Many shapes in flat arrays: shape i has kind kinds[i] (POINT, CIRCLE, LINE, AREA), radius radii[i] and
    the vertices lats[offsets[i]:offsets[i + 1]] (and lons), in its frame; bounds[i] and middles[i] (the
    middle of its longitudes); geoms[i] for shapely."""

    kinds: np.ndarray
    radii: np.ndarray
    offsets: np.ndarray
    lats: np.ndarray
    lons: np.ndarray
    bounds: np.ndarray
    middles: np.ndarray
    geoms: np.ndarray
    # From each vertex to the next (an edge, but from a shape's last vertex).
    lat_steps: np.ndarray = field(init=False)
    lon_steps: np.ndarray = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "lat_steps", np.diff(self.lats, append=0.0))
        object.__setattr__(self, "lon_steps", np.diff(self.lons, append=0.0))

    @classmethod
    def of(cls, shapes: Sequence[Shape | None], lats=None, lons=None) -> Shapes:
        """Shapes packed; where shapes[i] is None, the point (lats[i], lons[i]) (thousands of points are made
        at once rather than one by one)."""
        drawn = [i for i, shape in enumerate(shapes) if shape is not None]
        kinds = np.zeros(len(shapes), dtype=np.int8)
        radii = np.zeros(len(shapes))
        counts = np.ones(len(shapes), dtype=np.int64)
        for i in drawn:
            kinds[i], radii[i], counts[i] = KINDS.index(shapes[i].kind), shapes[i].radius_m, len(shapes[i].lats)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        vertex_lats, vertex_lons = np.zeros(offsets[-1]), np.zeros(offsets[-1])
        bounds = np.zeros((len(shapes), 4))
        bare = np.ones(len(shapes), dtype=bool)
        bare[drawn] = False
        if bare.any():
            lat, lon = _checked(np.asarray(lats, dtype=float)[bare], np.asarray(lons, dtype=float)[bare])
            vertex_lats[offsets[:-1][bare]], vertex_lons[offsets[:-1][bare]] = lat, lon
            bounds[bare] = np.column_stack((lat, lon, lat, lon))
        for i in drawn:
            at = slice(offsets[i], offsets[i + 1])
            vertex_lats[at], vertex_lons[at], bounds[i] = shapes[i].lats, shapes[i].lons, shapes[i].bounds
        # Points need no geometry of their own but in the spatial index: made at once, not one by one.
        geoms = shapely.points(vertex_lons[offsets[:-1]], vertex_lats[offsets[:-1]])
        for i in np.flatnonzero(kinds >= LINE).tolist():
            geoms[i] = shapes[i].geom
        middles = (bounds[:, 1] + bounds[:, 3]) / 2
        return cls(kinds, radii, offsets, vertex_lats, vertex_lons, bounds, middles, geoms)

    def __len__(self) -> int:
        return len(self.kinds)

    def first_points(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first vertex of each of these shapes (a point's or a circle's centre)."""
        first = self.offsets[which]
        return self.lats[first], self.lons[first]


def _checked(lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes as point() takes them: ValueError for one out of range (or NaN)."""
    if not np.all((lats >= -90.0) & (lats <= 90.0) & (lons >= -180.0) & (lons <= 180.0)):
        raise ValueError("a latitude is not within -90..90 or a longitude not within -180..180")
    return lats, np.where(lons == 180.0, -180.0, lons)


def _towards(lons: np.ndarray, middles: np.ndarray) -> np.ndarray:
    """Longitudes moved by whole turns to within 180 degrees of the middles."""
    return lons + 360.0 * np.round((middles - lons) / 360.0)


def _metres_per_degree(lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Metres in a degree of longitude and of latitude at these latitudes, on WGS84."""
    phi = np.radians(lats)
    w = np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    return np.radians(_A / w * np.cos(phi)), np.radians(_A * (1.0 - _E2) / w**3)


def _runs(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of these lengths laid end to end: the run of each element, and its place within the run."""
    run = np.repeat(np.arange(len(counts)), counts)
    return run, np.arange(len(run)) - np.repeat(np.cumsum(counts) - counts, counts)


def _to_edges_m(shapes: Shapes, which: np.ndarray, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Geodesic metres from each point to the point of its shape's edges nearest it in a local projection.

    The projection's scale is taken at the point's latitude; where that finds the shape farther than
    _RESCALE_M, it is taken again halfway between the point and what was found, and the nearer of the two
    answers kept: the scale error is then second order in the distance rather than first.
    """
    distances, found = _to_edges_at(shapes, which, lats, lons, lats)
    far = np.flatnonzero(distances > _RESCALE_M)
    if len(far):
        again, _ = _to_edges_at(shapes, which[far], lats[far], lons[far], (lats[far] + found[far]) / 2)
        distances[far] = np.minimum(distances[far], again)
    return distances


def _to_edges_at(shapes: Shapes, which, lats, lons, scale_lats) -> tuple[np.ndarray, np.ndarray]:
    """_to_edges_m with the projection's scale at scale_lats: (metres, latitude of the point found)."""
    edges = np.diff(shapes.offsets)[which] - 1
    distances, found, start = np.zeros(len(which)), np.zeros(len(which)), 0
    while start < len(which):
        stop = start + max(1, int(np.searchsorted(np.cumsum(edges[start:]), _CHUNK_EDGES, side="right")))
        at = slice(start, stop)
        distances[at], found[at] = _to_edges_chunk(shapes, which[at], lats[at], lons[at], scale_lats[at])
        start = stop
    return distances, found


def _to_edges_chunk(shapes: Shapes, which, lats, lons, scale_lats) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diff(shapes.offsets)[which] - 1
    _, within = _runs(counts)
    a = np.repeat(shapes.offsets[which], counts) + within  # each edge runs from vertex a to a + 1
    kx, ky = (np.repeat(k, counts) for k in _metres_per_degree(scale_lats))
    ax = (shapes.lons[a] - np.repeat(lons, counts)) * kx
    ay = (shapes.lats[a] - np.repeat(lats, counts)) * ky
    dx = shapes.lon_steps[a] * kx
    dy = shapes.lat_steps[a] * ky
    length2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(length2 > 0.0, np.clip(-(ax * dx + ay * dy) / length2, 0.0, 1.0), 0.0)
    x, y = ax + t * dx, ay + t * dy
    squared = x * x + y * y
    # The first nearest edge of each point.
    starts = np.cumsum(counts) - counts
    nearest = np.flatnonzero(squared == np.repeat(np.minimum.reduceat(squared, starts), counts))
    firsts = nearest[np.searchsorted(nearest, starts)]
    a, t = a[firsts], t[firsts]
    # The nearest point from its edge's ends, not from the projection: exact on the edge, even at a pole.
    lat = shapes.lats[a] + t * shapes.lat_steps[a]
    lon = shapes.lons[a] + t * shapes.lon_steps[a]
    return geodesics_m(lats, lons, lat, lon), lat


def edge_distances_m(shapes: Shapes, which, lats, lons) -> tuple[np.ndarray, np.ndarray]:
    """(metres, inside) from each point (checked already) to its shape, shapes[which[k]]: 0 and True inside an
    area or a circle, else the distance to the shape's nearest point (see the module's docstring)."""
    which = np.asarray(which, dtype=np.int64).reshape(-1)
    lats = np.asarray(lats, dtype=float).reshape(-1)
    lons = np.asarray(lons, dtype=float).reshape(-1)
    kinds = shapes.kinds[which]
    distances = np.zeros(len(which))
    inside = np.zeros(len(which), dtype=bool)
    centred = np.flatnonzero(kinds <= CIRCLE)
    if len(centred):
        radii = shapes.radii[which[centred]]
        to_centre = geodesics_m(lats[centred], lons[centred], *shapes.first_points(which[centred]))
        distances[centred] = np.maximum(to_centre - radii, 0.0)
        inside[centred] = (kinds[centred] == CIRCLE) & (to_centre <= radii)
    drawn = np.flatnonzero(kinds >= LINE)
    if len(drawn):
        moved = _towards(lons[drawn], shapes.middles[which[drawn]])
        area = kinds[drawn] == AREA
        covered = np.zeros(len(drawn), dtype=bool)
        covered[area] = shapely.intersects_xy(shapes.geoms[which[drawn[area]]], moved[area], lats[drawn[area]])
        inside[drawn] = covered
        out = drawn[~covered]
        distances[out] = _to_edges_m(shapes, which[out], lats[out], moved[~covered])
    return distances, inside


def distances_to_lines_m(shapes: Shapes, which, lines: Shapes, line_which) -> tuple[np.ndarray, np.ndarray]:
    """(metres, inside) from each shape, shapes[which[k]], to a line, lines[line_which[k]] (a route): 0 and
    True where the line lies partly inside an area or a circle, else measured from the line's point nearest
    the shape (found in a plane scaled at the shape's middle latitude) to the shape, as edge_distances_m
    measures: the geodesic between real points of both."""
    which = np.asarray(which, dtype=np.int64).reshape(-1)
    line_which = np.asarray(line_which, dtype=np.int64).reshape(-1)
    kinds = shapes.kinds[which]
    distances = np.zeros(len(which))
    inside = np.zeros(len(which), dtype=bool)
    centred = np.flatnonzero(kinds <= CIRCLE)
    if len(centred):
        to_centre, _ = edge_distances_m(lines, line_which[centred], *shapes.first_points(which[centred]))
        radii = shapes.radii[which[centred]]
        distances[centred] = np.maximum(to_centre - radii, 0.0)
        inside[centred] = (kinds[centred] == CIRCLE) & (to_centre <= radii)
    drawn = np.flatnonzero(kinds >= LINE)
    if not len(drawn):
        return distances, inside
    shape_of, line_of = which[drawn], line_which[drawn]
    # Each line's vertices, moved by whole turns to its shape's side of the antimeridian.
    owner, within = _runs(np.diff(lines.offsets)[line_of])
    vertex = lines.offsets[line_of][owner] + within
    turns = 360.0 * np.round((shapes.middles[shape_of] - lines.middles[line_of]) / 360.0)
    x, y = lines.lons[vertex] + turns[owner], lines.lats[vertex]
    covered = np.zeros(len(drawn), dtype=bool)
    area = np.flatnonzero(shapes.kinds[shape_of] == AREA)
    if len(area):
        # Most lines need no moving: their own geometry is tested as it is.
        lines_there = lines.geoms[line_of]
        turned = np.flatnonzero(turns != 0.0)
        if len(turned):
            kept = np.isin(owner, turned)
            moved = shapely.linestrings(x[kept], y[kept], indices=np.searchsorted(turned, owner[kept]))
            lines_there[turned] = moved
        covered[area] = shapely.intersects(shapes.geoms[shape_of[area]], lines_there[area])
    inside[drawn] = covered
    apart = np.flatnonzero(~covered)
    if len(apart):
        # In a plane scaled at the shape's middle latitude: the shape's outline and the line.
        k = np.maximum(0.01, np.cos(np.radians((shapes.bounds[shape_of, 0] + shapes.bounds[shape_of, 2]) / 2)))
        keep = np.isin(owner, apart)
        renumbered = np.searchsorted(apart, owner[keep])
        path = shapely.linestrings(x[keep] * k[owner[keep]], y[keep], indices=renumbered)
        s_owner, s_within = _runs(np.diff(shapes.offsets)[shape_of[apart]])
        s_vertex = shapes.offsets[shape_of[apart]][s_owner] + s_within
        outline = shapely.linestrings(shapes.lons[s_vertex] * k[apart][s_owner], shapes.lats[s_vertex], indices=s_owner)
        ends = shapely.get_coordinates(shapely.get_point(shapely.shortest_line(outline, path), 1))
        rows = drawn[apart]
        distances[rows], touching = edge_distances_m(shapes, which[rows], ends[:, 1], ends[:, 0] / k[apart])
        inside[rows] = touching
    return distances, inside


def edge_distance_m(shape: Shape, lat: float, lon: float) -> tuple[float, bool]:
    """(metres, inside) from one (checked) point to one shape: edge_distances_m for one pair."""
    distances, inside = edge_distances_m(Shapes.of([shape]), [0], [lat], [lon])
    return float(distances[0]), bool(inside[0])


def distance_to_line_m(shape: Shape, path: Shape) -> tuple[float, bool]:
    """(metres, inside) from one shape to one line: distances_to_lines_m for one pair."""
    distances, inside = distances_to_lines_m(Shapes.of([shape]), [0], Shapes.of([path]), [0])
    return float(distances[0]), bool(inside[0])


# A route is cut along its geodesic into pieces this long at most: within a piece, the straight line in
# latitude/longitude strays less than a metre from the geodesic at mid-latitudes (the gap grows with the
# square of the length and with the tangent of the latitude).
_SEGMENT_PIECE_M = 5_000.0
_SEGMENT_MAX_PIECES = 2_000
_WGS84 = Geod(ellps="WGS84")


def _wrap_lon(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


@functools.lru_cache(maxsize=65536)
def route_vertices(start: tuple[float, float], end: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """The geodesic from start to end, as vertices at most 5 km apart (2,000 pieces at most)."""
    length = Geodesic.WGS84.Inverse(start[0], start[1], end[0], end[1], Geodesic.DISTANCE)["s12"]
    pieces = min(_SEGMENT_MAX_PIECES, max(1, math.ceil(length / _SEGMENT_PIECE_M)))
    # PROJ's geodesic (geographiclib's algorithm, in C) spaces the points between the ends evenly: a
    # poller's first match cuts every route of the active details, a few hundred of them.
    between = _WGS84.npts(start[1], start[0], end[1], end[0], pieces - 1) if pieces > 1 else []
    return (start, *((lat, _wrap_lon(lon)) for lon, lat in between), end)
