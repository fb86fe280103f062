"""What a detail exposes, and where an item can reach it: venues, routes and their times.

A detail is exposed at its venues while the principal is there (visits), most of all around
arrival and departure, along each movement's route while it runs, and at the posts its team
holds with no visit, for the whole detail. An item is where its shape is (item_shape): a warning
area (a polygon or a box), a line or a CAP circle, else its point; it reaches a venue or a route
from the shape's edge, and covers what lies inside (reach_m).

DetailIndex puts the places many details' exposures are at (venues, routes) in a spatial index
(intel.domain.spatial), so that matching measures exact distances only for the candidates it
gives. The rule it keeps: its candidates are a superset of the exposures within the radius,
never fewer. Nothing here writes: exposures() reads a detail's visits, movements and posts
through its relationships.
"""

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from detail.models import Detail
from intel.domain.geometry import Shape, Shapes, distance_to_line_m, edge_distance_m, extent_m, of_geometry, route
from intel.domain.geometry import point as geometry_point
from intel.domain.spatial import ShapeTree
from intel.models import FeedItem

# Around arrival and departure: the principal is in the open, the moments that matter most.
TRANSITION = timedelta(minutes=30)


@dataclass(frozen=True)
class Exposure:
    """A place and time the principal is exposed: a venue during a window, or a route during a movement."""

    detail_id: int
    site_id: int | None
    label: str  # "the Grand Hotel", "the route LCY → ExCeL"
    moment: str  # "during arrival", "while the principal is there", "during the movement"
    weight: int  # how much this moment raises severity
    starts_at: datetime
    ends_at: datetime
    timezone: str
    point: tuple[float, float] | None = None
    segment: tuple[tuple[float, float], tuple[float, float]] | None = None


def exposures(detail: Detail) -> list[Exposure]:
    """The detail's exposures, from its visits, movements and reporting posts."""
    found: list[Exposure] = []
    for visit in detail.visits:
        site = visit.site
        point = (site.latitude, site.longitude)
        common = dict(detail_id=detail.id, site_id=site.id, label=site.name, timezone=site.timezone, point=point)
        found += [
            Exposure(
                moment="during arrival",
                weight=1,
                starts_at=visit.arrives_at - TRANSITION,
                ends_at=visit.arrives_at + TRANSITION,
                **common,
            ),
            Exposure(
                moment="during departure",
                weight=1,
                starts_at=visit.departs_at - TRANSITION,
                ends_at=visit.departs_at + TRANSITION,
                **common,
            ),
            Exposure(
                moment="while the principal is there",
                weight=0,
                starts_at=visit.arrives_at,
                ends_at=visit.departs_at,
                **common,
            ),
        ]
    for movement in detail.movements:
        a, b = movement.from_site, movement.to_site
        found.append(
            Exposure(
                detail_id=detail.id,
                site_id=None,
                label=f"the route {a.name} → {b.name}",
                moment="during the movement",
                weight=1,
                starts_at=movement.departs_at,
                ends_at=movement.arrives_at,
                timezone=a.timezone,
                segment=((a.latitude, a.longitude), (b.latitude, b.longitude)),
            )
        )
    posts = {a.site_id: a.site for a in detail.assignments if a.site is not None}
    visited = {v.site_id for v in detail.visits}
    for site in posts.values():
        if site.id not in visited:  # a post the team holds with no visit: exposed for the whole detail
            found.append(
                Exposure(
                    detail_id=detail.id,
                    site_id=site.id,
                    label="one of the team's posts",  # the reason reaches the client: the post is never named
                    moment="during the detail",
                    weight=0,
                    starts_at=detail.starts_at,
                    ends_at=detail.ends_at,
                    timezone=site.timezone,
                    point=(site.latitude, site.longitude),
                )
            )
    return found


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    """Whether two time windows share a moment (ends included)."""
    return a_start <= b_end and b_start <= a_end


def item_shape(item: FeedItem) -> Shape:
    """Where the item is: its area, line or circle when it has one, else its point."""
    return _drawn(item) or geometry_point(item.latitude, item.longitude)


def item_shapes(items: list[FeedItem]) -> Shapes:
    """item_shape of each item, packed (Shapes.of makes the bare points at once)."""
    lats = np.array([item.latitude for item in items], dtype=float)
    lons = np.array([item.longitude for item in items], dtype=float)
    return Shapes.of([_drawn(item) for item in items], lats, lons)


def _drawn(item: FeedItem) -> Shape | None:
    """The item's area, line or circle, or None for a point."""
    geometry = item.geometry
    if geometry and (geometry.get("type") != "point" or geometry.get("radius_km")):
        try:
            return _shape_of(_frozen(geometry))
        except (ValueError, TypeError):
            pass  # a stored shape this code cannot read: the item's point still places it
    return None


def _frozen(geometry: dict) -> tuple:
    coordinates = geometry.get("coordinates") or ()
    if coordinates and isinstance(coordinates[0], list | tuple):
        coordinates = tuple(tuple(p) for p in coordinates)
    else:
        coordinates = tuple(coordinates)
    return geometry.get("type"), coordinates, geometry.get("radius_km")


@functools.lru_cache(maxsize=8192)
def _shape_of(key: tuple) -> Shape:
    # Matching and severity ask for the same items' shapes many times over.
    kind, coordinates, radius_km = key
    return of_geometry({"type": kind, "coordinates": coordinates, "radius_km": radius_km})


_extent = functools.lru_cache(maxsize=8192)(extent_m)


def area_extent_m(item: FeedItem) -> float:
    """How far the item's area (or line, or circle) reaches from its middle: 0 for a bare point."""
    return _extent(item_shape(item))


def micros(moment: datetime) -> int:
    """A time as microseconds since the epoch (a naive time is UTC): exact, and comparable in numpy arrays."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    # Exact: a timestamp is within 0.2 us of the true one for any date this side of 2200.
    return round(moment.timestamp() * 1_000_000)


def reach_m(shape: Shape, place: Shape) -> tuple[float, bool]:
    """(metres, inside) from an item's shape to a place (a venue's point or a route): 0 and True when the
    place lies in its area (a route: partly), else the distance to its edge (intel.domain.geometry)."""
    if place.kind == "point":
        return edge_distance_m(shape, float(place.lats[0]), float(place.lons[0]))
    return distance_to_line_m(shape, place)


class DetailIndex:
    """The exposures of many details, and the places they are at (venues and routes) in a ShapeTree.

    The rule it keeps: candidates are a superset of the exposures within the radius of the item's shape
    (by reach_m), never fewer (intel.domain.spatial says why).
    """

    def __init__(self, details: list[Detail]):
        self.details = {d.id: d for d in details}
        self.exposures: list[Exposure] = [e for d in details for e in exposures(d)]
        # Each venue and each route is measured once, however many exposures it carries.
        keys: dict[tuple, int] = {}
        self.place_shapes: list[Shape] = []
        place_of = []
        for exposure in self.exposures:
            key = exposure.point or exposure.segment
            if key not in keys:
                keys[key] = len(self.place_shapes)
                shape = geometry_point(*exposure.point) if exposure.point else route(*exposure.segment)
                self.place_shapes.append(shape)
            place_of.append(keys[key])
        self.places = Shapes.of(self.place_shapes)
        self.place_of = np.array(place_of, dtype=np.int64)
        # The exposures at each place: exposures_by_place[place_offsets[p]:place_offsets[p + 1]].
        self.exposures_by_place = np.argsort(self.place_of, kind="stable")
        counts = np.bincount(self.place_of, minlength=len(self.place_shapes))
        self.place_offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.tree = ShapeTree(self.places)
        self.table = ExposureTable.of(self)

    def candidate_places(self, shapes: Shapes, radii_m) -> tuple[np.ndarray, np.ndarray]:
        """(shape, place) index pairs worth an exact look: a superset of the places within each shape's radius
        (a circle's own radius added)."""
        return self.tree.query(shapes.bounds, np.asarray(radii_m, dtype=float) + shapes.radii)

    def candidates(self, item: FeedItem, radius_m: float) -> set[int]:
        """Exposures worth an exact look for one item: a superset of those within the radius."""
        _, places = self.candidate_places(Shapes.of([item_shape(item)]), [radius_m])
        wanted = set(places.tolist())
        return {i for i, place in enumerate(self.place_of.tolist()) if place in wanted}


@dataclass(frozen=True, eq=False)
class ExposureTable:
    """A DetailIndex's exposures as numpy columns, for matching many items at once: times in micros()."""

    starts: np.ndarray
    ends: np.ndarray
    detail_starts: np.ndarray
    detail_ends: np.ndarray
    detail_order: np.ndarray  # the detail's position in the list the index was built from
    weights: np.ndarray
    is_point: np.ndarray
    zones: frozenset[str]

    @classmethod
    def of(cls, index: DetailIndex) -> "ExposureTable":
        order = {detail_id: n for n, detail_id in enumerate(index.details)}
        windows = np.array([(micros(d.starts_at), micros(d.ends_at)) for d in index.details.values()], dtype=np.int64)
        rows = index.exposures
        detail_order = np.array([order[e.detail_id] for e in rows], dtype=np.int64)
        return cls(
            starts=np.array([micros(e.starts_at) for e in rows], dtype=np.int64),
            ends=np.array([micros(e.ends_at) for e in rows], dtype=np.int64),
            detail_starts=windows[detail_order, 0] if rows else np.zeros(0, dtype=np.int64),
            detail_ends=windows[detail_order, 1] if rows else np.zeros(0, dtype=np.int64),
            detail_order=detail_order,
            weights=np.array([e.weight for e in rows], dtype=np.int64),
            is_point=np.array([e.point is not None for e in rows], dtype=bool),
            zones=frozenset(e.timezone or "UTC" for e in rows),
        )
