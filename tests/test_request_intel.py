"""Client requests answered from intel: the window a request is about, the intel beside it on the
coordinator's page, advisories attached to the answer (a candidate published with it), and what the
client reads of them in the portal and the answer's mail.

The world's detail runs Tue 24 Nov 2026 08:00–20:00 London time (T0), at the Grand Hotel, then along
the route to ExCeL London. Requests are received on Monday 23 Nov unless a test says otherwise.
"""

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from detail.domain import notices
from detail.domain import requests as inbox
from detail.extensions import db
from detail.hooks import AnswerRefused
from detail.models import ClientRequest, Event, Notice
from intel.domain import answers
from intel.domain.request_window import UPCOMING, request_window, stated_days
from intel.models import Advisory, AdvisorySource, ClientRequestAdvisory, Feed, FeedItem, WatchArea

from .conftest import T0, sign_in

MONDAY = T0 - timedelta(days=1) + timedelta(hours=1)  # Mon 23 Nov 09:00 London (GMT)
TOMORROW = "Any protests near the venue tomorrow?"


def _request(world, subject=TOMORROW, received_at=MONDAY, **values) -> ClientRequest:
    req, _ = inbox.log_request(
        client=world.client, contact=world.contact, subject=subject, received_at=received_at, **values
    )
    db.session.commit()
    return req


# --- the window -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        (TOMORROW, date(2026, 11, 24)),
        ("Anything planned on Friday?", date(2026, 11, 27)),
        ("Is the route safe on 12 December?", date(2026, 12, 12)),
        ("Any march on Sunday 29 November?", date(2026, 11, 29)),
        ("Road works in 2 days?", date(2026, 11, 25)),
    ],
)
def test_a_stated_day_is_read_relative_to_receipt(text, day):
    assert [found for _, found in stated_days(text, MONDAY, "Europe/London")] == [day]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Any protests on the 3rd?", date(2026, 12, 3)),  # Monday 23 November: the next 3rd
        ("Anything on 12th?", date(2026, 12, 12)),
        ("And on the 23rd?", date(2026, 11, 23)),  # the day of the question itself
        ("Is the 30th quiet?", date(2026, 11, 30)),
        ("What about the 31st?", date(2026, 12, 31)),  # November has none
        ("The march on the 3rd at 10?", date(2026, 12, 3)),
        ("Anything on 12th at 10?", date(2026, 12, 12)),
        ("Friday at 10?", date(2026, 11, 27)),
        ("12 December at 10?", date(2026, 12, 12)),
        ("Anything at 10 tomorrow?", date(2026, 11, 24)),
        ("Any risk on the 3rd of January?", date(2027, 1, 3)),
        ("Any risk on 2 November?", date(2027, 11, 2)),  # passed this year: next year's
        ("Departing at 10:30 on the 5th", date(2026, 12, 5)),
    ],
)
def test_ordinals_and_clock_times_resolve_to_the_next_such_day_on_or_after_receipt(text, day):
    assert [found for _, found in stated_days(text, MONDAY, "Europe/London")] == [day]


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Any marches 3–5 December?", [date(2026, 12, 3), date(2026, 12, 5)]),
        ("Anything from 12 to 14 December?", [date(2026, 12, 12), date(2026, 12, 14)]),
        ("Road closures Dec 3 to 5th?", [date(2026, 12, 3), date(2026, 12, 5)]),
        ("Summit on December 3-5, 2027", [date(2027, 12, 3), date(2027, 12, 5)]),
        ("Still on 22-24 November?", [date(2026, 11, 22), date(2026, 11, 24)]),  # its last day is to come
        ("What about 20-22 November?", [date(2027, 11, 20), date(2027, 11, 22)]),  # passed: next year's
    ],
)
def test_a_run_of_days_in_one_month_states_its_first_and_last_day(text, days):
    assert [found for _, found in stated_days(text, MONDAY, "Europe/London")] == days


def test_a_run_of_stated_days_makes_a_window_over_all_of_them(world):
    req = _request(world, "Protests 3-5 December?", body="Our delegation is at the venue then.")
    window = request_window(req)
    assert window.starts_at == datetime(2026, 12, 3, tzinfo=timezone.utc)  # London: UTC in December
    assert window.ends_at == datetime(2026, 12, 6, tzinfo=timezone.utc)
    assert "Thu 03 Dec to Sat 05 Dec" in window.basis


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Our meeting is on the 3rd floor: any protests?", []),
        ("Use the 2nd gate on the 5th", [date(2026, 12, 5)]),
        ("Is the 30th quiet?", [date(2026, 11, 30)]),
    ],
)
def test_an_ordinal_that_counts_something_else_states_no_day(text, days):
    assert [found for _, found in stated_days(text, MONDAY, "Europe/London")] == days


def test_a_stated_day_is_read_in_the_venues_zone():
    # 23:30 on Monday in London is already Tuesday in Tokyo: Tokyo's tomorrow is Wednesday.
    late = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)
    assert stated_days("tomorrow?", late, "Europe/London")[0][1] == date(2026, 11, 24)
    assert stated_days("tomorrow?", late, "Asia/Tokyo")[0][1] == date(2026, 11, 25)


@pytest.mark.parametrize(
    "text",
    [
        "We hear of a march. May we use the rear door?",  # "We" is no Wednesday, "march" and "May" no month
        "We sat in the lobby for an hour",
        "Is it safe now?",
        "The 3 of us arrive at 10",
        "Is the route safe?",
        "What about next week?",  # a week, not a day: the upcoming days are read instead
    ],
)
def test_words_that_only_look_like_dates_state_no_day(text):
    assert stated_days(text, MONDAY, "Europe/London") == []


def test_the_march_on_saturday_is_on_saturday_not_in_march():
    assert [day for _, day in stated_days("Is the march on Saturday going ahead?", MONDAY, "Europe/London")] == [
        date(2026, 11, 28)
    ]


def test_the_window_of_a_stated_day_covers_that_local_day_and_the_clients_details_in_it(world):
    window = request_window(_request(world))
    assert (window.starts_at, window.ends_at) == (
        datetime(2026, 11, 24, tzinfo=timezone.utc),
        datetime(2026, 11, 25, tzinfo=timezone.utc),
    )
    assert window.details == (world.detail,)  # not Contoso's detail the same day
    assert "tomorrow" in window.basis


def test_the_window_of_a_named_detail_is_its_times_narrowed_to_a_stated_day_within_them(world):
    window = request_window(_request(world, subject="Is the route safe?", detail=world.detail))
    assert (window.starts_at, window.ends_at, window.details) == (
        world.detail.starts_at,
        world.detail.ends_at,
        (world.detail,),
    )
    # "Friday" is outside the detail: its times stand.
    window = request_window(_request(world, subject="And on Friday?", detail=world.detail))
    assert (window.starts_at, window.ends_at) == (world.detail.starts_at, world.detail.ends_at)


def test_with_no_day_and_no_detail_the_window_is_the_upcoming_days(world):
    window = request_window(_request(world, subject="Is everything ready?"))
    assert (window.starts_at, window.ends_at, window.details) == (MONDAY, MONDAY + UPCOMING, (world.detail,))


# --- the intel beside the request ----------------------------------------------------------------


@dataclass
class Intel:
    tomorrow_candidate: Advisory
    tomorrow_published: Advisory
    next_week: Advisory
    contoso: Advisory
    rival: Advisory
    dismissed: Advisory


def _item(feed, guid, title, near, starts_at, north_m=300, hours=2):
    return FeedItem(
        feed=feed,
        guid=guid,
        title=title,
        category="protest",
        latitude=near.latitude + north_m / 111_000,
        longitude=near.longitude,
        located_by="feed",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
    )


def _advisory(org, title, starts_at, status="candidate", severity="moderate", item=None, **where):
    advisory = Advisory(
        organisation_id=org.id,
        title=title,
        category="protest",
        severity=severity,
        reason=f"REASON {title}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        status=status,
        **where,
    )
    if status == "published":
        advisory.summary, advisory.recommendation, advisory.published_at = f"Summary of {title}", "Keep clear", MONDAY
    if item is not None:
        advisory.sources.append(AdvisorySource(detail_id=where.get("detail_id"), item=item))
    db.session.add(advisory)
    return advisory


@pytest.fixture
def intel(world) -> Intel:
    """Advisories and items around the world's detail: tomorrow (Tuesday) and next week, the client's
    and others'; raw items with and without an advisory."""
    feed = Feed(organisation=world.org, url="https://feeds.example/wire.xml", name="WIRE-FEED-NAME")
    rival_feed = Feed(organisation=world.other_org, url="https://feeds.example/rival.xml", name="Rival wire")
    tuesday = T0 + timedelta(hours=3)
    next_week = T0 + timedelta(days=7)
    area = WatchArea(client=world.client, name="Northwind HQ", latitude=51.52, longitude=-0.1, timezone="Europe/London")
    db.session.add_all([feed, rival_feed, area])
    db.session.flush()
    source = _item(feed, "a1", "Item behind the march", world.venue, tuesday)
    dismissed_source = _item(feed, "d1", "ALREADY-DISMISSED item", world.hotel, tuesday, north_m=500)
    rows = Intel(
        tomorrow_candidate=_advisory(
            world.org, "March on ExCeL tomorrow", tuesday, severity="high", item=source, detail_id=world.detail.id
        ),
        tomorrow_published=_advisory(
            world.org, "Road closure by the Grand Hotel", tuesday, status="published", detail_id=world.detail.id
        ),
        next_week=_advisory(world.org, "Rally at HQ next week", next_week, watch_area_id=area.id),
        contoso=_advisory(world.org, "CONTOSO strike at the airport", tuesday, detail_id=world.other_client_detail.id),
        rival=_advisory(world.other_org, "RIVAL-ORG march", tuesday, detail_id=world.other_org_detail.id),
        dismissed=_advisory(
            world.org, "Dismissed one", tuesday, status="dismissed", item=dismissed_source, detail_id=world.detail.id
        ),
    )
    rows.dismissed.dismiss_reason = "DISMISS-REASON-INTERNAL"
    db.session.add_all(
        [
            _item(feed, "r1", "Pop-up demo near the Grand Hotel", world.hotel, tuesday, north_m=400),
            _item(feed, "r2", "Next week's rally near the Grand Hotel", world.hotel, next_week),
            _item(feed, "r3", "Sit-in on the route", world.venue, tuesday + timedelta(hours=1), north_m=2_000),
            _item(rival_feed, "x1", "RIVAL-ORG item near the hotel", world.hotel, tuesday),
        ]
    )
    far = _item(feed, "f1", "Far-away march in Manchester", world.hotel, tuesday)
    far.latitude, far.longitude = 53.48, -2.24
    db.session.add(far)
    db.session.commit()
    return rows


def _between(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end)]


def test_the_panel_shows_the_intel_of_tomorrow_and_not_of_next_week(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    page = html.unescape(client.get(f"/admin/requests/{req.id}").get_data(as_text=True))
    window = _between(page, "Advisories in the window", "Other open advisories")
    assert "March on ExCeL tomorrow" in window and "candidate: not yet published" in window
    assert "Road closure by the Grand Hotel" in window and "REASON March on ExCeL tomorrow" in window
    assert "Rally at HQ next week" not in window
    assert "Rally at HQ next week" in _between(page, "Other open advisories", "Feed items with no advisory yet")
    items = page[page.index("Feed items with no advisory yet") :]
    assert "Pop-up demo near the Grand Hotel" in items and "from Grand Hotel" in items
    assert "Sit-in on the route" in items
    assert "Next week's rally" not in items and "Manchester" not in items
    assert "Item behind the march" not in items and "ALREADY-DISMISSED" not in items  # they have advisories
    for foreign in ("CONTOSO", "RIVAL-ORG", "Dismissed one"):
        assert foreign not in page
    assert 'form="answer-form"' in page and f'value="{intel.tomorrow_candidate.id}"' in page


def test_tomorrow_asked_on_tuesday_is_wednesday(client, world, intel):
    req = _request(world, received_at=MONDAY + timedelta(days=1))
    sign_in(client, world.coordinator)
    page = html.unescape(client.get(f"/admin/requests/{req.id}").get_data(as_text=True))
    window = _between(page, "Advisories in the window", "Other open advisories")
    assert "March on ExCeL tomorrow" not in window and "No advisory of Northwind plc in this window." in window


# --- answering with advisories ---------------------------------------------------------------------


def _choices(intel, **extra) -> dict:
    candidate = intel.tomorrow_candidate.id
    return {
        "answer-answer": "Yes: one march near ExCeL, and a road closure by the hotel.",
        "attach-advisory": [str(candidate), str(intel.tomorrow_published.id)],
        f"attach-summary-{candidate}": "A march of about 200 people passes ExCeL at 11:00.",
        f"attach-recommendation-{candidate}": "Arrive by the north entrance.",
        **extra,
    }


def test_attaching_publishes_the_candidate_and_the_client_reads_both_in_the_portal_and_the_mail(
    client, world, intel, mailbox
):
    req = _request(world)
    sign_in(client, world.coordinator)
    check = client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel))
    text = html.unescape(check.get_data(as_text=True))
    assert check.status_code == 200 and "Check the answer before it goes" in text
    assert "A march of about 200 people passes ExCeL at 11:00." in text and "published as the answer goes" in text
    assert "Summary of Road closure by the Grand Hotel" in text
    db.session.expire_all()
    assert (req.answered_at, intel.tomorrow_candidate.status) == (None, "candidate")  # nothing stored yet

    sent = client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel, **{"answer-confirmed": "yes"}))
    assert sent.status_code == 302
    db.session.expire_all()
    candidate = intel.tomorrow_candidate
    assert req.state == "answered"
    assert (candidate.status, candidate.summary, candidate.recommendation, candidate.reviewed_by_id) == (
        "published",
        "A march of about 200 people passes ExCeL at 11:00.",
        "Arrive by the north entrance.",
        world.coordinator.id,
    )
    assert {a.id for a in answers.attached(req)} == {candidate.id, intel.tomorrow_published.id}
    kinds = db.session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds[-2:] == ["advisory_published", "request_answered"]

    assert notices.send_due() == 1
    mail = mailbox.messages[0].get_content()
    assert "With this answer, 2 advisories:" in mail
    assert "[HIGH] March on ExCeL tomorrow" in mail and "What we know: A march of about 200 people" in mail
    assert "Our recommendation: Arrive by the north entrance." in mail
    assert "Summary of Road closure by the Grand Hotel" in mail
    for internal in ("Item behind the march", "WIRE-FEED-NAME", "feeds.example", "DISMISS-REASON"):
        assert internal not in mail

    sign_in(client, world.contact)
    page = html.unescape(client.get(f"/portal/requests/{req.id}").get_data(as_text=True))
    with_answer = page[page.index("Advisories with the answer") :]
    assert "A march of about 200 people passes ExCeL at 11:00." in with_answer
    assert "Summary of Road closure by the Grand Hotel" in with_answer
    for internal in ("Item behind the march", "WIRE-FEED-NAME", "Pop-up demo", "candidate"):
        assert internal not in page


def test_a_candidate_without_the_clients_words_is_refused_and_nothing_is_stored(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    choices = _choices(intel, **{"answer-confirmed": "yes"})
    choices[f"attach-recommendation-{intel.tomorrow_candidate.id}"] = "  "
    response = client.post(f"/admin/requests/{req.id}/answer", data=choices)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert f"Advisory #{intel.tomorrow_candidate.id} is not published yet" in page
    # What was typed and ticked is still there, to correct.
    assert "A march of about 200 people passes ExCeL at 11:00." in page
    assert re.search(rf'value="{intel.tomorrow_candidate.id}" checked', page)
    db.session.expire_all()
    assert (req.answered_at, intel.tomorrow_candidate.status) == (None, "candidate")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClientRequestAdvisory)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0


@pytest.mark.parametrize(
    ("which", "status", "message"),
    [
        ("contoso", 403, "is not one of Northwind plc's"),
        ("rival", 422, "There is no advisory #"),
        ("dismissed", 422, "is dismissed"),
    ],
)
def test_only_the_clients_own_open_advisories_can_be_attached(client, world, intel, which, status, message):
    req = _request(world)
    foreign = getattr(intel, which)
    sign_in(client, world.coordinator)
    for confirmed in ("", "yes"):  # refused at the check and at the send alike
        data = _choices(intel, **{"answer-confirmed": confirmed})
        data["attach-advisory"] = [str(intel.tomorrow_published.id), str(foreign.id)]
        response = client.post(f"/admin/requests/{req.id}/answer", data=data)
        assert response.status_code == status
        assert message in html.unescape(response.get_data(as_text=True))
    db.session.expire_all()
    assert req.answered_at is None and foreign.status == ("dismissed" if which == "dismissed" else "candidate")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClientRequestAdvisory)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0


def test_the_domain_refuses_another_clients_advisory_too(world, intel):
    req = _request(world)
    with pytest.raises(AnswerRefused) as refused:
        answers.attach(req, world.coordinator, [intel.contoso.id], {intel.contoso.id: ("s", "r")})
    assert refused.value.status == 403
    db.session.rollback()
    assert intel.contoso.status == "candidate"


def test_an_advisory_number_that_is_no_number_is_refused(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    data = {"answer-answer": "Yes", "attach-advisory": "1 OR 1=1"}
    response = client.post(f"/admin/requests/{req.id}/answer", data=data)
    assert response.status_code == 422 and "is not an advisory" in html.unescape(response.get_data(as_text=True))


def test_sending_the_same_answer_twice_answers_once(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    data = _choices(intel, **{"answer-confirmed": "yes"})
    first = client.post(f"/admin/requests/{req.id}/answer", data=data)
    second = client.post(f"/admin/requests/{req.id}/answer", data=data)
    assert first.status_code == second.status_code == 302
    assert "Already answered" in client.get(second.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClientRequestAdvisory)) == 2


def test_the_answer_mail_and_the_preview_read_times_in_one_zone(client, world, intel, mailbox):
    # The organisation keeps Tokyo's clock; the client's next detail is in London: both read London's.
    world.org.timezone = "Asia/Tokyo"
    req = _request(world)
    assert inbox.request_zone(req) == request_window(req).timezone == "Europe/London"
    sign_in(client, world.coordinator)
    check = html.unescape(client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel)).get_data(as_text=True))
    assert "GMT" in check and "JST" not in check
    client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel, **{"answer-confirmed": "yes"}))
    assert notices.send_due() == 1
    mail = mailbox.messages[0].get_content()
    assert " answered at " in mail and "GMT" in mail and "JST" not in mail


def test_a_request_of_a_client_with_no_detail_ahead_reads_the_organisations_zone(world):
    world.org.timezone = "Asia/Tokyo"
    req = _request(world, received_at=world.detail.ends_at + timedelta(days=60))
    assert inbox.request_zone(req) == request_window(req).timezone == "Asia/Tokyo"


def test_an_answer_racing_another_claims_nothing(backend):
    """The session's copy still says unanswered; another connection answered a moment ago."""
    req = _request(backend)
    assert req.answered_at is None
    with db.engine.begin() as other:
        other.execute(
            sa.text("UPDATE client_request SET answered_at = received_at, acknowledged_at = received_at WHERE id = :i"),
            {"i": req.id},
        )
    assert inbox.answer(req, backend.coordinator, "second") is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0


def test_an_advisory_is_attached_to_an_answer_once(backend):
    req = _request(backend)
    advisory = _advisory(backend.org, "Road closure", T0, status="published", detail_id=backend.detail.id)
    db.session.commit()
    for _ in range(2):
        assert answers.attach(req, backend.coordinator, [advisory.id, advisory.id], {}) == []
        db.session.commit()
    assert db.session.scalars(sa.select(ClientRequestAdvisory.advisory_id)).all() == [advisory.id]


def test_change_it_returns_to_the_page_with_what_was_typed(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    data = _choices(intel, **{"answer-confirmed": "yes", "answer-edit": "Change it"})
    response = client.post(f"/admin/requests/{req.id}/answer", data=data)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Yes: one march near ExCeL" in page
    assert re.search(rf'value="{intel.tomorrow_published.id}" checked', page)
    assert 'name="answer-confirmed" type="hidden" value=""' in page  # the page's form asks for the check again
    db.session.expire_all()
    assert req.answered_at is None


def test_an_answered_request_shows_what_was_attached_and_no_boxes(client, world, intel):
    req = _request(world)
    answers.attach(req, world.coordinator, [intel.tomorrow_published.id], {})
    inbox.answer(req, world.coordinator, "See the advisory.")
    db.session.commit()
    sign_in(client, world.coordinator)
    page = html.unescape(client.get(f"/admin/requests/{req.id}").get_data(as_text=True))
    assert "Road closure by the Grand Hotel" in _between(page, "Attached to the answer", "Advisories in the window")
    assert 'name="attach-advisory"' not in page and 'id="answer-form"' not in page


def test_only_coordinators_of_the_organisation_see_the_panel(client, world, intel):
    req = _request(world)
    for user, status in ((world.contact, 403), (world.agent_user, 403), (world.other_org_coordinator, 404)):
        sign_in(client, user)
        response = client.get(f"/admin/requests/{req.id}")
        assert response.status_code == status, user.email
        assert "March on ExCeL tomorrow" not in response.get_data(as_text=True)
    sign_in(client, world.other_contact)
    assert client.get(f"/portal/requests/{req.id}").status_code == 404


# --- accessibility ---------------------------------------------------------------------------------


class _Controls(HTMLParser):
    """Headings in order, and each form control with whether a label names it."""

    def __init__(self):
        super().__init__()
        self.headings: list[int] = []
        self.controls: list[tuple[str, str | None, bool]] = []  # (tag, id, inside a label)
        self.label_for: set[str] = set()
        self._labels = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "label":
            self._labels += 1
            if attrs.get("for"):
                self.label_for.add(attrs["for"])
        elif tag in ("textarea", "select") or (
            tag == "input" and attrs.get("type") not in ("hidden", "submit", "button")
        ):
            named = self._labels > 0 or bool(attrs.get("aria-label"))
            self.controls.append((f"{tag} {attrs.get('name')}", attrs.get("id"), named))

    def handle_endtag(self, tag):
        if tag == "label":
            self._labels -= 1


def assert_accessible(page: str) -> None:
    found = _Controls()
    found.feed(page)
    unlabelled = [name for name, id_, named in found.controls if not named and id_ not in found.label_for]
    assert not unlabelled, f"controls without a label: {unlabelled}"
    assert found.headings.count(1) == 1, found.headings
    jumps = [(a, b) for a, b in zip(found.headings, found.headings[1:], strict=False) if b > a + 1]
    assert not jumps, f"heading levels skipped: {found.headings}"


def test_the_request_check_and_portal_pages_keep_labels_and_headings(client, world, intel):
    req = _request(world)
    sign_in(client, world.coordinator)
    page = client.get(f"/admin/requests/{req.id}").get_data(as_text=True)
    assert page.count('type="checkbox"') >= 3
    assert_accessible(page)
    assert_accessible(client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel)).get_data(as_text=True))
    client.post(f"/admin/requests/{req.id}/answer", data=_choices(intel, **{"answer-confirmed": "yes"}))
    sign_in(client, world.contact)
    assert_accessible(client.get(f"/portal/requests/{req.id}").get_data(as_text=True))
