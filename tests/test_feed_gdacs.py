"""GDACS countries: its three-letter codes become the two-letter ones watch areas and feeds use."""

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from detail.extensions import db
from intel.domain import advisories, poller
from intel.domain.parse import parse
from intel.domain.parse.gdacs import country_codes
from intel.models import Advisory, Feed, WatchArea

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2025, 6, 12, 6, 0, tzinfo=timezone.utc)


def _gdacs(iso3: str, country: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:gdacs="http://www.gdacs.org" xmlns:georss="http://www.georss.org/georss">
  <channel><title>GDACS</title>
    <item>
      <title>Red alert for tropical cyclone KONG-REY-24</title>
      <guid isPermaLink="false">TC1001100</guid>
      <pubDate>Thu, 12 Jun 2025 00:00:00 GMT</pubDate>
      <georss:point>22.6 121.4</georss:point>
      <gdacs:eventtype>TC</gdacs:eventtype>
      <gdacs:alertlevel>Red</gdacs:alertlevel>
      <gdacs:iso3>{iso3}</gdacs:iso3>
      <gdacs:country>{country}</gdacs:country>
    </item>
  </channel>
</rss>""".encode()


def test_the_fixtures_countries_in_two_letters():
    quake, cyclone = parse((FEEDS / "gdacs.xml").read_bytes()).items

    assert quake.gdacs["iso3"] == "IDN" and quake.gdacs["country_codes"] == ["ID"]
    assert cyclone.gdacs["iso3"] == "MDG" and cyclone.gdacs["country_codes"] == ["MG"]


@pytest.mark.parametrize(
    ("iso3", "names", "expected"),
    [
        ("TWN, CHN", None, ["TW", "CN"]),
        ("twn;chn", None, ["TW", "CN"]),
        ("PHL CHN VNM", None, ["PH", "CN", "VN"]),
        ("CHN, CHN", None, ["CN"]),
        ("XXX, CHN", None, ["CN"]),
        ("", "Taiwan, China", ["TW", "CN"]),
        (None, "Philippines", ["PH"]),
        ("TWN", "Somewhere else", ["TW"]),  # the codes, when there are any, are what counts
        ("", "Off-shore", []),
        (None, None, []),
    ],
)
def test_country_codes(iso3, names, expected):
    assert country_codes(iso3, names) == expected


def test_a_gdacs_item_carries_its_countries_whatever_the_feeds(world):
    feed = Feed(organisation=world.org, url="https://gdacs.example/rss", name="GDACS", country_code="GB")
    db.session.add(feed)
    db.session.flush()
    (entry,) = parse(_gdacs("TWN, CHN", "Taiwan, China")).items

    item = poller.build_item(feed, entry, [], NOW)

    assert item.details["country_code"] == "TW"
    assert item.details["country_codes"] == ["TW", "CN"]


def test_a_country_watch_area_matches_every_country_gdacs_names(world):
    feed = Feed(organisation=world.org, url="https://gdacs.example/rss", name="GDACS")
    china = WatchArea(client_id=world.client.id, name="China", country_code="CN", timezone="Asia/Shanghai")
    japan = WatchArea(client_id=world.client.id, name="Japan", country_code="JP", timezone="Asia/Tokyo")
    db.session.add_all([feed, china, japan])
    db.session.flush()
    (entry,) = parse(_gdacs("TWN, CHN", "Taiwan, China")).items
    item = poller.build_item(feed, entry, [], NOW)
    db.session.add(item)
    db.session.flush()

    advisories.record_candidates(world.org.id, [item], NOW)

    names = db.session.scalars(sa.select(WatchArea.name).join(Advisory, Advisory.watch_area_id == WatchArea.id))
    assert list(names) == ["China"]
