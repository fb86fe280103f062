"""Removing a visit, movement or assignment, and undoing it for a short while.

What it guarantees
------------------
* Removing a visit removes the movements that touch it (the one that brings the principal there and
  the one that takes the principal away), never a movement with another venue in between; the
  question before it names them.
* What was removed is gone for every reader at once (the detail page, the board, the phone, the API),
  and is on the detail's timeline (itinerary_removed).
* The coordinator who removed it sees a notice with Undo on the detail page for UNDO_WINDOW; Undo
  puts every removed row back with its values, once (a second Undo, or two at once, restores
  nothing more), records itinerary_restored, and the readers see the rows again.
* After the window Undo is refused and restores nothing; an Undo that no longer fits the plan (the
  detail has a new lead) is refused with the reason and can be tried again.
"""

import html
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from detail.domain import removals
from detail.extensions import db
from detail.models import Assignment, Detail, Event, Movement, Removal, Site, User, Visit, utcnow

from .conftest import sign_in


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def savoy_day(world):
    """LCY 08:00–09:00, LCY → The Savoy 09:00–09:40, The Savoy 10:00–12:00, The Savoy → Grand Hotel 12:00–12:30,
    Grand Hotel 12:30–14:00: the world's hotel visit and movement moved to the afternoon."""
    d = world.detail
    day = d.starts_at.replace(hour=0)
    lcy = Site(organisation=world.org, name="LCY", latitude=51.5048, longitude=0.0495, timezone="Europe/London")
    savoy = Site(
        organisation=world.org, name="The Savoy", latitude=51.5101, longitude=-0.1204, timezone="Europe/London"
    )
    db.session.add_all([lcy, savoy])
    d.visits[0].arrives_at, d.visits[0].departs_at = day + timedelta(hours=12, minutes=30), day + timedelta(hours=14)
    d.movements[0].departs_at, d.movements[0].arrives_at = day + timedelta(hours=14), day + timedelta(hours=15)
    d.visits.append(Visit(site=lcy, arrives_at=day + timedelta(hours=8), departs_at=day + timedelta(hours=9)))
    d.visits.append(
        Visit(site=savoy, arrives_at=day + timedelta(hours=10), departs_at=day + timedelta(hours=12), purpose="Lunch")
    )
    d.movements.append(
        Movement(
            from_site=lcy,
            to_site=savoy,
            departs_at=day + timedelta(hours=9),
            arrives_at=day + timedelta(minutes=580),
            notes="Rear door",
        )
    )
    d.movements.append(
        Movement(
            from_site=savoy,
            to_site=world.hotel,
            departs_at=day + timedelta(hours=12),
            arrives_at=day + timedelta(hours=12, minutes=30),
        )
    )
    db.session.commit()
    return {v.site.name: v for v in d.visits}


@pytest.fixture
def coordinator(client, world):
    sign_in(client, world.coordinator)
    return client


def _names(movements) -> list[str]:
    return sorted(f"{m.from_site.name} → {m.to_site.name}" for m in movements)


# --- which movements go with a visit -----------------------------------------------------------------


def test_a_visit_takes_the_movements_that_bring_and_take_the_principal(world, savoy_day):
    touching = removals.movements_touching(savoy_day["The Savoy"])
    assert sorted((f"{m.from_site.name} → {m.to_site.name}", how) for m, how in touching) == [
        ("LCY → The Savoy", "arrives"),
        ("The Savoy → Grand Hotel", "leaves"),
    ]
    assert removals.visit_consequences(savoy_day["The Savoy"]) == [
        "The movement LCY → The Savoy that arrives there will be removed too.",
        "The movement The Savoy → Grand Hotel that leaves from there will be removed too.",
    ]
    # The first visit has no movement bringing the principal; the last none taking the principal away.
    assert [(how) for _, how in removals.movements_touching(savoy_day["LCY"])] == ["leaves"]


def test_a_movement_with_another_venue_in_between_is_not_the_visits(world, savoy_day):
    # Grand Hotel's visit is 12:30–14:00; a movement to the hotel the day before, followed by one
    # away from it, brought the principal to another stay: it is not this visit's.
    d = world.detail
    yesterday = savoy_day["LCY"].arrives_at - timedelta(days=1)
    d.movements.append(
        Movement(
            from_site=savoy_day["LCY"].site,
            to_site=world.hotel,
            departs_at=yesterday,
            arrives_at=yesterday + timedelta(hours=1),
        )
    )
    d.movements.append(
        Movement(
            from_site=world.hotel,
            to_site=savoy_day["LCY"].site,
            departs_at=yesterday + timedelta(hours=3),
            arrives_at=yesterday + timedelta(hours=4),
        )
    )
    db.session.commit()
    touching = removals.movements_touching(savoy_day["Grand Hotel"])
    assert _names(m for m, _ in touching) == ["Grand Hotel → ExCeL London", "The Savoy → Grand Hotel"]


def test_the_question_names_the_visit_and_its_movements(coordinator, world, savoy_day):
    visit = savoy_day["The Savoy"]
    page = text(coordinator.get(f"/admin/details/{world.detail.id}/visits/{visit.id}/delete"))
    assert "Remove the visit to The Savoy (Tue 10:00–12:00 GMT)?" in page
    assert "The movement LCY → The Savoy that arrives there will be removed too." in page
    assert "The movement The Savoy → Grand Hotel that leaves from there will be removed too." in page
    assert "You can undo this for 30 seconds." in page


def test_the_names_of_removals_carry_their_zone_labels(world, savoy_day):
    """The question, the undo notice, the flash after Undo and the timeline all print the summary: each
    time in it carries its venue's zone label, both ends' when the ends are in different zones."""
    assert removals.visit_name(savoy_day["The Savoy"]) == "the visit to The Savoy (Tue 10:00–12:00 GMT)"
    lcy_savoy = next(m for m in world.detail.movements if m.to_site.name == "The Savoy")
    assert removals.movement_name(lcy_savoy) == "the movement LCY → The Savoy (Tue 09:00–09:40 GMT)"
    paris = Site(organisation=world.org, name="Gare du Nord", latitude=48.88, longitude=2.355, timezone="Europe/Paris")
    lcy_savoy.to_site = paris
    assert removals.movement_name(lcy_savoy) == "the movement LCY → Gare du Nord (Tue 09:00 GMT–10:40 CET)"
    # A stay past midnight names the day it ends, and still says its zone once.
    savoy = savoy_day["The Savoy"]
    savoy.departs_at = savoy.arrives_at + timedelta(hours=16)
    assert removals.visit_name(savoy) == "the visit to The Savoy (Tue 10:00–Wed 02:00 GMT)"


# --- remove, see it gone everywhere, undo -------------------------------------------------------------


def _readers(client, world) -> dict:
    d = world.detail
    board = client.get(f"/board/details/{d.id}/state").json["detail"]
    seen = {
        "page": text(client.get(f"/admin/details/{d.id}")),
        "board venues": sorted(s["name"] for s in board["sites"]),
        "board movements": len(board["movements"]),
        "board agents": [a["call_sign"] for a in board["agents"]],
    }
    return seen


def test_removing_a_visit_removes_its_movements_and_undo_puts_them_all_back(coordinator, world, savoy_day):
    d = world.detail
    visit = savoy_day["The Savoy"]
    kept = {(m.from_site_id, m.to_site_id, m.departs_at, m.arrives_at, m.notes) for m in d.movements}
    before = _readers(coordinator, world)
    assert "The Savoy" in before["board venues"] and before["board movements"] == 3

    response = coordinator.post(f"/admin/details/{d.id}/visits/{visit.id}/delete", data={"confirmed": "1"})
    assert response.status_code == 302
    assert (count(Visit), count(Movement)) == (3, 1)  # the other organisation's visit, and Grand Hotel → ExCeL
    after = _readers(coordinator, world)
    assert "The Savoy" not in after["board venues"] and after["board movements"] == 1
    removed_text = (
        "Removed the visit to The Savoy (Tue 10:00–12:00 GMT) and the movement LCY → The Savoy (Tue 09:00–09:40 GMT)"
    )
    assert removed_text in after["page"]
    assert ">Undo</button>" in after["page"]
    [removed] = db.session.scalars(sa.select(Event).where(Event.kind == "itinerary_removed")).all()
    assert removed.detail_id == d.id and removed.payload["by"] == world.coordinator.name

    removal = db.session.scalars(sa.select(Removal)).one()
    response = coordinator.post(f"/admin/details/{d.id}/removals/{removal.id}/undo", follow_redirects=True)
    assert "Put back the visit to The Savoy" in text(response)
    db.session.expire_all()
    restored = db.session.scalars(sa.select(Visit).where(Visit.site_id == visit.site_id)).one()
    assert (restored.arrives_at, restored.departs_at, restored.purpose) == (visit.arrives_at, visit.departs_at, "Lunch")
    assert {(m.from_site_id, m.to_site_id, m.departs_at, m.arrives_at, m.notes) for m in d.movements} == kept
    assert _readers(coordinator, world)["board venues"] == before["board venues"]
    assert ">Undo</button>" not in text(coordinator.get(f"/admin/details/{d.id}"))
    assert db.session.scalars(sa.select(Event.kind).where(Event.kind.like("itinerary_%")).order_by(Event.id)).all() == [
        "itinerary_removed",
        "itinerary_restored",
    ]


def test_undo_happens_once(coordinator, world):
    d = world.detail
    coordinator.post(f"/admin/details/{d.id}/movements/{d.movements[0].id}/delete", data={"confirmed": "1"})
    removal = db.session.scalars(sa.select(Removal)).one()
    url = f"/admin/details/{d.id}/removals/{removal.id}/undo"
    coordinator.post(url)
    second = coordinator.post(url, follow_redirects=True)
    assert "was already put back" in text(second)
    assert count(Movement) == 1
    assert db.session.scalar(sa.select(sa.func.count()).where(Event.kind == "itinerary_restored")) == 1


def test_removing_an_assignment_takes_the_agent_off_everywhere_until_undone(client, world, time_machine):
    d = world.detail
    time_machine.move_to(d.starts_at - timedelta(hours=2), tick=False)  # the phone lists what is to come
    sign_in(client, world.agent_user)
    assert [a["detail_id"] for a in client.get("/phone/state").json["assignments"]] == [d.id]
    sign_in(client, world.coordinator)
    client.post(f"/admin/details/{d.id}/assignments/{world.assignment.id}/delete", data={"confirmed": "1"})
    assert _readers(client, world)["board agents"] == []
    removal = db.session.scalars(sa.select(Removal)).one()
    sign_in(client, world.agent_user)
    assert client.get("/phone/state").json["assignments"] == []
    sign_in(client, world.coordinator)
    client.post(f"/admin/details/{d.id}/removals/{removal.id}/undo")
    assert _readers(client, world)["board agents"] == ["Bravo 1"]
    restored = db.session.scalars(sa.select(Assignment)).one()
    assert (restored.role, restored.site_id, restored.report_at) == (
        "detail_lead",
        world.hotel.id,
        world.assignment.report_at,
    )


def test_after_the_window_undo_is_refused(coordinator, world, time_machine):
    d = world.detail
    time_machine.move_to(utcnow(), tick=False)
    coordinator.post(f"/admin/details/{d.id}/visits/{d.visits[0].id}/delete", data={"confirmed": "1"})
    removal = db.session.scalars(sa.select(Removal)).one()
    time_machine.shift(removals.UNDO_WINDOW + timedelta(seconds=1))
    page = text(coordinator.get(f"/admin/details/{d.id}"))
    assert ">Undo</button>" not in page
    response = coordinator.post(f"/admin/details/{d.id}/removals/{removal.id}/undo", follow_redirects=True)
    assert "Too late to undo" in text(response)
    assert (count(Visit), count(Movement)) == (1, 0)  # only the other organisation's visit


def test_an_undo_that_no_longer_fits_is_refused_and_can_be_tried_again(coordinator, world):
    d, a = world.detail, world.assignment
    times = {"report_at": a.report_at, "shift_starts_at": a.shift_starts_at, "shift_ends_at": a.shift_ends_at}
    coordinator.post(f"/admin/details/{d.id}/assignments/{a.id}/delete", data={"confirmed": "1"})
    removal = db.session.scalars(sa.select(Removal)).one()
    new_lead = Assignment(detail=d, agent=world.idle_agent_user.agent, role="detail_lead", **times)
    db.session.add(new_lead)
    db.session.commit()
    response = coordinator.post(f"/admin/details/{d.id}/removals/{removal.id}/undo", follow_redirects=True)
    assert "Could not put it back: the detail already has a lead (Bravo 9)" in text(response)
    assert count(Assignment) == 1
    db.session.delete(new_lead)
    db.session.commit()
    coordinator.post(f"/admin/details/{d.id}/removals/{removal.id}/undo")
    assert [x.agent.call_sign for x in db.session.scalars(sa.select(Assignment))] == ["Bravo 1"]


def test_only_the_remover_is_offered_undo_and_outsiders_cannot_undo(client, world):
    d = world.detail
    sign_in(client, world.coordinator)
    client.post(f"/admin/details/{d.id}/visits/{d.visits[0].id}/delete", data={"confirmed": "1"})
    removal = db.session.scalars(sa.select(Removal)).one()
    sign_in(client, world.admin)
    assert ">Undo</button>" not in text(client.get(f"/admin/details/{d.id}"))
    sign_in(client, world.other_org_coordinator)
    assert client.post(f"/admin/details/{d.id}/removals/{removal.id}/undo").status_code == 404
    other = world.other_client_detail.id
    sign_in(client, world.coordinator)
    assert client.post(f"/admin/details/{other}/removals/{removal.id}/undo").status_code == 404
    assert count(Visit) == 1


def test_racing_undos_restore_once(backend):
    """Two Undo clicks at once, each in its own thread and connection: the rows come back once."""
    w = backend
    d = w.detail
    removal, _ = removals.remove_visit(d.visits[0], w.coordinator)
    db.session.commit()
    app = current_app._get_current_object()
    detail_id, removal_id, user_id = d.id, removal.id, w.coordinator.id
    barrier = threading.Barrier(2)
    outcomes, failures = [], []

    def undo():
        try:
            with app.app_context():
                row, user = db.session.get(Removal, removal_id), db.session.get(User, user_id)
                barrier.wait()
                try:
                    removals.undo(row, user)
                    db.session.commit()
                    outcomes.append("restored")
                except removals.CannotUndo:
                    db.session.rollback()
                    outcomes.append("refused")
        except Exception as exc:  # reported below: an exception in a thread would be lost
            failures.append(exc)
            barrier.abort()  # the other thread stops waiting

    threads = [threading.Thread(target=undo) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(outcomes) == ["refused", "restored"]
    db.session.expire_all()
    detail = db.session.get(Detail, detail_id)
    assert (len(detail.visits), len(detail.movements)) == (1, 1)
