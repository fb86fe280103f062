"""Where an item is placed: its own coordinates win over its feed's country, which only helps read place names."""

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from detail.extensions import db
from intel.domain import advisories, poller
from intel.domain.countries import countries_named, country_at, country_of_fips
from intel.domain.parse import parse
from intel.models import Advisory, Feed, WatchArea

from .conftest import T0

FEEDS = Path(__file__).parent / "data" / "feeds"


@pytest.mark.parametrize(
    ("latitude", "longitude", "country"),
    [
        (23.97, 121.60, "TW"),  # Hualien
        (31.76, -106.49, "US"),  # El Paso ...
        (31.69, -106.42, "MX"),  # ... and Ciudad Juárez, 10 km apart across the border
        (47.14, 9.52, "LI"),  # Vaduz, between Switzerland and Austria
        (21.03, 105.85, "VN"),  # Hanoi, inside the Asia/Bangkok time zone's polygon
        (13.75, 100.50, "TH"),  # Bangkok
        (42.66, 21.16, "XK"),  # Pristina, inside Europe/Belgrade's
        (51.5101, -0.1340, "GB"),
        (24.0, 122.2, "TW"),  # 60 km off Taiwan's east coast: the nearest coast's
        (35.0, -40.0, None),  # the middle of the Atlantic
        (0.0, 0.0, None),  # "null island": a missing position, never a place
    ],
)
def test_country_at_reads_borders_and_the_sea(latitude, longitude, country):
    assert country_at(latitude, longitude) == country


def test_country_at_refuses_what_is_not_a_place():
    with pytest.raises(ValueError):
        country_at(95.0, 10.0)


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("Mexico", ["MX"]),
        ("Burma (Myanmar)", ["MM"]),
        ("Cote d Ivoire", ["CI"]),
        ("Côte d'Ivoire", ["CI"]),
        ("The Bahamas", ["BS"]),
        ("Trinidad & Tobago", ["TT"]),
        ("Bosnia and Herzegovina", ["BA"]),
        ("Israel, the West Bank and Gaza", ["IL", "PS"]),
        ("Mainland China, Hong Kong & Macau", ["CN", "HK", "MO"]),
        ("Worldwide", []),
    ],
)
def test_countries_named_reads_the_names_feeds_write(name, codes):
    assert countries_named(name) == codes


def test_fips_codes_are_not_iso_codes():
    assert [country_of_fips(code) for code in ("UK", "TU", "BM", "ZZ")] == ["GB", "TR", "MM", None]


@pytest.fixture
def us_feed(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/usgs.atom", name="USGS", country_code="US")
    db.session.add(feed)
    db.session.commit()
    return feed


def _built(feed, fixture_name):
    parsed = parse((FEEDS / fixture_name).read_bytes())
    rules = poller.rules_for(feed.organisation_id)
    return {entry.title: poller.build_item(feed, entry, rules, T0) for entry in parsed.items}


def test_an_item_with_coordinates_is_in_the_country_there_not_the_feeds(us_feed):
    items = _built(us_feed, "usgs_earthquakes.atom")

    taiwan = items["M 4.5 - 10 km N of Hualien City, Taiwan"]
    assert taiwan.located_by == "feed" and taiwan.details["country_code"] == "TW"
    assert items["M 2.6 - 5km NW of The Geysers, CA"].details["country_code"] == "US"


def test_an_item_at_sea_has_no_country_even_from_a_feed_that_has_one(us_feed):
    body = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:georss="http://www.georss.org/georss"><channel><title>T'
        b"</title><item><title>M 5.1 - Mid-Atlantic Ridge</title><guid>ridge</guid>"
        b"<georss:point>35.0 -40.0</georss:point></item></channel></rss>"
    )
    rules = poller.rules_for(us_feed.organisation_id)
    item = poller.build_item(us_feed, parse(body).items[0], rules, T0)

    assert item.located and "country_code" not in item.details


def test_a_quake_in_taiwan_from_a_feed_for_the_united_states_reaches_taiwans_watch_area_only(world, us_feed):
    quake = _built(us_feed, "usgs_earthquakes.atom")["M 4.5 - 10 km N of Hualien City, Taiwan"]
    quake.starts_at, quake.ends_at = T0, T0 + timedelta(hours=6)
    db.session.add(quake)
    for name, code in (("United States", "US"), ("Taiwan", "TW")):
        db.session.add(WatchArea(client_id=world.client.id, name=name, country_code=code, timezone="UTC"))
    db.session.flush()

    advisories.record_candidates(world.org.id, [quake], T0)

    raised = db.session.scalars(sa.select(Advisory).where(Advisory.watch_area_id.is_not(None))).all()
    assert [advisory.watch_area.name for advisory in raised] == ["Taiwan"]


def test_a_warning_area_across_180_degrees_is_placed_there_not_at_0_degrees(us_feed):
    body = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:georss="http://www.georss.org/georss"><channel><title>T'
        b"</title><item><title>Tropical cyclone warning</title><guid>tc</guid>"
        b"<georss:box>-20 175 -15 -175</georss:box></item></channel></rss>"
    )
    rules = poller.rules_for(us_feed.organisation_id)
    item = poller.build_item(us_feed, parse(body).items[0], rules, T0)

    assert (item.latitude, item.longitude) == (-17.5, 180.0)
    assert item.details["country_code"] == "FJ"
