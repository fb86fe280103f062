"""The window of time a client's request is about, and the client's details in it.

Read in this order:

* the request names a detail: the detail's times, narrowed to a day the text states when that day
  falls within them ("any march on Friday?" about a week-long detail);
* the text states a day ("tomorrow", "on Friday", "12 December"): that whole day, from the first
  stated day to the last, read relative to when the request was received, in the zone of the
  client's venue (the named detail's, else the client's next detail's, else the organisation's);
* neither: the UPCOMING days from receipt.

The details in the window are the client's details it overlaps (only the named one when there is
one): their venues and routes are where intel is looked for.

Days come from dateparser's search_dates, with rules of our own on top, since it reads dates into
words that are none: a month counts only beside a day number ("the march on Saturday" is not in
March; "12 March" is), weekday abbreviations not at all ("we", "sat"), and a phrase is kept only
when it says a day (today, tomorrow, a weekday, a day and month, an ISO date, "in 3 days"), so
"now" or "at 10" state none. Times of day ("at 10", "10:30", "6pm") are masked first, since dateparser
reads their hour into a month or a year. A day number with no year ("the 3rd", "on 12th", "12 December")
is the next such day on or after the request, in the reference zone: "the 3rd" asked on 23 November is
3 December, "2 November" asked then is next year's. A run of days in one month ("3-5 December", "from 12
to 14 December", "Dec 3 to 5th") is every day of it, this year's while its last day is to come. An ordinal
before a noun it counts ("the 3rd floor", "2nd gate") states no day. Numeric dates such as 3/4 are left
out: day or month first is a guess.
Reads only.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import dateparser
import sqlalchemy as sa
from dateparser.search import search_dates

from detail.domain.requests import request_zone
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import ClientRequest, Detail
from intel.domain import time_phrases
from intel.domain.time_phrases import COUNTED_NOUNS

# With no detail named and no day stated, a request is about the client's next days.
UPCOMING = timedelta(days=7)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY_NUMBER = r"\d{1,2}(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_DAY_AND_MONTH = rf"{_DAY_NUMBER}\s+(?:of\s+)?{_MONTH}\b|\b{_MONTH}\s+{_DAY_NUMBER}\b"
# A month word with no day number beside it, and a weekday's abbreviation: masked before parsing.
_LONE_MONTH = re.compile(rf"(?<![\w])(?:{_DAY_AND_MONTH})|\b{_MONTH}\b", re.IGNORECASE)
_WEEKDAY_ABBREVIATION = re.compile(r"\b(?:mon|tues?|wed|thu(?:rs?)?|fri|sat|sun|mo|tu|we|th|fr|sa|su)\b\.?", re.I)
# A time of day ("at 10", "10:30", "6pm", "10 o'clock"): masked before parsing, since dateparser reads the
# hour into a day, a month or a year ("Friday at 10" as some 10 October, "12 December at 10" as 2110).
_CLOCK = re.compile(
    rf"\b(?:(?:at|@|by|from|until|till|around|about)\s+)?\d{{1,2}}(?:[:.h]\d{{2}})?\s*(?:a\.?m\.?|p\.?m\.?|o'clock|hrs?\b)"
    rf"|\b\d{{1,2}}[:.]\d{{2}}\b"
    rf"|\b(?:at|@|by|from|until|till|around|about)\s+\d{{1,2}}\b(?!\s*(?:st|nd|rd|th)\b|\s+(?:of\s+)?{_MONTH}\b|[/.-]\d)",
    re.IGNORECASE,
)
# A day number alone ("the 3rd", "on 12th"): read here, not by dateparser, which reads it into a month ("the
# 3rd" as 3 March) or finds none where this month lacks it ("the 31st" in November).
_COUNTING_ORDINAL = re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)\s+(?:{COUNTED_NOUNS})\b", re.IGNORECASE)
_ORDINAL_ALONE = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?{_MONTH}\b)(?!\s+(?:{COUNTED_NOUNS})\b)", re.IGNORECASE
)
_MONTH_BEFORE = re.compile(rf"\b{_MONTH}\.?\s+$", re.IGNORECASE)
_NO_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# What a phrase must hold to state a day.
_SAYS_A_DAY = re.compile(
    rf"\b(?:today|tonight|tomorrow|yesterday|{_WEEKDAY})\b|{_DAY_AND_MONTH}|\b\d{{1,2}}(?:st|nd|rd|th)\b"
    r"|\b\d{4}-\d{2}-\d{2}\b|\bin\s+\d+\s+days?\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RequestWindow:
    """From when to when a request is about, how that was read, and the client's details in it."""

    starts_at: datetime
    ends_at: datetime
    timezone: str
    basis: str  # "the detail's times", "tomorrow, Wed 25 Nov, as the request says", ...
    details: tuple[Detail, ...]


def _masked(text: str) -> str:
    """The text with the words dateparser would misread blanked out (same length, so nothing joins)."""

    def lone_month(match: re.Match) -> str:
        word = match.group(0)
        return word if re.search(r"\d", word) else " " * len(word)

    blank = lambda m: " " * len(m.group(0))  # noqa: E731
    text = _CLOCK.sub(blank, text)
    text = _COUNTING_ORDINAL.sub(blank, text)
    text = _LONE_MONTH.sub(lone_month, text)
    return _WEEKDAY_ABBREVIATION.sub(blank, text)


def _next_day_numbered(number: int, month: int | None, today: date) -> date | None:
    """The first day on or after today with that day number (and month, when one is stated)."""
    year, at = today.year, today.month
    for _ in range(12 * 9):  # 29 February comes round within eight years
        if month is None or at == month:
            try:
                candidate = date(year, at, number)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= today:
                return candidate
        year, at = (year + 1, 1) if at == 12 else (year, at + 1)
    return None


def _own_reading(phrase: str, when: date, today: date) -> date | None:
    """A day and month with no year read as the next such day on or after the request; other phrases as
    dateparser read them."""
    if _NO_YEAR.search(phrase) is None and re.search(_DAY_AND_MONTH, phrase, re.IGNORECASE):
        return _next_day_numbered(when.day, when.month, today)
    return when


def _day_ranges(text: str, today: date) -> list[tuple[int, str, date, date]]:
    """(where, phrase, first, last) of each run of days in one month the text states ("3-5 December", "from
    12 to 14 December", "Dec 3 to 5th"), as feed items' stated times read them (time_phrases). With no
    year, the run is this year's while its last day is still to come, else next year's. Read before
    anything else: "from 12" alone would be masked as a time of day."""
    found = []
    for mention in time_phrases.find_mentions(text, today):
        phrase = text[mention.start : mention.end]
        if mention.kind != "day" or mention.last_day is None or not any(ch.isdigit() for ch in phrase):
            continue  # a weekend is two days too, but no stated run
        first, last = mention.day, mention.last_day
        if last < today and _NO_YEAR.search(phrase) is None:
            first, last = _next_year(first), _next_year(last)
        if first is not None and last is not None:
            found.append((mention.start, phrase, first, last))
    return found


def _next_year(day: date) -> date | None:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return None


def stated_days(text: str, received_at: datetime, zone: str) -> list[tuple[str, date]]:
    """The days the text states, as (phrase, day), read relative to receipt in the zone; in order."""
    settings = {
        "RELATIVE_BASE": received_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    today = settings["RELATIVE_BASE"].date()
    found: list[tuple[int, str, date]] = []
    for where, phrase, first, last in _day_ranges(text, today):
        found += [(where, phrase, first), (where, phrase, last)]
        text = text[:where] + " " * len(phrase) + text[where + len(phrase) :]
    masked = _masked(text)
    alone = [m for m in _ORDINAL_ALONE.finditer(masked) if not _MONTH_BEFORE.search(masked, 0, m.start())]
    for match in alone:
        day = _next_day_numbered(int(match.group(1)), None, today)
        if day is not None:
            found.append((match.start(), match.group(0), day))
    for match in alone:
        masked = masked[: match.start()] + " " * len(match.group(0)) + masked[match.end() :]
    for phrase, when in search_dates(masked, languages=["en"], settings=settings) or []:
        says = _SAYS_A_DAY.search(phrase)
        if says is None:
            continue
        # The phrase read again from where it says a day: words before that can throw the date
        # off ("of a … on the 25th" is read as some January).
        phrase = phrase[says.start() :].strip()
        when = dateparser.parse(phrase, languages=["en"], settings=settings) or when
        found.append((masked.find(phrase), phrase, _own_reading(phrase, when.date(), today)))
    return [(phrase, day) for _, phrase, day in sorted(found, key=lambda f: f[0])]


def _day_window(first: date, last: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def reference_zone(request: ClientRequest) -> str:
    """The zone a request's days are read in: the request's one clock (detail.domain.requests.request_zone),
    which its mails use too."""
    return request_zone(request)


def _client_details(request: ClientRequest, starts_at: datetime, ends_at: datetime) -> tuple[Detail, ...]:
    return tuple(
        db.session.scalars(
            sa.select(Detail)
            .where(Detail.client_id == request.client_id, Detail.starts_at < ends_at, Detail.ends_at > starts_at)
            .order_by(Detail.starts_at, Detail.id)
        )
    )


def _days_text(days: list[tuple[str, date]], zone: str) -> str:
    phrases = ", ".join(dict.fromkeys(phrase for phrase, _ in days))
    first, last = min(day for _, day in days), max(day for _, day in days)
    span = f"{first:%a %d %b}" if first == last else f"{first:%a %d %b} to {last:%a %d %b}"
    return f"{phrases!r}: {span} ({zone}), as the request says"


def request_window(request: ClientRequest) -> RequestWindow:
    """The window the request is about (see the module's docstring for the order it is read in)."""
    zone = reference_zone(request)
    days = stated_days(f"{request.subject}\n{request.body}", request.received_at, zone)
    day_window = _day_window(min(d for _, d in days), max(d for _, d in days), zone) if days else None
    detail = request.detail
    if detail is not None:
        starts_at, ends_at, basis = detail.starts_at, detail.ends_at, f"the times of {detail.name}"
        if day_window and day_window[0] < detail.ends_at and day_window[1] > detail.starts_at:
            starts_at, ends_at = max(starts_at, day_window[0]), min(ends_at, day_window[1])
            basis = f"{_days_text(days, zone)}, within {detail.name}"
        return RequestWindow(starts_at, ends_at, zone, basis, (detail,))
    if day_window is not None:
        starts_at, ends_at = day_window
        basis = _days_text(days, zone)
    else:
        starts_at, ends_at = request.received_at, request.received_at + UPCOMING
        since = local_time(starts_at, zone, "%a %d %b")
        basis = f"the {UPCOMING.days} days from {since}: no detail named, no day stated"
    return RequestWindow(starts_at, ends_at, zone, basis, _client_details(request, starts_at, ends_at))
