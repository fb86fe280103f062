"""A big feed is stored whole: every entry, once, whatever its size; a poll matches part of it and
says so, and the matching job matches the rest. No timing here (bench/intel_ingest.py has it)."""

from datetime import timedelta
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from bench.intel_ingest import FeedServer
from detail.extensions import db
from intel.domain import poller, rematch
from intel.models import Advisory, Feed, FeedItem

from .conftest import T0, allow_loopback_feeds

SYDNEY = (-33.87, 151.21)  # far from every venue of the world
NEAR_HOTEL = (51.5110, -0.1330)  # the world's detail is at the Grand Hotel from T0


def _body(count: int, near_every: int = 1_000) -> bytes:
    """An RSS feed of `count` short items; every `near_every`-th one is a protest by the world's hotel."""
    items = []
    for n in range(count):
        near = n % near_every == 0
        lat, lon = NEAR_HOTEL if near else (SYDNEY[0] + (n % 97) * 0.001, SYDNEY[1])
        title = f"Protest outside the Grand Hotel, report {n}" if near else f"Notice {n}"
        items.append(
            f"<item><title>{title}</title><link>https://news.example.org/{n}</link><guid>g{n}</guid><pubDate>{format_datetime(T0)}</pubDate>"
            f"<georss:point>{lat} {lon}</georss:point></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:georss="http://www.georss.org/georss"><channel>'
        "<title>Big feed</title>" + "".join(items) + "</channel></rss>"
    ).encode()


@pytest.fixture
def serve():
    servers = []

    def start(body: bytes) -> str:
        servers.append(FeedServer(body))
        return servers[-1].url()

    yield start
    for server in servers:
        server.close()


def _feed(org, url) -> int:
    allow_loopback_feeds(org)
    feed = Feed(organisation=org, url=url, name="Big feed")
    db.session.add(feed)
    db.session.commit()
    return feed.id


def _guids(feed_id):
    return set(db.session.scalars(sa.select(FeedItem.guid).where(FeedItem.feed_id == feed_id)))


def _detail_advisories(world):
    db.session.expire_all()
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Advisory).where(Advisory.detail_id == world.detail.id)
    )


def test_a_10000_item_feed_is_stored_whole_matched_in_part_and_a_repoll_loses_nothing(app, world, serve):
    feed_id = _feed(world.org, serve(_body(10_000)))

    result = poller.poll_feed(feed_id, now=T0 - timedelta(hours=1))

    assert (result.status, result.new_items, result.matched, result.waiting) == ("ok", 10_000, 1_000, 9_000)
    assert _guids(feed_id) == {f"g{n}" for n in range(10_000)}
    feed = db.session.get(Feed, feed_id)
    assert feed.items_seen == 10_000 and feed.healthy
    waiting_line = "10000 new items: 1000 matched with this poll, the other 9000 wait for the matching job"
    assert any(line.startswith(waiting_line) for line in feed.last_problems)
    assert _detail_advisories(world) == 1  # report 0, among the first thousand

    # Polled again in full (the bench server answers 200 whatever the ETag): nothing new, nothing lost.
    again = poller.poll_feed(feed_id, now=T0 - timedelta(minutes=50))
    assert (again.status, again.new_items, again.waiting) == ("ok", 0, 0)
    assert len(_guids(feed_id)) == 10_000 and db.session.get(Feed, feed_id).last_problems == []

    # The matching job takes the rest, a round at a time, and then has nothing left.
    rounds = 0
    while rematch.match_waiting(T0 - timedelta(minutes=40)) or rounds == 0:
        rounds += 1
    waiting = sa.select(sa.func.count()).select_from(FeedItem).where(FeedItem.matched_at.is_(None))
    assert db.session.scalar(waiting) == 0
    assert _detail_advisories(world) == 10  # one per report by the hotel; one feed's items never merge
    assert rematch.match_waiting(T0) == 0


def test_a_big_feed_on_each_backend_stores_every_item_once(backend, serve):
    world = backend
    feed_id = _feed(world.org, serve(_body(2_500)))
    result = poller.poll_feed(feed_id, now=T0 - timedelta(hours=1))
    assert (result.new_items, result.matched, result.waiting) == (2_500, 1_000, 1_500)
    assert poller.poll_feed(feed_id, now=T0 - timedelta(hours=1)).new_items == 0
    assert len(_guids(feed_id)) == 2_500
    rematch.match_waiting(T0 - timedelta(minutes=30))
    assert _detail_advisories(world) == 3


def test_items_another_poller_stored_a_moment_ago_are_passed_over(pg_world, serve, monkeypatch):
    world = pg_world
    feed_id = _feed(world.org, serve(_body(1_200)))
    build_item, item_values = poller.build_item, poller.item_values

    def racing(feed, entry, rules, now):
        # Another poller commits entry g7 while this one is building its items.
        if entry.guid == "g0":
            with so.Session(db.engine) as other:
                item = build_item(other.get(Feed, feed.id), next(e for e in entries if e.guid == "g7"), rules, now)
                other.add(item)
                other.commit()
        return item_values(feed, entry, rules, now)

    entries = []
    parse = poller.parse.parse
    monkeypatch.setattr(poller.parse, "parse", lambda *a, **k: _kept(parse(*a, **k), entries))
    monkeypatch.setattr(poller, "item_values", racing)

    result = poller.poll_feed(feed_id, now=T0)
    assert result.status == "ok" and result.new_items == 1_199
    assert len(_guids(feed_id)) == 1_200


def _kept(parsed, into: list):
    into.extend(parsed.items)
    return parsed


def test_an_item_the_database_refuses_is_named_and_the_rest_are_stored(backend, serve, monkeypatch):
    world = backend
    feed_id = _feed(world.org, serve(_body(1_200)))
    item_values = poller.item_values

    def one_bad(feed, entry, rules, now):
        values = item_values(feed, entry, rules, now)
        if entry.guid == "g3":
            values["ends_at"] = values["starts_at"] - timedelta(hours=1)  # against the table's check
        return values

    monkeypatch.setattr(poller, "item_values", one_bad)
    result = poller.poll_feed(feed_id, now=T0)
    assert result.status == "ok" and result.new_items == 1_199
    assert _guids(feed_id) == {f"g{n}" for n in range(1_200)} - {"g3"}
    assert any(line.startswith("item 'g3': not stored, the database refused it") for line in result.problems)
