"""The client portal, its Atom feed and unsubscribe link; coordinators' digest preview and watch areas."""

import re
from datetime import timedelta

import feedparser
import pytest
import sqlalchemy as sa

from detail.domain.statuses import record_status
from detail.domain.timefmt import local_end
from detail.extensions import db
from detail.models import Agent, Assignment, Movement, StatusCode, User, Visit
from intel.domain import advisories
from intel.domain.preferences import preference_for, preference_or_default, unsubscribe_token
from intel.domain.readiness import readiness_lines
from intel.models import Advisory, ContactPreference, Feed, FeedItem, WatchArea

from .conftest import T0


@pytest.fixture
def published(world):
    """One published advisory for the world's detail, one candidate, and one published for another client."""
    world.detail.notes = "INTERNAL-NOTE-7731"
    feed = Feed(organisation=world.org, url="http://127.0.0.1:1/f.xml", name="Monitor")
    items = [
        FeedItem(
            feed=feed,
            guid=f"p{n}",
            title=title,
            category="protest",
            latitude=lat,
            longitude=lon,
            located_by="feed",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=2),
        )
        for n, (title, lat, lon) in enumerate(
            [
                ("March past the hotel", world.hotel.latitude + 0.002, world.hotel.longitude),
                ("Candidate only", world.venue.latitude + 0.002, world.venue.longitude),
            ]
        )
    ]
    db.session.add_all([feed, *items])
    db.session.flush()
    advisories.record_candidates(world.org.id, items, T0)
    first = db.session.scalar(sa.select(Advisory).where(Advisory.title == "March past the hotel"))
    advisories.publish(first, world.coordinator, "A march passes the hotel at arrival", "Use the rear entrance")
    other = Advisory(
        organisation_id=world.org.id,
        detail_id=world.other_client_detail.id,
        title="CONTOSO-ONLY",
        category="crime",
        severity="high",
        reason="x",
        starts_at=T0,
        ends_at=T0,
        status="published",
        summary="s",
        recommendation="r",
        published_at=T0,
    )
    db.session.add(other)
    db.session.commit()
    return first


def test_portal_shows_own_details_and_published_advisories_only(as_user, world, published):
    client = as_user(world.contact)
    pages = [client.get(url) for url in ("/portal", f"/portal/details/{world.detail.id}", "/portal/advisories")]
    assert all(p.status_code == 200 for p in pages)
    text = " ".join(p.get_data(as_text=True) for p in pages)
    assert "Northwind CEO London" in text and "A march passes the hotel at arrival" in text
    assert "Use the rear entrance" in text
    for secret in ("Candidate only", "CONTOSO-ONLY", "Contoso board visit", "INTERNAL-NOTE-7731", "Bravo 1"):
        assert secret not in text
    assert client.get(f"/portal/details/{world.other_client_detail.id}").status_code == 404
    other = as_user(world.other_contact)
    assert "March past the hotel" not in other.get("/portal/advisories").get_data(as_text=True)


def _preferences_stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ContactPreference))


def test_reading_the_portal_stores_no_preference(as_user, world, published):
    client = as_user(world.contact)
    urls = (
        "/portal",
        f"/portal/details/{world.detail.id}",
        "/portal/advisories",
        "/portal/digests",
        "/portal/requests",
    )
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert _preferences_stored() == 0


def test_the_preference_getter_leaves_the_commit_to_its_caller(world):
    preference = preference_for(world.contact, T0)
    assert (preference.cadence, preference.email) == ("daily", world.contact.email) and preference in db.session
    zone = preference.timezone
    db.session.rollback()
    assert _preferences_stored() == 0
    unsaved = preference_or_default(world.contact, T0)
    assert unsaved.timezone == zone and unsaved not in db.session


def test_two_first_visits_at_once_store_one_preference_and_fail_neither(world, monkeypatch):
    """Another tab (or the digest job) stored the contact's preference between this request's read
    and its write: this request gets that row, not a unique-key error."""
    from intel.domain import preferences

    other = preferences.default_preference(world.contact, T0)
    other.cadence = "weekly"
    db.session.add(other)
    db.session.commit()
    real, reads = preferences.stored_preference, []

    def read_before_the_other_tab_stored_it(user):
        reads.append(user)
        return None if len(reads) == 1 else real(user)

    monkeypatch.setattr(preferences, "stored_preference", read_before_the_other_tab_stored_it)
    preference = preferences.preference_for(world.contact, T0)
    db.session.commit()
    assert preference.cadence == "weekly" and _preferences_stored() == 1


def test_preferences_are_saved_and_checked(as_user, world):
    client = as_user(world.contact)
    assert client.get("/portal/preferences").status_code == 200
    pref = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))
    assert pref.cadence == "daily" and pref.email == world.contact.email
    bad = client.post(
        "/portal/preferences",
        data={
            "email": "x@y.example",
            "cadence": "daily",
            "daily_at": "25:00",
            "weekly_day": "0",
            "min_severity": "low",
            "timezone": "Mars/Base",
        },
    )
    assert bad.status_code == 400
    ok = client.post(
        "/portal/preferences",
        data={
            "email": "hos@northwind.example",
            "cadence": "weekly",
            "daily_at": "06:30",
            "weekly_day": "4",
            "min_severity": "high",
            "timezone": "America/New_York",
            "all_quiet": "y",
        },
    )
    assert ok.status_code == 302
    db.session.refresh(pref)
    assert (
        pref.email,
        pref.cadence,
        pref.daily_at_minute,
        pref.weekly_day,
        pref.min_severity,
        pref.timezone,
        pref.all_quiet,
    ) == ("hos@northwind.example", "weekly", 390, 4, "high", "America/New_York", True)


def test_atom_feed_at_a_secret_revocable_url(app, as_user, world, published):
    client = as_user(world.contact)
    page = client.post("/portal/preferences/feed").get_data(as_text=True)
    url = re.search(r'<p class="token">([^<]+)</p>', page).group(1)
    path = url.split("localhost", 1)[1]
    anonymous = app.test_client()
    response = anonymous.get(path)
    assert response.status_code == 200 and response.content_type.startswith("application/atom+xml")
    parsed = feedparser.parse(response.data)
    assert [e.title for e in parsed.entries] == ["[high] March past the hotel"] or [
        e.title for e in parsed.entries
    ] == [f"[{published.severity}] March past the hotel"]
    assert "CONTOSO-ONLY" not in response.get_data(as_text=True)
    assert anonymous.get("/portal/feed/not-the-secret.atom").status_code == 404
    asked = client.post("/portal/preferences/feed/revoke")  # without confirmed: the question, nothing revoked
    assert asked.status_code == 200 and "Revoke the feed URL?" in asked.get_data(as_text=True)
    assert anonymous.get(path).status_code == 200
    client.post("/portal/preferences/feed/revoke", data={"confirmed": "1"})
    assert anonymous.get(path).status_code == 404


def test_unsubscribe_link_pauses_digests(app, world):
    anonymous = app.test_client()
    token = unsubscribe_token(world.contact.id)
    assert anonymous.get(f"/portal/unsubscribe/{token}").status_code == 200
    response = anonymous.post(f"/portal/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    pref = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))
    assert pref.paused
    assert anonymous.post("/portal/unsubscribe/forged-token").status_code == 404
    assert anonymous.post(f"/portal/unsubscribe/{unsubscribe_token(world.coordinator.id)}").status_code == 404


@pytest.fixture
def at_t0(time_machine):
    """The world's day: a preview only carries what is due around the details' dates."""
    time_machine.move_to(T0, tick=False)


def test_coordinator_previews_and_sends_a_digest(app, at_t0, as_user, world, published):
    client = as_user(world.coordinator)
    assert client.get("/intel/digests").status_code == 200
    preview = client.get(f"/intel/digests/{world.contact.id}/preview")
    assert preview.status_code == 200 and b"March past the hotel" in preview.data
    assert client.get(f"/intel/digests/{world.other_org_coordinator.id}/preview").status_code == 404
    rival = as_user(world.other_org_coordinator)
    assert rival.get(f"/intel/digests/{world.contact.id}/preview").status_code == 404


def test_watch_areas_page(as_user, world):
    client = as_user(world.coordinator)
    assert (
        client.post(
            f"/intel/clients/{world.client.id}/watch-areas", data={"place": "Qqxyzzy Nowhere", "radius_km": 10}
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/intel/clients/{world.client.id}/watch-areas",
            data={"place": "Paris, France", "name": "Paris office", "radius_km": 15},
        ).status_code
        == 302
    )
    assert (
        client.post(
            f"/intel/clients/{world.client.id}/watch-areas", data={"place": "France", "radius_km": 1}
        ).status_code
        == 302
    )
    areas = {a.name: a for a in db.session.scalars(sa.select(WatchArea))}
    assert areas["Paris office"].radius_m == 15_000 and areas["Paris office"].latitude == pytest.approx(48.85, abs=0.1)
    country = next(a for a in areas.values() if a.country_code)
    assert country.country_code == "FR" and country.latitude is None
    assert as_user(world.other_org_coordinator).get(f"/intel/clients/{world.client.id}/watch-areas").status_code == 404


# ---------------------------------------------------------------- readiness and schedule


def _code(world, letters):
    return db.session.scalar(
        sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id, StatusCode.code == letters)
    )


def _teammate(world, call_sign, report_at, site=None):
    """Another agent due at the hotel (or at `site`) for the world's detail."""
    user = User(organisation=world.org, email=f"{call_sign.replace(' ', '').lower()}@aegis.example", role="agent")
    user.name = f"Agent {call_sign}"
    agent = Agent(organisation=world.org, user=user, call_sign=call_sign)
    db.session.add_all([user, agent])
    world.detail.assignments.append(
        Assignment(
            agent=agent,
            role="agent",
            site=site or world.hotel,
            report_at=report_at,
            shift_starts_at=T0 - timedelta(hours=2),
            shift_ends_at=T0 + timedelta(hours=12),
        )
    )
    db.session.commit()
    return agent


def _send(world, agent, letters, at, eta=None):
    code, client_id = _code(world, letters), f"{letters}-{at.isoformat()}"
    record_status(agent, code, client_id=client_id, detail_id=world.detail.id, eta=eta, now=at)
    db.session.commit()


def _portal_text(as_user, world, url=None) -> str:
    response = as_user(world.contact).get(url or f"/portal/details/{world.detail.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_readiness_counts_each_agent_due_at_the_venue_by_their_current_code(as_user, world, time_machine):
    """The tester's morning: one agent had been on station and has since moved on, another's last code
    is duress. The client reads the counts of now, never "the team on station since" one past report,
    and nothing of the duress."""
    moved = world.agent  # due at the Grand Hotel at 07:30; the principal arrives at 08:00
    duress = _teammate(world, "Bravo 2", T0 - timedelta(minutes=45))
    settled = _teammate(world, "Bravo 3", T0 - timedelta(minutes=45))
    _teammate(world, "Bravo 4", T0 - timedelta(minutes=30))
    _send(world, moved, "OS", T0 - timedelta(minutes=80))
    _send(world, moved, "OM", T0 - timedelta(minutes=65), eta=T0 - timedelta(minutes=10))
    _send(world, duress, "OS", T0 - timedelta(minutes=75))
    _send(world, duress, "DUR", T0 - timedelta(minutes=70))
    _send(world, settled, "OS", T0 - timedelta(minutes=62))
    time_machine.move_to(T0 - timedelta(hours=1), tick=False)

    # The duress agent (due 07:15) reads like any agent not on station yet: "due", nothing more.
    line = "1 of 4 on station at Grand Hotel; 1 on the move, ETA 07:50 GMT; 2 due from 07:15 GMT"
    assert readiness_lines(world.detail, T0 - timedelta(hours=1)) == [line]
    for page in (_portal_text(as_user, world), _portal_text(as_user, world, "/portal")):
        assert line in page
        assert "since 06:40" not in page and "Team on station" not in page
        assert "uress" not in page and "DUR" not in page and "Bravo" not in page


def test_readiness_when_everyone_due_is_on_station(world):
    second = _teammate(world, "Bravo 2", T0 - timedelta(minutes=30))
    _send(world, world.agent, "OS", T0 - timedelta(minutes=50))
    _send(world, second, "OS", T0 - timedelta(minutes=40))
    _send(world, second, "HOT", T0 - timedelta(minutes=5))  # still there: on station since 07:20
    assert readiness_lines(world.detail, T0 - timedelta(minutes=1)) == [
        "2 of 2 on station at Grand Hotel since 07:20 GMT, 40 minutes before arrival"
    ]


def test_readiness_per_venue_in_each_venues_own_time(world):
    """Agents due at two venues are counted apart, each in its venue's zone, soonest report time first."""
    world.venue.timezone = "America/New_York"
    advance = _teammate(world, "Alpha 1", T0 + timedelta(minutes=90), site=world.venue)
    _send(world, world.agent, "OS", T0 - timedelta(minutes=40))
    assert readiness_lines(world.detail, T0 - timedelta(minutes=10)) == [
        "1 of 1 on station at Grand Hotel since 07:20 GMT, 40 minutes before arrival",
        "Team not yet on station at ExCeL London; report time 04:30 EST",
    ]
    # Once the principal has left the hotel for good, it is no longer part of the day's readiness.
    _send(world, advance, "OM", T0 + timedelta(hours=1), eta=T0 + timedelta(hours=1, minutes=20))
    assert readiness_lines(world.detail, T0 + timedelta(hours=2, minutes=5)) == [
        "0 of 1 on station at ExCeL London; 1 on the move"  # its ETA, 04:20 EST, has passed
    ]


def test_a_completed_detail_says_so(as_user, world, time_machine):
    _send(world, world.agent, "OS", T0 - timedelta(minutes=40))
    _send(world, world.agent, "CLR", T0 + timedelta(hours=11))
    time_machine.move_to(T0 + timedelta(hours=11, minutes=30), tick=False)
    board = as_user(world.coordinator)
    for before, after in (("planned", "hot"), ("hot", "complete")):
        if world.detail.state == before:
            move = {"state": after, "from_state": before, "confirmed": True}
            assert board.post(f"/board/details/{world.detail.id}/state", json=move).status_code == 200
            db.session.expire_all()
    page = _portal_text(as_user, world)
    assert "Detail complete: the team stood down at 19:30 GMT" in page
    assert "not yet on station" not in page and "on station at" not in page
    # A detail past its end but never marked complete says when it ended.
    world.detail.state = "planned"
    db.session.commit()
    assert readiness_lines(world.detail, T0 + timedelta(hours=12, minutes=5)) == ["The detail ended at 20:00 GMT"]


def test_the_schedule_is_one_list_in_time_order(as_user, world):
    """Visits and movements together: hotel, to the venue, the venue, back to the hotel, the hotel again."""
    world.detail.visits.append(
        Visit(site=world.venue, arrives_at=T0 + timedelta(hours=3), departs_at=T0 + timedelta(hours=5), purpose="Talk")
    )
    world.detail.movements.append(
        Movement(
            from_site=world.venue,
            to_site=world.hotel,
            departs_at=T0 + timedelta(hours=5),
            arrives_at=T0 + timedelta(hours=6),
        )
    )
    world.detail.visits.append(
        Visit(site=world.hotel, arrives_at=T0 + timedelta(hours=6), departs_at=T0 + timedelta(hours=9), purpose="Rest")
    )
    db.session.commit()
    page = _portal_text(as_user, world)
    schedule = page[page.index("<h2>Schedule</h2>") : page.index("<h2>Advisories</h2>")]
    starts = re.findall(r"<li>\w{3} \d\d \w{3} (\d\d:\d\d) GMT", schedule)
    assert starts == ["08:00", "10:00", "11:00", "13:00", "14:00"]
    assert "Grand Hotel → ExCeL London" in schedule and "ExCeL London (Talk)" in schedule


def test_a_stay_or_a_move_past_midnight_shows_the_day_it_ends(as_user, world):
    evening, next_morning = T0 + timedelta(hours=14), T0 + timedelta(hours=26)
    world.detail.visits.append(Visit(site=world.venue, arrives_at=evening, departs_at=next_morning, purpose="Gala"))
    world.detail.movements.append(
        Movement(
            from_site=world.venue,
            to_site=world.hotel,
            departs_at=T0 + timedelta(hours=26),
            arrives_at=T0 + timedelta(hours=26, minutes=30),
        )
    )
    world.detail.movements.append(
        Movement(
            from_site=world.hotel,
            to_site=world.venue,
            departs_at=T0 + timedelta(hours=15, minutes=40),
            arrives_at=T0 + timedelta(hours=16, minutes=20),
        )
    )
    db.session.commit()
    page = _portal_text(as_user, world)
    schedule = page[page.index("<h2>Schedule</h2>") : page.index("<h2>Advisories</h2>")]
    assert "Tue 24 Nov 22:00 GMT – Wed 25 Nov 10:00 GMT: ExCeL London (Gala)" in schedule
    assert "Tue 24 Nov 23:40 GMT: Grand Hotel → ExCeL London, arriving Wed 25 Nov 00:20 GMT" in schedule
    # within one day, the end's time alone
    assert "Tue 24 Nov 08:00 GMT – 10:00 GMT: Grand Hotel" in schedule
    assert "Wed 25 Nov 10:00 GMT: ExCeL London → Grand Hotel, arriving 10:30 GMT" in schedule
    # a move between zones: the arrival's day is compared with the day the departure was shown on
    departs, arrives = T0 + timedelta(hours=15, minutes=40), T0 + timedelta(hours=16, minutes=40)
    assert local_end(arrives, departs, "Europe/Paris", "Europe/London") == "Wed 25 Nov 01:40 CET"
    assert local_end(arrives, departs, "Europe/Paris") == "01:40 CET"


def test_a_duress_reads_like_any_other_code_off_station(world):
    """Nothing in the client's line changes because an agent's last code is a duress."""
    second = _teammate(world, "Bravo 2", T0 - timedelta(minutes=30))
    _send(world, second, "CLR", T0 - timedelta(minutes=70))
    cleared = readiness_lines(world.detail, T0 - timedelta(hours=1))
    _send(world, second, "DUR", T0 - timedelta(minutes=65))
    assert readiness_lines(world.detail, T0 - timedelta(hours=1)) == cleared
