"""An item's window is its event's own time: CAP, GDACS, USGS, or the dates and times its text states, read in the
place's time zone against publication; else publication + 6 h. Measured on a hand-labelled set
(tests/data/event_times.json) and rule by rule."""

import json
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from detail.extensions import db
from detail.models import Detail, Visit
from intel.domain import event_time, exposures, poller, severity
from intel.domain.event_time import event_window
from intel.models import Advisory, Feed, FeedItem

from .conftest import allow_loopback_feeds
from .test_feeds import FeedServer

LABELLED = json.loads((Path(__file__).parent / "data" / "event_times.json").read_text(encoding="utf-8"))["items"]
MIN_ACCURACY = 0.90
UTC = timezone.utc


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _fields(case: dict, key: str) -> dict | None:
    raw = case.get(key)
    if raw is None:
        return None
    return {name: _when(value) if isinstance(value, str) else value for name, value in raw.items()}


def _window(case: dict):
    return event_window(
        case["title"],
        case.get("summary", ""),
        _when(case["published"]),
        case["zone"],
        category=case.get("category"),
        cap=_fields(case, "cap"),
        gdacs=_fields(case, "gdacs"),
        usgs=_fields(case, "usgs"),
    )


def _expected(case: dict) -> tuple[datetime, datetime]:
    if case["expect"] == "fallback":
        published = _when(case["published"])
        return published, published + event_time.DEFAULT_RELEVANCE
    start, end = case["expect"]
    return _when(start), _when(end)


def _local_day(moment: datetime, zone: str | None):
    return moment.astimezone(ZoneInfo(zone) if zone else UTC).date()


def _from_text(case: dict) -> bool:
    return case["expect"] != "fallback" and not any(case.get(key) for key in ("cap", "gdacs", "usgs"))


def test_the_labelled_set_is_big_and_varied_enough():
    assert len(LABELLED) >= 150
    assert {"en", "fr", "de", "es", "it", "pt", "nl"} <= {case["lang"] for case in LABELLED}
    assert sum(case["expect"] == "fallback" for case in LABELLED) >= 30  # absent times and bait
    assert len({case["id"] for case in LABELLED}) == len(LABELLED)


def test_labelled_windows_are_read_right_at_least_90_percent_of_the_time(record_property):
    misses = []
    for case in LABELLED:
        window = _window(case)
        if (window.starts_at, window.ends_at) != _expected(case):
            misses.append(
                f"{case['id']}: got {window.starts_at:%d %H:%M}–{window.ends_at:%d %H:%M} UTC ({window.basis})"
            )
    accuracy = 1 - len(misses) / len(LABELLED)
    record_property("event_time_accuracy", round(accuracy, 4))
    print(f"\nevent times: {len(LABELLED) - len(misses)}/{len(LABELLED)} windows exact ({accuracy:.1%})")
    print("\n".join(misses))
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.1%} < {MIN_ACCURACY:.0%}; misses:\n" + "\n".join(misses)


def test_no_stated_time_is_ever_placed_on_the_wrong_local_day():
    """A stated time may be missed (then publication + 6 h stands, counted by the accuracy), but when the
    text is read its window starts on the stated local day."""
    wrong = []
    for case in LABELLED:
        if not _from_text(case):
            continue
        window = _window(case)
        if not window.stated:
            continue
        got, want = _local_day(window.starts_at, case["zone"]), _local_day(_expected(case)[0], case["zone"])
        if got != want:
            wrong.append(f"{case['id']}: starts {got} ({window.basis}), stated {want}")
    assert not wrong, "\n".join(wrong)


def test_false_positive_bait_is_never_read_as_a_time():
    read = [case["id"] for case in LABELLED if case["expect"] == "fallback" and _window(case).stated]
    assert not read


# Rule by rule. Publication: Tuesday 8 December 2026, 07:10 in Paris (06:10 UTC).
PUBLISHED = datetime(2026, 12, 8, 6, 10, tzinfo=UTC)
PARIS = "Europe/Paris"


def _paris(day: int, hour: int = 0, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(PARIS)).astimezone(UTC)


def _read(title: str, summary: str = "", zone: str | None = PARIS, published=PUBLISHED, **fields):
    return event_window(title, summary, published, zone, **fields)


def _span(window) -> tuple[datetime, datetime]:
    return window.starts_at, window.ends_at


def test_cap_onset_to_expires_comes_first_even_when_the_text_states_a_time():
    onset, expires = _paris(8, 15), _paris(8, 21)
    window = _read("Orages mercredi à 18h", cap={"onset": onset, "expires": expires}, category="weather")
    assert (_span(window), window.basis) == ((onset, expires), "CAP onset–expires")


def test_cap_onset_without_expiry_lasts_the_categorys_usual_length():
    window = _read("Wind warning", cap={"onset": _paris(8, 12), "expires": None}, category="weather")
    assert _span(window) == (_paris(8, 12), _paris(8, 18))
    assert window.basis == "CAP onset, assumed for 6 h"


def test_cap_expiry_alone_runs_from_publication():
    window = _read("Ice warning", cap={"onset": None, "expires": _paris(9, 7)})
    assert (_span(window), window.basis) == ((PUBLISHED, _paris(9, 7)), "CAP published–expires")


def test_gdacs_from_to_and_a_point_in_time_hazard_gets_its_aftermath():
    start, end = _paris(7, 23), _paris(10, 7)
    assert _span(_read("Cyclone", gdacs={"fromdate": start, "todate": end})) == (start, end)
    quake = _read("Earthquake", gdacs={"fromdate": _paris(8, 4, 12), "todate": _paris(8, 4, 12)})
    assert _span(quake) == (_paris(8, 4, 12), _paris(9, 4, 12))
    assert quake.basis == "GDACS from, aftermath 24 h"


def test_a_usgs_quake_is_never_a_zero_length_window():
    window = _read("M 5.1 - 10 km NE of Nice, France", usgs={"magnitude": 5.1}, category="natural_hazard")
    assert _span(window) == (PUBLISHED, PUBLISHED + event_time.AFTERMATH)
    assert window.basis == "USGS event time 07:10 CET, aftermath 24 h"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Rassemblement mardi", 8),  # the publication's own weekday is that day
        ("Rassemblement mercredi", 9),
        ("Rassemblement lundi", 14),
        ("Rassemblement lundi prochain", 14),
        ("Rassemblement mardi prochain", 15),
        ("Heurts lundi dernier", 7),
        ("Kundgebung am Sonntag", 13),
        ("Betoging op vrijdag", 11),
    ],
)
def test_a_weekday_is_the_next_such_day_on_or_after_publication(text, day):
    assert _span(_read(text)) == (_paris(day), _paris(day + 1))


def test_a_day_and_month_without_a_year_is_the_occurrence_nearest_publication():
    assert _read("Protests planned for 2 January").starts_at == _paris(2, month=1, year=2027)
    assert _read("Review of the rally on 1 December").starts_at == _paris(1)


def _stated_day(zone: str, text: str = "Protest on 1/3/2027"):
    window = _read(text, zone=zone)
    return window.starts_at.astimezone(ZoneInfo(zone)).date() if window.stated else None


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/New_York", date(2027, 1, 3)),  # the United States: month first
        ("America/Anchorage", date(2027, 1, 3)),
        ("Pacific/Honolulu", date(2027, 1, 3)),
        ("US/Eastern", date(2027, 1, 3)),
        ("America/Puerto_Rico", date(2027, 1, 3)),  # and its territories
        ("Pacific/Guam", date(2027, 1, 3)),
        ("America/St_Thomas", date(2027, 1, 3)),
        ("America/Bogota", date(2027, 3, 1)),  # the rest of the Americas: day first
        ("America/Lima", date(2027, 3, 1)),
        ("America/Santiago", date(2027, 3, 1)),
        ("America/Guatemala", date(2027, 3, 1)),
        ("America/Caracas", date(2027, 3, 1)),
        ("America/Montevideo", date(2027, 3, 1)),
        ("Europe/London", date(2027, 3, 1)),
        ("America/Toronto", None),  # Canada writes both: 1/3 could be either, so it is not read
        ("America/Vancouver", None),
    ],
)
def test_numeric_dates_are_month_first_only_in_the_united_states_and_its_territories(zone, day):
    assert _stated_day(zone) == day


def test_canada_reads_a_numeric_date_only_when_it_can_be_only_one_day():
    assert _stated_day("America/Toronto", "Protest on 13/1/2027") == date(2027, 1, 13)
    assert _stated_day("America/Toronto", "Protest on 1/13/2027") == date(2027, 1, 13)
    assert _stated_day("America/Toronto", "Protest on 1/1/2027") == date(2027, 1, 1)


def test_a_date_that_can_only_be_day_first_is_read_so_in_the_united_states_too():
    assert _stated_day("America/New_York", "Protest on 13/1/2027") == date(2027, 1, 13)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("Rally on Wednesday at 18:00 UTC+3", (9, 15), (9, 18)),
        ("Rally on Wednesday at 18:00 GMT-5", (9, 23), (10, 2)),
        ("Rally on Wednesday at 18:00 UTC−03:00", (9, 21), (10, 0)),
        ("Rally on Wednesday at 18:00 UTC+05:30", (9, 12, 30), (9, 15, 30)),
        ("Rally on Wednesday at 18:00 (GMT+1)", (9, 17), (9, 20)),
        ("March on Wednesday 14:00-16:00 UTC", (9, 14), (9, 16)),  # the zone stated once, for both ends
        ("March on Wednesday from 10:00 to 12:00 GMT-5", (9, 15), (9, 17)),
        ("March on Wednesday from 10:00 UTC to 12:00", (9, 10), (9, 12)),
        ("March on Wednesday 2pm-4pm EST", (9, 19), (9, 21)),
        ("March on Wednesday 2 pm GMT", (9, 14), (9, 17)),
        ("Strike on Wednesday 1800 UTC+1", (9, 17), (9, 20)),
        ("March on Wednesday 14:00 UTC - 16:00", (9, 14), (9, 16)),  # a range, not an offset of -16 h
        ("March on Wednesday 10:00 UTC-12:00", (9, 10), (9, 12)),
        ("March on Wednesday 10:00 UTC-03:00", (9, 13), (9, 16)),
    ],
)
def test_a_stated_offset_or_zone_is_honoured_for_both_ends_of_a_range(text, start, end):
    window = _read(text, category="protest")
    assert (window.starts_at, window.ends_at) == (
        datetime(2026, 12, *start, tzinfo=UTC),
        datetime(2026, 12, *end, tzinfo=UTC),
    )


def test_the_basis_names_the_zones_abbreviation_and_both_when_the_clocks_change_between():
    autumn = datetime(2026, 10, 20, 8, tzinfo=UTC)
    across = _read("Strike from Saturday 24 October 18:00 to Sunday 25 October 18:00", published=autumn)
    assert across.basis == "stated: Sat 24 Oct 18:00 CEST–Sun 25 Oct 18:00 CET"
    assert _read("Rally on Wednesday at 18:00", zone=None).basis == "stated: Wed 9 Dec 18:00 UTC, assumed for 3 h"
    assert _read("Rally on Wednesday at 18:00", zone="America/New_York").basis.endswith("18:00 EST, assumed for 3 h")


def test_a_bare_time_is_the_publication_day_the_next_when_well_past_or_last_night_in_the_small_hours():
    assert _read("Rally at 14:00").starts_at == _paris(8, 14)
    assert _read("Rally at 06:45").starts_at == _paris(8, 6, 45)  # a report, 25 min old
    assert _read("Rassemblement à 9h", published=_paris(8, 22, 40)).starts_at == _paris(9, 9)
    assert _read("Shooting reported at 21:45", published=_paris(8, 2, 30)).starts_at == _paris(7, 21, 45)


def test_a_day_with_no_time_covers_that_whole_local_day_in_the_places_zone():
    tokyo = _read("Protest on 10 December", zone="Asia/Tokyo")
    assert _span(tokyo) == (datetime(2026, 12, 9, 15, tzinfo=UTC), datetime(2026, 12, 10, 15, tzinfo=UTC))
    assert tokyo.basis == "stated: Thu 10 Dec JST (whole day)"


def test_ranges_of_days_and_of_hours_and_until():
    assert _span(_read("Grève du 12 au 14 décembre")) == (_paris(12), _paris(15))
    assert _span(_read("Demo am Samstag von 13 bis 16 Uhr")) == (_paris(12, 13), _paris(12, 16))
    assert _span(_read("Sit-in mercoledì dalle 10 alle 12")) == (_paris(9, 10), _paris(9, 12))
    until = _read("Road closed until 16:00")
    assert _span(until) == (PUBLISHED, _paris(8, 16))
    assert until.basis == "stated: Tue 8 Dec 07:10–16:00 CET"


@pytest.mark.parametrize(
    ("category", "hours"),
    [("protest", 3), ("civil_unrest", 6), ("weather", 6), ("health", 24), ("crime", 3), (None, 3)],
)
def test_a_stated_start_without_an_end_lasts_its_categorys_usual_length(category, hours):
    window = _read("Wednesday at 18:00", category=category)
    assert _span(window) == (_paris(9, 18), _paris(9, 18) + timedelta(hours=hours))
    assert window.basis == f"stated: Wed 9 Dec 18:00 CET, assumed for {hours} h"


def test_parts_of_the_day():
    assert _span(_read("Défilé ce soir")) == (_paris(8, 18), _paris(9))
    assert _span(_read("Marcha esta noche")) == (_paris(8, 18), _paris(9, 6))
    assert _span(_read("Protest morgen früh")) == (_paris(9, 6), _paris(9, 12))
    assert _span(_read("Marche dimanche après-midi")) == (_paris(13, 12), _paris(13, 18))
    assert not _read("Protesta por la mañana").stated  # a part of the day with no day is no time


@pytest.mark.parametrize(
    "text",
    [
        "Open 24/7",
        "Level 3 alert",
        "2 people injured",
        "Protest at 10 Downing Street",
        "Protesters blocked the bridge in 2019",
        "Score 2:1",
        "Magnitude 5.1 earthquake",
        "Security at its highest since 9/11",
        "Call 0800 123 4567",
        "Coupure pendant 12h",
        "Rua 25 de Abril encerrada",
        "calle 14 de Abril",
        "May 2 people",
        "Ouvert 24h/24",
    ],
)
def test_numbers_that_are_not_times_are_not_read_as_times(text):
    window = _read(text)
    assert not window.stated and window.basis == "no time stated: published 07:10 CET, assumed for 6 h"


def test_publication_stamps_and_datelines_are_not_the_events_time():
    assert not _read("Bridge blocked", "PARIS, 8 déc (AFP) - Des manifestants ont bloqué le pont.").stated
    stamped = _read("Rassemblement", "Mis à jour le 8 décembre à 07h00 : rassemblement à 19h.")
    assert _span(stamped) == (_paris(8, 19), _paris(8, 22))


def test_stated_times_too_far_apart_or_long_past_are_unclear():
    window = _read("Strikes on 10 December and 22 December")
    assert not window.stated and window.basis == "time unclear: published 07:10 CET, assumed for 6 h"
    assert _read("Memorial for the 9 March 2024 attacks").basis.startswith("time unclear")


def test_a_time_stated_in_utc_or_another_zone_is_read_in_it():
    assert _read("Rally on 9 December at 18:00 GMT").starts_at == datetime(2026, 12, 9, 18, tzinfo=UTC)
    assert _read("Start: 2026-12-09T18:00:00+00:00").starts_at == datetime(2026, 12, 9, 18, tzinfo=UTC)


def test_the_title_gives_the_day_the_summary_the_time():
    window = _read("Manifestation mercredi à Lyon", "Le cortège partira à 15h de la place Bellecour.")
    assert _span(window) == (_paris(9, 15), _paris(9, 18))


def test_with_no_zone_known_times_are_read_in_utc_and_the_basis_says_so():
    window = _read("Rally on Wednesday at 18:00", zone=None)
    assert window.starts_at == datetime(2026, 12, 9, 18, tzinfo=UTC)
    assert window.basis == "stated: Wed 9 Dec 18:00 UTC, assumed for 3 h"
    assert _read("Nothing said", zone=None).basis == "no time stated: published 06:10 UTC, assumed for 6 h"


def test_every_basis_fits_its_column():
    length = FeedItem.__table__.c.time_basis.type.length
    assert all(len(_window(case).basis) <= length for case in LABELLED)


_PIECES = st.sampled_from(
    [
        "at", "18:00", "23:59", "0:00", "12h", "24h", "9", "31", "29", "February", "décembre", "Mittwoch", "tomorrow",
        "morgen", "mañana", "to", "-", "–", "until", "between", "and", "de", "la", "tarde", "Uhr", "uur", "pm",
        "next", "last", "2026", "1999", "2099", "9999-12-31T23:00", "2026-02-30", "31/12/2099", "30.02.2026",
        "weekend", "tonight", "noon", ",", ".", "(AFP)", "Updated", "calle", "pendant", "GMT", "+14:00", "2359Z",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=14),
    zone=st.sampled_from([None, PARIS, "Pacific/Kiritimati", "America/St_Johns", "Not/AZone"]),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 400),
)
def test_any_text_gives_a_window_that_ends_after_it_starts(words, zone, minutes):
    published = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    window = event_window(" ".join(words[:7]), " ".join(words[7:]), published, zone, category="protest")
    assert window.ends_at > window.starts_at and window.starts_at.tzinfo is not None
    assert len(window.basis) <= 120


# End to end: a feed served on loopback, polled, stored, matched.
TUESDAY = datetime(2026, 11, 24, tzinfo=UTC)  # London is on UTC in November


@pytest.fixture
def feed_server():
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _dinner(world, name: str, day: datetime) -> Detail:
    """A detail whose only visit is dinner at the Grand Hotel, 18:00-20:00 on `day`."""
    detail = Detail(
        client=world.client, name=name, starts_at=day + timedelta(hours=17), ends_at=day + timedelta(hours=21)
    )
    detail.visits.append(
        Visit(site=world.hotel, arrives_at=day + timedelta(hours=18), departs_at=day + timedelta(hours=20))
    )
    db.session.add(detail)
    return detail


def test_a_protest_announced_for_wednesday_weighs_on_wednesdays_visit_not_tuesdays(app, world, feed_server):
    tuesday = _dinner(world, "Tuesday dinner", TUESDAY)
    wednesday = _dinner(world, "Wednesday dinner", TUESDAY + timedelta(days=1))
    allow_loopback_feeds(world.org)
    feed = Feed(
        organisation=world.org, url=feed_server.url("/feeds/stated_times.xml"), name="Monitor", country_code="GB"
    )
    db.session.add(feed)
    db.session.commit()

    # Polled on Tuesday at 07:15, five minutes after the items were published.
    assert poller.poll_feed(feed.id, now=TUESDAY + timedelta(hours=7, minutes=15)).new_items == 2
    db.session.expire_all()

    protest = db.session.scalar(sa.select(FeedItem).where(FeedItem.guid == "stated-1"))
    assert (protest.starts_at, protest.ends_at) == (
        TUESDAY + timedelta(days=1, hours=18),
        TUESDAY + timedelta(days=1, hours=21),
    )
    assert protest.time_basis == "stated: Wed 25 Nov 18:00 GMT, assumed for 3 h"
    untimed = db.session.scalar(sa.select(FeedItem).where(FeedItem.guid == "stated-2"))
    assert (untimed.starts_at, untimed.ends_at) == (
        TUESDAY + timedelta(hours=7, minutes=10),
        TUESDAY + timedelta(hours=13, minutes=10),
    )
    assert untimed.time_basis == "no time stated: published 07:10 GMT, assumed for 6 h"

    def advisory(detail):
        return db.session.scalar(
            sa.select(Advisory).where(Advisory.detail_id == detail.id, Advisory.title == protest.title)
        )

    on_wednesday = advisory(wednesday)
    assert on_wednesday.severity in ("critical", "high")
    assert on_wednesday.reason == (
        "500 m from Grand Hotel, during arrival Wed 25 Nov 17:30–18:30 GMT; "
        "stated: Wed 25 Nov 18:00 GMT, assumed for 3 h"
    )
    on_tuesday = advisory(tuesday)
    assert on_tuesday is None or (on_tuesday.severity not in ("critical", "high") and "during" not in on_tuesday.reason)


def test_a_long_basis_never_pushes_the_reason_past_its_column(world):
    detail = _dinner(world, "Dinner", TUESDAY)
    db.session.commit()
    item = FeedItem(
        title="x",
        category="protest",
        located_by="feed",
        latitude=51.51,
        longitude=-0.13,
        starts_at=TUESDAY + timedelta(hours=17),
        ends_at=TUESDAY + timedelta(hours=20),
        time_basis="b" * 120,
    )
    exposure = exposures.exposures(detail)[0]
    text = severity.reason(item, replace(exposure, label="a" * 450), 500.0, False, detail, 1)
    assert len(text) == severity.MAX_REASON and text.endswith("…")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("Protest Sunday afternoon", (29, 12), (29, 18)), ("Vigil tonight", (28, 18), (29, 6))],
)
def test_parts_of_the_day_keep_the_local_clock_when_the_clocks_change(text, start, end):
    london = ZoneInfo("Europe/London")  # the clocks go forward at 01:00 on Sunday 29 March 2026
    window = event_time.event_window(text, "", datetime(2026, 3, 28, 9, tzinfo=timezone.utc), "Europe/London")
    local = window.starts_at.astimezone(london), window.ends_at.astimezone(london)
    assert [(t.day, t.hour) for t in local] == [start, end]
