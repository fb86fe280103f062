"""Advisories: candidates stored from matches, near-duplicates merged, reviewed and published.

Matches (intel.domain.matching) become candidate advisories for a detail, and items inside a
client's watch area candidates for that area; an item reported by several feeds (close in place
and time, overlapping areas, or alike titles: intel.domain.duplicates) merges into one advisory
rather than raising another. A batch of items is recorded with one look-up of what is already
known and one flush, whether it arrives with a poll or is matched again by intel.domain.rematch.
A coordinator publishes a candidate for the client with a summary and a recommendation,
dismisses it with a reason, or merges it into another. advisory_payload is how boards and
clients see one.

The rule it keeps: functions here flush and never commit, and return the board events for the
caller to publish after its commit.
"""

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail.domain import live, push
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Client, utcnow
from intel.domain import collector, country_matching, matching, travel_advisories
from intel.domain.duplicates import OpenAdvisories
from intel.domain.nearby import item_distance_m
from intel.domain.severity import MAX_REASON, REACH, distance_text, rank_of
from intel.models import SEVERITIES, Advisory, AdvisorySource, FeedItem, WatchArea

# Items per query when looking up which pairs are already recorded (well under SQLite's bound parameters).
CHUNK = 500


def _watch_area_match(item: FeedItem, area) -> tuple[float | None, str] | None:
    """Distance (or None for a whole country) and the place phrase, when the item lies in the watch area."""
    if country_matching.is_country_wide(item):
        return country_matching.watch_area_match(item, area)
    if area.country_code:
        details = item.details or {}
        if area.country_code in details.get("country_codes", [details.get("country_code")]):
            return None, f"in {area.name}"
        return None
    distance = item_distance_m(item, area.latitude, area.longitude)
    if distance > area.radius_m:
        return None
    return distance, f"{distance_text(distance)} from {area.name}"


def watch_areas_of(organisation_id: int) -> list[WatchArea]:
    """The watch areas of the organisation's clients."""
    return list(
        db.session.scalars(
            sa.select(WatchArea)
            .join(Client, WatchArea.client_id == Client.id)
            .where(Client.organisation_id == organisation_id)
        )
    )


def _known(column, target_ids: set[int], item_ids: list[int]) -> set[tuple[int, int]]:
    """The (target, item) pairs already behind an advisory: one query for a batch, in chunks."""
    known: set[tuple[int, int]] = set()
    if not target_ids:
        return known
    for start in range(0, len(item_ids), CHUNK):
        chunk = item_ids[start : start + CHUNK]
        rows = db.session.execute(
            sa.select(column, AdvisorySource.item_id).where(column.in_(target_ids), AdvisorySource.item_id.in_(chunk))
        )
        known.update((target, item) for target, item in rows)
    return known


def record_watch_area_candidates(
    organisation_id: int, items: list[FeedItem], areas: list[WatchArea] | None = None
) -> list:
    """Candidates for clients' watch areas (all the organisation's, or those given): places they care
    about with no detail scheduled."""
    areas = watch_areas_of(organisation_id) if areas is None else areas
    located = [item for item in items if item.located or country_matching.is_country_wide(item)]
    if not areas or not located:
        return []
    known = _known(AdvisorySource.watch_area_id, {a.id for a in areas}, [item.id for item in located])
    added = []
    for item in located:
        for area in areas:
            found = _watch_area_match(item, area)
            if found is None or (area.id, item.id) in known:
                continue
            known.add((area.id, item.id))
            distance, where = found
            reach = REACH.get(item.category, REACH["other"])
            rank = rank_of(item.source_severity or reach.usual_severity)
            if distance is not None and distance <= reach.near_m:
                rank += 1
            rank = max(0, min(rank, len(SEVERITIES) - 1))
            when = local_time(item.starts_at, area.timezone, "%a %d %b %H:%M %Z")
            reason = f"{where} (watch area), from {when}"
            if item.time_basis and not country_matching.is_country_wide(item):  # as a detail's reason says it
                reason = f"{reason}; {item.time_basis}"
            advisory = Advisory(
                organisation_id=organisation_id,
                watch_area_id=area.id,
                title=item.title,
                category=item.category,
                severity=SEVERITIES[rank],
                reason=reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…",
                distance_m=distance,
                starts_at=item.starts_at,
                ends_at=item.ends_at,
            )
            advisory.sources.append(AdvisorySource(watch_area_id=area.id, item=item))
            db.session.add(advisory)
            added.append(advisory)
    db.session.flush()  # once for the batch: the events need the ids
    return [live.append_event(organisation_id, None, "advisory_candidate", advisory_payload(a)) for a in added]


def _duplicate_of(item: FeedItem, detail_id: int, open_advisories: OpenAdvisories | None = None) -> Advisory | None:
    """An open advisory of the detail that reports the same happening from another feed (duplicates.py
    says when two items do)."""
    if not item.located:  # a country-wide item is no happening at a place
        return None
    if open_advisories is None:
        open_advisories = OpenAdvisories({detail_id}, {item.category})
    return open_advisories.duplicate_of(item, detail_id)


def record_candidates(
    organisation_id: int,
    items: list[FeedItem],
    now: datetime | None = None,
    *,
    details: list | None = None,
    watch_areas: list[WatchArea] | None = None,
) -> list:
    """Store candidate advisories for the items' matches; return the board events (flushes, never commits).

    Matched against the organisation's active details and all its watch areas, or against those given
    (a rematch of what changed). A (detail, item) or (watch area, item) pair already recorded is never
    recorded again, so calling it twice for the same items adds nothing.

    The cyclic collector is held off meanwhile (intel.domain.collector): the advisories, their sources and
    events are thousands of objects that all live to the commit.
    """
    with collector.paused():
        return _record_candidates(organisation_id, items, now, details=details, watch_areas=watch_areas)


def _record_candidates(
    organisation_id: int,
    items: list[FeedItem],
    now: datetime | None = None,
    *,
    details: list | None = None,
    watch_areas: list[WatchArea] | None = None,
) -> list:
    travel_advisories.close_superseded(items)
    events = record_watch_area_candidates(organisation_id, items, watch_areas)
    details = matching.active_details(organisation_id, now) if details is None else details
    if not details or not items:
        return events
    matches = matching.match_items(items, details) + country_matching.match_items(items, details)
    if not matches:
        return events
    by_id = {item.id: item for item in items}
    known = _known(AdvisorySource.detail_id, {m.detail_id for m in matches}, sorted({m.item_id for m in matches}))
    open_advisories = OpenAdvisories({m.detail_id for m in matches}, {by_id[m.item_id].category for m in matches})
    recorded: list[tuple[Advisory, int, str]] = []
    created = utcnow()
    new: dict[Advisory, list[FeedItem]] = {}  # this batch's advisories, stored below, with their items
    for match in matches:
        if (match.detail_id, match.item_id) in known:
            continue
        known.add((match.detail_id, match.item_id))
        item = by_id[match.item_id]
        advisory = _duplicate_of(item, match.detail_id, open_advisories)
        if advisory is not None:
            if advisory in new:
                new[advisory].append(item)
            else:
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
                status="candidate",
                summary="",
                recommendation="",
                dismiss_reason="",
                created_at=created,
                # Every column given: _store_new makes it the session's as loaded, and a column left out
                # would read as expired, a SELECT each.
                watch_area_id=None,
                merged_into_id=None,
                reviewed_by_id=None,
                reviewed_at=None,
                published_at=None,
            )
            new[advisory] = [item]
            kind = "advisory_candidate"
        open_advisories.add(advisory, item)
        recorded.append((advisory, match.detail_id, kind))
    db.session.flush()  # the sources added to advisories stored before
    _store_new(new)
    for advisory, detail_id, kind in recorded:
        payload = advisory_payload(advisory, sources=new.get(advisory))
        events.append(live.append_event(organisation_id, detail_id, kind, payload))
    return events


# Every column of an advisory but its id, as the batch's INSERT writes them.
_ADVISORY_COLUMNS = [column.key for column in Advisory.__table__.columns if column.key != "id"]


def _store_new(new: dict[Advisory, list[FeedItem]]) -> None:
    """Insert a batch's new advisories and their sources, then make the advisories the session's as if loaded.

    Core inserts, not the unit of work, whose bookkeeping of thousands of objects cost more than the
    matching (a poll records a few thousand). The advisories go in one statement on PostgreSQL; SQLite
    returns the new ids in order only a row a statement. Their sources go in one statement.
    """
    if not new:
        return
    advisories = list(new)
    ids = db.session.scalars(
        sa.insert(Advisory.__table__).returning(Advisory.__table__.c.id, sort_by_parameter_order=True),
        [{key: getattr(advisory, key) for key in _ADVISORY_COLUMNS} for advisory in advisories],
    ).all()
    db.session.execute(
        sa.insert(AdvisorySource.__table__),
        [
            {"advisory_id": advisory_id, "detail_id": advisory.detail_id, "item_id": item.id}
            for advisory, advisory_id in zip(advisories, ids, strict=True)
            for item in new[advisory]
        ],
    )
    for advisory, advisory_id in zip(advisories, ids, strict=True):
        advisory.id = advisory_id
        so.make_transient_to_detached(advisory)
        db.session.add(advisory)


def advisory_payload(advisory: Advisory, for_client: bool = False, sources: list[FeedItem] | None = None) -> dict:
    """An advisory as boards (or, with for_client, clients) see it; `sources`, its items when the caller
    has them at hand (a batch just stored), else they are read from the advisory."""
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
        items = sources if sources is not None else [source.item for source in advisory.sources]
        payload["sources"] = [{"title": item.title, "link": item.link, "feed": item.feed.name} for item in items]
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
    first = advisory.status == "candidate"
    advisory.status = "published"
    advisory.summary, advisory.recommendation = summary.strip(), recommendation.strip()
    advisory.published_at = advisory.published_at or now
    advisory.reviewed_by, advisory.reviewed_at = user, now
    db.session.flush()
    if first and advisory.detail_id is not None:
        _push_to_agents(advisory)
    return live.append_event(
        advisory.organisation_id, advisory.detail_id, "advisory_published", advisory_payload(advisory)
    )


def _push_to_agents(advisory: Advisory) -> None:
    """The detail's agents hear of a newly published advisory on their phones, page open or not."""
    message = push.PushMessage(
        title=f"Advisory ({advisory.severity}): {advisory.title}",
        body=f"{advisory.summary} {advisory.recommendation}",
        url=push.PHONE_PAGE,
        tag=f"advisory-{advisory.id}",
    )
    push.queue_for_detail(advisory.detail_id, message)


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
