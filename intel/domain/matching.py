"""Stored items against details' exposures: which details an item concerns, and how much.

An item becomes a candidate advisory for a detail when it lies within its category's radius of
an exposure (or its area contains the venue) and its time overlaps the detail's window with a
margin (MARGIN). Each item gets one match per detail: its best exposure there, by severity, then
a venue before a route, then nearness.

Matching goes through the grid prefilter (exposures.DetailIndex) before exact geodesic distances,
so it does not put every item-venue pair through geodesic. It reads and never writes: storing
the matches as advisories is intel.domain.advisories' work.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain.distance import distance_m
from detail.extensions import db
from detail.models import Client, Detail, utcnow
from intel.domain.exposures import DetailIndex, Exposure, area_covers, area_extent_m, overlaps
from intel.domain.geometry import distance_to_segment_m
from intel.domain.severity import REACH, reason, severity_rank, timing_of
from intel.models import SEVERITIES, FeedItem

# Items are weighed against the detail's window widened by this much on each side.
MARGIN = timedelta(hours=24)


@dataclass(frozen=True)
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
    matches: list[Match] = []
    for item in items:
        if not item.located:
            continue
        reach = REACH.get(item.category, REACH["other"])
        best: dict[int, tuple[tuple, Exposure, float, bool, int]] = {}
        for i in sorted(index.candidates(item, reach.radius_m + area_extent_m(item))):
            exposure = index.exposures[i]
            detail = index.details[exposure.detail_id]
            # The time window is the cheapest test: before any distance.
            if not overlaps(item.starts_at, item.ends_at, detail.starts_at - MARGIN, detail.ends_at + MARGIN):
                continue
            if exposure.point:
                distance = distance_m(item.latitude, item.longitude, *exposure.point)
                inside = area_covers(item, exposure.point)
            else:
                distance = distance_to_segment_m(item.latitude, item.longitude, *exposure.segment)
                inside = False
            if distance > reach.radius_m and not inside:
                continue
            distance = 0.0 if inside else distance
            timing = timing_of(item, exposure, detail)
            rank = severity_rank(item, exposure, distance, inside, timing)
            # At equal severity a venue says more than a route: "during arrival at the hotel".
            key = (rank, exposure.point is not None, -distance)
            current = best.get(detail.id)
            if current is None or key > current[0]:
                best[detail.id] = (key, exposure, distance, inside, timing)
        # Reasons are written for the winners only: formatting times is the costly part of weighing.
        for detail_id, (key, exposure, distance, inside, timing) in best.items():
            detail = index.details[detail_id]
            text = reason(item, exposure, distance, inside, detail, timing)
            matches.append(Match(item.id, detail_id, exposure.site_id, SEVERITIES[key[0]], text, distance, key[0]))
    return matches


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
        )
    )
