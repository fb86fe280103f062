"""Times are stored in UTC and shown in the venue's time zone, labelled with that zone's abbreviation.

Every time a person reads goes through local_time, so one instant carries one label ("07:10 GMT")
on the board, the detail's pages, the after-action report and the messages: the zone of the venue,
or the organisation's where there is no venue. UTC is shown only where that is the zone.
"""

import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Day, date, time and the zone's abbreviation for that instant (GMT or BST, EST or EDT).
DEFAULT_FORMAT = "%a %d %b %H:%M %Z"
CLOCK = "%H:%M %Z"


def local_time(value: datetime | None, tz: str | None = None, fmt: str = DEFAULT_FORMAT) -> str:
    """Format a UTC time in the given IANA zone (UTC when none is given)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(ZoneInfo(tz or "UTC")).strftime(fmt)


def zone_label(value: datetime, tz: str | None = None) -> str:
    """The zone's abbreviation at that instant, as every shown time carries it ("GMT", "BST", "CET", "+03")."""
    return local_time(value, tz, "%Z")


def zone_labels(tz: str | None, around: datetime, days: int = 400) -> dict[str, str]:
    """The zone's labels by UTC offset in minutes ({"-300": "EST", "-240": "EDT"}), for every offset it
    keeps within `days` either side of `around`: a page formatting times itself (the board) labels
    them with these, as local_time does, never with the browser's own names ("GMT-5")."""
    if around.tzinfo is None:
        around = around.replace(tzinfo=timezone.utc)
    return dict(_labels_around(tz or "UTC", around.astimezone(timezone.utc).date(), days))


@functools.lru_cache(maxsize=256)
def _labels_around(tz: str, day: date, days: int) -> tuple[tuple[str, str], ...]:
    zone = ZoneInfo(tz)
    noon = datetime.combine(day, time(12), tzinfo=timezone.utc)
    labels: dict[str, str] = {}
    # Daily samples: a zone keeps each of its offsets for weeks at least.
    for step in range(-days, days + 1):
        local = (noon + timedelta(days=step)).astimezone(zone)
        labels.setdefault(str(int(local.utcoffset().total_seconds() // 60)), local.strftime("%Z"))
    return tuple(labels.items())


def local_end(end: datetime | None, start: datetime | None, tz: str | None = None, start_tz: str | None = None) -> str:
    """The end of a span that starts at `start`: its time alone ("20:00 GMT") on the day the start was shown
    with (in `start_tz`, else `tz`), else its day too ("Wed 25 Nov 10:00 GMT"), so a stay past midnight
    never loses the day it ends."""
    if end is None:
        return ""
    start_day = local_time(start, start_tz or tz, "%Y-%m-%d") if start is not None else None
    same_day = start_day == local_time(end, tz, "%Y-%m-%d")
    return local_time(end, tz, CLOCK if same_day else DEFAULT_FORMAT)


def parse_local(text: str, tz: str) -> datetime:
    """Read 'YYYY-MM-DDTHH:MM' typed for a venue's zone, return it in UTC."""
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive.astimezone(timezone.utc)
    return naive.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def known_zone(name: str | None) -> str:
    """The IANA zone name if this machine knows it, else "UTC" (a stored name may outlive its zone data)."""
    try:
        ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder: IsADirectoryError
        return "UTC"
    return name or "UTC"


def detail_zone(detail) -> str:
    """A detail's clock: the zone of its first venue (its earliest visit's, else where its first movement
    starts), else its organisation's. Every page, mail and report of a detail reads its times in this one."""
    first_visit = min(detail.visits, key=lambda visit: visit.arrives_at, default=None)
    if first_visit is not None:
        site = first_visit.site
    else:
        first_move = min(detail.movements, key=lambda movement: movement.departs_at, default=None)
        site = first_move.from_site if first_move is not None else None
    return known_zone(site.timezone if site is not None else detail.client.organisation.timezone)


def assignment_zone(assignment, site=None, detail=None) -> str:
    """An assignment's clock: its post's zone, else its detail's.

    site and detail stand in for the relationships of an assignment not yet flushed (ids only)."""
    site = site or assignment.site
    return site.timezone if site is not None else detail_zone(detail or assignment.detail)


# "localtime" is whatever the server's clock is set to and "Factory" a placeholder: not places.
_NOT_PLACES = {"localtime", "Factory"}
# The regions of the canonical names ("Europe/London"), preferred over old aliases ("GB", "US/Eastern").
_REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows, for pickers and for checking what was typed."""
    return frozenset(available_timezones() - _NOT_PLACES)


def closest_zone(typed: str) -> str | None:
    """The zone name someone most likely meant ("london", "New York"), or None when nothing is close."""
    wanted = "_".join(typed.strip().split()).casefold()
    if not wanted:
        return None
    matches = [z for z in zone_names() if z.casefold() == wanted or z.rsplit("/", 1)[-1].casefold() == wanted]
    canonical = sorted(z for z in matches if z.split("/", 1)[0] in _REGIONS)
    return (canonical or sorted(matches) or [None])[0]
