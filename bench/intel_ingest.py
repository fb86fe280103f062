"""Benchmark: ingest a 10,000-item RSS feed, end to end and stage by stage.

Generates an RSS 2.0 feed (GeoRSS points on some items, only place names in the text of the
others), serves it from a small threading HTTP server on 127.0.0.1, registers it as a Feed of an
organisation with the matching benchmark's venues and details, and

- polls it end to end with intel.poller.poll_feed (fetch, parse, classify, place, store, match the
  first poller.MATCH_PER_POLL items, commit, publish) on a fresh copy of the database; polls it
  again in full (no ETag), which must store nothing new; then runs the matching job's rounds
  (rematch.match_waiting) until no item waits to be matched;
- then times the stages one by one on another fresh copy, calling intel.domain's fetch.fetch /
  parse.parse, intel.poller.build_item (and, inside it, classify and the gazetteer), the poller's
  bulk store, and advisories.record_candidates (with match_items' share of it).

Each figure is given as wall time and as this process's CPU time: on a busy machine they part.

    .venv/bin/python bench/intel_ingest.py
    .venv/bin/python bench/intel_ingest.py --part e2e --match-per-poll 10000   # match everything in the poll
    .venv/bin/python bench/intel_ingest.py --part breakdown --items 2000 --json
    .venv/bin/python bench/intel_ingest.py --part e2e --profile 25   # cProfile of the first poll, top 25
"""

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import shutil
import sys
import threading
import time
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench import world as bw
from detail.domain import live
from detail.extensions import db
from detail.models import Organisation
from intel.domain import advisories, classify, fetch, gazetteer, matching, parse, places, poller, rematch
from intel.models import Advisory, Feed, FeedItem

LOOPBACK = "127.0.0.1"  # where FeedServer listens
DEFAULT_FETCH_CAP = 5_000_000  # intel.domain.fetch.fetch's max_bytes default (the poller passes its own)

# Titles and summaries by category: what regional security feeds say. {place} is a city's name.
TEMPLATES = {
    "protest": (
        "Protesters march on city hall in {place}",
        "Rally planned outside parliament in {place} on Saturday",
        "Thousands join demonstration in central {place}",
        "Dock workers picket port gates in {place}",
    ),
    "civil_unrest": (
        "Riot police use tear gas on crowds in {place}",
        "Curfew declared in {place} after overnight clashes",
        "Looting reported in {place} as unrest spreads",
    ),
    "crime": (
        "Armed robbery near shopping district in {place}",
        "Shooting in {place} suburb, police operation under way",
        "Spate of phone snatching and mugging in {place} tourist areas",
    ),
    "terrorism": (
        "Terror suspects arrested after attack plot in {place}",
        "Security alert after bomb threat at {place} airport terminal",
    ),
    "security": (
        "Suspicious package prompts evacuation of station in {place}",
        "Police cordon and checkpoints around the summit venue in {place}",
    ),
    "weather": (
        "Severe thunderstorm warning for {place} this evening",
        "Flash flood warning issued for {place} and surroundings",
        "Heavy snow expected in {place}, travel disruption likely",
    ),
    "natural_hazard": (
        "Magnitude 5.1 earthquake felt in {place}",
        "Wildfire near {place} forces evacuations",
        "Landslide blocks roads north of {place}",
    ),
    "transport": (
        "Road closures in central {place} for state visit motorcade",
        "Flights cancelled at {place} airport after system outage",
        "Metro line suspended in {place} after signal failure, long delays",
    ),
    "health": (
        "Measles outbreak reported in {place}",
        "Air quality alert issued for {place}",
    ),
    "other": (
        "Street festival in {place} this weekend draws large crowds",
        "Public holiday in {place}: government offices closed",
    ),
}
SENTENCES = (
    "Local authorities advise avoiding the area and allowing extra time for journeys.",
    "The situation is developing; further updates will follow as information is confirmed.",
    "Police have set up a cordon and diversions are in place on surrounding streets.",
    "Organisers expect several thousand participants during the afternoon.",
    "Travellers should monitor local media and follow the instructions of the authorities.",
    "Public transport services nearby are running with reduced frequency.",
)
# Cities the gazetteer knows beyond the benchmark's fifty: items about places no detail is near.
OTHER_PLACES = (
    "Lyon",
    "Manchester",
    "Osaka",
    "Marseille",
    "Hamburg",
    "Naples",
    "Porto",
    "Rotterdam",
    "Seville",
    "Valencia",
    "Glasgow",
    "Nagoya",
    "Busan",
    "Chennai",
    "Karachi",
    "Casablanca",
    "Monterrey",
    "Medellín",
    "Lima",
    "Santiago",
)
UNPLACED_TITLES = (
    "Advisory: travel situation update for the region",
    "Weekly security summary for corporate travellers",
    "Reminder: check entry requirements before departure",
)


def make_feed(n: int, seed: int = bw.SEED, text_share: float = 0.4, unplaced_share: float = 0.03) -> bytes:
    """An RSS 2.0 document of `n` items: `text_share` of them placed only by the names in their text,
    `unplaced_share` with no place at all, the rest with a georss:point near the city they name."""
    rng = random.Random(seed)
    city_list = bw.cities()
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:georss="http://www.georss.org/georss">\n<channel>\n'
        "<title>Bench regional security feed</title>\n<link>https://news.example.org/</link>\n"
        "<description>Synthetic items for the ingest benchmark</description>\n"
    ]
    for i in range(n):
        category = bw.pick_category(rng)
        city = rng.choice(city_list)
        roll = rng.random()
        point = None
        if roll < unplaced_share:
            title, place = rng.choice(UNPLACED_TITLES), None
        else:
            place = city.name
            if roll < unplaced_share + text_share and rng.random() < 0.2:
                place = rng.choice(OTHER_PLACES)
            title = rng.choice(TEMPLATES[category]).format(place=place)
            if roll >= unplaced_share + text_share:
                point = bw.near(rng, city.latitude, city.longitude, 12_000)
        sentences = rng.sample(SENTENCES, rng.randint(2, 3))
        where = f" in <b>{escape(place)}</b>" if place else ""
        summary = f"<p>Reported{where} at {rng.randint(6, 22)}:{rng.choice(('00', '15', '30', '45'))} local time. "
        summary += " ".join(sentences) + "</p>"
        published = bw.WEEK_START + timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
        parts.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>https://news.example.org/bench/{i}</link>"
            f'<guid isPermaLink="false">urn:bench:item:{i}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            + (f"<category>{category.replace('_', ' ')}</category>" if rng.random() < 0.3 else "")
            + f"<description>{escape(summary)}</description>"
            + (f"<georss:point>{point[0]} {point[1]}</georss:point>" if point else "")
            + "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


class FeedServer(ThreadingHTTPServer):
    """Serves one body at any path on 127.0.0.1, with an ETag; stops with close()."""

    daemon_threads = True

    def __init__(self, body: bytes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.requests = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/feed.xml") -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FeedServer

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.send_header("ETag", self.server.etag)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(self.server.body)


@contextlib.contextmanager
def match_per_poll(count: int | None):
    """Set poller.MATCH_PER_POLL for a while, in this process only (None: leave the poller's own)."""
    original = poller.MATCH_PER_POLL
    if count is not None:
        poller.MATCH_PER_POLL = count
    try:
        yield
    finally:
        poller.MATCH_PER_POLL = original


@contextlib.contextmanager
def clocked_match_items(into: list[float]):
    """Time each call of matching.match_items (record_candidates calls it) into `into`."""
    original = matching.match_items

    def clocked(*args, **kwargs):
        elapsed, result = bw.timed(original, *args, **kwargs)
        into.append(elapsed)
        return result

    matching.match_items = clocked
    try:
        yield
    finally:
        matching.match_items = original


def timed_cpu(fn, *args, **kwargs) -> tuple[float, float, object]:
    """(wall seconds, this process's CPU seconds, result): on a busy machine the two part."""
    cpu = time.process_time()
    elapsed, result = bw.timed(fn, *args, **kwargs)
    return elapsed, time.process_time() - cpu, result


def _counts(feed_id: int) -> dict:
    items = db.session.scalar(sa.select(sa.func.count(FeedItem.id)).where(FeedItem.feed_id == feed_id))
    placed = db.session.scalar(
        sa.select(sa.func.count(FeedItem.id)).where(FeedItem.feed_id == feed_id, FeedItem.latitude.is_not(None))
    )
    by_gazetteer = db.session.scalar(
        sa.select(sa.func.count(FeedItem.id)).where(FeedItem.feed_id == feed_id, FeedItem.located_by == "gazetteer")
    )
    waiting = db.session.scalar(
        sa.select(sa.func.count(FeedItem.id)).where(FeedItem.feed_id == feed_id, FeedItem.matched_at.is_(None))
    )
    candidates = db.session.scalar(sa.select(sa.func.count(Advisory.id)))
    return {
        "stored": items,
        "placed": placed,
        "placed_by_gazetteer": by_gazetteer,
        "waiting_to_be_matched": waiting,
        "advisories": candidates,
    }


def _register(organisation_id: int, url: str) -> int:
    # The feed is served on loopback, which the organisation must allow, as an admin does for an intranet feed.
    db.session.get(Organisation, organisation_id).feed_private_hosts = LOOPBACK
    feed = Feed(organisation_id=organisation_id, url=url, name="Bench ingest feed")
    db.session.add(feed)
    db.session.commit()
    return feed.id


def profiled(fn, top: int):
    """fn under cProfile; the top `top` functions by own and by cumulative time go to `fn.profile`."""

    def run(*args, **kwargs):
        profiler = cProfile.Profile()
        result = profiler.runcall(fn, *args, **kwargs)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        run.profile = out.getvalue()
        return result

    return run


def _poll(feed_id: int, match_seconds: list[float], profile_top: int = 0) -> dict:
    del match_seconds[:]
    poll = profiled(poller.poll_feed, profile_top) if profile_top else poller.poll_feed
    elapsed, cpu, result = timed_cpu(poll, feed_id, now=bw.WEEK_START)
    db.session.expire_all()
    feed = db.session.get(Feed, feed_id)
    return {
        "seconds": elapsed,
        "cpu_s": cpu,
        "status": result.status,
        "error": result.error,
        "new_items": result.new_items,
        "matched": result.matched,
        "waiting": result.waiting,
        "problems": result.problems,
        "match_items_seconds": sum(match_seconds),
        "items_per_s": result.new_items / elapsed if result.new_items else 0.0,
        "feed_consecutive_failures": feed.consecutive_failures,
        "feed_items_seen": feed.items_seen,
        "feed_health": feed.last_problems,
        "profile": getattr(poll, "profile", None),
        **_counts(feed_id),
    }


def end_to_end(
    world_db: str, folder: str, url: str, organisation_id: int, per_poll: int | None, profile_top: int = 0
) -> dict:
    """poll_feed on a fresh copy of the world's database, a second full poll of the same feed, then the
    matching job's rounds until no item waits."""
    path = os.path.join(folder, "end_to_end.db")
    shutil.copyfile(world_db, path)
    app = bw.app_for(folder, f"sqlite:///{path}")
    match_seconds: list[float] = []
    out: dict = {}
    with app.app_context(), match_per_poll(per_poll), clocked_match_items(match_seconds):
        feed_id = _register(organisation_id, url)
        out["poll"] = _poll(feed_id, match_seconds, profile_top)
        out["poll"]["peak_rss_mb_after"] = bw.peak_rss_mb()
        # Again, without the ETag: the whole document is fetched and parsed, and nothing is new.
        db.session.get(Feed, feed_id).etag = None
        db.session.commit()
        out["repoll"] = _poll(feed_id, match_seconds)
        rounds, seconds, cpu, events = 0, 0.0, 0.0, 0
        while db.session.scalar(sa.select(sa.func.count(FeedItem.id)).where(FeedItem.matched_at.is_(None))):
            elapsed, used, published = timed_cpu(rematch.match_waiting, bw.WEEK_START)
            rounds, seconds, cpu, events = rounds + 1, seconds + elapsed, cpu + used, events + published
        out["matching_job"] = {
            "rounds": rounds,
            "items_per_round": rematch.WAITING_PER_ROUND,
            "seconds": seconds,
            "cpu_s": cpu,
            "events": events,
            "match_items_seconds": sum(match_seconds),
            **_counts(feed_id),
        }
        db.session.remove()
        db.engine.dispose()
    return out


def breakdown(world_db: str, folder: str, url: str, organisation_id: int, per_poll: int | None) -> dict:
    """The poller's stages one at a time, on a fresh copy of the world's database."""
    path = os.path.join(folder, "breakdown.db")
    shutil.copyfile(world_db, path)
    app = bw.app_for(folder, f"sqlite:///{path}")
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}
    out: dict = {"stages_s": stages, "stages_cpu_s": cpu}

    def stage(name, fn, *args, **kwargs):
        stages[name], cpu[name], result = timed_cpu(fn, *args, **kwargs)
        return result

    with app.app_context():
        feed_id = _register(organisation_id, url)
        feed = db.session.get(Feed, feed_id)
        now = bw.WEEK_START
        per_poll = poller.MATCH_PER_POLL if per_poll is None else per_poll

        fetched = stage("fetch", fetch.fetch, url, max_bytes=poller.MAX_FEED_BYTES, allow=fetch.allow_list(LOOPBACK))
        out["fetch"] = {"status": fetched.status, "bytes": len(fetched.body or b""), "max_bytes": poller.MAX_FEED_BYTES}
        parsed = stage("parse", parse.parse, fetched.body, default_category=feed.default_category)
        out["parsed_items"] = len(parsed.items)

        rules = poller.rules_for(organisation_id)
        db.session.commit()
        built = stage("build_items", poller.item_rows, feed, parsed.items, rules, now)
        out["within_build"] = {
            "classify_s": bw.timed(
                lambda: [classify.classify(e, rules, default_category=feed.default_category) for e in parsed.items]
            )[0],
            "gazetteer_s": bw.timed(
                lambda: [places.place_from_text(f"{e.title}. {e.summary_text}") for e in parsed.items if not e.geometry]
            )[0],
            "items_without_geometry": sum(1 for e in parsed.items if not e.geometry),
        }
        for row in built[:per_poll]:
            row["matched_at"] = now

        def store() -> tuple[list[dict], list[FeedItem]]:
            """poll_feed's store: the known guids, a batched INSERT … ON CONFLICT DO NOTHING, and the items
            to match now made the session's."""
            feed.last_polled_at = now
            known = set(db.session.scalars(sa.select(FeedItem.guid).where(FeedItem.feed_id == feed_id)))
            stored, _ = poller._insert_new([row for row in built if row["guid"] not in known])
            return stored, poller._attach([row for row in stored if row["matched_at"] is not None])

        new_items, to_match = stage("store", store)
        match_seconds: list[float] = []
        with clocked_match_items(match_seconds):
            events = stage("match_and_record", advisories.record_candidates, organisation_id, to_match, now)
        out["matched_items"] = len(to_match)
        out["match_items_s"] = sum(match_seconds)
        out["record_s"] = stages["match_and_record"] - out["match_items_s"]
        stage("commit", db.session.commit)
        stage("publish", live.publish, events)
        out["events"] = len(events)
        out["total_s"] = sum(stages.values())
        out["total_cpu_s"] = sum(cpu.values())
        out["items_per_s"] = len(new_items) / out["total_s"]
        out.update(_counts(feed_id))
        out["peak_rss_mb_after"] = bw.peak_rss_mb()
        db.session.remove()
        db.engine.dispose()
    return out


def run(args: argparse.Namespace) -> dict:
    tmp = bw.workdir(args.workdir)
    folder = args.workdir or tmp.name
    world_db = os.path.join(folder, "world.db")
    results: dict = {"seed": args.seed, "match_per_poll": args.match_per_poll or poller.MATCH_PER_POLL}
    server = None
    try:
        app = bw.app_for(folder, f"sqlite:///{world_db}")
        with app.app_context():
            world = bw.build_world(venues=args.venues, details=args.details, items=0, seed=args.seed)
            db.session.remove()
            db.engine.dispose()
        results["world"] = {"venues": world.venue_count, "details": world.detail_count, "cities": len(world.cities)}
        results["gazetteer_load_s"] = gazetteer.gazetteer_stats().get("load_seconds")
        results["peak_rss_mb_before"] = bw.peak_rss_mb()
        results["generate_s"], body = bw.timed(make_feed, args.items, args.seed, args.text_share)
        results["feed"] = {
            "items": args.items,
            "bytes": len(body),
            "over_fetch_default": len(body) > DEFAULT_FETCH_CAP,
            "over_poller_cap": len(body) > poller.MAX_FEED_BYTES,
        }
        server = FeedServer(body)
        if args.part in ("both", "e2e"):
            results["end_to_end"] = end_to_end(
                world_db, folder, server.url("/a.xml"), world.organisation_id, args.match_per_poll, args.profile
            )
        if args.part in ("both", "breakdown"):
            results["breakdown"] = breakdown(
                world_db, folder, server.url("/d.xml"), world.organisation_id, args.match_per_poll
            )
        results["peak_rss_mb"] = bw.peak_rss_mb()
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if server is not None:
            server.close()
        if tmp is not None:
            tmp.cleanup()
    return results


def report(results: dict) -> str:
    f, w = results["feed"], results["world"]
    lines = [
        f"world: {w['venues']} venues, {w['details']} details around {w['cities']} cities; gazetteer loaded in "
        f"{results['gazetteer_load_s']:.2f} s; peak RSS before the feed {results['peak_rss_mb_before']:.0f} MB",
        f"feed: {f['items']} items, {f['bytes']:,} bytes (over fetch's 5,000,000-byte default: "
        f"{f['over_fetch_default']}; over the poller's {poller.MAX_FEED_BYTES:,}: {f['over_poller_cap']}); "
        f"generated in {results['generate_s']:.2f} s; a poll matches at most {results['match_per_poll']} items",
    ]
    e2e = results.get("end_to_end")
    if e2e:
        for name in ("poll", "repoll"):
            e = e2e[name]
            lines.append(
                f"poll_feed{' again' if name == 'repoll' else ''}: {e['status']} in {e['seconds']:.2f} s "
                f"(CPU {e['cpu_s']:.2f} s), {e['new_items']} new items, {e['stored']} stored "
                f"({e['placed']} placed, {e['placed_by_gazetteer']} by the gazetteer), {e['matched']} matched, "
                f"{e['waiting']} left waiting, {e['advisories']} advisories, match_items "
                f"{e['match_items_seconds']:.2f} s" + (f"; error: {e['error']}" if e["error"] else "")
            )
        lines.append(f"feed health after the first poll: {e2e['poll']['feed_health']}")
        if e2e["poll"]["profile"]:
            lines.append(e2e["poll"]["profile"])
        j = e2e["matching_job"]
        lines.append(
            f"matching job: {j['rounds']} rounds of up to {j['items_per_round']} waiting items in {j['seconds']:.2f} s "
            f"(CPU {j['cpu_s']:.2f} s), {j['events']} events; then {j['waiting_to_be_matched']} waiting, "
            f"{j['advisories']} advisories"
        )
    b = results.get("breakdown")
    if b:
        stage_text = ", ".join(
            f"{name} {seconds:.2f} s (CPU {b['stages_cpu_s'][name]:.2f})" for name, seconds in b["stages_s"].items()
        )
        lines.append(
            f"breakdown ({b['parsed_items']} items, {b['stored']} stored, {b['matched_items']} matched, "
            f"{b['advisories']} advisories): {stage_text}; total {b['total_s']:.2f} s (CPU {b['total_cpu_s']:.2f} s), "
            f"{b['items_per_s']:.0f} items/s; match_items {b['match_items_s']:.2f} s of match_and_record; within "
            f"build: classify {b['within_build']['classify_s']:.2f} s, gazetteer {b['within_build']['gazetteer_s']:.2f}"
            f" s for {b['within_build']['items_without_geometry']} items without geometry; peak RSS "
            f"{b['peak_rss_mb_after']:.0f} MB"
        )
    lines.append(f"peak RSS {results['peak_rss_mb']:.0f} MB; load average at the end {results['load_average']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=10_000, help="items in the feed (default 10,000)")
    p.add_argument("--venues", type=int, default=1_000, help="venues of the organisation (default 1,000)")
    p.add_argument("--details", type=int, default=300, help="details matched against (default 300)")
    p.add_argument("--text-share", type=float, default=0.4, help="items placed only by names in their text (0.4)")
    p.add_argument("--part", choices=("both", "e2e", "breakdown"), default="both")
    p.add_argument("--match-per-poll", type=int, help="items one poll matches (default: the poller's MATCH_PER_POLL)")
    p.add_argument("--seed", type=int, default=bw.SEED)
    p.add_argument("--workdir", help="keep the SQLite databases here instead of a temporary folder")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile the first poll, print the top N")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    results = run(args)
    print(json.dumps(results, indent=2, default=str) if args.json else report(results))
    return results


if __name__ == "__main__":
    main()
