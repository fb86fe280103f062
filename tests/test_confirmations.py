"""Changes a slip must not make: a detail's state, and deletions, are asked for first and made once.

What it guarantees
------------------
* A detail moves between states only by a move that names the state it leaves (go hot, complete,
  back to planned, reopen): the server changes nothing without `confirmed` (the coordinator pages
  answer with a confirmation page saying what will happen, the board's JSON with 428), and a second
  request for the same move (a double click, a retry) changes nothing and says so: two POSTs, one
  transition, one event, on the pages and on the board. Two requests racing each other in two
  threads move the detail once, on SQLite and PostgreSQL. The edit form no longer changes the state.
* Every danger button of the coordinator pages posts to a route that shows, on GET or on a POST
  without `confirmed`, a page saying what will happen, and deletes nothing until the POST carries it.
* The page's buttons carry what the dialog says (data-confirm-*), the same words as the server's page.
* Intel's danger buttons do the same: removing a watch area (coordinators) and revoking a contact's
  feed URL (the portal) ask on a page of their own without JavaScript, and change nothing until asked.
"""

import html
import re
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from detail.domain import lifecycle
from detail.extensions import db
from detail.models import (
    ActionItem,
    AfterAction,
    ApiToken,
    Detail,
    Device,
    Event,
    PersonOfInterest,
    Risk,
    Unavailability,
    User,
)
from detail.web.auth import issue_token

from .conftest import sign_in


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def state_events() -> list[Event]:
    return db.session.scalars(sa.select(Event).where(Event.kind == "detail_state").order_by(Event.id)).all()


@pytest.fixture
def coordinator(client, world):
    sign_in(client, world.coordinator)
    return client


# --- the detail's state, from the coordinator pages ---------------------------------------------------


def test_going_hot_unconfirmed_shows_what_will_happen_and_changes_nothing(coordinator, world):
    url = f"/admin/details/{world.detail.id}/state"
    for response in (
        coordinator.get(url, query_string={"to": "hot"}),
        coordinator.post(url, data={"to": "hot", "from_state": "planned"}),
    ):
        assert response.status_code == 200
        page = text(response)
        assert "Go hot: Northwind CEO London?" in page
        assert "the board starts timing reports" in page and "silent for more than 10 min" in page
        assert 'name="confirmed" value="1"' in page and 'name="from_state" value="planned"' in page
    db.session.refresh(world.detail)
    assert world.detail.state == "planned" and state_events() == []


def test_two_confirmed_posts_make_one_transition(coordinator, world):
    url = f"/admin/details/{world.detail.id}/state"
    body = {"to": "hot", "from_state": "planned", "confirmed": "1"}
    first = coordinator.post(url, data=body)
    second = coordinator.post(url, data=body, follow_redirects=True)
    assert first.status_code == 302
    assert "Nothing changed: the detail was already hot, not planned." in text(second)
    db.session.refresh(world.detail)
    assert world.detail.state == "hot"
    [event] = state_events()
    assert (event.payload["previous"], event.payload["state"], event.payload["by"]) == (
        "planned",
        "hot",
        world.coordinator.name,
    )


def test_complete_is_a_move_of_its_own_never_a_second_click_of_go_hot(coordinator, world):
    url = f"/admin/details/{world.detail.id}/state"
    coordinator.post(url, data={"to": "hot", "from_state": "planned", "confirmed": "1"})
    # The double click's second request is the same "go hot": it cannot complete the detail.
    coordinator.post(url, data={"to": "hot", "from_state": "planned", "confirmed": "1"})
    db.session.refresh(world.detail)
    assert world.detail.state == "hot"
    # A planned detail cannot be completed in one step either.
    world.detail.state = "planned"
    db.session.commit()
    response = coordinator.post(url, data={"to": "complete", "from_state": "planned", "confirmed": "1"})
    assert response.status_code == 302
    db.session.refresh(world.detail)
    assert world.detail.state == "planned"


@pytest.mark.parametrize(
    "start, to, label",
    [
        ("planned", "hot", "Go hot"),
        ("hot", "complete", "Complete"),
        ("hot", "planned", "Back to planned"),
        ("complete", "hot", "Reopen"),
    ],
)
def test_each_move_asks_and_then_moves(coordinator, world, start, to, label):
    world.detail.state = start
    db.session.commit()
    url = f"/admin/details/{world.detail.id}/state"
    asked = text(coordinator.get(url, query_string={"to": to}))
    assert f"{label}: Northwind CEO London?" in asked
    assert coordinator.post(url, data={"to": to, "from_state": start, "confirmed": "1"}).status_code == 302
    db.session.refresh(world.detail)
    assert world.detail.state == to


def test_the_edit_form_no_longer_changes_the_state(coordinator, world):
    response = coordinator.post(
        f"/admin/details/{world.detail.id}/edit",
        data={
            "name": "Northwind CEO London",
            "client_id": world.client.id,
            "principal_id": world.principal.id,
            "starts_at": "2026-11-24T08:00",
            "ends_at": "2026-11-24T20:00",
            "state": "complete",
        },
    )
    assert response.status_code == 302
    db.session.refresh(world.detail)
    assert world.detail.state == "planned" and state_events() == []


def test_the_state_controls_put_each_move_in_the_place_of_its_state(coordinator, world):
    def places(page: str) -> dict[str, str]:
        steps = re.findall(r'<div class="step step-(\w+)">(.*?)</div>\s*(?=<div class="step|</div>)', page, re.S)
        return {
            state: ("button:" + re.search(r"<button[^>]*>([^<]+)</button>", inner).group(1))
            if "<button" in inner
            else ("now" if "aria-current" in inner else "-")
            for state, inner in steps
        }

    page = coordinator.get(f"/admin/details/{world.detail.id}").get_data(as_text=True)
    assert places(page) == {"planned": "now", "hot": "button:Go hot", "complete": "-"}
    coordinator.post(
        f"/admin/details/{world.detail.id}/state", data={"to": "hot", "from_state": "planned", "confirmed": "1"}
    )
    page = coordinator.get(f"/admin/details/{world.detail.id}").get_data(as_text=True)
    # Where Go hot was, the new state; Complete is in a place of its own.
    assert places(page) == {"planned": "button:Back to planned", "hot": "now", "complete": "button:Complete"}
    assert 'data-confirm-title="Complete: Northwind CEO London?"' in page


# --- the detail's state, from the board and the phone (JSON) -----------------------------------------


def test_the_board_needs_the_state_it_moves_from_and_a_confirmation(coordinator, world):
    url = f"/board/details/{world.detail.id}/state"
    unconfirmed = coordinator.post(url, json={"state": "hot", "from_state": "planned"})
    assert unconfirmed.status_code == 428 and "confirm" in unconfirmed.json["message"]
    no_from = coordinator.post(url, json={"state": "hot", "confirmed": True})
    assert no_from.status_code == 422 and "from_state" in no_from.json["message"]
    skipping = coordinator.post(url, json={"state": "complete", "from_state": "planned", "confirmed": True})
    assert skipping.status_code == 422 and "cannot go from planned to complete" in skipping.json["message"]
    db.session.refresh(world.detail)
    assert world.detail.state == "planned" and state_events() == []


def test_a_double_click_on_the_board_moves_the_detail_once(coordinator, world):
    url = f"/board/details/{world.detail.id}/state"
    body = {"state": "hot", "from_state": "planned", "confirmed": True}
    first, second = coordinator.post(url, json=body), coordinator.post(url, json=body)
    assert first.status_code == 200 and first.json == {"id": world.detail.id, "state": "hot", "changed": True}
    assert second.status_code == 409
    assert second.json["message"] == "nothing changed: the detail is already hot, not planned"
    assert second.json["state"] == "hot"
    assert len(state_events()) == 1


def test_the_lead_moves_the_detail_from_the_phone_once(client, world):
    sign_in(client, world.agent_user)  # the detail's lead
    url = f"/board/details/{world.detail.id}/state"
    body = {"state": "hot", "from_state": "planned", "confirmed": True}
    assert [client.post(url, json=body).status_code for _ in range(2)] == [200, 409]
    assert len(state_events()) == 1
    page = client.get("/phone/").get_data(as_text=True)
    assert '"label": "Complete"' in page  # the phone's dialog says what each move does


def test_racing_requests_move_the_detail_once(backend):
    """Two requests at once, each in its own thread, app context and connection: one moves the detail."""
    w = backend
    app = current_app._get_current_object()
    detail_id, user_id = w.detail.id, w.coordinator.id
    barrier = threading.Barrier(2)
    moved, failures = [], []

    def go_hot():
        try:
            with app.app_context():
                detail, user = db.session.get(Detail, detail_id), db.session.get(User, user_id)
                barrier.wait()
                event = lifecycle.change_state(detail, "planned", "hot", user)
                db.session.commit()
                moved.append(event is not None)
        except Exception as exc:  # reported below: an exception in a thread would be lost
            failures.append(exc)
            barrier.abort()  # the other thread stops waiting

    threads = [threading.Thread(target=go_hot) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(moved) == [False, True]
    db.session.expire_all()
    assert db.session.get(Detail, detail_id).state == "hot"
    assert len(state_events()) == 1


# --- deletions ask first, on a page of their own when the page's dialog could not ---------------------


def _rows(world):
    """A row behind each danger button of the coordinator pages: {name: (url, row to find again)}."""
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(issue_token(world.agent_user, "laptop")))
    )
    device = Device(organisation_id=world.org.id, agent=world.agent, kind="device", identifier="traccar-1")
    leave = Unavailability(
        agent=world.agent,
        kind="leave",
        starts_at=world.detail.ends_at,
        ends_at=world.detail.ends_at + timedelta(days=1),
    )
    risk = Risk(client=world.client, title="Hostile ex-employee", likelihood=2, impact=4, review_on=date(2026, 12, 1))
    person = PersonOfInterest(client=world.client, name="Victor Vane", assessment="elevated")
    item = ActionItem(
        after_action=AfterAction(detail=world.detail), text="Add the loading bay", due_on=date(2026, 12, 1)
    )
    world.agent.calendar_token_hash = "x" * 64
    db.session.add_all([device, leave, risk, person, item])
    db.session.commit()
    d = world.detail
    return {
        "visit": (f"/admin/details/{d.id}/visits/{d.visits[0].id}/delete", "Remove the visit to Grand Hotel"),
        "movement": (
            f"/admin/details/{d.id}/movements/{d.movements[0].id}/delete",
            "Remove the movement Grand Hotel → ExCeL London",
        ),
        "assignment": (
            f"/admin/details/{d.id}/assignments/{world.assignment.id}/delete",
            "Remove Bravo 1's assignment as Detail lead?",
        ),
        "token": (f"/admin/tokens/{token.id}/revoke", "Revoke the token laptop of Sam Carter?"),
        "device": (f"/admin/devices/{device.id}/unbind", "Unbind traccar-1 from Bravo 1?"),
        "calendar": (f"/admin/agents/{world.agent.id}/calendar/revoke", "Revoke the calendar link of Bravo 1?"),
        "new calendar": (f"/admin/agents/{world.agent.id}/calendar", "Issue a new calendar link for Bravo 1?"),
        "leave": (f"/admin/agents/{world.agent.id}/availability/{leave.id}/delete", "Remove Bravo 1's leave"),
        "risk": (f"/admin/risks/{risk.id}/delete", "Delete the risk “Hostile ex-employee”?"),
        "person": (f"/admin/persons/{person.id}/delete", "Delete the file on Victor Vane?"),
        "action item": (f"/admin/after-action/items/{item.id}/delete", "Remove the action item “Add the loading bay”?"),
    }


def _snapshot():
    return (
        [t.revoked_at for t in db.session.scalars(sa.select(ApiToken))],
        *(
            db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (Device, Unavailability, Risk, PersonOfInterest, ActionItem)
        ),
    )


KINDS = [
    "visit",
    "movement",
    "assignment",
    "token",
    "device",
    "calendar",
    "new calendar",
    "leave",
    "risk",
    "person",
    "action item",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_deletion_unconfirmed_is_a_question_and_changes_nothing(coordinator, world, kind):
    url, question = _rows(world)[kind]
    before = (
        _snapshot(),
        len(world.detail.visits),
        len(world.detail.movements),
        len(world.detail.assignments),
        world.agent.calendar_token_hash,
    )
    for response in (coordinator.get(url), coordinator.post(url), coordinator.post(url, data={"confirmed": ""})):
        assert response.status_code == 200
        page = text(response)
        assert question in page, page
        assert 'name="confirmed" value="1"' in page and ">Cancel</a>" in page
    db.session.expire_all()
    after = (
        _snapshot(),
        len(world.detail.visits),
        len(world.detail.movements),
        len(world.detail.assignments),
        world.agent.calendar_token_hash,
    )
    assert after == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_deletion_confirmed_is_made(coordinator, world, kind):
    url, _ = _rows(world)[kind]
    before = (
        _snapshot(),
        len(world.detail.visits),
        len(world.detail.movements),
        len(world.detail.assignments),
        world.agent.calendar_token_hash,
    )
    response = coordinator.post(url, data={"confirmed": "1"})
    assert response.status_code in (201, 302)
    db.session.expire_all()
    after = (
        _snapshot(),
        len(world.detail.visits),
        len(world.detail.movements),
        len(world.detail.assignments),
        world.agent.calendar_token_hash,
    )
    assert after != before


def test_the_buttons_carry_the_same_question_as_the_server(coordinator, world):
    rows = _rows(world)
    pages = {
        "detail": coordinator.get(f"/admin/details/{world.detail.id}"),
        "tokens": coordinator.get("/admin/tokens"),
        "devices": coordinator.get("/admin/devices"),
        "availability": coordinator.get(f"/admin/agents/{world.agent.id}/availability"),
        "risks": coordinator.get("/admin/risks"),
        "persons": coordinator.get("/admin/persons"),
        "after-action": coordinator.get(f"/admin/details/{world.detail.id}/after-action"),
    }
    buttons = {}
    for response in pages.values():
        for action, title in re.findall(
            r'<form class="inline" method="post" action="([^"]+)" data-once data-confirm-title="([^"]+)"',
            response.get_data(as_text=True),
        ):
            buttons[action] = html.unescape(title)
    for kind, (url, question) in rows.items():
        assert url in buttons, f"{kind}: no button that asks"
        asked = text(coordinator.get(url))
        assert buttons[url] in asked and question in buttons[url], kind


# --- intel's danger buttons ----------------------------------------------------------------------


def _intel_buttons(client, world):
    """{name: (url, question, page with the button, read the row's state, user)} for intel's danger buttons."""
    from detail.models import utcnow
    from intel.domain.preferences import preference_for
    from intel.models import ContactPreference, WatchArea

    area = WatchArea(client_id=world.client.id, name="Canary Wharf", latitude=51.505, longitude=-0.0235)
    preference_for(world.contact, utcnow()).feed_token_hash = "f" * 64
    db.session.add(area)
    db.session.commit()
    area_id = area.id

    def area_kept():
        return db.session.get(WatchArea, area_id) is not None

    def feed_kept():
        pref = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))
        return pref.feed_token_hash is not None

    return {
        "watch area": (
            f"/intel/clients/{world.client.id}/watch-areas/{area_id}/delete",
            "Stop watching Canary Wharf?",
            f"/intel/clients/{world.client.id}/watch-areas",
            area_kept,
            world.coordinator,
        ),
        "feed URL": (
            "/portal/preferences/feed/revoke",
            "Revoke the feed URL?",
            "/portal/preferences",
            feed_kept,
            world.contact,
        ),
    }


@pytest.mark.parametrize("kind", ["watch area", "feed URL"])
def test_intels_danger_buttons_ask_first_without_javascript_too(client, world, kind):
    url, question, page_url, kept, user = _intel_buttons(client, world)[kind]
    sign_in(client, user)
    for response in (client.get(url), client.post(url), client.post(url, data={"confirmed": ""})):
        assert response.status_code == 200
        page = text(response)
        assert question in page and 'name="confirmed" value="1"' in page and ">Cancel</a>" in page
        db.session.expire_all()
        assert kept()
    # The page's button asks the same question in its dialog.
    buttons = dict(
        re.findall(
            r'<form class="inline" method="post" action="([^"]+)" data-once data-confirm-title="([^"]+)"',
            client.get(page_url).get_data(as_text=True),
        )
    )
    assert html.unescape(buttons[url]) == question
    response = client.post(url, data={"confirmed": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert not kept()


def test_a_new_feed_url_asks_before_it_kills_the_old_one(client, world):
    """Replacing the portal's feed URL ends the one the contact's reader uses: the page's button asks in
    its dialog, and a POST without confirmed (no JavaScript) gets the server's question and changes
    nothing. The first URL, which replaces nothing, is made at once."""
    from intel.models import ContactPreference

    sign_in(client, world.contact)

    def stored():
        db.session.expire_all()
        pref = db.session.scalar(sa.select(ContactPreference).where(ContactPreference.user_id == world.contact.id))
        return pref.feed_token_hash if pref else None

    first = client.post("/portal/preferences/feed")
    assert first.status_code == 200 and '<p class="token">' in text(first)
    old = stored()
    assert old is not None

    page = text(client.get("/portal/preferences"))
    question = "Replace the feed URL?"
    buttons = dict(
        re.findall(r'<form class="inline" method="post" action="([^"]+)" data-once data-confirm-title="([^"]+)"', page)
    )
    assert buttons["/portal/preferences/feed"] == question
    for response in (
        client.get("/portal/preferences/feed"),
        client.post("/portal/preferences/feed"),
        client.post("/portal/preferences/feed", data={"confirmed": ""}),
    ):
        assert response.status_code == 200
        asked = text(response)
        assert question in asked and "stops working at once" in asked
        assert 'name="confirmed" value="1"' in asked and ">Cancel</a>" in asked and '<p class="token">' not in asked
        assert stored() == old

    response = client.post("/portal/preferences/feed", data={"confirmed": "1"})
    assert response.status_code == 200 and '<p class="token">' in text(response)
    assert stored() not in (None, old)
