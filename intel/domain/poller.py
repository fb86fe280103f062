"""Poll due feeds: one unit of work per feed, each claimed by one poller.

A feed is claimed by moving its next_poll_at forward in a short transaction (with SKIP LOCKED
on PostgreSQL), so several pollers at once never fetch a feed twice in one period; items are
unique per (feed, guid), so none is stored twice either. The fetch itself happens outside any
transaction. Failures are recorded on the feed and back off; the poller never stops for one.

Every new entry is stored, in batches of one statement each; a poll matches at most
MATCH_PER_POLL of them and leaves the rest to the matching job (intel.domain.rematch), and says
so in the feed's health.
"""

import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite
from tqdm import tqdm

from detail.domain import live
from detail.extensions import db
from detail.models import utcnow
from intel.domain import (
    advisories,
    classify,
    collector,
    event_time,
    fetch,
    gazetteer,
    parse,
    placement,
    rematch,
    timezones,
    travel_advisories,
)
from intel.domain.health import problem_lines
from intel.models import ClassificationRule, Feed, FeedItem

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
# A feed is read whole up to this size (fetch's own default is 5 MB; 10,000 items are about 6 MB).
MAX_FEED_BYTES = 20_000_000
# Every new item is stored; a poll matches this many of them and leaves the rest to the matching job,
# so that one huge feed never holds its poller (and its organisation's matching lock) for long.
MATCH_PER_POLL = 1_000
# Items per INSERT statement.
INSERT_BATCH = 500


@dataclass
class PollResult:
    feed_id: int
    status: str  # "ok", "not_modified", "error"
    new_items: int = 0
    matched: int = 0  # of the new items, those matched with this poll
    waiting: int = 0  # of the new items, those left to the matching job
    problems: list[str] = field(default_factory=list)
    error: str | None = None


def claim_due_feeds(now: datetime | None = None, limit: int = 50) -> list[int]:
    """Claim the feeds due now: push their next poll forward and commit, so no other poller takes them."""
    now = now or utcnow()
    query = (
        sa.select(Feed).where(Feed.enabled.is_(True), Feed.next_poll_at <= now).order_by(Feed.next_poll_at).limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = db.session.scalars(query).all()
    for feed in claimed:
        feed.next_poll_at = now + timedelta(seconds=feed.poll_interval_s)
    ids = [feed.id for feed in claimed]
    db.session.commit()
    return ids


def ensure_default_rules(organisation_id: int) -> None:
    """Give an organisation the default rules the first time it needs any, so it edits one full set."""
    exists = db.session.scalar(
        sa.select(ClassificationRule.id).where(ClassificationRule.organisation_id == organisation_id).limit(1)
    )
    if exists is None:
        db.session.add_all(
            ClassificationRule(
                organisation_id=organisation_id,
                category=r.category,
                pattern=r.pattern,
                field=r.field,
                weight=int(r.weight),
                is_regex=r.is_regex,
            )
            for r in classify.DEFAULT_RULES
        )
        db.session.flush()


def rules_for(organisation_id: int) -> classify.RuleSet:
    """The organisation's enabled classification rules, compiled once for all the items of a poll."""
    ensure_default_rules(organisation_id)
    rows = db.session.scalars(
        sa.select(ClassificationRule).where(
            ClassificationRule.organisation_id == organisation_id, ClassificationRule.enabled.is_(True)
        )
    ).all()
    return classify.compile_rules(classify.Rule(r.category, r.pattern, r.field, r.weight, r.is_regex) for r in rows)


def _zone(where: placement.Placement, countries: list[str]) -> str | None:
    """The time zone an item's stated times are read in: its place's, its point's, else its country's."""
    if where.timezone:
        return where.timezone
    if where.latitude is not None:
        return timezones.timezone_at(where.latitude, where.longitude)
    capital = gazetteer.load_gazetteer().countries.get(countries[0].upper()) if countries else None
    return (capital.timezone or None) if capital is not None else None


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def item_values(feed: Feed, parsed, rules: classify.RuleSet, now: datetime) -> dict:
    """A FeedItem's columns from a parsed entry: classified, placed (intel.domain.placement says how), timed.

    Plain values, not a FeedItem: a poll stores every new item with one INSERT per batch and makes
    objects only of those it matches (the ORM's bookkeeping was a tenth of a 10,000-item poll).
    """
    classification = classify.classify(parsed, rules, default_category=feed.default_category)
    published = parsed.published or parsed.updated or now
    where = placement.place(parsed, country_hint=feed.country_code or None)
    details = {
        key: _jsonable(value)
        for key in ("cap", "gdacs", "usgs", "travel_advisory")
        if (value := getattr(parsed, key, None))
    }
    # For watch areas that cover a whole country; GDACS names its countries outright, over the point's.
    countries = (parsed.gdacs or {}).get("country_codes") or list(where.countries)
    if countries:
        details["country_code"], details["country_codes"] = countries[0], countries
    if classification.impacts:
        details["impacts"] = classification.impacts  # ["transport"]: a general strike also stops the trains
    window = event_time.event_window(
        parsed.title,
        parsed.summary_text,
        published,
        _zone(where, countries or ([feed.country_code] if feed.country_code else [])),
        category=classification.category,
        cap=parsed.cap,
        gdacs=parsed.gdacs,
        usgs=parsed.usgs,
    )
    values = {
        "feed_id": feed.id,
        "guid": parsed.guid[:500],
        "link": parsed.link[:1000] if parsed.link else None,
        "title": (parsed.title or "(untitled)")[:500],
        "summary_html": parsed.summary_html,
        "summary_text": parsed.summary_text,
        "category": classification.category,
        "source_severity": classify.source_severity(parsed),
        "latitude": where.latitude,
        "longitude": where.longitude,
        "geometry": _jsonable(parsed.geometry) if parsed.geometry else None,
        "located_by": where.located_by,
        "place_name": where.place_name,
        "published_at": parsed.published,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "time_basis": window.basis[:120],
        "details": details,
        "fetched_at": now,
        "matched_at": None,
    }
    if where.located_by == "country" and parsed.travel_advisory:
        values.update(travel_advisories.in_force(parsed.travel_advisory, issued=published))
    return values


def build_item(feed: Feed, parsed, rules: classify.RuleSet, now: datetime) -> FeedItem:
    """item_values as a FeedItem of `feed` (not yet the session's)."""
    return FeedItem(feed=feed, **item_values(feed, parsed, rules, now))


def item_rows(feed: Feed, entries, rules: classify.RuleSet, now: datetime) -> list[dict]:
    """item_values for each entry, with the cyclic collector held off meanwhile (intel.domain.collector)."""
    with collector.paused():
        return [item_values(feed, entry, rules, now) for entry in entries]


def build_items(feed: Feed, entries, rules: classify.RuleSet, now: datetime) -> list[FeedItem]:
    """build_item for each entry."""
    return [FeedItem(feed=feed, **row) for row in item_rows(feed, entries, rules, now)]


def _failed(feed: Feed, error: str, now: datetime) -> None:
    feed.consecutive_failures += 1
    feed.last_error, feed.last_error_at = error[:2000], now
    backoff = min(timedelta(seconds=feed.poll_interval_s) * 2 ** min(feed.consecutive_failures, 10), MAX_BACKOFF)
    feed.next_poll_at = now + backoff


def _row(values: dict) -> dict:
    """An item's values as one row of a bulk insert: every column but the id, defaults where None."""
    return {key: default if (value := values.get(key)) is None else value for key, default in _ITEM_COLUMNS}


# (column, its scalar default or None) for every column but the id.
_ITEM_COLUMNS = [
    (column.key, column.default.arg if column.default is not None and column.default.is_scalar else None)
    for column in FeedItem.__table__.columns
    if column.key != "id"
]


def _insert_new(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """Insert the items' rows, a batch a statement; those another poller stored a moment ago are passed over.

    One INSERT … ON CONFLICT (feed, guid) DO NOTHING RETURNING per batch, instead of a savepoint and a
    flush per item; the stored rows are returned with their ids. A batch the database refuses for another
    reason (a check) is stored item by item, and the refused items are named as problems.
    """
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(FeedItem.__table__)
        .on_conflict_do_nothing(index_elements=["feed_id", "guid"])
        .returning(FeedItem.__table__.c.id, FeedItem.__table__.c.guid)
    )
    stored: list[dict] = []
    problems: list[str] = []
    for start in range(0, len(rows), INSERT_BATCH):
        batch = [_row(values) for values in rows[start : start + INSERT_BATCH]]
        try:
            with db.session.begin_nested():
                ids = dict((guid, item_id) for item_id, guid in db.session.execute(statement, batch))
        except sa.exc.IntegrityError:
            ids = {}
            for row in batch:
                try:
                    with db.session.begin_nested():
                        ids.update((guid, item_id) for item_id, guid in db.session.execute(statement, [row]))
                except sa.exc.IntegrityError as exc:
                    reason = str(exc.orig).splitlines()[0][:200]  # not the row PostgreSQL quotes after it
                    problems.append(f"item {row['guid'][:60]!r}: not stored, the database refused it ({reason})")
        stored += [{**row, "id": ids[row["guid"]]} for row in batch if row["guid"] in ids]
    return stored, problems


def _attach(rows: list[dict]) -> list[FeedItem]:
    """Stored rows as the session's FeedItems, as if loaded: advisories refer to them. (Only those matched
    now: making objects costs as much as inserting.)"""
    items = []
    for row in rows:
        item = FeedItem(**row)
        so.make_transient_to_detached(item)
        db.session.add(item)
        items.append(item)
    return items


def poll_feed(feed_id: int, now: datetime | None = None) -> PollResult:
    """Fetch, parse, store every new item, match them (up to MATCH_PER_POLL) to details, commit, publish."""
    now = now or utcnow()
    feed = db.session.get(Feed, feed_id)
    etag, modified, url = feed.etag, feed.modified, feed.url
    allow = fetch.allow_list(feed.organisation.feed_private_hosts)
    db.session.commit()  # no transaction is held open across the network
    fetched = fetch.fetch(url, etag=etag, modified=modified, allow=allow, max_bytes=MAX_FEED_BYTES)
    feed = db.session.get(Feed, feed_id)
    feed.last_polled_at = now
    if fetched.status == "error":
        _failed(feed, fetched.error or "fetch failed", now)
        db.session.commit()
        return PollResult(feed_id, "error", error=feed.last_error)
    if fetched.status == "not_modified":
        feed.consecutive_failures, feed.last_success_at = 0, now
        db.session.commit()
        return PollResult(feed_id, "not_modified")
    # Everything a poll makes lives to its commit: the collector held off meanwhile (intel.domain.collector).
    with collector.paused():
        return _store_and_match(feed, fetched, now)


def _store_and_match(feed: Feed, fetched: fetch.FetchResult, now: datetime) -> PollResult:
    """poll_feed's work once a feed's body is fetched: parse, build, store, match, commit, publish."""
    feed_id = feed.id
    parsed = parse.parse(fetched.body, default_category=feed.default_category)
    if not parsed.usable:
        _failed(feed, "unusable feed: " + "; ".join(parsed.problems or ["no entries"]), now)
        db.session.commit()
        return PollResult(feed_id, "error", problems=parsed.problems, error=feed.last_error)

    rules = rules_for(feed.organisation_id)
    known = set(db.session.scalars(sa.select(FeedItem.guid).where(FeedItem.feed_id == feed.id)))
    problems = list(parsed.problems)
    entries = []
    for entry in parsed.items:
        if entry.guid[:500] in known:
            continue
        known.add(entry.guid[:500])
        if entry.geometry_problem:
            problems.append(f"item {entry.title[:60]!r}: {entry.geometry_problem}")
        entries.append(entry)
    rows = item_rows(feed, entries, rules, now)
    # The first MATCH_PER_POLL, in the feed's order (newest first, as feeds list them), are matched now;
    # the rest wait for the matching job (intel.domain.rematch).
    for row in rows[:MATCH_PER_POLL]:
        row["matched_at"] = now
    new_items, refused = _insert_new(rows)
    problems += refused
    matched = _attach([row for row in new_items if row["matched_at"] is not None])
    waiting = len(new_items) - len(matched)
    if waiting:
        problems.append(
            f"{len(new_items)} new items: {len(matched)} matched with this poll, the other {waiting} wait "
            "for the matching job, which matches them within minutes"
        )
    feed.etag, feed.modified = fetched.etag, fetched.modified
    feed.consecutive_failures, feed.last_success_at, feed.last_error = 0, now, None
    feed.items_seen += len(new_items)
    problems = problem_lines(problems)
    feed.last_problems = problems
    rematch.lock_matching(feed.organisation_id)  # held to the commit: see intel.domain.rematch
    events = advisories.record_candidates(feed.organisation_id, matched, now)
    db.session.commit()
    live.publish(events)
    return PollResult(feed_id, "ok", new_items=len(new_items), matched=len(matched), waiting=waiting, problems=problems)


def poll_due(app, now: datetime | None = None, progress: bool = False) -> list[PollResult]:
    """Poll every due feed once, each in its own app context; a failing feed never stops the rest."""
    with app.app_context():
        ids = claim_due_feeds(now)
    results = []
    bar = _progress(len(ids)) if progress and ids else None
    for feed_id in ids:
        with app.app_context():
            try:
                results.append(poll_feed(feed_id, now))
            except Exception as exc:  # a bug in one feed's handling must not stop the poller
                db.session.rollback()
                log.exception("polling feed %s failed", feed_id)
                feed = db.session.get(Feed, feed_id)
                if feed is not None:
                    _failed(feed, f"internal error: {exc!r}", now or utcnow())
                    db.session.commit()
                results.append(PollResult(feed_id, "error", error=repr(exc)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return results


def _progress(total: int):
    return tqdm(total=total, unit="feed", desc="polling", file=sys.stderr, disable=not sys.stderr.isatty())
