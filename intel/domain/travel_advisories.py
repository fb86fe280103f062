"""Travel advisories as items: a severity from the level, a window that lasts until the advice changes, the words.

Severity by level (SEVERITY_BY_LEVEL), for a detail or watch area anywhere in the country, with no
nearness or timing to move it:

    Level 1, Exercise Normal Precautions  -> info      the background level, kept so the coordinator
                                                       sees every destination's level; alarms no one
    Level 2, Exercise Increased Caution   -> low       covers much of Europe: raised any higher it
                                                       would bury real incidents under it
    Level 3, Reconsider Travel            -> high      the advice is to question the trip: someone
                                                       must decide, and say so to the client
    Level 4, Do Not Travel                -> critical

An advisory is in force from its issue (the feed's date) until the advice changes: its window is left
open (OPEN_ENDED ahead), and closes when a newer advisory from the same feed for one of its countries
arrives, at that one's start (close_superseded), and so do the windows of the advisories raised from
it. An advisory that simply drops out of the feed stays in force: dismiss it. Functions here flush and
never commit.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa

from detail.domain.timefmt import local_time
from detail.extensions import db
from intel.models import Advisory, AdvisorySource, FeedItem

SEVERITY_BY_LEVEL = {1: "info", 2: "low", 3: "high", 4: "critical"}
# "Until further notice" as a window's end: ten years, longer than any advisory stands unrevised (the State
# Department reviews each at least yearly), and a date every database and time zone can hold.
OPEN_ENDED = timedelta(days=3653)


def in_force(advisory: dict, issued: datetime) -> dict:
    """An advisory item's severity (its level's) and window (from its issue, open until replaced)."""
    return {
        "source_severity": SEVERITY_BY_LEVEL[advisory["level"]],
        "starts_at": issued,
        "ends_at": issued + OPEN_ENDED,
        "time_basis": "in force from its issue until the advisory changes",
    }


def countries_of(item: FeedItem) -> list[str]:
    """The countries a country-wide item covers."""
    details = item.details or {}
    return list(details.get("country_codes") or ([details["country_code"]] if details.get("country_code") else []))


def describe(item: FeedItem) -> str:
    """ "travel advisory for Mexico (Level 3: Reconsider Travel), in force since 3 Dec 2025"."""
    advisory = (item.details or {}).get("travel_advisory") or {}
    level = f"Level {advisory['level']}: {advisory['advice']}" if advisory.get("level") else "its level unknown"
    where = item.place_name or ", ".join(countries_of(item))
    since = item.starts_at
    return f"travel advisory for {where} ({level}), in force since {since.day} {since:%b %Y}"


def close_superseded(items: list[FeedItem]) -> None:
    """End the window of every stored advisory that one of `items` replaces (same feed, a country in common)."""
    fresh = [item for item in items if item.located_by == "country"]
    for feed_id in {item.feed_id for item in fresh}:
        touched = {code for item in fresh if item.feed_id == feed_id for code in countries_of(item)}
        stored = db.session.scalars(
            sa.select(FeedItem).where(FeedItem.feed_id == feed_id, FeedItem.located_by == "country")
        ).all()
        for code in touched:
            # Issued order; of two issued the same day, the one stored later is the newer.
            issued = sorted((item for item in stored if code in countries_of(item)), key=lambda i: (i.starts_at, i.id))
            for older, newer in zip(issued, issued[1:], strict=False):
                if older.ends_at > newer.starts_at:
                    _close(older, max(older.starts_at, newer.starts_at))
    db.session.flush()


def _close(item: FeedItem, at: datetime) -> None:
    item.ends_at = at
    raised = db.session.scalars(
        sa.select(Advisory)
        .join(AdvisorySource, AdvisorySource.advisory_id == Advisory.id)
        .where(AdvisorySource.item_id == item.id)
    ).unique()
    for advisory in raised:
        # An advisory lasts as long as the longest of its sources (a coordinator may have merged others in).
        advisory.ends_at = max(advisory.starts_at, max(source.item.ends_at for source in advisory.sources))


def when_text(starts_at: datetime, ends_at: datetime, tz: str) -> str:
    """A window in words on the zone's clock ("Wed 09 Dec 18:00 – 21:00 CET"); an advisory in force until
    replaced (OPEN_ENDED) reads "since Thu 08 May 2025, until further notice", not an end ten years on."""
    if ends_at - starts_at >= OPEN_ENDED:
        return f"since {local_time(starts_at, tz, '%a %d %b %Y')}, until further notice"
    start = local_time(starts_at, tz, "%a %d %b %H:%M")
    same_day = local_time(starts_at, tz, "%Y-%m-%d") == local_time(ends_at, tz, "%Y-%m-%d")
    end = local_time(ends_at, tz, "%H:%M %Z" if same_day else "%a %d %b %H:%M %Z")
    return f"{start} – {end}"


def advisory_when(advisory, tz: str) -> str:
    """The templates' `advisory_when` filter: when_text of an advisory (or item) on the zone's clock."""
    return when_text(advisory.starts_at, advisory.ends_at, tz)
