"""The poller: due feeds claimed once, items stored once, placed, classified and matched; failures back off."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import Organisation
from intel.domain import classify, poller
from intel.domain.parse.items import ParsedItem
from intel.models import Advisory, Feed, FeedItem

from .conftest import T0, allow_loopback_feeds, make_app
from .job_clock import JobClock, Stop
from .test_feeds import FeedServer


@pytest.fixture
def feed_server():
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()


def _feed(org, url, **extra):
    allow_loopback_feeds(org)
    feed = Feed(organisation=org, url=url, name=extra.pop("name", url.rsplit("/", 1)[-1]), **extra)
    db.session.add(feed)
    db.session.commit()
    return feed


def _items(feed):
    return db.session.scalars(sa.select(FeedItem).where(FeedItem.feed_id == feed.id).order_by(FeedItem.id)).all()


def test_poll_stores_items_placed_and_classified_then_asks_conditionally(app, world, feed_server):
    feed = _feed(world.org, feed_server.url("/feeds/rss_georss_point.xml"), country_code="GB")
    results = poller.poll_due(app)
    assert [(r.status, r.new_items > 0) for r in results] == [("ok", True)]
    db.session.expire_all()
    items = _items(feed)
    march = next(i for i in items if i.guid == "bulletin-4411")
    assert (march.latitude, march.longitude) == (51.5101, -0.1340)
    assert march.located_by == "feed" and march.category == "protest"
    assert "<b>2,000</b>" in march.summary_html and "<script" not in march.summary_html
    assert feed.last_success_at is not None and feed.items_seen == len(items) and feed.etag

    # Due again: the stored ETag makes it a conditional GET, answered 304, storing nothing.
    feed.next_poll_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    db.session.commit()
    assert [r.status for r in poller.poll_due(app)] == ["not_modified"]
    assert feed_server.seen[-1][1].get("If-None-Match") == feed.etag
    db.session.expire_all()
    assert len(_items(feed)) == len(items)


def test_items_without_coordinates_are_placed_from_their_text_or_kept_unlocated(app, world, feed_server):
    feed = _feed(world.org, feed_server.url("/feeds/script_injection.xml"))
    poller.poll_due(app)
    db.session.expire_all()
    items = _items(feed)
    assert items, "the feed's items are stored"
    for item in items:
        assert "<script" not in item.title.lower() and "<script" not in item.summary_html.lower()
        assert item.link is None or item.link.startswith(("http://", "https://"))
        assert item.located or (item.latitude is None and item.longitude is None)


def test_failures_are_recorded_back_off_and_do_not_stop_other_feeds(app, world, feed_server):
    broken = _feed(world.org, feed_server.url("/server-error"), poll_interval_s=60)
    html = _feed(world.org, feed_server.url("/feeds/html_error_page.html"))
    good = _feed(world.org, feed_server.url("/feeds/w3c_geo.xml"))
    now = datetime.now(timezone.utc)
    results = {r.feed_id: r for r in poller.poll_due(app, now=now)}
    assert results[broken.id].status == "error" and "500" in results[broken.id].error
    assert results[html.id].status == "error" and "unusable" in results[html.id].error
    assert results[good.id].status == "ok"
    db.session.expire_all()
    assert broken.consecutive_failures == 1 and "500" in broken.last_error
    assert broken.next_poll_at - now == timedelta(seconds=120)  # backs off: twice the interval
    poller.poll_due(app, now=broken.next_poll_at)
    db.session.expire_all()
    assert broken.consecutive_failures == 2
    assert good.last_error is None and good.items_seen > 0


def test_a_claimed_feed_is_not_claimed_again_in_its_period(app, world, feed_server):
    _feed(world.org, feed_server.url("/feeds/w3c_geo.xml"))
    now = datetime.now(timezone.utc)
    first = poller.claim_due_feeds(now)
    assert len(first) == 1
    assert poller.claim_due_feeds(now) == []
    assert poller.claim_due_feeds(now + timedelta(seconds=599)) == []
    assert poller.claim_due_feeds(now + timedelta(seconds=600)) == first


@pytest.mark.postgres
def test_concurrent_pollers_on_postgresql_claim_disjoint_feeds(tmp_path, postgres_url):
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url)
    with app.app_context():
        db.create_all()
        org = Organisation(name="Pollers")
        db.session.add(org)
        db.session.add_all(Feed(organisation=org, url=f"http://127.0.0.1:1/{n}.xml", name=str(n)) for n in range(40))
        db.session.commit()
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def claim():
        with app.app_context():
            barrier.wait()
            claimed.append(poller.claim_due_feeds(limit=15))
            db.session.remove()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [feed_id for batch in claimed for feed_id in batch]
    assert len(everything) == len(set(everything)) == 40
    with app.app_context():
        db.engine.dispose()


def test_items_are_stored_once_even_when_two_pollers_fetch(app, world, feed_server):
    feed = _feed(world.org, feed_server.url("/feeds/gdacs.xml"))
    poller.poll_feed(feed.id)
    db.session.expire_all()
    count = len(_items(feed))
    feed.etag = None  # a second poller without the ETag fetches the whole feed again
    db.session.commit()
    assert poller.poll_feed(feed.id).new_items == 0
    db.session.expire_all()
    assert len(_items(feed)) == count


def test_a_loopback_feed_is_refused_until_an_admin_allows_its_host(app, world, feed_server):
    feed = Feed(organisation=world.org, url=feed_server.url("/feeds/w3c_geo.xml"), name="Intranet")
    db.session.add(feed)
    db.session.commit()
    now = datetime.now(timezone.utc)

    refused = poller.poll_due(app, now=now)

    assert [(r.status, r.error) for r in refused] == [("error", "address not allowed")]
    assert feed_server.seen == []
    db.session.expire_all()
    assert feed.last_error == "address not allowed" and feed.consecutive_failures == 1
    world.org.feed_private_hosts = "intranet.example.org\n127.0.0.0/8"
    db.session.commit()
    assert [r.status for r in poller.poll_due(app, now=feed.next_poll_at)] == ["ok"]
    assert len(feed_server.seen) == 1


def test_cli_add_feed_refuses_a_private_address_the_organisation_does_not_allow(app, world, runner, feed_server):
    for url in (feed_server.url("/feeds/cap_atom.xml"), "http://2130706433/feed.xml", "http://[::1]/feed.xml"):
        refused = runner.invoke(args=["intel", "add-feed", url, "--organisation", world.org.name])
        assert refused.exit_code != 0 and "not a public address" in refused.output, refused.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Feed)) == 0


def test_cli_add_feed_and_poll(app, world, runner, feed_server):
    allow_loopback_feeds(world.org)
    db.session.commit()
    url = feed_server.url("/feeds/cap_atom.xml")
    result = runner.invoke(
        args=["intel", "add-feed", url, "--name", "CAP", "--country", "us", "--organisation", world.org.name]
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["intel", "add-feed", url, "--organisation", world.org.name])
    assert again.exit_code != 0 and "already" in again.output
    bad = runner.invoke(args=["intel", "add-feed", "ftp://example.org/x", "--organisation", world.org.name])
    assert bad.exit_code != 0 and "http" in bad.output
    result = runner.invoke(args=["intel", "poll"])
    assert result.exit_code == 0, result.output
    assert "CAP: ok" in result.output
    assert runner.invoke(args=["intel", "poll"]).output.strip() == "no feed is due"


def test_cli_poll_loop_runs_through_the_job_runner_and_outlives_a_failed_round(
    app, world, runner, feed_server, monkeypatch, caplog
):
    _feed(world.org, feed_server.url("/feeds/cap_atom.xml"), name="CAP")
    clock = JobClock(monkeypatch, run_for=65)
    rounds, poll_due = [], poller.poll_due

    def first_fails(*args, **kwargs):
        rounds.append(clock.now)
        if len(rounds) == 1:
            raise RuntimeError("database away")
        return poll_due(*args, **kwargs)

    monkeypatch.setattr(poller, "poll_due", first_fails)
    result = runner.invoke(args=["intel", "poll", "--loop", "--every", "30"])
    assert isinstance(result.exception, Stop), result.output
    assert rounds == [1_000, 1_030, 1_060]  # --every 30, and on after the failure
    assert "job feeds failed" in caplog.text
    # The round after the failure polls the feed; the next finds nothing due and says nothing.
    assert [line.split(",")[0] for line in result.output.splitlines()] == ["CAP: ok"]


def test_demo_sample_feeds_give_advisories_with_reasons(app, runner, live_server):
    app.config["PUBLIC_URL"] = live_server
    assert runner.invoke(args=["demo"]).exit_code == 0
    # The demo's feeds are this app's own, on loopback: the demo organisation allows that host, and only it.
    assert db.session.scalars(sa.select(Organisation.feed_private_hosts)).one() == "127.0.0.1"
    results = poller.poll_due(app)
    assert sorted(r.status for r in results) == ["ok", "ok", "ok"], [r.error for r in results]
    db.session.expire_all()
    advisories = db.session.scalars(sa.select(Advisory)).all()
    by_title = {a.title: a for a in advisories}
    march = by_title["Climate march from Trafalgar Square to Parliament Square"]
    assert march.severity in ("high", "critical") and "from The Savoy" in march.reason
    rally = by_title["Union rally at the ExCeL London western entrance"]
    assert rally.severity == "critical" and "ExCeL London" in rally.reason and "arrival" in rally.reason
    assert "Rally in Manchester city centre" not in by_title
    embassy = db.session.scalar(sa.select(FeedItem).where(FeedItem.title == "Demonstration Alert: London, Westminster"))
    assert embassy.located_by == "gazetteer"
    paris = db.session.scalar(sa.select(FeedItem).where(FeedItem.title == "Demonstration Alert: Paris"))
    assert paris.located and paris.latitude == pytest.approx(48.85, abs=0.1)


def test_an_items_impacts_are_kept_with_it(world):
    feed = Feed(organisation=world.org, url="https://a.example/rss", name="Wires")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    def built(title):
        entry = ParsedItem("g", None, title, "", "", now, None, [])
        return poller.build_item(feed, entry, list(classify.DEFAULT_RULES), now)

    strike, riot = built("Huelga general el jueves"), built("Riots after the match")
    assert (strike.category, strike.details["impacts"]) == ("protest", ["transport"])
    assert riot.category == "civil_unrest" and "impacts" not in riot.details


def test_travel_advisories_are_stored_country_wide_and_raise_candidates_for_details_there(app, world, feed_server):
    # The world's detail is in London from T0; the feed's UK advisory was issued in May 2025 and still stands.
    feed = _feed(world.org, feed_server.url("/feeds/travel_advisories.xml"), country_code="US")
    assert poller.poll_feed(feed.id, now=T0).status == "ok"
    db.session.expire_all()
    items = _items(feed)
    wide = [i for i in items if i.located_by == "country"]
    assert len(wide) == 8 and all(i.latitude is None for i in wide)
    assert [i.title for i in items if i.located_by != "country"] == ["Worldwide Caution"]
    raised = db.session.scalars(sa.select(Advisory).where(Advisory.detail_id == world.detail.id)).all()
    assert [(a.title, a.severity) for a in raised] == [("United Kingdom - Level 2: Exercise Increased Caution", "low")]

    feed.etag = None  # fetched whole again: the same issues, so nothing new
    db.session.commit()
    assert poller.poll_feed(feed.id, now=T0).new_items == 0


def test_coordinates_refused_or_in_unknown_systems_are_problems_on_the_feed(app, world, feed_server):
    grids = _feed(world.org, feed_server.url("/feeds/gml_reference_systems.xml"))
    bad = _feed(world.org, feed_server.url("/feeds/bad_coordinates.xml"))
    assert [r.status for r in poller.poll_due(app)] == ["ok", "ok"]
    db.session.expire_all()
    placed = {i.guid: i for i in _items(grids)}
    assert placed["bng-point"].located and placed["bng-point"].details["country_code"] == "GB"
    assert not placed["unknown-code"].located
    grid_problems = "\n".join(grids.last_problems)
    assert "coordinate reference system 'EPSG:99999' is not one PROJ knows" in grid_problems
    assert "not a whole number of 2-D positions" in grid_problems
    bad_problems = "\n".join(bad.last_problems)
    assert "GeoRSS line has 5 numbers, an odd count" in bad_problems
    assert "position (0, 0) is where a missing location written as zeros lands, not a place on 2 items" in bad_problems
