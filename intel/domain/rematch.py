"""The matching job: what a poll left waiting, and what changed since the items arrived.

Two kinds of work, each round:
- rematch requests (intel_rematch, filled by intel.domain.rematch_requests): the stored items
  still current (ends_at ≥ now) matched against the changed detail's (or watch area's) exposures;
- items waiting to be matched (feed_item.matched_at NULL): a poll matches at most
  poller.MATCH_PER_POLL of its new items and leaves the rest here, matched in order of arrival.
Both record candidates through advisories.record_candidates, as a poll does, so a pair already
recorded is never recorded again: running the same work twice adds nothing.

A request is claimed with a lease (claimed_until, with SKIP LOCKED on PostgreSQL) in a short
transaction of its own, so several job processes share the queue and none holds a lock while it
matches; it is deleted with the work's commit, and only while still under that lease: a change that
came meanwhile cleared the lease, and its request stays. A process that dies leaves its rows to be
claimed again when the lease runs out.

Matching for an organisation takes its matching lock (PostgreSQL), which a poll holds as well from
reading the details to its commit: a rematch then sees either the poll's items or the poll sees
the change, never neither.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain import live
from detail.extensions import db
from detail.models import Client, Detail, utcnow
from intel.domain import advisories, matching
from intel.models import Feed, FeedItem, IntelRematch, WatchArea

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(class, organisation): "IM", apart from the event log's and the jobs' locks.
MATCH_LOCK_CLASS = 0x494D
# How long a claimed request is left to its job before another may take it.
LEASE = timedelta(minutes=10)
# Work taken in one round: requests, and waiting items per organisation.
REQUESTS_PER_ROUND = 20
WAITING_PER_ROUND = 2_000


def lock_matching(organisation_id: int, wait: bool = True) -> bool:
    """Hold the organisation's matching lock to the end of the transaction (PostgreSQL; SQLite has one
    writer anyway). Without `wait`, False when another process holds it."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    taken = db.session.scalar(
        sa.text(f"SELECT {function}(:cls, :org)"), {"cls": MATCH_LOCK_CLASS, "org": organisation_id}
    )
    return wait or bool(taken)


@dataclass(frozen=True)
class Claim:
    id: int
    detail_id: int | None
    watch_area_id: int | None
    lease: datetime  # the row's claimed_until while it is this job's


def claim_requests(now: datetime | None = None, limit: int = REQUESTS_PER_ROUND) -> list[Claim]:
    """Claim the oldest requests not claimed by a live lease, and commit the claim."""
    now = now or utcnow()
    query = (
        sa.select(IntelRematch)
        .where(sa.or_(IntelRematch.claimed_until.is_(None), IntelRematch.claimed_until < now))
        .order_by(IntelRematch.requested_at, IntelRematch.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.scalars(query).all()
    for row in rows:
        row.claimed_until = now + LEASE
    claims = [Claim(r.id, r.detail_id, r.watch_area_id, r.claimed_until) for r in rows]
    db.session.commit()
    return claims


def _finish(claims: list[Claim]) -> None:
    """Done: delete each request still under this job's lease. A change that came meanwhile cleared the
    lease (rematch_requests.request), so its request stays for the next round."""
    table = IntelRematch.__table__
    for c in claims:
        db.session.execute(sa.delete(table).where(table.c.id == c.id, table.c.claimed_until == c.lease))


def _release(claims: list[Claim]) -> None:
    table = IntelRematch.__table__
    db.session.execute(sa.update(table).where(table.c.id.in_([c.id for c in claims])).values(claimed_until=None))


def _organisations(claims: list[Claim]) -> dict[int, list[Claim]]:
    """The claims by organisation; a request whose target is gone has none and is simply done."""
    detail_ids = [c.detail_id for c in claims if c.detail_id is not None]
    area_ids = [c.watch_area_id for c in claims if c.watch_area_id is not None]
    of_detail = dict(
        db.session.execute(
            sa.select(Detail.id, Client.organisation_id).join(Client).where(Detail.id.in_(detail_ids))
        ).all()
    )
    of_area = dict(
        db.session.execute(
            sa.select(WatchArea.id, Client.organisation_id).join(Client).where(WatchArea.id.in_(area_ids))
        ).all()
    )
    grouped: dict[int, list[Claim]] = {}
    for c in claims:
        organisation_id = of_detail.get(c.detail_id) if c.detail_id is not None else of_area.get(c.watch_area_id)
        grouped.setdefault(organisation_id, []).append(c)
    return grouped


def current_items(organisation_id: int, now: datetime, latest_end: datetime | None = None) -> list[FeedItem]:
    """The organisation's stored items placed on the map (or covering whole countries, as travel
    advisories do) whose windows are not over, starting by latest_end."""
    placed = sa.or_(FeedItem.latitude.is_not(None), FeedItem.located_by == "country")
    query = (
        sa.select(FeedItem)
        .join(Feed)
        .where(Feed.organisation_id == organisation_id, placed, FeedItem.ends_at >= now)
        .order_by(FeedItem.id)
    )
    if latest_end is not None:
        query = query.where(FeedItem.starts_at <= latest_end)
    return list(db.session.scalars(query))


def rematch(organisation_id: int, detail_ids: set[int], area_ids: set[int], now: datetime) -> list:
    """Match the current items against these details and watch areas; return the events (flushes only)."""
    details = [d for d in matching.active_details(organisation_id, now) if d.id in detail_ids]
    areas = [a for a in advisories.watch_areas_of(organisation_id) if a.id in area_ids]
    if not details and not areas:
        return []
    # Without a watch area, an item starting after every detail's window (and its margin) cannot match.
    latest_end = None if areas else max(d.ends_at for d in details) + matching.MARGIN
    items = current_items(organisation_id, now, latest_end)
    return advisories.record_candidates(organisation_id, items, now, details=details, watch_areas=areas)


def run_requests(now: datetime | None = None, limit: int = REQUESTS_PER_ROUND) -> int:
    """Claim and do one round of rematch requests, an organisation per transaction; returns events published."""
    now = now or utcnow()
    published = 0
    for organisation_id, claims in _organisations(claim_requests(now, limit)).items():
        try:
            if organisation_id is not None and not lock_matching(organisation_id, wait=False):
                _release(claims)  # a poll or another job is matching it: next round
                db.session.commit()
                continue
            events = []
            if organisation_id is not None:
                details = {c.detail_id for c in claims if c.detail_id is not None}
                areas = {c.watch_area_id for c in claims if c.watch_area_id is not None}
                events = rematch(organisation_id, details, areas, now)
            _finish(claims)
            db.session.commit()
        except Exception:  # one organisation's failure leaves its requests to the next lease
            db.session.rollback()
            log.exception("rematching for organisation %s failed", organisation_id)
            continue
        live.publish(events)
        published += len(events)
    return published


def match_waiting(now: datetime | None = None, limit: int = WAITING_PER_ROUND) -> int:
    """Match the items a poll left waiting, oldest first, up to `limit` per organisation; returns events."""
    now = now or utcnow()
    organisations = db.session.scalars(
        sa.select(Feed.organisation_id).join(FeedItem).where(FeedItem.matched_at.is_(None)).distinct()
    ).all()
    db.session.commit()
    published = 0
    for organisation_id in organisations:
        try:
            if not lock_matching(organisation_id, wait=False):
                db.session.rollback()  # a poll or another job is matching it: next round
                continue
            items = list(
                db.session.scalars(
                    sa.select(FeedItem)
                    .join(Feed)
                    .where(Feed.organisation_id == organisation_id, FeedItem.matched_at.is_(None))
                    .order_by(FeedItem.id)
                    .limit(limit)
                )
            )
            events = advisories.record_candidates(organisation_id, items, now)
            mark_matched([item.id for item in items], now)
            db.session.commit()
        except Exception:  # one organisation's failure must not stop the others'
            db.session.rollback()
            log.exception("matching the waiting items of organisation %s failed", organisation_id)
            continue
        live.publish(events)
        published += len(events)
    return published


def mark_matched(item_ids: list[int], now: datetime) -> None:
    """Record that these items have been matched on arrival."""
    table = FeedItem.__table__
    for start in range(0, len(item_ids), advisories.CHUNK):
        chunk = item_ids[start : start + advisories.CHUNK]
        db.session.execute(sa.update(table).where(table.c.id.in_(chunk)).values(matched_at=now))


def run(now: datetime | None = None) -> int:
    """One round of the matching job: the rematch requests, then the waiting items."""
    return run_requests(now) + match_waiting(now)
