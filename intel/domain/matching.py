"""Stored items against details' exposures: which details an item concerns, and how much.

An item becomes a candidate advisory for a detail when it lies within its category's radius of
an exposure (or its area contains the venue) and its time overlaps the detail's window with a
margin (MARGIN). Each item gets one match per detail: its best exposure there, by severity, then
a venue before a route, then nearness.

An item is measured from its shape's edge (exposures.reach_m): 0 inside a warning area. All
items go at once, as arrays: through the spatial prefilter (exposures.DetailIndex), the time
window, exact distances for each (item, place) pair left (a shape's pairs in one numpy call),
and severity (severity.severity_ranks); reasons are written for the winners only. It reads and
never writes: storing the matches as advisories is intel.domain.advisories' work.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.extensions import db
from detail.models import Assignment, Client, Detail, Movement, Visit, utcnow
from intel.domain.exposures import DetailIndex, area_extent_m, item_shapes, micros
from intel.domain.geometry import POINT, Shapes, distances_to_lines_m, edge_distances_m
from intel.domain.severity import item_basis, reason, severity_ranks, timings
from intel.models import SEVERITIES, FeedItem

# Items are weighed against the detail's window widened by this much on each side.
MARGIN = timedelta(hours=24)
# The relationships exposures.exposures reads, loaded with the details.
EXPOSURE_LOADS = (
    so.selectinload(Detail.visits).selectinload(Visit.site),
    so.selectinload(Detail.movements).selectinload(Movement.from_site),
    so.selectinload(Detail.movements).selectinload(Movement.to_site),
    so.selectinload(Detail.assignments).selectinload(Assignment.site),
)


@dataclass(frozen=True, slots=True)
class Match:
    """An item's best exposure on one detail, with the severity and the reason in words."""

    item_id: int
    detail_id: int
    site_id: int | None
    severity: str
    reason: str
    distance_m: float
    rank: int


def match_items(items: list[FeedItem], details: list[Detail]) -> list[Match]:
    """Each item's best exposure per detail, among items placed on the map and in time."""
    index = DetailIndex(details)
    placed = [item for item in items if item.located]
    if not placed or not index.exposures:
        return []
    shapes = item_shapes(placed)
    start, near_m, radius_m, city_level = _basis(placed)
    starts = np.array([micros(item.starts_at) for item in placed], dtype=np.int64)
    ends = np.array([micros(item.ends_at) for item in placed], dtype=np.int64)

    item_of, place_of = index.candidate_places(shapes, radius_m)
    item_of, place_of = _in_window(index, starts, ends, item_of, place_of)
    distances, inside = _measure(index, shapes, item_of, place_of)
    within = (distances <= radius_m[item_of]) | inside
    item_of, exposure_of, distances, inside = _exposures_in_window(
        index, starts, ends, item_of[within], place_of[within], distances[within], inside[within]
    )

    extents = np.zeros(len(placed))
    for i in np.unique(item_of[inside]).tolist():
        extents[i] = area_extent_m(placed[i])
    table = index.table
    timing = timings(
        starts[item_of],
        ends[item_of],
        table.starts[exposure_of],
        table.ends[exposure_of],
        table.detail_starts[exposure_of],
        table.detail_ends[exposure_of],
    )
    i = item_of
    ranks = severity_ranks(
        start[i],
        near_m[i],
        radius_m[i],
        city_level[i],
        extents[i],
        distances,
        inside,
        timing,
        table.weights[exposure_of],
    )
    winners = _best_per_detail(item_of, table.detail_order[exposure_of], exposure_of, ranks, table, distances)
    return _matches(index, placed, winners, item_of, exposure_of, distances, inside, timing, ranks)


def _basis(placed: list[FeedItem]) -> list[np.ndarray]:
    """severity.item_basis of the items, as four columns."""
    columns = ([], [], [], [])
    for item in placed:
        for column, value in zip(columns, item_basis(item), strict=True):
            column.append(value)
    return [np.array(column) for column in columns]


def _exposures_at(index: DetailIndex, starts, ends, item_of, place_of):
    """For each (item, place) pair, its place's exposures whose detail's window, widened by MARGIN, meets
    the item's time: (pair, exposure) index arrays, pair by pair and in the index's order within one."""
    counts = np.diff(index.place_offsets)[place_of]
    pair = np.repeat(np.arange(len(item_of)), counts)
    within = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
    exposure_of = index.exposures_by_place[np.repeat(index.place_offsets[place_of], counts) + within]
    margin = MARGIN // timedelta(microseconds=1)
    table, item_of = index.table, item_of[pair]
    meets = (starts[item_of] <= table.detail_ends[exposure_of] + margin) & (
        table.detail_starts[exposure_of] - margin <= ends[item_of]
    )
    return pair[meets], exposure_of[meets]


def _in_window(index: DetailIndex, starts, ends, item_of, place_of) -> tuple[np.ndarray, np.ndarray]:
    """The (item, place) pairs with an exposure in the item's time: the cheapest test, before any distance."""
    pair, _ = _exposures_at(index, starts, ends, item_of, place_of)
    kept = pair[np.flatnonzero(np.diff(pair, prepend=-1))]  # pairs come in order: each once
    return item_of[kept], place_of[kept]


def _exposures_in_window(index: DetailIndex, starts, ends, item_of, place_of, distances, inside):
    """The measured (item, place) pairs as (item, exposure) pairs, for the exposures in the item's time, in
    the order of the items, then of the index's exposures."""
    pair, exposure_of = _exposures_at(index, starts, ends, item_of, place_of)
    order = np.lexsort((exposure_of, item_of[pair]))
    pair, exposure_of = pair[order], exposure_of[order]
    return item_of[pair], exposure_of, distances[pair], inside[pair]


def _measure(index: DetailIndex, shapes: Shapes, item_of, places) -> tuple[np.ndarray, np.ndarray]:
    """(metres, inside) for each (item, place) pair, as exposures.reach_m measures one: venues, then routes."""
    distances = np.zeros(len(item_of))
    inside = np.zeros(len(item_of), dtype=bool)
    venue = index.places.kinds[places] == POINT
    rows = np.flatnonzero(venue)
    distances[rows], inside[rows] = edge_distances_m(shapes, item_of[rows], *index.places.first_points(places[rows]))
    rows = np.flatnonzero(~venue)
    distances[rows], inside[rows] = distances_to_lines_m(shapes, item_of[rows], index.places, places[rows])
    return distances, inside


def _best_per_detail(item_of, detail_order, exposure_of, ranks, table, distances) -> np.ndarray:
    """The pair that wins each (item, detail): the highest rank; at equal rank a venue before a route
    ("during arrival at the hotel" says more), then the nearest, then the first exposure. In the order of
    the items, then of the details."""
    details = int(detail_order.max(initial=0)) + 1
    group = item_of.astype(np.int64) * details + detail_order
    # Within a group: rank down, then venues (0) before routes (1).
    preference = (len(SEVERITIES) - 1 - ranks) * 2 + ~table.is_point[exposure_of]
    order = np.lexsort((exposure_of, distances, group * (2 * len(SEVERITIES)) + preference))
    return order[np.flatnonzero(np.diff(group[order], prepend=-1))]


def _matches(index, placed, winners, item_of, exposure_of, distances, inside, timing, ranks) -> list[Match]:
    zones = _loaded(index.table.zones)  # noqa: F841  (held until the reasons are written)
    columns = (item_of, exposure_of, distances, inside, timing, ranks)
    matches = []
    for i, e, distance, covered, when, rank in zip(*(c[winners].tolist() for c in columns), strict=True):
        item, exposure = placed[i], index.exposures[e]
        text = reason(item, exposure, distance, covered, index.details[exposure.detail_id], when)
        matches.append(Match(item.id, exposure.detail_id, exposure.site_id, SEVERITIES[rank], text, distance, rank))
    return matches


def _loaded(names) -> list[ZoneInfo]:
    """The zones that exist among these names. Reasons format local times in a few dozen zones, item after
    item: holding each zone keeps it in zoneinfo's cache rather than read again from disk whenever others
    pushed it out of the eight it keeps."""
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue  # formatting in it fails as it always did, for the matches it concerns only
    return zones


def active_details(organisation_id: int, now: datetime | None = None) -> list[Detail]:
    """Details that are not complete and not long over: the ones intel is weighed against."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            sa.select(Detail)
            .join(Client)
            .where(
                Client.organisation_id == organisation_id, Detail.state != "complete", Detail.ends_at >= now - MARGIN
            )
            # What exposures() reads, in a few queries for all the details rather than one lazy load per
            # detail and relationship (300 details: ~1,500 queries, a second of CPU).
            .options(*EXPOSURE_LOADS)
        )
    )
