"""Country-level travel advisories: read from the State Department's shape, placed in whole countries, in force
until replaced, and matched to every detail and watch area in their countries at their level's severity."""

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from detail.domain import notices
from detail.domain import requests as inbox
from detail.extensions import db
from intel.domain import advisories, country_matching, matching, poller, travel_advisories
from intel.domain.parse import parse
from intel.models import Advisory, Feed, FeedItem, WatchArea

from .conftest import T0, sign_in

FEEDS = Path(__file__).parent / "data" / "feeds"
UK_LINK = (
    "https://travel.state.gov/content/travel/en/traveladvisories/traveladvisories/united-kingdom-travel-advisory.html"
)


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Travel Advisories</title>'
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


def _advisory(title: str, issued: str, link: str = UK_LINK, tags: str = "") -> str:
    body = f"<title>{title}</title><link>{link}</link><pubDate>{issued}</pubDate>"
    return f"{body}<description>Advice.</description>{tags}"


@pytest.fixture
def state_feed(world):
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/TAsTWs.xml", name="State Department", country_code="US")
    db.session.add(feed)
    db.session.commit()
    return feed


def _store(feed, body: bytes) -> dict[str, FeedItem]:
    rules = poller.rules_for(feed.organisation_id)
    items = {entry.title: poller.build_item(feed, entry, rules, T0) for entry in parse(body).items}
    db.session.add_all(items.values())
    db.session.flush()
    return items


def _fixture_items(feed) -> dict[str, FeedItem]:
    return _store(feed, (FEEDS / "travel_advisories.xml").read_bytes())


# --------------------------------------------------------------------------- reading


def test_each_advisory_is_read_with_its_level_countries_and_issue_date():
    items = {item.title: item for item in parse((FEEDS / "travel_advisories.xml").read_bytes()).items}

    mexico = items["Mexico - Level 2: Exercise Increased Caution"]
    assert mexico.travel_advisory == {
        "countries": ["MX"],
        "country_name": "Mexico",
        "country_tag": "MX",
        "level": 2,
        "advice": "Exercise Increased Caution",
    }
    assert mexico.published == datetime(2025, 8, 12, tzinfo=timezone.utc)
    # The feed rewrites a country's item under the same link: the level and issue date make each issue new.
    assert mexico.guid.endswith("mexico-travel-advisory.html#level-2-2025-08-12")
    assert items["Burma (Myanmar) - Level 4: Do Not Travel"].travel_advisory["countries"] == ["MM"]
    assert items["Cote d Ivoire - Level 2: Exercise Increased Caution"].travel_advisory["countries"] == ["CI"]
    assert items["The Bahamas - Level 2: Exercise Increased Caution"].travel_advisory["countries"] == ["BS"]
    assert items["Israel, the West Bank and Gaza - Level 3: Reconsider Travel"].travel_advisory["countries"] == [
        "IL",
        "PS",
    ]
    iran = items["Iran Travel Advisory"].travel_advisory  # the level from its Threat-Level category
    assert (iran["countries"], iran["level"], iran["advice"]) == (["IR"], 4, "Do Not Travel")
    assert items["Worldwide Caution"].travel_advisory is None


def test_a_country_not_recognised_is_a_problem_and_the_tag_is_a_fallback():
    body = _rss(
        _advisory("Atlantis - Level 1: Exercise Normal Precautions", "Mon, 02 Jun 2025", link="https://a.example/1"),
        _advisory(
            "Their Islands - Level 3: Reconsider Travel",
            "Mon, 02 Jun 2025",
            link="https://a.example/2",
            tags='<category domain="Country-Tag">TU</category>',
        ),
    )

    atlantis, tagged = parse(body).items

    assert atlantis.travel_advisory["countries"] == []
    assert atlantis.geometry_problem == "travel advisory for 'Atlantis': no country of that name"
    assert tagged.travel_advisory["countries"] == ["TR"]  # FIPS "TU" is Turkey
    assert tagged.geometry_problem is None


@pytest.mark.parametrize(
    "title", ["Storm Eowyn - Level 2 lockdown", "Heatwave - Level 3: amber alert", "Level 4: Do Not Travel"]
)
def test_a_headline_with_a_level_in_it_is_not_an_advisory(title):
    assert parse(_rss(_advisory(title, "Mon, 02 Jun 2025"))).items[0].travel_advisory is None


# --------------------------------------------------------------------------- placing and timing


def test_an_advisory_is_placed_in_its_countries_at_no_point_and_in_force_from_its_issue(state_feed):
    items = _fixture_items(state_feed)

    mexico = items["Mexico - Level 2: Exercise Increased Caution"]
    assert mexico.located_by == "country" and not mexico.located
    assert (mexico.latitude, mexico.longitude) == (None, None)  # not at the capital: the whole country
    assert mexico.place_name == "Mexico"
    assert mexico.details["country_codes"] == ["MX"] and mexico.details["travel_advisory"]["level"] == 2
    assert mexico.starts_at == datetime(2025, 8, 12, tzinfo=timezone.utc)
    assert mexico.ends_at == mexico.starts_at + travel_advisories.OPEN_ENDED
    assert items["Worldwide Caution"].located_by is None


@pytest.mark.parametrize(
    ("title", "severity"),
    [
        ("United Kingdom - Level 2: Exercise Increased Caution", "low"),
        ("Israel, the West Bank and Gaza - Level 3: Reconsider Travel", "high"),
        ("Haiti - Level 4: Do Not Travel", "critical"),
    ],
)
def test_the_level_gives_the_severity(state_feed, title, severity):
    assert _fixture_items(state_feed)[title].source_severity == severity


# --------------------------------------------------------------------------- matching


def test_an_advisory_matches_every_detail_with_a_venue_in_its_country(world, state_feed):
    items = _fixture_items(state_feed)
    details = matching.active_details(world.org.id, T0)

    matches = country_matching.match_items(list(items.values()), details)

    uk = items["United Kingdom - Level 2: Exercise Increased Caution"]
    assert [(m.item_id, m.detail_id, m.site_id, m.severity) for m in matches] == [
        (uk.id, world.detail.id, world.hotel.id, "low")
    ]
    assert matches[0].reason == (
        "travel advisory for United Kingdom (Level 2: Exercise Increased Caution), in force since 8 May 2025, "
        "covering Grand Hotel"
    )


def test_advisories_are_stored_as_candidates_for_the_detail(world, state_feed):
    items = _fixture_items(state_feed)

    advisories.record_candidates(world.org.id, list(items.values()), T0)

    stored = db.session.scalars(sa.select(Advisory).where(Advisory.detail_id == world.detail.id)).all()
    assert [(a.title, a.severity, a.distance_m) for a in stored] == [
        ("United Kingdom - Level 2: Exercise Increased Caution", "low", None)
    ]


def test_watch_areas_by_country_or_by_a_place_in_the_country_get_the_advisory(world, state_feed):
    areas = [
        WatchArea(client_id=world.client.id, name="Mexico", country_code="MX", timezone="America/Mexico_City"),
        WatchArea(
            client_id=world.client.id,
            name="Office, Mexico City",
            latitude=19.4326,
            longitude=-99.1332,
            radius_m=10_000,
            timezone="America/Mexico_City",
        ),
        WatchArea(client_id=world.client.id, name="Ramallah office", country_code="PS", timezone="Asia/Hebron"),
        WatchArea(client_id=world.client.id, name="France", country_code="FR", timezone="Europe/Paris"),
    ]
    db.session.add_all(areas)
    items = _fixture_items(state_feed)

    advisories.record_candidates(world.org.id, list(items.values()), T0)

    raised = db.session.scalars(sa.select(Advisory).where(Advisory.watch_area_id.is_not(None))).all()
    assert sorted((a.watch_area.name, a.severity) for a in raised) == [
        ("Mexico", "low"),
        ("Office, Mexico City", "low"),
        ("Ramallah office", "high"),  # "Israel, the West Bank and Gaza" covers PS too
    ]
    office = next(a for a in raised if a.watch_area.name == "Office, Mexico City")
    assert office.reason.startswith(
        "travel advisory for Mexico (Level 2: Exercise Increased Caution), in force since 12 Aug 2025, "
        "covering Office, Mexico City (watch area)"
    )


def test_a_newer_advisory_for_the_country_closes_the_older_ones_window(world, state_feed):
    old = _store(
        state_feed, _rss(_advisory("United Kingdom - Level 2: Exercise Increased Caution", "Thu, 08 May 2025"))
    )
    advisories.record_candidates(world.org.id, list(old.values()), T0)
    (older,) = old.values()
    old_advisory = db.session.scalars(sa.select(Advisory).where(Advisory.detail_id == world.detail.id)).one()

    new = _store(state_feed, _rss(_advisory("United Kingdom - Level 3: Reconsider Travel", "Fri, 20 Nov 2026")))
    advisories.record_candidates(world.org.id, list(new.values()), T0)

    (newer,) = new.values()
    issued = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert older.guid != newer.guid
    assert older.ends_at == issued and old_advisory.ends_at == issued
    assert newer.ends_at == issued + travel_advisories.OPEN_ENDED
    rows = db.session.scalars(sa.select(Advisory).where(Advisory.detail_id == world.detail.id).order_by(Advisory.id))
    assert [(a.severity, a.ends_at) for a in rows] == [("low", issued), ("high", newer.ends_at)]
    # Replaced before the detail began, the old advice no longer concerns it.
    assert country_matching.match_items([older], matching.active_details(world.org.id, T0)) == []


def test_another_feeds_advisory_for_the_same_country_replaces_nothing(world, state_feed):
    other = Feed(organisation=world.org, url="http://127.0.0.1:1/other.xml", name="Another government")
    db.session.add(other)
    (older,) = _store(
        state_feed, _rss(_advisory("Mexico - Level 2: Exercise Increased Caution", "Tue, 12 Aug 2025"))
    ).values()
    _store(other, _rss(_advisory("Mexico - Level 3: Reconsider Travel", "Fri, 20 Nov 2026")))

    advisories.record_candidates(world.org.id, db.session.scalars(sa.select(FeedItem)).all(), T0)

    assert older.ends_at == older.starts_at + travel_advisories.OPEN_ENDED


def test_a_digest_says_an_advisory_stands_until_further_notice(world, state_feed):
    mexico = _fixture_items(state_feed)["Mexico - Level 2: Exercise Increased Caution"]

    when = travel_advisories.when_text(mexico.starts_at, mexico.ends_at, "UTC")
    assert when == "since Tue 12 Aug 2025, until further notice"


def test_a_request_reads_an_advisory_in_force_until_further_notice_in_its_panel_preview_and_mail(
    client, world, state_feed, mailbox
):
    advisories.record_candidates(world.org.id, list(_fixture_items(state_feed).values()), T0)
    uk = db.session.scalars(sa.select(Advisory).where(Advisory.detail_id == world.detail.id)).one()
    request, _ = inbox.log_request(
        client=world.client, contact=world.contact, subject="Any news for tomorrow?", received_at=T0
    )
    db.session.commit()
    until = "since Thu 08 May 2025, until further notice"
    ten_years_on = f"{uk.ends_at:%Y}"
    sign_in(client, world.coordinator)

    panel = client.get(f"/admin/requests/{request.id}").get_data(as_text=True)
    assert until in panel and ten_years_on not in panel

    choices = {
        "answer-answer": "The advice for the UK stands.",
        "attach-advisory": [str(uk.id)],
        f"attach-summary-{uk.id}": "Exercise increased caution in the United Kingdom.",
        f"attach-recommendation-{uk.id}": "Keep to the planned routes.",
    }
    preview = client.post(f"/admin/requests/{request.id}/answer", data=choices).get_data(as_text=True)
    assert "Check the answer before it goes" in preview
    assert until in preview and ten_years_on not in preview

    client.post(f"/admin/requests/{request.id}/answer", data={**choices, "answer-confirmed": "yes"})
    assert notices.send_due() == 1
    mail = mailbox.messages[0].get_content()
    assert f"When: {until}" in mail and ten_years_on not in mail
