"""Advisories: candidates stored from matches, near-duplicates merged, reviewed and published.

Matches (intel.domain.matching) become candidate advisories for a detail, and items inside a
client's watch area candidates for that area; an item reported by several feeds (close in place,
time and title) merges into one advisory rather than raising another. A coordinator publishes a
candidate for the client with a summary and a recommendation, dismisses it with a reason, or
merges it into another. advisory_payload is how boards and clients see one; near() finds the
stored items around a point.

The rule it keeps: functions here flush and never commit, and return the board events for the
caller to publish after its commit.
"""

import math
from datetime import datetime, timedelta
from difflib import SequenceMatcher

import sqlalchemy as sa

from detail.domain import live
from detail.domain.distance import distance_m
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Client, utcnow
from intel.domain import country_matching, matching, travel_advisories
from intel.domain.severity import REACH, distance_text, rank_of
from intel.models import SEVERITIES, Advisory, AdvisorySource, Feed, FeedItem, WatchArea

# Near-duplicates from several feeds merge into one advisory.
DUPLICATE_DISTANCE_M = 2_000
DUPLICATE_TIME = timedelta(hours=6)
DUPLICATE_TITLE_RATIO = 0.55


def _watch_area_match(item: FeedItem, area) -> tuple[float | None, str] | None:
    """Distance (or None for a whole country) and the place phrase, when the item lies in the watch area."""
    if country_matching.is_country_wide(item):
        return country_matching.watch_area_match(item, area)
    if area.country_code:
        details = item.details or {}
        if area.country_code in details.get("country_codes", [details.get("country_code")]):
            return None, f"in {area.name}"
        return None
    distance = distance_m(item.latitude, item.longitude, area.latitude, area.longitude)
    if distance > area.radius_m:
        return None
    return distance, f"{distance_text(distance)} from {area.name}"


def record_watch_area_candidates(organisation_id: int, items: list[FeedItem]) -> list:
    """Candidates for clients' watch areas: places they care about with no detail scheduled."""
    areas = db.session.scalars(
        sa.select(WatchArea)
        .join(Client, WatchArea.client_id == Client.id)
        .where(Client.organisation_id == organisation_id)
    ).all()
    events = []
    for item in items:
        if not (item.located or country_matching.is_country_wide(item)):
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
            rank = rank_of(item.source_severity or reach.usual_severity)
            if distance is not None and distance <= reach.near_m:
                rank += 1
            rank = max(0, min(rank, len(SEVERITIES) - 1))
            when = local_time(item.starts_at, area.timezone, "%a %d %b %H:%M %Z")
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


def _similar(a: str, b: str) -> bool:
    return SequenceMatcher(None, a.lower(), b.lower()).ratio() >= DUPLICATE_TITLE_RATIO


def _duplicate_of(item: FeedItem, detail_id: int) -> Advisory | None:
    """An open advisory of the detail that reports the same happening from another feed."""
    if not item.located:  # a country-wide item is no happening at a place
        return None
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
                and other.located
                and abs(other.starts_at - item.starts_at) <= DUPLICATE_TIME
                and distance_m(other.latitude, other.longitude, item.latitude, item.longitude) <= DUPLICATE_DISTANCE_M
                and _similar(other.title, item.title)
            ):
                return advisory
    return None


def record_candidates(organisation_id: int, items: list[FeedItem], now: datetime | None = None) -> list:
    """Store candidate advisories for the items' matches; return the board events (flushes, never commits)."""
    travel_advisories.close_superseded(items)
    events = record_watch_area_candidates(organisation_id, items)
    details = matching.active_details(organisation_id, now)
    if not details or not items:
        return events
    by_id = {item.id: item for item in items}
    for match in matching.match_items(items, details) + country_matching.match_items(items, details):
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
            if match.rank > rank_of(advisory.severity) and advisory.status == "candidate":
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
    }
    if not for_client:  # the feeds behind it and the venue's name are the team's own
        payload["site"] = advisory.site.name if advisory.site else None
        payload["sources"] = [
            {"title": s.item.title, "link": s.item.link, "feed": s.item.feed.name} for s in advisory.sources
        ]
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
    if rank_of(advisory.severity) > rank_of(into.severity) and into.status == "candidate":
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
    # A bounding box in SQL first, then exact distances.
    dlat = radius_m / 111_000
    dlon = radius_m / (111_000 * max(0.01, math.cos(math.radians(latitude))))
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
