"""How an escalation lives alongside what else happens to its alarm: a mute pauses the climb and it
resumes where it was; a critical advisory withdrawn or its detail completed ends it; a policy edited
or switched off applies to the alarms already climbing it; an urgent request acknowledged by any
path ends it at once; and the board says which step it is at, with the server's zone label.

Push is recorded (escalation_helpers.PushRecorder); the clock is controlled (time-machine).
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.domain import after_action, escalation
from detail.domain import requests as requests_inbox
from detail.extensions import db
from detail.models import Alert, Escalation, Event

from .conftest import T0, sign_in
from .escalation_helpers import (  # noqa: F401  (fixtures)
    attempts,
    clock_fixture,
    pushes_fixture,
    raise_duress,
    rota_fixture,
    run_job,
)
from .test_escalation_policies import current_rows, form


def _late_alert(world, kind="late_om") -> Alert:
    alert = Alert(
        organisation_id=world.org.id,
        agent=world.agent,
        detail_id=world.detail.id,
        kind=kind,
        message="Bravo 1 late",
        raised_at=T0,
    )
    db.session.add(alert)
    db.session.commit()
    return alert


def _escalation() -> Escalation:
    db.session.expire_all()
    return db.session.scalar(sa.select(Escalation))


def _board_escalation(client, alert_id: int) -> dict:
    state = client.get("/board/state").get_json()
    (shown,) = [a for a in state["alerts"] if a["alert_id"] == alert_id]
    return shown["escalation"]


# --- 1. a mute pauses the climb -------------------------------------------------------------------


def test_a_muted_alert_pauses_its_escalation_and_it_resumes_when_the_mute_runs_out(rota, pushes, clock, client):
    world = rota
    clock(T0)
    alert = _late_alert(world)
    clock(T0 + timedelta(seconds=1))
    run_job()
    assert [step for step, *_ in attempts()] == [0]
    sign_in(client, world.coordinator)

    clock(T0 + timedelta(seconds=30))
    assert client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 15}).status_code == 200
    run_job()
    esc = _escalation()
    assert esc.ended_at is None, "a mute pauses the climb; it does not end it"
    assert esc.paused_at == T0 + timedelta(seconds=30)
    shown = _board_escalation(client, alert.id)
    assert shown["paused"] is True and shown["paused_until_local"] == "08:15 GMT"

    # The backup's step (300 s) does not run while the alert is muted.
    clock(T0 + timedelta(minutes=10))
    run_job()
    assert [step for step, *_ in attempts()] == [0]

    # The mute ran out at 08:15:30; the job saw it a few seconds later. The climb goes on with the
    # time it had left (270 s to the backup's step): the step is now due 15 min later, at 08:20.
    clock(T0 + timedelta(minutes=15, seconds=33))
    run_job()
    esc = _escalation()
    assert esc.paused_at is None and esc.ended_at is None
    assert esc.next_step == 1 and esc.next_step_at == T0 + timedelta(minutes=20)
    assert _board_escalation(client, alert.id)["paused"] is False
    clock(T0 + timedelta(minutes=19, seconds=59))
    run_job()
    assert [step for step, *_ in attempts()] == [0]
    clock(T0 + timedelta(minutes=20))
    run_job()
    assert attempts()[1:] == [(1, "admin@aegis.example", "push", "sent")]
    kinds = [e.kind for e in db.session.scalars(sa.select(Event).where(Event.kind.like("escalation_%")))]
    assert "escalation_paused" in kinds and "escalation_resumed" in kinds
    # The after-action report tells the pause and the resumption in their place.
    report = after_action.build(db.session.get(type(world.detail), world.detail.id), now=T0 + timedelta(hours=1))
    lines = [e.text for e in report.entries if e.kind.startswith("escalation_")]
    paused = next(
        n for n, line in enumerate(lines) if line.startswith("Escalation paused (alert muted until 08:15 GMT)")
    )
    resumed = next(n for n, line in enumerate(lines) if line.startswith("Escalation resumed: "))
    assert paused < resumed < next(n for n, line in enumerate(lines) if line.startswith("Step 2:"))


def test_a_paused_escalation_still_ends_when_its_alert_is_acknowledged(rota, pushes, clock, client):
    world = rota
    clock(T0)
    alert = _late_alert(world, "silent")
    clock(T0 + timedelta(seconds=1))
    run_job()
    sign_in(client, world.admin)
    assert client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 5}).status_code == 200
    run_job()
    assert _escalation().paused_at is not None
    clock(T0 + timedelta(minutes=2))
    assert client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "phoned him"}).status_code == 200
    esc = _escalation()
    assert esc.ended_at is not None and esc.acknowledged_by_id == world.admin.id
    clock(T0 + timedelta(minutes=30))
    run_job()
    assert len(attempts()) == 1


# --- 2. a critical advisory withdrawn, or its detail completed ------------------------------------


def _critical_advisory(world):
    from intel.models import Advisory

    advisory = Advisory(
        organisation_id=world.org.id,
        detail_id=world.detail.id,
        title="Armed protest at ExCeL",
        category="protest",
        severity="critical",
        reason="near the venue",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=3),
        status="published",
        published_at=T0,
    )
    db.session.add(advisory)
    db.session.commit()
    return advisory


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("unpublished", "the advisory is no longer published"),
        ("downgraded", "the advisory is no longer critical"),
        ("removed", "the advisory was removed"),
        ("detail_complete", "its detail is complete"),
    ],
)
def test_an_advisory_escalation_ends_when_the_advisory_is_no_longer_live(rota, pushes, clock, change, reason):
    world = rota
    clock(T0)
    advisory = _critical_advisory(world)
    clock(T0 + timedelta(seconds=1))
    run_job()
    assert _escalation().ended_at is None
    if change == "unpublished":
        advisory.status = "candidate"
    elif change == "downgraded":
        advisory.severity = "high"
    elif change == "removed":
        db.session.delete(advisory)
    else:
        world.detail.state = "complete"
    db.session.commit()
    clock(T0 + timedelta(seconds=10))
    run_job()
    esc = _escalation()
    assert esc.ended_at is not None and esc.end_reason == reason and esc.acknowledged_at is None
    clock(T0 + timedelta(hours=1))
    run_job()
    assert len(attempts()) == 2 and db.session.scalar(sa.select(sa.func.count(Escalation.id))) == 1


def test_intel_answers_only_for_its_own_subjects(rota):
    from detail import hooks

    settled = hooks.ESCALATION_SUBJECT_SETTLED["advisory"]
    assert settled("999999", T0) == "the advisory was removed"
    assert settled("not-a-number", T0) == "the advisory was removed"


# --- 3. a policy edited or switched off -----------------------------------------------------------


def test_switching_a_policy_off_ends_its_running_escalations_and_says_who(rota, pushes, clock, client):
    world = rota
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    sign_in(client, world.coordinator)
    clock(T0 + timedelta(seconds=30))
    response = client.post("/admin/escalation/duress", data=form(current_rows(world), active=False))
    assert response.status_code == 302
    esc = _escalation()
    assert esc.ended_at == T0 + timedelta(seconds=30) and esc.end_reason == "policy switched off by Coord"
    assert db.session.scalar(sa.select(Event.kind).order_by(Event.id.desc())) == "escalation_ended"
    clock(T0 + timedelta(minutes=5))
    run_job()
    assert len(attempts()) == 2


def test_changed_steps_apply_to_the_steps_not_yet_run(rota, pushes, clock, client):
    world = rota
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    assert _escalation().next_step == 1
    sign_in(client, world.coordinator)
    clock(T0 + timedelta(seconds=30))
    rows = [
        {"order": "1", "delay": "0", "target": "primary", "channels": ["push"]},
        {"order": "2", "delay": "20", "target": "backup", "channels": ["push"]},  # already behind: not run
        {"order": "3", "delay": "90", "target": "person", "person": str(world.admin.id), "channels": ["sms"]},
        {"order": "4", "delay": "200", "target": "coordinators", "channels": ["push"]},
    ]
    assert client.post("/admin/escalation/duress", data=form(rows)).status_code == 302
    esc = _escalation()
    assert esc.next_step == 2 and esc.next_step_at == T0 + timedelta(seconds=90)
    clock(T0 + timedelta(seconds=89))
    run_job()
    assert len(attempts()) == 2
    clock(T0 + timedelta(seconds=90))
    run_job()
    assert attempts()[2:] == [(2, "admin@aegis.example", "sms", "sent")]
    esc = _escalation()
    assert esc.next_step == 3 and esc.next_step_at == T0 + timedelta(seconds=200)


def test_steps_all_behind_leave_the_escalation_waiting_for_an_acknowledgment(rota, pushes, clock, client):
    world = rota
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    sign_in(client, world.coordinator)
    clock(T0 + timedelta(seconds=30))
    rows = [{"order": "1", "delay": "0", "target": "primary", "channels": ["push"]}]
    assert client.post("/admin/escalation/duress", data=form(rows, confirmed="1")).status_code == 302
    esc = _escalation()
    assert esc.next_step is None and esc.next_step_at is None and esc.ended_at is None


def test_the_policy_page_says_what_an_edit_does_to_alarms_already_climbing(client, world):
    sign_in(client, world.coordinator)
    page = client.get("/admin/escalation/duress").get_data(as_text=True)
    assert "Alarms already climbing this policy" in page
    assert "Switching the policy off ends them" in page


# --- 4. an urgent request acknowledged by any path ------------------------------------------------


@pytest.fixture(name="overdue_request")
def overdue_request_fixture(rota, pushes, clock):
    world = rota
    clock(T0)
    request, _ = requests_inbox.log_request(
        client=world.client, subject="Car needed now", priority="urgent", received_at=T0
    )
    db.session.commit()
    clock(T0 + timedelta(minutes=world.org.request_alert_minutes))
    requests_inbox.evaluate(world.org)
    db.session.commit()
    run_job()
    assert _escalation().ended_at is None
    return request


@pytest.mark.parametrize("path", ["board", "requests page", "answer"])
def test_an_urgent_request_acknowledged_by_any_path_ends_its_escalation_at_once(client, rota, overdue_request, path):
    world = rota
    sign_in(client, world.admin)
    rid = overdue_request.id
    if path == "board":
        response = client.post(f"/board/requests/{rid}/acknowledge", json={"note": "on it"})
        assert response.status_code == 200
    elif path == "requests page":
        response = client.post(f"/admin/requests/{rid}/acknowledge", data={"ack-note": "on it"})
        assert response.status_code == 302
    else:
        response = client.post(
            f"/admin/requests/{rid}/answer", data={"answer-answer": "Car at the door", "answer-confirmed": "yes"}
        )
        assert response.status_code == 302
    esc = _escalation()  # no job run: ended by the acknowledgment itself
    assert esc.ended_at is not None and esc.acknowledged_by_id == world.admin.id
    assert esc.end_reason == "acknowledged by Admin"


# --- 5. the board: who is on call, and the step it is at ------------------------------------------


def test_the_board_says_the_step_it_is_at_and_who_is_on_call(rota, pushes, clock, client):
    world = rota
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=61))
    run_job()
    sign_in(client, world.coordinator)
    shown = _board_escalation(client, alert.id)
    assert shown["steps_total"] == 3
    assert shown["step_number"] == 2 and shown["step_target"] == "on-call backup"
    assert shown["step_at_local"] == "08:01 GMT"
    assert shown["next_target"] == "all coordinators" and shown["next_step_at_local"] == "08:02 GMT"
    assert shown["on_call"] == {"primary": "Coord", "backup": "Admin"}
    clock(T0 + timedelta(seconds=121))
    run_job()
    shown = _board_escalation(client, alert.id)
    assert (shown["step_number"], shown["step_target"], shown["next_target"]) == (3, "all coordinators", None)


def test_a_step_for_a_named_person_names_them(rota, pushes, clock, client):
    world = rota
    policy = escalation.ensure_policies(world.org.id)["duress"]
    escalation.replace_steps(
        policy,
        [{"delay_seconds": 0, "target": "person", "person": world.admin, "channels": "push"}],
        True,
        by=world.coordinator,
    )
    db.session.commit()
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=1))
    run_job()
    sign_in(client, world.coordinator)
    shown = _board_escalation(client, alert.id)
    assert (shown["step_number"], shown["steps_total"], shown["step_target"]) == (1, 1, "Admin")


def test_an_alert_muted_before_its_escalation_opened_waits_out_the_mute_then_climbs(rota, pushes, clock, client):
    world = rota
    clock(T0)
    alert = _late_alert(world)
    sign_in(client, world.coordinator)
    assert client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 5}).status_code == 200
    run_job()
    esc = _escalation()
    assert esc is not None and esc.paused_at == T0 and attempts() == []
    clock(T0 + timedelta(minutes=5))
    run_job()
    assert attempts() == [(0, "coord@aegis.example", "push", "sent")]
    esc = _escalation()
    assert esc.next_step == 1 and esc.next_step_at == T0 + timedelta(minutes=10), "the backup's 300 s, after the mute"


def test_a_step_due_but_not_yet_run_when_the_policy_is_saved_still_runs(rota, pushes, clock, client):
    world = rota
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    sign_in(client, world.coordinator)
    # The backup's step fell due at 60 s; the page is saved (unchanged) a moment later, before the job ran.
    clock(T0 + timedelta(seconds=61))
    assert client.post("/admin/escalation/duress", data=form(current_rows(world))).status_code == 302
    assert _escalation().next_step == 1
    run_job()
    assert [(step, who) for step, who, *_ in attempts()][2:] == [(1, "admin@aegis.example")] * 2


def test_a_renumbered_step_that_reaches_someone_already_reached_at_that_number_runs(rota, pushes, clock, client):
    world = rota
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=61))
    run_job()  # steps 0 (primary) and 1 (backup: Admin, push and text) ran
    sign_in(client, world.coordinator)
    clock(T0 + timedelta(seconds=70))
    rows = [
        {"order": "1", "delay": "0", "target": "primary", "channels": ["push"]},
        {"order": "2", "delay": "100", "target": "coordinators", "channels": ["push"]},
    ]
    assert client.post("/admin/escalation/duress", data=form(rows, confirmed="1")).status_code == 302
    assert _escalation().next_step == 1
    clock(T0 + timedelta(seconds=100))
    run_job()
    esc = _escalation()
    assert esc.next_step is None and esc.ended_at is None
    # The new step 2 reaches Coord; Admin had a push at step 2 already and gets no second one.
    assert [(s, who, c) for s, who, c, _ in attempts()][4:] == [(1, "coord@aegis.example", "push")]
