"""Advance and site surveys: filled in by the detail's agents, reviewed by the detail lead, copied from the
venue's last survey, routes timed at the movement's time of day, photos; the team sees them on the phone
and the board, clients only a summary a coordinator shares."""

import io
from datetime import timedelta

import sqlalchemy as sa

from detail.domain.board_state import detail_board
from detail.extensions import db
from detail.models import Assignment, Detail, Event, Survey, SurveyPhoto, Visit

from .conftest import T0, sign_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _advance(world) -> None:
    """The idle agent works world.detail as its advance agent (world.agent_user is the lead)."""
    db.session.add(
        Assignment(
            detail=world.detail,
            agent=world.idle_agent_user.agent,
            role="advance",
            site=world.hotel,
            report_at=T0 - timedelta(hours=3),
            shift_starts_at=T0 - timedelta(hours=4),
            shift_ends_at=T0 + timedelta(hours=8),
        )
    )
    db.session.commit()


def _form(**changes) -> dict:
    form = {
        "venue_contact": "Ana Duty Manager +44 20 7946 0000",
        "arrival_primary": "Main entrance, Piccadilly",
        "safe_room": "Suite 12, 4th floor",
        "hospital_name": "St Thomas'",
        "hospital_minutes": "12",
        "police_minutes": "",
        "radio_channel": "Ch 4",
        "action": "save",
    }
    form.update(changes)
    return form


def _start(client, world) -> Survey:
    r = client.post(f"/surveys/details/{world.detail.id}/sites/{world.hotel.id}/start")
    assert r.status_code == 302
    return db.session.scalar(sa.select(Survey).where(Survey.detail_id == world.detail.id))


def test_the_advance_agent_fills_in_and_submits_and_the_lead_approves(client, world, time_machine):
    time_machine.move_to(T0 - timedelta(hours=2), tick=False)
    _advance(world)
    sign_in(client, world.idle_agent_user)
    assert client.get(f"/surveys/details/{world.detail.id}").status_code == 200
    survey = _start(client, world)
    assert survey.status == "draft" and survey.author_id == world.idle_agent_user.id
    route = f"route-{world.venue.id}-"
    r = client.post(
        f"/surveys/{survey.id}",
        data=_form(
            **{
                route + "primary_route": "Piccadilly, Haymarket",
                route + "primary_minutes": "9",
                route + "measured_at": "2026-11-24T05:55",
            }
        ),
    )
    assert r.status_code == 302
    db.session.expire_all()
    assert (survey.safe_room, survey.hospital_minutes, survey.police_minutes) == ("Suite 12, 4th floor", 12, None)
    assert [(x.to_site_id, x.primary_minutes, x.measured_at) for x in survey.routes] == [
        (world.venue.id, 9, T0 - timedelta(hours=2, minutes=5))
    ]
    assert client.post(f"/surveys/{survey.id}", data=_form(action="submit")).status_code == 302
    db.session.expire_all()
    assert survey.status == "submitted"
    # The advance agent is not the lead: he cannot approve his own work.
    assert client.post(f"/surveys/{survey.id}/review", data={"action": "approve"}).status_code == 403

    sign_in(client, world.agent_user)  # the lead
    r = client.post(f"/surveys/{survey.id}/review", data={"action": "return", "note": ""})
    assert r.status_code == 400 and "Say what needs doing" in r.get_data(as_text=True)
    assert client.post(f"/surveys/{survey.id}/review", data={"action": "approve", "note": "Good"}).status_code == 302
    db.session.expire_all()
    assert (survey.status, survey.reviewed_by_id) == ("approved", world.agent_user.id)
    kinds = db.session.scalars(sa.select(Event.payload).where(Event.kind == "survey").order_by(Event.id)).all()
    assert [p["status"] for p in kinds] == ["submitted", "approved"]

    # Approved: read-only for the team, shown on their phones and on the board.
    sign_in(client, world.idle_agent_user)
    assert client.post(f"/surveys/{survey.id}", data=_form(safe_room="changed")).status_code == 403
    row = next(a for a in client.get("/phone/state").json["assignments"] if a["detail_id"] == world.detail.id)
    assert row["surveys"][0]["status"] == "approved" and row["surveys"][0]["safe_room"] == "Suite 12, 4th floor"
    board = detail_board(world.detail)
    assert {s["site"]: s["status"] for s in board["surveys"]} == {
        world.hotel.name: "approved",
        world.venue.name: "none",
    }


def test_bad_values_are_refused_and_nothing_is_saved(client, world):
    sign_in(client, world.agent_user)
    survey = _start(client, world)
    r = client.post(f"/surveys/{survey.id}", data=_form(hospital_minutes="twelve", safe_room="Changed"))
    assert r.status_code == 400 and "give whole minutes" in r.get_data(as_text=True)
    r = client.post(f"/surveys/{survey.id}", data=_form(radio_channel="x" * 400))
    assert r.status_code == 400 and "at most 300 characters" in r.get_data(as_text=True)
    r = client.post(f"/surveys/{survey.id}", data=_form(**{f"route-{world.venue.id}-measured_at": "yesterday"}))
    assert r.status_code == 400 and "give a date and time" in r.get_data(as_text=True)
    db.session.expire_all()
    assert survey.safe_room == ""


def test_a_new_survey_starts_from_the_venues_last_one(client, world):
    earlier = Detail(
        client=world.client, name="Earlier visit", starts_at=T0 - timedelta(days=60), ends_at=T0 - timedelta(days=59)
    )
    db.session.add(earlier)
    db.session.add(Visit(detail=earlier, site=world.hotel, arrives_at=earlier.starts_at, departs_at=earlier.ends_at))
    old = Survey(detail=earlier, site=world.hotel, safe_room="Suite 9", fire_exits="Stairs A and C", status="approved")
    db.session.add(old)
    db.session.commit()
    sign_in(client, world.coordinator)
    page = client.get(f"/surveys/details/{world.detail.id}").get_data(as_text=True)
    assert "copies the last one of this venue (Earlier visit" in page
    survey = _start(client, world)
    assert (survey.safe_room, survey.fire_exits, survey.status, survey.copied_from_id) == (
        "Suite 9",
        "Stairs A and C",
        "draft",
        old.id,
    )


def test_travel_times_measured_at_another_time_of_day_are_flagged(client, world):
    sign_in(client, world.agent_user)
    survey = _start(client, world)
    field = f"route-{world.venue.id}-measured_at"  # the movement leaves the hotel at 10:00 London
    client.post(
        f"/surveys/{survey.id}",
        data=_form(**{field: "2026-11-20T15:00", f"route-{world.venue.id}-primary_minutes": "8"}),
    )
    page = client.get(f"/surveys/{survey.id}").get_data(as_text=True)
    assert "measured at 15:00 GMT, but the movement leaves at 10:00 GMT: measure again at that time of day" in page
    client.post(
        f"/surveys/{survey.id}",
        data=_form(**{field: "2026-11-20T09:40", f"route-{world.venue.id}-primary_minutes": "8"}),
    )
    assert "measure again" not in client.get(f"/surveys/{survey.id}").get_data(as_text=True)


def test_photos_are_checked_and_served_to_the_team_only(client, world):
    sign_in(client, world.agent_user)
    survey = _start(client, world)
    r = client.post(f"/surveys/{survey.id}/photos", data={"photo": (io.BytesIO(b"not an image"), "x.jpg")})
    assert r.status_code == 400 and "Only JPEG and PNG" in r.get_data(as_text=True)
    r = client.post(
        f"/surveys/{survey.id}/photos",
        data={"photo": (io.BytesIO(PNG), "door.png"), "caption": "Side door"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    photo = db.session.scalar(sa.select(SurveyPhoto))
    served = client.get(f"/surveys/photos/{photo.id}")
    assert served.status_code == 200 and served.data == PNG and served.headers["Content-Type"] == "image/png"
    sign_in(client, world.idle_agent_user)  # not on the detail
    assert client.get(f"/surveys/photos/{photo.id}").status_code == 404
    sign_in(client, world.contact)
    assert client.get(f"/surveys/photos/{photo.id}").status_code == 403


def test_clients_see_only_a_summary_a_coordinator_shares(client, world):
    survey = Survey(detail=world.detail, site=world.hotel, safe_room="SECRET-SAFE-ROOM suite 12", status="approved")
    db.session.add(survey)
    db.session.commit()
    sign_in(client, world.contact)
    assert "SECRET-SAFE-ROOM" not in client.get(f"/portal/details/{world.detail.id}").get_data(as_text=True)
    assert client.get(f"/surveys/{survey.id}").status_code == 403
    sign_in(client, world.agent_user)
    assert (
        client.post(f"/surveys/{survey.id}/summary", data={"client_summary": "x", "summary_shared": "1"}).status_code
        == 403
    )
    sign_in(client, world.coordinator)
    r = client.post(
        f"/surveys/{survey.id}/summary",
        data={"client_summary": "Venue checked; arrival by the main entrance.", "summary_shared": "1"},
    )
    assert r.status_code == 302
    sign_in(client, world.contact)
    page = client.get(f"/portal/details/{world.detail.id}").get_data(as_text=True)
    assert "Venue checked; arrival by the main entrance." in page and "SECRET-SAFE-ROOM" not in page
    sign_in(client, world.other_contact)
    assert client.get(f"/portal/details/{world.detail.id}").status_code == 404
