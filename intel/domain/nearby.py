"""Stored items near a point: "what is near <place or venue> between <dates>?", and how far an item is.

An item is as far as its shape's edge (exposures.item_shape, geometry.edge_distances_m): 0 inside a
warning area, the distance to its edge outside, whatever the distance to its middle. near() asks the
database for the items that can be near: points in a box of degrees that holds the radius
(spatial.search_boxes), and every area, line and circle in the time window, whose middle may be far
from its edge; those go through a ShapeTree, then exact distances. Reads only.
"""

from datetime import datetime

import numpy as np
import sqlalchemy as sa

from detail.domain.distance import check_point
from detail.extensions import db
from intel.domain.exposures import item_shape, item_shapes
from intel.domain.geometry import edge_distance_m, edge_distances_m
from intel.domain.spatial import ShapeTree, search_boxes
from intel.models import Feed, FeedItem

# Geometries that are more than their point: measured to their edge, so their point says little.
_DRAWN = ("polygon", "box", "line")


def item_distance_m(item: FeedItem, latitude: float, longitude: float) -> float:
    """Metres from a point to the item: to its area's edge (0 inside), its line or circle, else its point."""
    latitude, longitude = check_point(latitude, longitude)
    distance, _ = edge_distance_m(item_shape(item), latitude, longitude)
    return distance


def near(
    organisation_id: int,
    latitude: float,
    longitude: float,
    radius_m: float,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> list[tuple[FeedItem, float]]:
    """Stored items within a radius of a point (and a time window), nearest first, with distances."""
    latitude, longitude = check_point(latitude, longitude)
    query = (
        sa.select(FeedItem).join(Feed).where(Feed.organisation_id == organisation_id, FeedItem.latitude.is_not(None))
    )
    if starts_at is not None:
        query = query.where(FeedItem.ends_at >= starts_at)
    if ends_at is not None:
        query = query.where(FeedItem.starts_at <= ends_at)
    here, radius = np.array([[latitude, longitude, latitude, longitude]]), np.array([float(radius_m)])
    boxes, _ = search_boxes(here, radius)
    around = [
        sa.and_(FeedItem.latitude.between(south, north), FeedItem.longitude.between(west, east))
        for west, south, east, north in (box.bounds for box in boxes)
    ]
    drawn = sa.or_(FeedItem.geometry["type"].as_string().in_(_DRAWN), FeedItem.geometry["radius_km"].as_float() > 0)
    items = list(db.session.scalars(query.where(sa.or_(drawn, *around))))
    if not items:
        return []
    shapes = item_shapes(items)
    _, candidates = ShapeTree(shapes).query(np.array([[latitude, longitude, latitude, longitude]]), [radius_m])
    distances, _ = edge_distances_m(
        shapes, candidates, np.full(len(candidates), latitude), np.full(len(candidates), longitude)
    )
    found = [(items[i], d) for i, d in zip(candidates.tolist(), distances.tolist(), strict=True) if d <= radius_m]
    return sorted(found, key=lambda pair: (pair[1], pair[0].id))
