"""What the poller builds from a feed stays what it was: the ingest benchmark's feed, item by item.

tests/data/ingest_build_expected.json holds, for the first 200 items of bench/intel_ingest.py's
generated feed, every field the poller's build gives (category, point, how it was placed, place name,
window and its basis, details), as built by the code before the ingest was made faster (42ba736); the
faster code must build the same. The details intel matches against are loaded with what exposures()
reads, so matching reads the database once per relationship, not once per detail.
"""

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from bench.intel_ingest import make_feed
from bench.statements import counted
from detail.extensions import db
from intel.domain import classify, event_time, matching, parse, places, poller
from intel.domain.exposures import exposures
from intel.models import Feed

from .conftest import T0

EXPECTED = Path(__file__).parent / "data" / "ingest_build_expected.json"
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)  # bench.world.WEEK_START, when the benchmark polls


def _fields(item) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "guid": item.guid,
        "title": item.title,
        "link": item.link,
        "category": item.category,
        "source_severity": item.source_severity,
        "latitude": item.latitude,
        "longitude": item.longitude,
        "located_by": item.located_by,
        "place_name": item.place_name,
        "geometry": item.geometry,
        "published_at": iso(item.published_at),
        "starts_at": iso(item.starts_at),
        "ends_at": iso(item.ends_at),
        "time_basis": item.time_basis,
        "details": item.details,
        "summary_sha256": hashlib.sha256((item.summary_html + "\n" + item.summary_text).encode()).hexdigest()[:16],
    }


def test_the_poller_builds_the_benchmark_feed_as_before(app):
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    parsed = parse.parse(make_feed(len(expected)))
    feed = Feed(url="https://news.example.org/feed.xml", name="Bench")
    rules = classify.compile_rules(classify.DEFAULT_RULES)

    built = [_fields(item) for item in poller.build_items(feed, parsed.items, rules, NOW)]

    assert len(built) == len(expected) == 200
    for got, want in zip(built, expected, strict=True):
        assert got == want, got["guid"]
    # The sample covers what the build decides: placed by coordinates, by names, not at all; stated times.
    assert {row["located_by"] for row in built} == {"feed", "gazetteer", None}
    assert len({row["category"] for row in built}) >= 8
    assert sum(row["time_basis"].startswith("stated:") for row in built) > 150


def test_a_second_build_of_the_same_entries_gives_the_same_items(app):
    """What is kept between items (each word's rules, each word's key, each zone) changes no answer."""
    parsed = parse.parse(make_feed(60))
    feed = Feed(url="https://news.example.org/feed.xml", name="Bench")
    rules = classify.compile_rules(classify.DEFAULT_RULES)
    first = [_fields(item) for item in poller.build_items(feed, parsed.items, rules, NOW)]
    places._KEYS.clear()
    event_time._zones.clear()
    again = [_fields(item) for item in poller.build_items(feed, parsed.items, rules, NOW)]
    fresh = [_fields(item) for item in poller.build_items(feed, parsed.items, classify.compile_rules(rules), NOW)]
    assert first == again == fresh


def test_active_details_come_with_what_their_exposures_read(world):
    details = matching.active_details(world.org.id, T0)
    assert details
    with counted(db.engine) as statements:
        found = [exposure for detail in details for exposure in exposures(detail)]
    assert found
    assert statements == []  # no lazy load per detail, visit, movement or post
