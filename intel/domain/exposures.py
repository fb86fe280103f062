"""What a detail exposes, and where an item can reach it: venues, routes and their times.

A detail is exposed at its venues while the principal is there (visits), most of all around
arrival and departure, along each movement's route while it runs, and at the posts its team
holds with no visit, for the whole detail. An item reaches an exposure from its point or, for a
warning area (a polygon or a box), from its corners too.

DetailIndex puts many details' exposures in a grid (GridIndex) and box-tests routes, so that
matching measures exact geodesic distances only for the candidates it gives. The rule it keeps:
its candidates are a superset of the exposures within the radius, never fewer. Nothing here
writes: exposures() reads a detail's visits, movements and posts through its relationships.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from detail.domain.distance import fast_distance_m
from detail.models import Detail
from intel.domain.geometry import GridIndex, bbox_contains, point_in_polygon, route_bounds
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
                    label=site.name,
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


def area_covers(item: FeedItem, point: tuple[float, float]) -> bool:
    """Whether the item's area (a polygon or a box) contains the point; a bare point covers nothing."""
    geometry = item.geometry or {}
    if geometry.get("type") == "polygon":
        return point_in_polygon(point[0], point[1], [tuple(p) for p in geometry["coordinates"]])
    if geometry.get("type") == "box":
        return bbox_contains(point[0], point[1], tuple(geometry["coordinates"]))
    return False


def area_corners(item: FeedItem) -> list[tuple[float, float]]:
    """For an area, its vertices too: a cordon around a venue counts even when its centre is far."""
    geometry = item.geometry or {}
    if geometry.get("type") == "polygon":
        return [tuple(p) for p in geometry["coordinates"]]
    if geometry.get("type") == "box":
        south, west, north, east = geometry["coordinates"]
        return [(south, west), (south, east), (north, west), (north, east)]
    return []


def area_extent_m(item: FeedItem) -> float:
    """How far the item's area reaches from its point: 0 for a bare point."""
    corners = area_corners(item)
    if not corners:
        return 0.0
    return max(fast_distance_m(item.latitude, item.longitude, lat, lon) for lat, lon in corners)


class DetailIndex:
    """The exposures of many details, indexed for the prefilter."""

    def __init__(self, details: list[Detail]):
        self.details = {d.id: d for d in details}
        self.exposures: list[Exposure] = [e for d in details for e in exposures(d)]
        points = [(i, e.point[0], e.point[1]) for i, e in enumerate(self.exposures) if e.point]
        self.points = GridIndex(points, cell_km=25) if points else None
        # Each route's bounds come from its geodesic, not its ends: a long flight bulges poleward.
        self.segments = [(i, e) for i, e in enumerate(self.exposures) if e.segment]
        self.route_bounds = {i: route_bounds(*e.segment) for i, e in self.segments}

    def candidates(self, item: FeedItem, radius_m: float) -> set[int]:
        """Exposures worth an exact look: a superset of those within the radius."""
        found: set[int] = set()
        if self.points is not None:
            # Haversine only here: the exact geodesic is measured later, for what passes the time window.
            for lat, lon in [(item.latitude, item.longitude), *area_corners(item)]:
                found.update(self.points.near_candidates(lat, lon, radius_m))
        margin = radius_m / 111_000 + 0.01
        lon_margin = margin / max(0.05, _cos_lat(item.latitude))
        for i, _ in self.segments:
            bounds = self.route_bounds[i]
            if bounds is None:  # across the antimeridian: measured exactly, no box
                found.add(i)
                continue
            south, west, north, east = bounds
            # Cheap box test before the exact distance to the segment.
            if south - margin <= item.latitude <= north + margin and _lon_near(item.longitude, west, east, lon_margin):
                found.add(i)
        return found


def _cos_lat(lat: float) -> float:
    return math.cos(math.radians(lat))


def _lon_near(lon: float, lon1: float, lon2: float, margin: float) -> bool:
    return min(lon1, lon2) - margin <= lon <= max(lon1, lon2) + margin
