"""Near-duplicates: items from several feeds that report one happening, so they make one advisory.

Two items of the same category from different feeds report the same happening when
- they are within CLOSE_DISTANCE_M and CLOSE_TIME of each other, whatever their words (two feeds
  word the same march differently);
- their areas (polygons or boxes) overlap while their times do (one storm, two warnings);
- or, further apart (DUPLICATE_DISTANCE_M and DUPLICATE_TIME), their titles read alike.
Items from one feed are never merged: a feed that sends two items means two happenings.

OpenAdvisories holds the open advisories of some details with their items, so that a batch of
matches finds its duplicates in memory rather than with a query per match. It reads, never writes.
"""

from collections import defaultdict
from datetime import timedelta
from difflib import SequenceMatcher

import shapely
import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain.distance import distance_m
from detail.extensions import db
from intel.models import Advisory, AdvisorySource, FeedItem

# Close in place and time: the same happening whatever the words.
CLOSE_DISTANCE_M = 1_000
CLOSE_TIME = timedelta(hours=2)
# Further apart, titles that read alike still make one.
DUPLICATE_DISTANCE_M = 2_000
DUPLICATE_TIME = timedelta(hours=6)
DUPLICATE_TITLE_RATIO = 0.55
OPEN_STATUSES = ("candidate", "published")


def similar_titles(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= DUPLICATE_TITLE_RATIO


def area_of(item: FeedItem) -> shapely.Geometry | None:
    """The item's area as a shape in (longitude, latitude), or None for a point or a line."""
    geometry = item.geometry or {}
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "box":
        south, west, north, east = coordinates
        if west > east:  # across the antimeridian: the two halves
            return shapely.union(shapely.box(west, south, 180, north), shapely.box(-180, south, east, north))
        return shapely.box(west, south, east, north)
    if kind == "polygon" and len(coordinates) >= 3:
        shape = shapely.Polygon([(lon, lat) for lat, lon in coordinates])
        return shape if shape.is_valid else shapely.make_valid(shape)
    return None


def same_happening(a: FeedItem, b: FeedItem, areas: dict[int, shapely.Geometry | None] | None = None) -> bool:
    """Whether two items of one category, from different feeds, report the same happening."""
    if a.feed_id == b.feed_id or a.category != b.category:
        return False
    apart = abs(a.starts_at - b.starts_at)
    if apart <= DUPLICATE_TIME and a.located and b.located:
        distance = distance_m(a.latitude, a.longitude, b.latitude, b.longitude)
        if apart <= CLOSE_TIME and distance <= CLOSE_DISTANCE_M:
            return True
        if distance <= DUPLICATE_DISTANCE_M and similar_titles(a.title, b.title):
            return True
    if a.starts_at <= b.ends_at and b.starts_at <= a.ends_at:
        shape_a, shape_b = _area(a, areas), _area(b, areas)
        return shape_a is not None and shape_b is not None and shape_a.intersects(shape_b)
    return False


def _area(item: FeedItem, areas: dict[int, shapely.Geometry | None] | None) -> shapely.Geometry | None:
    if areas is None:
        return area_of(item)
    if item.id not in areas:
        areas[item.id] = area_of(item)
    return areas[item.id]


class OpenAdvisories:
    """The open advisories of some details, by (detail, category), each with its items."""

    def __init__(self, detail_ids: set[int], categories: set[str]):
        self._by_key: dict[tuple[int, str], list[tuple[Advisory, FeedItem]]] = defaultdict(list)
        self._areas: dict[int, shapely.Geometry | None] = {}
        if not detail_ids or not categories:
            return
        advisories = db.session.scalars(
            sa.select(Advisory)
            .where(
                Advisory.detail_id.in_(detail_ids),
                Advisory.category.in_(categories),
                Advisory.status.in_(OPEN_STATUSES),
            )
            .options(so.selectinload(Advisory.sources).selectinload(AdvisorySource.item))
        )
        for advisory in advisories:
            for source in advisory.sources:
                self.add(advisory, source.item)

    def add(self, advisory: Advisory, item: FeedItem) -> None:
        """Count the item as one of the advisory's, for the duplicates looked for after it."""
        self._by_key[(advisory.detail_id, advisory.category)].append((advisory, item))

    def duplicate_of(self, item: FeedItem, detail_id: int) -> Advisory | None:
        """An open advisory of the detail that reports the same happening as the item, from another feed."""
        for advisory, other in self._by_key.get((detail_id, item.category), ()):
            if same_happening(item, other, self._areas):
                return advisory
        return None
