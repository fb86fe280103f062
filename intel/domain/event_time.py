"""When an item's event happens: its window in UTC, and the basis of it in words.

The first of these that an item gives decides (docs/coordinators.md, "Intel"):

1. CAP onset (or effective) to expires;
2. GDACS fromdate to todate;
3. USGS: the quake's time and its aftermath;
4. dates and times stated in its title and text ("Wednesday 18:00", "du 12 au 14 décembre", "mañana a las
   12"), read against the publication time in the place's time zone (time_phrases.py finds them);
5. else publication + 6 h, and the basis says no time was stated (or that the stated one was unclear).

The rules of reading: a weekday is the next such day on or after publication ("last"/"dernier" the one
before); a day and month with no year is the occurrence nearest publication; a bare time is on the
publication day, or the next day when it is more than 12 h before publication; a day with no time is the
whole local day; a start with no end lasts its category's usual length (STATED_DURATION, else 3 h); a
point-in-time hazard (a quake, a zero-length warning) lasts AFTERMATH. Several stated times make one
window covering them, unless they span more than a week (then the text is unclear). Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from intel.domain.countries import zone_country
from intel.domain.time_phrases import DAY_FIRST, EITHER_ORDER, MONTH_FIRST, PARTS, Mention, find_mentions

# An item with no time of its own is taken as relevant for six hours from when it was published:
# long enough for a march or a rally, short enough not to colour a whole day.
DEFAULT_RELEVANCE = timedelta(hours=6)
# A stated start with no stated end: how long such an event usually matters. Marches and rallies run two to
# four hours; unrest, threats and weather warnings colour the rest of the day part; an outbreak or a hazard
# a day. Anything else: three hours.
STATED_DURATION = {
    "protest": timedelta(hours=3),
    "civil_unrest": timedelta(hours=6),
    "terrorism": timedelta(hours=6),
    "weather": timedelta(hours=6),
    "natural_hazard": timedelta(hours=24),
    "health": timedelta(hours=24),
}
USUAL_DURATION = timedelta(hours=3)
# A quake (or any hazard given as one instant) matters after it happens: aftershocks are likeliest in the
# first day, and closed roads, inspected buildings and stopped trains disrupt a visit for about as long.
AFTERMATH = timedelta(hours=24)
# A bare time is a report for up to this long before publication, else the coming one: "at 14:15" published
# at 16:40 is today's, "at 09:00" published at 23:30 tomorrow's, "at 21:45" published at 02:30 last night's.
BARE_TIME_PAST = timedelta(hours=8)
# Stated days this far from publication are history or a calendar, not this item's event.
OLDEST_STATED = timedelta(days=30)
FURTHEST_STATED = timedelta(days=366)
WIDEST_WINDOW = timedelta(days=7)
# Event times are stated early; the scan reads this much of a long summary.
MAX_SCANNED = 2_000
# Where numeric dates put the month first (9/12/2026 is 12 September there): the United States and the
# territories it administers, known by the zone's country (tz's zone.tab; "US/Eastern" and its like are
# aliases outside it). Canada writes both orders, so there a numeric date is read only when one order alone
# makes a day (13/1/2027). Everywhere else, the Americas included, the day comes first.
MONTH_FIRST_COUNTRIES = frozenset({"US", "PR", "VI", "GU", "AS", "MP", "UM"})
EITHER_ORDER_COUNTRIES = frozenset({"CA"})

_GLUE = re.compile(
    r"(?:[\s,;()\-–—/.]|\b(?:at|on|from|to|until|till|through|and|between|by|the|of|starting|around|about|approx|"
    r"approximately|circa|ca|local|time|à|le|du|au|de|des|dès|entre|et|jusqu'à|jusqu'au|vers|partir|am|um|ab|von|"
    r"vom|bis|zum|zur|und|gegen|el|del|al|desde|hasta|a|las|la|los|y|sobre|hacia|il|dal|dalle|alle|ore|fino|e|tra|"
    r"verso|às|das|até|em|no|na|op|om|van|vanaf|tot|en|rond|omstreeks|beginning|uhr|uur|h)\b)*",
    re.IGNORECASE,
)
_RANGE_GAP = re.compile(
    r"[-–—]|\b(?:to|until|till|through|au|à|jusqu|bis|zum|al|a|hasta|alle|fino|às|até|tot)\b", re.IGNORECASE
)
_AND_GAP = re.compile(r"\b(?:and|et|und|y|e|en)\b", re.IGNORECASE)
_BETWEEN_BEFORE = re.compile(r"\b(?:between|zwischen|entre|tra|fra|tussen)\s*$", re.IGNORECASE)
_UNTIL_BEFORE = re.compile(r"\b(?:until|till|jusqu'à|jusqu'au|bis|hasta|fino a|fino alle|até|tot)\s*$", re.I)
MAX_GLUE = 40


@dataclass(frozen=True)
class EventWindow:
    """When an item matters (aware UTC) and why in words (`basis`, at most 120 characters)."""

    starts_at: datetime
    ends_at: datetime
    basis: str
    stated: bool = False  # from the item's own fields or text, not assumed from publication


@dataclass(slots=True)
class _Part:
    """One side of a stated phrase: a day (or days) and a time (or a part of the day)."""

    day: date | None = None
    last_day: date | None = None
    time: Mention | None = None
    part: str | None = None
    by_weekday: bool = False


@dataclass(slots=True)
class _Stated:
    start: datetime
    end: datetime
    timed: bool  # a time of day was stated, not only a day
    end_stated: bool
    joined: bool = False  # two moments joined by "and": as wide as they are apart


def zone_of(name: str | None) -> tzinfo:
    """The place's zone, UTC when unknown."""
    if not name:
        return timezone.utc
    zone = _zones.get(name)
    if zone is None:
        try:
            zone = ZoneInfo(name)
        except (KeyError, ValueError, OSError):
            zone = timezone.utc
        if len(_zones) < MAX_HELD_ZONES:
            _zones[name] = zone
    return zone


# Every zone asked for, held: ZoneInfo keeps only the last 8 it made, and a feed's items are in dozens of
# zones, so without this each item read its zone's file again (about 40 µs of CPU an item). The same
# ZoneInfo objects ZoneInfo(name) returns, so nothing read changes. tz knows about 600 names.
_zones: dict[str, tzinfo] = {}
MAX_HELD_ZONES = 1_000


def _local(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone)


_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day_text(moment: datetime) -> str:
    return f"{_WEEKDAY_NAMES[moment.weekday()]} {moment.day} {_MONTH_NAMES[moment.month - 1]}"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"


def _label(moment: datetime, zone: tzinfo) -> str:
    """The zone's abbreviation at that moment ("CET", "EST", "UTC"), as every time shown carries it: what
    timefmt.zone_label gives for the zone's name, read from the zone already at hand."""
    return moment.astimezone(zone).tzname() or ""


def event_window(
    title: str,
    text: str,
    published: datetime,
    zone_name: str | None,
    *,
    category: str | None = None,
    cap: dict | None = None,
    gdacs: dict | None = None,
    usgs: dict | None = None,
) -> EventWindow:
    """The item's window and its basis: structured fields first, then its stated times, else publication + 6 h."""
    duration = STATED_DURATION.get(category or "", USUAL_DURATION)
    for window in (_cap_window(cap, published, duration), _gdacs_window(gdacs, duration)):
        if window is not None:
            return window
    zone = zone_of(zone_name)
    word = _label(published, zone)
    if usgs:
        return EventWindow(
            published,
            published + AFTERMATH,
            f"USGS event time {_clock(_local(published, zone))} {word}, aftermath {_hours(AFTERMATH)}",
            True,
        )
    stated, unclear = _stated_window(title, text, published, zone, zone_name, duration)
    if stated is not None:
        return stated
    said = "time unclear" if unclear else "no time stated"
    return EventWindow(
        published,
        published + DEFAULT_RELEVANCE,
        f"{said}: published {_clock(_local(published, zone))} {word}, assumed for {_hours(DEFAULT_RELEVANCE)}",
    )


def _cap_window(cap: dict | None, published: datetime, duration: timedelta) -> EventWindow | None:
    if not cap:
        return None
    onset, expires = cap.get("onset"), cap.get("expires")
    onset = onset if isinstance(onset, datetime) else None
    expires = expires if isinstance(expires, datetime) else None
    if onset and expires and expires > onset:
        return EventWindow(onset, expires, "CAP onset–expires", True)
    if onset:
        return EventWindow(onset, onset + duration, f"CAP onset, assumed for {_hours(duration)}", True)
    if expires and expires > published:
        return EventWindow(published, expires, "CAP published–expires", True)
    return None


def _gdacs_window(gdacs: dict | None, duration: timedelta) -> EventWindow | None:
    if not gdacs:
        return None
    start, end = gdacs.get("fromdate"), gdacs.get("todate")
    if not isinstance(start, datetime):
        return None
    if isinstance(end, datetime) and end > start:
        # an ongoing hazard's todate is its last report: it matters at least its aftermath after it began
        return EventWindow(start, max(end, start + AFTERMATH), "GDACS from–to", True)
    return EventWindow(start, start + AFTERMATH, f"GDACS from, aftermath {_hours(AFTERMATH)}", True)


def date_order(zone_name: str | None) -> str:
    """How numeric dates are written in the zone's country (see MONTH_FIRST_COUNTRIES)."""
    country = "US" if (zone_name or "").startswith("US/") else zone_country(zone_name)
    if country in MONTH_FIRST_COUNTRIES:
        return MONTH_FIRST
    return EITHER_ORDER if country in EITHER_ORDER_COUNTRIES else DAY_FIRST


def _phrases(text: str, mentions: list[Mention]) -> list[list[tuple[str, Mention]]]:
    """Mentions grouped into phrases: neighbours joined only by glue words ("at", "from", "le", "um", ",")."""
    phrases: list[list[tuple[str, Mention]]] = []
    previous_end = None
    for mention in mentions:
        if previous_end is not None:
            gap = text[previous_end : mention.start]
            if mention.start >= previous_end and len(gap) <= MAX_GLUE and _GLUE.fullmatch(gap):
                phrases[-1].append((gap, mention))
                previous_end = max(previous_end, mention.end)
                continue
        phrases.append([(text[max(0, mention.start - 15) : mention.start], mention)])
        previous_end = mention.end
    return phrases


def _split(phrase: list[tuple[str, Mention]]) -> tuple[_Part, _Part | None, bool, bool]:
    """The phrase's start and end parts; whether the end is a range end ("to") rather than "and"; whether the
    phrase is an end only ("until 16:00")."""
    first, second, ranged = _Part(), None, True
    until = bool(_UNTIL_BEFORE.search(phrase[0][0]))
    between = bool(_BETWEEN_BEFORE.search(phrase[0][0]))
    current = first
    for index, (gap, mention) in enumerate(phrase):
        gap = f"{gap} {mention.lead}"  # "dalle 10 alle 12": the second mention's own preposition says "to"
        seen = current.day is not None if mention.kind == "day" else current.time is not None
        if index and seen and second is None and (_RANGE_GAP.search(gap) or _AND_GAP.search(gap)):
            ranged = between or not (_AND_GAP.search(gap) and not _RANGE_GAP.search(gap))
            second = current = _Part()
        elif index and seen and not (mention.kind == "day" and current.by_weekday and not mention.weekday):
            continue  # the first reading of each kind stands, but "Wednesday, 10 December" is the 10th
        if mention.kind == "day":
            current.by_weekday = mention.weekday
            current.day, current.last_day = mention.day, mention.last_day
            current.part = current.part or mention.part
        elif mention.part:
            current.part = mention.part
        else:
            current.time = mention
    return first, second, ranged, until


def _moment(day: date, mention: Mention, zone: tzinfo) -> datetime:
    clock = time(mention.hour, mention.minute)
    if mention.utc_offset is not None:
        return datetime.combine(day, clock, timezone(timedelta(minutes=mention.utc_offset))).astimezone(timezone.utc)
    return datetime.combine(day, clock, zone).astimezone(timezone.utc)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


def _hour(day: date, hour: int, zone: tzinfo) -> datetime:
    """That hour on the local clock (past 24: the days after), so a day when the clocks change keeps
    "afternoon" at 12:00-18:00 local rather than an hour off."""
    return (
        _midnight(day + timedelta(days=hour // 24), zone)
        if hour % 24 == 0
        else datetime.combine(day + timedelta(days=hour // 24), time(hour % 24), zone).astimezone(timezone.utc)
    )


def _bare_day(mention: Mention, published_local: datetime, zone: tzinfo) -> date:
    """A time with no day: its first occurrence from BARE_TIME_PAST before publication (so mostly the
    publication day, the next when well past, the evening before for an item published in the small hours).
    Compared on the local clock: a daylight-saving shift moves this by an hour at most."""
    earliest = (published_local - BARE_TIME_PAST).replace(tzinfo=None)
    if mention.utc_offset is not None:  # "18:00 GMT": compared on that zone's clock
        offset = timedelta(minutes=mention.utc_offset) - published_local.utcoffset()
        earliest += offset
    day = earliest.date()
    if datetime.combine(day, time(mention.hour, mention.minute)) < earliest:
        day += timedelta(days=1)
    return day


def _part_span(part: _Part, zone: tzinfo) -> tuple[datetime, datetime, bool]:
    """A part with a day as (start, end, timed); a time alone has no end here (end == start)."""
    if part.time is not None:
        start = _moment(part.day, part.time, zone)
        return start, start, True
    if part.part:
        first, last = PARTS[part.part]
        return _hour(part.day, first, zone), _hour(part.day, last, zone), True
    return _midnight(part.day, zone), _midnight((part.last_day or part.day) + timedelta(days=1), zone), False


def _share_zone(first: _Part, second: _Part | None) -> None:
    """A zone stated once in a range is the range's ("14:00-16:00 UTC", "from 10:00 UTC to 12:00")."""
    if second is None or first.time is None or second.time is None:
        return
    offsets = (first.time.utc_offset, second.time.utc_offset)
    if offsets.count(None) == 1:
        stated = next(offset for offset in offsets if offset is not None)
        first.time = replace(first.time, utc_offset=stated)
        second.time = replace(second.time, utc_offset=stated)


def _read_phrase(phrase, context_day, published_local, zone, duration) -> _Stated | None:
    first, second, ranged, until = _split(phrase)
    joined = False
    _share_zone(first, second)
    if second is not None and second.day is None:
        second.day = first.day
    elif second is not None and first.day is not None and timedelta() < first.day - second.day < timedelta(days=7):
        second.day += timedelta(days=7)  # "from Monday to Wednesday" published on a Tuesday
    if first.day is None and second is not None:
        first.day = second.day
    for part in (first, second):
        if part is None or part.day is not None:
            continue
        if part.time is not None:
            part.day = context_day or _bare_day(part.time, published_local, zone)
        else:
            return None  # "in the evening" alone: no day to hang it on, and reports use it loosely
    start, end, timed = _part_span(first, zone)
    end_stated = end > start
    if second is not None:
        other_start, other_end, other_timed = _part_span(second, zone)
        if ranged and other_timed and second.time is not None:
            end = other_start
        else:
            end = max(other_end, other_start + (duration if other_timed and other_end == other_start else timedelta()))
        while end <= start:
            end += timedelta(days=1)
        end_stated, timed = True, timed or other_timed
        joined = not ranged
    if until:
        published = published_local.astimezone(timezone.utc)
        end = start if first.time is not None else end
        start = min(published, end)
        return _Stated(start, end, True, True) if end > start else None
    if not end_stated:
        end = start + duration
    return _Stated(start, end, timed, end_stated, joined)


def _stated_window(title, text, published, zone, zone_name, duration) -> tuple[EventWindow | None, bool]:
    """The window the text states, and whether it held date-like pieces that could not be used."""
    pieces = [piece for piece in (title or "", (text or "")[:MAX_SCANNED]) if piece]
    if not pieces:
        return None, False
    published_local = _local(published, zone)
    today = published_local.date()
    stated: list[_Stated] = []
    unclear = False
    context_day = None
    for piece in pieces:
        mentions = find_mentions(piece, today, date_order(zone_name))
        for phrase in _phrases(piece, mentions):
            window = _read_phrase(phrase, context_day, published_local, zone, duration)
            if window is None:
                continue
            if not (published - OLDEST_STATED <= window.start <= published + FURTHEST_STATED):
                unclear = True
                continue
            stated.append(window)
            context_day = _local(window.start, zone).date()
    if not stated:
        return None, unclear
    timed = [w for w in stated if w.timed]
    timed_days = {_local(w.start, zone).date() for w in timed}
    kept = timed + [w for w in stated if not w.timed and _local(w.start, zone).date() not in timed_days]
    start, end = min(w.start for w in kept), max(w.end for w in kept)
    if end - start > WIDEST_WINDOW and (len(kept) > 1 or kept[0].joined):
        return None, True
    assumed = len(kept) == 1 and kept[0].timed and not kept[0].end_stated
    return EventWindow(start, end, _stated_basis(start, end, kept, zone, assumed, duration), True), False


def _stated_basis(start, end, kept, zone, assumed, duration) -> str:
    """The window in words, labelled with the zone's abbreviation; the start's too when the clocks change
    between ("Sat 24 Oct 18:00 CEST–Sun 25 Oct 18:00 CET")."""
    first, last = _local(start, zone), _local(end, zone)
    word = _label(start, zone)
    if not any(w.timed for w in kept):
        days = (last - timedelta(seconds=1)).date()
        if days == first.date():
            return f"stated: {_day_text(first)} {word} (whole day)"
        return f"stated: {_day_text(first)}–{_day_text(last - timedelta(seconds=1))} {word} (whole days)"
    if assumed:
        return f"stated: {_day_text(first)} {_clock(first)} {word}, assumed for {_hours(duration)}"
    end_word = _label(end, zone)
    begins = _clock(first) if end_word == word else f"{_clock(first)} {word}"
    if last.date() == first.date() or (last - first < timedelta(hours=24) and last.time() == time(0)):
        return f"stated: {_day_text(first)} {begins}–{_clock(last)} {end_word}"
    return f"stated: {_day_text(first)} {begins}–{_day_text(last)} {_clock(last)} {end_word}"
