"""The on-call rota: who is primary and backup at a moment (overlaps, shift edges, zones, the day the
clocks change), the rules a shift keeps, the coordinators' rota page and the board's line."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from detail.domain import oncall
from detail.domain.itinerary import Invalid
from detail.extensions import db
from detail.models import Event, OnCallShift

from .conftest import T0, _user

UTC = timezone.utc


def _shift(w, user, role, starts_at, ends_at, note="", now=None):
    shift, events = oncall.add_shift(
        user.organisation_id,
        user_id=user.id,
        role=role,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note,
        now=now or starts_at - timedelta(days=1),
    )
    db.session.commit()
    return shift


@pytest.fixture
def staff(world):
    """Three more coordinators of the world's organisation."""
    people = [
        _user(world.org, f"{name.lower()}@aegis.example", "coordinator", name=name) for name in ("Ann", "Ben", "Cat")
    ]
    db.session.commit()
    return people


def test_nobody_is_on_call_without_shifts(world):
    now = oncall.on_call_at(world.org.id, T0)
    assert now == oncall.OnCallNow(primary=None, backup=None)
    assert now.nobody


def test_a_shift_holds_from_its_start_until_just_before_its_end(world, staff):
    ann, ben, _ = staff
    _shift(world, ann, "primary", T0, T0 + timedelta(hours=8))
    _shift(world, ben, "backup", T0, T0 + timedelta(hours=8))
    assert oncall.on_call_at(world.org.id, T0 - timedelta(seconds=1)).nobody
    at_start = oncall.on_call_at(world.org.id, T0)
    assert (at_start.primary, at_start.backup) == (ann, ben)
    assert oncall.on_call_at(world.org.id, T0 + timedelta(hours=8) - timedelta(seconds=1)).primary == ann
    assert oncall.on_call_at(world.org.id, T0 + timedelta(hours=8)).nobody


def test_of_two_overlapping_shifts_the_one_that_started_last_wins(world, staff):
    ann, ben, cat = staff
    _shift(world, ann, "primary", T0, T0 + timedelta(days=7), note="the week")
    _shift(world, ben, "primary", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=10), note="cover")
    assert oncall.on_call_at(world.org.id, T0 + timedelta(days=1)).primary == ann
    assert oncall.on_call_at(world.org.id, T0 + timedelta(days=2, hours=1)).primary == ben
    assert oncall.on_call_at(world.org.id, T0 + timedelta(days=2, hours=10)).primary == ann
    # The same start: the shift added last wins.
    _shift(world, cat, "primary", T0 + timedelta(days=2), T0 + timedelta(days=2, hours=1))
    assert oncall.on_call_at(world.org.id, T0 + timedelta(days=2, minutes=30)).primary == cat
    # The roles do not mix: nobody is backup.
    assert oncall.on_call_at(world.org.id, T0 + timedelta(days=2, minutes=30)).backup is None


def test_a_deactivated_coordinator_is_not_on_call_and_the_shift_under_it_shows_through(world, staff):
    ann, ben, _ = staff
    _shift(world, ann, "primary", T0, T0 + timedelta(days=3))
    _shift(world, ben, "primary", T0 + timedelta(hours=1), T0 + timedelta(hours=9))
    ben.active = False
    db.session.commit()
    assert oncall.on_call_at(world.org.id, T0 + timedelta(hours=2)).primary == ann


def test_another_organisations_shifts_never_count(world, staff):
    _shift(world, world.other_org_coordinator, "primary", T0, T0 + timedelta(hours=8))
    assert oncall.on_call_at(world.org.id, T0 + timedelta(hours=1)).nobody
    assert oncall.on_call_at(world.other_org.id, T0 + timedelta(hours=1)).primary == world.other_org_coordinator


def test_a_night_shift_typed_in_london_summer_time_holds_in_utc(world, staff, client, as_user):
    """22:00 to 06:00 BST on 1 July is 21:00 to 05:00 UTC."""
    ann = staff[0]
    as_user(world.coordinator)
    response = client.post(
        "/admin/on-call",
        data={"user_id": ann.id, "role": "primary", "starts_at": "2027-07-01T22:00", "ends_at": "2027-07-02T06:00"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    shift = db.session.scalar(sa.select(OnCallShift))
    assert shift.starts_at == datetime(2027, 7, 1, 21, tzinfo=UTC)
    assert shift.ends_at == datetime(2027, 7, 2, 5, tzinfo=UTC)
    assert oncall.on_call_at(world.org.id, datetime(2027, 7, 1, 20, 59, tzinfo=UTC)).nobody
    assert oncall.on_call_at(world.org.id, datetime(2027, 7, 1, 21, 0, tzinfo=UTC)).primary == ann
    assert oncall.on_call_at(world.org.id, datetime(2027, 7, 2, 5, 0, tzinfo=UTC)).nobody


def test_the_night_the_clocks_go_back_is_nine_hours_long(world, staff, client, as_user, time_machine):
    """In London the clocks go back at 02:00 BST on 31 October 2027: 22:00 BST to 06:00 GMT is 9 h."""
    time_machine.move_to(datetime(2027, 10, 30, 12, tzinfo=UTC), tick=False)
    ann = staff[0]
    as_user(world.coordinator)
    response = client.post(
        "/admin/on-call",
        data={"user_id": ann.id, "role": "backup", "starts_at": "2027-10-30T22:00", "ends_at": "2027-10-31T06:00"},
    )
    assert response.status_code == 302
    shift = db.session.scalar(sa.select(OnCallShift))
    assert shift.ends_at - shift.starts_at == timedelta(hours=9)
    assert oncall.on_call_at(world.org.id, datetime(2027, 10, 31, 5, 59, tzinfo=UTC)).backup == ann
    assert oncall.on_call_at(world.org.id, datetime(2027, 10, 31, 6, 0, tzinfo=UTC)).nobody
    # Shown back in the organisation's zone, each end with its own label.
    text = client.get("/admin/on-call").get_data(as_text=True)
    assert "Sat 30 Oct 22:00 BST" in text and "Sun 31 Oct 06:00 GMT" in text


def test_a_time_that_never_happens_when_the_clocks_go_forward_is_refused(world, staff, client, as_user):
    as_user(world.coordinator)
    response = client.post(
        "/admin/on-call",
        data={
            "user_id": staff[0].id,
            "role": "primary",
            "starts_at": "2027-03-28T01:30",
            "ends_at": "2027-03-28T08:00",
        },
    )
    assert response.status_code == 400
    assert "does not exist in Europe/London" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"ends_at": T0}, "ends_at", "must end after it starts"),
        ({"ends_at": T0 - timedelta(hours=1)}, "ends_at", "must end after it starts"),
        ({"ends_at": T0 + timedelta(days=40)}, "ends_at", "at most 31 days"),
        ({"role": "tertiary"}, "role", "primary, backup"),
        ({"note": "x" * 201}, "note", "At most 200"),
    ],
)
def test_a_shift_breaking_a_rule_is_refused_with_a_message_for_its_field(world, staff, change, field, message):
    values = {"user_id": staff[0].id, "role": "primary", "starts_at": T0, "ends_at": T0 + timedelta(hours=8)}
    with pytest.raises(Invalid) as refused:
        oncall.add_shift(world.org.id, now=T0 - timedelta(days=1), **(values | change))
    assert message in refused.value.errors[field]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


@pytest.mark.parametrize("who", ["agent", "client", "other_org"])
def test_only_the_organisations_own_staff_can_be_put_on_call(world, who):
    user = world.user(who)
    with pytest.raises(Invalid) as refused:
        oncall.add_shift(
            world.org.id,
            user_id=user.id,
            role="primary",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            now=T0 - timedelta(days=1),
        )
    assert "user_id" in refused.value.errors


def test_a_shift_already_over_or_one_person_in_both_roles_at_once_is_refused(world, staff):
    ann = staff[0]
    with pytest.raises(Invalid, match="already be over"):
        oncall.add_shift(
            world.org.id,
            user_id=ann.id,
            role="primary",
            starts_at=T0,
            ends_at=T0 + timedelta(hours=1),
            now=T0 + timedelta(hours=2),
        )
    _shift(world, ann, "primary", T0, T0 + timedelta(hours=8))
    with pytest.raises(Invalid, match="cannot be primary and backup at once"):
        oncall.add_shift(
            world.org.id,
            user_id=ann.id,
            role="backup",
            starts_at=T0 + timedelta(hours=7),
            ends_at=T0 + timedelta(hours=9),
            now=T0 - timedelta(days=1),
        )


def test_adding_editing_and_removing_write_events(world, staff):
    ann, ben, _ = staff
    shift = _shift(world, ann, "primary", T0, T0 + timedelta(hours=8))
    events = oncall.edit_shift(shift, user_id=ben.id, now=T0 - timedelta(days=1), by=world.coordinator)
    db.session.commit()
    assert events[0].payload["name"] == "Ben" and events[0].payload["by"] == world.coordinator.name
    with pytest.raises(Invalid):
        oncall.edit_shift(shift, ends_at=T0 - timedelta(hours=1), now=T0 - timedelta(days=1))
    assert shift.ends_at == T0 + timedelta(hours=8)  # a refused edit changes nothing
    oncall.remove_shift(shift)
    db.session.commit()
    kinds = db.session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["on_call_added", "on_call_changed", "on_call_removed"]


def test_upcoming_shifts_are_the_next_two_weeks_with_the_running_one(world, staff):
    ann, ben, cat = staff
    running = _shift(
        world, ann, "primary", T0 - timedelta(hours=2), T0 + timedelta(hours=6), now=T0 - timedelta(days=1)
    )
    soon = _shift(world, ben, "backup", T0 + timedelta(days=13), T0 + timedelta(days=14, hours=1))
    _shift(world, cat, "primary", T0 + timedelta(days=15), T0 + timedelta(days=16))
    _shift(world, cat, "backup", T0 - timedelta(hours=10), T0 - timedelta(hours=3), now=T0 - timedelta(days=1))
    assert oncall.upcoming_shifts(world.org.id, T0) == [running, soon]


# --- the rota page -----------------------------------------------------------------------------


@pytest.mark.parametrize("who, status", [("coordinator", 200), ("admin", 200), ("agent", 403), ("client", 403)])
def test_the_rota_page_is_for_staff(world, client, as_user, who, status):
    as_user(world.user(who))
    assert client.get("/admin/on-call").status_code == status
    assert client.get("/admin/on-call/now").status_code == status


def test_the_rota_page_shows_now_the_next_days_and_never_another_organisations_shifts(
    world, staff, client, as_user, time_machine
):
    time_machine.move_to(T0, tick=False)
    ann, ben, _ = staff
    world.other_org_coordinator.name = "Rival Person"
    _shift(world, ann, "primary", T0 - timedelta(hours=1), T0 + timedelta(hours=8), note="weekday days", now=T0)
    _shift(world, world.other_org_coordinator, "primary", T0, T0 + timedelta(hours=8), note="rival secret", now=T0)
    as_user(world.coordinator)
    text = client.get("/admin/on-call").get_data(as_text=True)
    assert "primary <strong>Ann</strong>, backup <strong>nobody</strong>" in text
    assert "weekday days" in text and "Tue 24 Nov 07:00 GMT" in text
    assert "rival secret" not in text and world.other_org_coordinator.name not in text
    # The person picker offers the organisation's staff only.
    assert ">Sam Carter" not in text and "coord@rival" not in text
    assert client.get("/admin/on-call/now").get_json() == {
        "primary": "Ann",
        "backup": None,
        "nobody": False,
        "as_of": "08:00 GMT",
    }


def test_another_organisations_shift_cannot_be_edited_or_removed(world, client, as_user):
    shift = _shift(world, world.other_org_coordinator, "primary", T0, T0 + timedelta(hours=8))
    as_user(world.coordinator)
    assert client.get(f"/admin/on-call/{shift.id}/edit").status_code == 404
    assert client.post(f"/admin/on-call/{shift.id}/remove", data={"confirmed": "1"}).status_code == 404
    assert db.session.get(OnCallShift, shift.id) is not None


def test_a_shift_is_added_edited_and_removed_once_confirmed(world, staff, client, as_user, time_machine):
    time_machine.move_to(T0, tick=False)
    ann, ben, _ = staff
    as_user(world.coordinator)
    form = {"user_id": ann.id, "role": "primary", "starts_at": "2026-11-24T09:00", "ends_at": "2026-11-24T17:00"}
    assert client.post("/admin/on-call", data=form | {"note": "days"}).status_code == 302
    shift = db.session.scalar(sa.select(OnCallShift))
    edit = client.post(
        f"/admin/on-call/{shift.id}/edit", data=form | {"user_id": ben.id, "ends_at": "2026-11-24T18:00"}
    )
    assert edit.status_code == 302
    db.session.refresh(shift)
    assert (shift.user_id, shift.ends_at) == (ben.id, datetime(2026, 11, 24, 18, tzinfo=UTC))
    # Without confirmation the server asks, and nothing is removed.
    asked = client.post(f"/admin/on-call/{shift.id}/remove")
    assert asked.status_code == 200 and "Remove Ben&#39;s primary shift?" in asked.get_data(as_text=True)
    assert db.session.get(OnCallShift, shift.id) is not None
    assert client.post(f"/admin/on-call/{shift.id}/remove", data={"confirmed": "1"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


def test_bad_input_on_the_rota_form_is_said_and_stores_nothing(world, client, as_user, time_machine):
    time_machine.move_to(T0, tick=False)
    as_user(world.coordinator)
    form = {
        "user_id": world.coordinator.id,
        "role": "primary",
        "starts_at": "2026-11-24T17:00",
        "ends_at": "2026-11-24T09:00",
    }
    response = client.post("/admin/on-call", data=form)
    assert response.status_code == 400
    assert "The shift must end after it starts." in response.get_data(as_text=True)
    response = client.post("/admin/on-call", data=form | {"user_id": world.agent_user.id})
    assert response.status_code == 400  # not a choice: an agent is not offered
    assert db.session.scalar(sa.select(sa.func.count(OnCallShift.id))) == 0


# --- the board ---------------------------------------------------------------------------------


def test_the_board_names_who_is_on_call_and_says_loudly_when_nobody_is(world, staff, client, as_user, time_machine):
    time_machine.move_to(T0, tick=False)
    as_user(world.coordinator)
    text = client.get("/board/").get_data(as_text=True)
    assert "on-call-nobody" in text and "Nobody is on call." in text and "Alarms go to every coordinator." in text
    _shift(world, staff[0], "primary", T0, T0 + timedelta(hours=8), now=T0)
    _shift(world, staff[1], "backup", T0, T0 + timedelta(hours=8), now=T0)
    text = client.get(f"/board/details/{world.detail.id}").get_data(as_text=True)
    assert "On call now: primary <strong>Ann</strong>, backup <strong>Ben</strong>" in text
    assert "Nobody is on call." not in text
