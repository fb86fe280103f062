"""Match stored items to details' venues, routes and times; weigh severity in context; dedupe.

A detail is exposed at its venues while the principal is there (visits), most of all around
arrival and departure, and along each movement's route while it runs. An item becomes a
candidate advisory for a detail when it lies within its category's radius of an exposure (or its
area contains the venue) and its time overlaps the detail's window with a margin. Severity
starts from the source's own (CAP, GDACS, USGS) or the category's usual one and moves with
distance and timing, and the reason says why in words:

    a protest 500 m from the venue during arrival  -> critical
    the same 40 km away, or the day after          -> low

Matching goes through a grid prefilter (intel.domain.geometry.GridIndex) before exact geodesic distances,
so it does not put every item-venue pair through geodesic.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher

import sqlalchemy as sa

from detail.domain import live
from detail.domain.distance import distance_m, fast_distance_m
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Client, Detail, utcnow
from intel.domain.geometry import GridIndex, bbox_contains, distance_to_segment_m, point_in_polygon, route_bounds
from intel.models import SEVERITIES, Advisory, AdvisorySource, FeedItem


@dataclass(frozen=True)
class Reach:
    """How far a category matters: `near_m` is close, `radius_m` the farthest it is worth a look."""

    near_m: float
    radius_m: float
    usual_severity: str


REACH = {
    "protest": Reach(1_000, 50_000, "moderate"),
    "civil_unrest": Reach(2_000, 75_000, "high"),
    "crime": Reach(500, 10_000, "low"),
    "terrorism": Reach(5_000, 100_000, "high"),
    "weather": Reach(10_000, 150_000, "moderate"),
    "natural_hazard": Reach(25_000, 300_000, "moderate"),
    "transport": Reach(2_000, 50_000, "low"),
    "health": Reach(10_000, 100_000, "low"),
    "other": Reach(1_000, 20_000, "info"),
}
# Items are weighed against the detail's window widened by this much on each side.
MARGIN = timedelta(hours=24)
# Around arrival and departure: the principal is in the open, the moments that matter most.
TRANSITION = timedelta(minutes=30)
# Near-duplicates from several feeds merge into one advisory.
DUPLICATE_DISTANCE_M = 2_000
DUPLICATE_TIME = timedelta(hours=6)
DUPLICATE_TITLE_RATIO = 0.55


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


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def _overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start <= b_end and b_start <= a_end


def _distance_text(metres: float) -> str:
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def _window_text(exposure: Exposure) -> str:
    start = local_time(exposure.starts_at, exposure.timezone, "%H:%M")
    end = local_time(exposure.ends_at, exposure.timezone, "%H:%M")
    day = local_time(exposure.starts_at, exposure.timezone, "%a %d %b")
    return f"{day} {start}–{end} local"


def _inside(item: FeedItem, point: tuple[float, float]) -> bool:
    geometry = item.geometry or {}
    if geometry.get("type") == "polygon":
        return point_in_polygon(point[0], point[1], [tuple(p) for p in geometry["coordinates"]])
    if geometry.get("type") == "box":
        return bbox_contains(point[0], point[1], tuple(geometry["coordinates"]))
    return False


def _timing(item: FeedItem, exposure: Exposure, detail: Detail) -> int:
    """How the item's time meets the exposure: 1 during it, 0 elsewhere in the detail, -1 outside the detail."""
    if _overlaps(item.starts_at, item.ends_at, exposure.starts_at, exposure.ends_at):
        return 1
    if _overlaps(item.starts_at, item.ends_at, detail.starts_at, detail.ends_at):
        return 0
    return -1


def severity_rank(item: FeedItem, exposure: Exposure, distance: float, inside: bool, timing: int) -> int:
    """The severity rank of an item against one exposure: the source's (or the category's), moved by
    distance and timing."""
    reach = REACH.get(item.category, REACH["other"])
    rank = _rank(item.source_severity or reach.usual_severity)
    # Placed from a city name, an item is only as close as "in that city": no bonus for nearness.
    city_level = item.located_by == "gazetteer"
    if inside:
        # A cordon around the venue is pointed; a warning area over a region already carries its severity.
        rank += 2 if _area_extent_m(item) <= reach.near_m else 0
    elif distance > reach.radius_m / 4:
        rank -= 2
    elif city_level:
        pass
    elif distance <= reach.near_m / 2:
        rank += 2
    elif distance <= reach.near_m:
        rank += 1
    rank += {1: exposure.weight, 0: -1, -1: -3}[timing]
    return max(0, min(rank, len(SEVERITIES) - 1))


def reason(item: FeedItem, exposure: Exposure, distance: float, inside: bool, detail: Detail, timing: int) -> str:
    """Why, in words: where the item is against the exposure, and when."""
    if timing == 1:
        when = f"{exposure.moment} {_window_text(exposure)}"
    elif timing == 0:
        when = "during the detail, while the principal is elsewhere"
    else:
        gap = min(abs(item.starts_at - detail.ends_at), abs(detail.starts_at - item.ends_at))
        side = "after" if item.starts_at > detail.ends_at else "before"
        when = f"{gap.total_seconds() / 3600:.0f} h {side} the detail"
    if inside:
        where = f"inside the area of the alert, covering {exposure.label}"
    elif item.located_by == "gazetteer":
        where = (
            f"in {item.place_name or 'the same city'}, about {_distance_text(distance)} from {exposure.label} "
            "(placed from its text)"
        )
    else:
        where = f"{_distance_text(distance)} from {exposure.label}"
    return f"{where}, {when}"


def weigh(item: FeedItem, exposure: Exposure, distance: float, inside: bool, detail: Detail) -> tuple[int, str]:
    """Severity rank and reason for an item against one exposure."""
    timing = _timing(item, exposure, detail)
    return severity_rank(item, exposure, distance, inside, timing), reason(
        item, exposure, distance, inside, detail, timing
    )


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
            for lat, lon in [(item.latitude, item.longitude), *_area_corners(item)]:
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


def _area_corners(item: FeedItem) -> list[tuple[float, float]]:
    """For an area, its vertices too: a cordon around a venue counts even when its centre is far."""
    geometry = item.geometry or {}
    if geometry.get("type") == "polygon":
        return [tuple(p) for p in geometry["coordinates"]]
    if geometry.get("type") == "box":
        south, west, north, east = geometry["coordinates"]
        return [(south, west), (south, east), (north, west), (north, east)]
    return []


def match_items(items: list[FeedItem], details: list[Detail]) -> list[Match]:
    """Each item's best exposure per detail, among items placed on the map and in time."""
    index = DetailIndex(details)
    matches: list[Match] = []
    for item in items:
        if not item.located:
            continue
        reach = REACH.get(item.category, REACH["other"])
        best: dict[int, tuple[tuple, Exposure, float, bool, int]] = {}
        for i in sorted(index.candidates(item, reach.radius_m + _area_extent_m(item))):
            exposure = index.exposures[i]
            detail = index.details[exposure.detail_id]
            # The time window is the cheapest test: before any distance.
            if not _overlaps(item.starts_at, item.ends_at, detail.starts_at - MARGIN, detail.ends_at + MARGIN):
                continue
            if exposure.point:
                distance = distance_m(item.latitude, item.longitude, *exposure.point)
                inside = _inside(item, exposure.point)
            else:
                distance = distance_to_segment_m(item.latitude, item.longitude, *exposure.segment)
                inside = False
            if distance > reach.radius_m and not inside:
                continue
            distance = 0.0 if inside else distance
            timing = _timing(item, exposure, detail)
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


def _area_extent_m(item: FeedItem) -> float:
    corners = _area_corners(item)
    if not corners:
        return 0.0
    return max(fast_distance_m(item.latitude, item.longitude, lat, lon) for lat, lon in corners)


def _watch_area_match(item: FeedItem, area) -> tuple[float | None, str] | None:
    """Distance (or None for a whole country) and the place phrase, when the item lies in the watch area."""
    if area.country_code:
        if (item.details or {}).get("country_code") == area.country_code:
            return None, f"in {area.name}"
        return None
    distance = distance_m(item.latitude, item.longitude, area.latitude, area.longitude)
    if distance > area.radius_m:
        return None
    return distance, f"{_distance_text(distance)} from {area.name}"


def record_watch_area_candidates(organisation_id: int, items: list[FeedItem]) -> list:
    """Candidates for clients' watch areas: places they care about with no detail scheduled."""
    from detail.models import Client
    from intel.models import WatchArea

    areas = db.session.scalars(
        sa.select(WatchArea)
        .join(Client, WatchArea.client_id == Client.id)
        .where(Client.organisation_id == organisation_id)
    ).all()
    events = []
    for item in items:
        if not item.located:
            continue
        for area in areas:
            found = _watch_area_match(item, area)
            if found is None:
                continue
            distance, where = found
            known = db.session.scalar(
                sa.select(AdvisorySource).where(
                    AdvisorySource.watch_area_id == area.id, AdvisorySource.item_id == item.id
                )
            )
            if known is not None:
                continue
            reach = REACH.get(item.category, REACH["other"])
            rank = _rank(item.source_severity or reach.usual_severity)
            if distance is not None and distance <= reach.near_m:
                rank += 1
            rank = max(0, min(rank, len(SEVERITIES) - 1))
            when = local_time(item.starts_at, area.timezone, "%a %d %b %H:%M local")
            advisory = Advisory(
                organisation_id=organisation_id,
                watch_area_id=area.id,
                title=item.title,
                category=item.category,
                severity=SEVERITIES[rank],
                reason=f"{where} (watch area), from {when}",
                distance_m=distance,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
            )
            advisory.sources.append(AdvisorySource(watch_area_id=area.id, item=item))
            db.session.add(advisory)
            db.session.flush()
            events.append(live.append_event(organisation_id, None, "advisory_candidate", advisory_payload(advisory)))
    return events


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


def _similar(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= DUPLICATE_TITLE_RATIO


def _duplicate_of(item: FeedItem, detail_id: int) -> Advisory | None:
    """An open advisory of the detail that reports the same happening from another feed."""
    advisories = db.session.scalars(
        sa.select(Advisory).where(
            Advisory.detail_id == detail_id,
            Advisory.category == item.category,
            Advisory.status.in_(("candidate", "published")),
        )
    )
    for advisory in advisories:
        for source in advisory.sources:
            other = source.item
            if (
                other.feed_id != item.feed_id
                and abs(other.starts_at - item.starts_at) <= DUPLICATE_TIME
                and distance_m(other.latitude, other.longitude, item.latitude, item.longitude) <= DUPLICATE_DISTANCE_M
                and _similar(other.title, item.title)
            ):
                return advisory
    return None


def record_candidates(organisation_id: int, items: list[FeedItem], now: datetime | None = None) -> list:
    """Store candidate advisories for the items' matches; return the board events (flushes, never commits)."""
    events = record_watch_area_candidates(organisation_id, items)
    details = active_details(organisation_id, now)
    if not details or not items:
        return events
    by_id = {item.id: item for item in items}
    for match in match_items(items, details):
        item = by_id[match.item_id]
        known = db.session.scalar(
            sa.select(AdvisorySource).where(
                AdvisorySource.detail_id == match.detail_id, AdvisorySource.item_id == item.id
            )
        )
        if known is not None:
            continue
        advisory = _duplicate_of(item, match.detail_id)
        if advisory is not None:
            advisory.sources.append(AdvisorySource(detail_id=match.detail_id, item=item))
            if match.rank > _rank(advisory.severity) and advisory.status == "candidate":
                advisory.severity, advisory.reason, advisory.distance_m = match.severity, match.reason, match.distance_m
            kind = "advisory_source_added"
        else:
            advisory = Advisory(
                organisation_id=organisation_id,
                detail_id=match.detail_id,
                site_id=match.site_id,
                title=item.title,
                category=item.category,
                severity=match.severity,
                reason=match.reason,
                distance_m=match.distance_m,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
            )
            advisory.sources.append(AdvisorySource(detail_id=match.detail_id, item=item))
            db.session.add(advisory)
            kind = "advisory_candidate"
        db.session.flush()
        events.append(live.append_event(organisation_id, match.detail_id, kind, advisory_payload(advisory)))
    return events


def advisory_payload(advisory: Advisory, for_client: bool = False) -> dict:
    """An advisory as boards (or, with for_client, clients) see it."""
    payload = {
        "advisory_id": advisory.id,
        "detail_id": advisory.detail_id,
        "watch_area": advisory.watch_area.name if advisory.watch_area else None,
        "title": advisory.title,
        "category": advisory.category,
        "severity": advisory.severity,
        "reason": advisory.reason,
        "distance_m": advisory.distance_m,
        "starts_at": advisory.starts_at.isoformat(),
        "ends_at": advisory.ends_at.isoformat(),
        "status": advisory.status,
        "summary": advisory.summary,
        "recommendation": advisory.recommendation,
        "published_at": advisory.published_at.isoformat() if advisory.published_at else None,
        "sources": [{"title": s.item.title, "link": s.item.link, "feed": s.item.feed.name} for s in advisory.sources],
    }
    if not for_client:
        payload["site"] = advisory.site.name if advisory.site else None
    return payload


class ReviewError(ValueError):
    """A review step that cannot be taken, with the reason."""


def publish(advisory: Advisory, user, summary: str, recommendation: str, now: datetime | None = None):
    """Publish for the client with a summary and recommendation; returns the board event."""
    if advisory.status not in ("candidate", "published"):
        raise ReviewError(f"a {advisory.status} advisory cannot be published")
    if not summary.strip() or not recommendation.strip():
        raise ReviewError("a published advisory needs a summary and a recommendation written for the client")
    now = now or utcnow()
    advisory.status = "published"
    advisory.summary, advisory.recommendation = summary.strip(), recommendation.strip()
    advisory.published_at = advisory.published_at or now
    advisory.reviewed_by, advisory.reviewed_at = user, now
    db.session.flush()
    return live.append_event(
        advisory.organisation_id, advisory.detail_id, "advisory_published", advisory_payload(advisory)
    )


def dismiss(advisory: Advisory, user, reason: str, now: datetime | None = None):
    if advisory.status != "candidate":
        raise ReviewError(f"only candidates are dismissed; this one is {advisory.status}")
    if not reason.strip():
        raise ReviewError("say why it is dismissed")
    now = now or utcnow()
    advisory.status, advisory.dismiss_reason = "dismissed", reason.strip()
    advisory.reviewed_by, advisory.reviewed_at = user, now
    db.session.flush()
    return live.append_event(
        advisory.organisation_id, advisory.detail_id, "advisory_dismissed", advisory_payload(advisory)
    )


def merge(advisory: Advisory, into: Advisory, user, now: datetime | None = None):
    """Fold a candidate into another advisory of the same detail: its sources move there."""
    if advisory.id == into.id or (advisory.detail_id, advisory.watch_area_id) != (into.detail_id, into.watch_area_id):
        raise ReviewError("merge into another advisory of the same detail or watch area")
    if advisory.status != "candidate" or into.status not in ("candidate", "published"):
        raise ReviewError("only a candidate can be merged, into a candidate or a published advisory")
    now = now or utcnow()
    for source in list(advisory.sources):
        source.advisory = into  # the row moves; the item stays counted once for the detail
    db.session.flush()
    if _rank(advisory.severity) > _rank(into.severity) and into.status == "candidate":
        into.severity, into.reason = advisory.severity, advisory.reason
    advisory.status, advisory.merged_into_id = "merged", into.id
    advisory.reviewed_by, advisory.reviewed_at = user, now
    db.session.flush()
    return live.append_event(
        advisory.organisation_id,
        advisory.detail_id,
        "advisory_merged",
        {**advisory_payload(into), "merged_from": advisory.id},
    )


def near(
    organisation_id: int,
    latitude: float,
    longitude: float,
    radius_m: float,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> list[tuple[FeedItem, float]]:
    """Stored items within a radius of a point (and a time window), nearest first, with distances."""
    from intel.models import Feed

    # A bounding box in SQL first, then exact distances.
    dlat = radius_m / 111_000
    dlon = radius_m / (111_000 * max(0.01, _cos_lat(latitude)))
    query = (
        sa.select(FeedItem)
        .join(Feed)
        .where(Feed.organisation_id == organisation_id, FeedItem.latitude.between(latitude - dlat, latitude + dlat))
    )
    if dlon < 180:
        lo, hi = longitude - dlon, longitude + dlon
        if lo < -180 or hi > 180:
            lo, hi = (lo + 360) % 360 - 180, (hi + 180) % 360 - 180
            query = query.where(sa.or_(FeedItem.longitude >= lo, FeedItem.longitude <= hi))
        else:
            query = query.where(FeedItem.longitude.between(lo, hi))
    if starts_at is not None:
        query = query.where(FeedItem.ends_at >= starts_at)
    if ends_at is not None:
        query = query.where(FeedItem.starts_at <= ends_at)
    found = []
    for item in db.session.scalars(query):
        distance = distance_m(latitude, longitude, item.latitude, item.longitude)
        if distance <= radius_m:
            found.append((item, distance))
    return sorted(found, key=lambda pair: pair[1])
