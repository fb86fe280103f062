"""The escalation engine (detail/domain/escalation.py) run by its job on a controlled clock.

A duress at T0 climbs the default policy: the on-call primary by push and text at once, the backup
after 60 s, every coordinator after 120 s, until someone acknowledges it. Pushes go to a real push
service on loopback that decrypts them (the pushes fixture, tests/escalation_helpers.py). Texts are
rows of the texts outbox; mail goes through the notices outbox to a real SMTP server on loopback.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail import jobs
from detail.domain import escalation, notices, push, texts
from detail.domain import requests as requests_inbox
from detail.extensions import db
from detail.models import (
    Alert,
    Escalation,
    Event,
    Notice,
    NotificationAttempt,
    TextMessage,
)

from .conftest import T0, sign_in
from .escalation_helpers import (  # noqa: F401  (fixtures)
    BACKUP_NUMBER,
    PRIMARY_NUMBER,
    attempts,
    clock_fixture,
    pushes_fixture,
    raise_duress,
    reachable,
    rota_fixture,
    run_job,
)
from .mailbox import mailbox  # noqa: F401  (fixture)


def test_a_duress_reaches_primary_then_backup_then_every_coordinator_and_stops_at_acknowledgment(
    rota, pushes, clock, client
):
    world = rota
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    assert attempts() == [
        (0, "coord@aegis.example", "push", "sent"),
        (0, "coord@aegis.example", "sms", "sent"),
    ]
    assert [user_id for user_id, _ in pushes.sent] == [world.coordinator.id]
    text = db.session.scalar(sa.select(TextMessage))
    assert text.to_number == PRIMARY_NUMBER and "ACK " in text.body and "/ack/" in text.body
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.kind == "duress" and esc.subject == f"alert:{alert.id}" and esc.ack_code in text.body

    clock(T0 + timedelta(seconds=59))
    run_job()
    assert len(attempts()) == 2, "nothing more before the backup's 60 s"

    clock(T0 + timedelta(seconds=60))
    run_job()
    assert attempts()[2:] == [
        (1, "admin@aegis.example", "push", "sent"),
        (1, "admin@aegis.example", "sms", "sent"),
    ]

    clock(T0 + timedelta(seconds=120))
    run_job()
    third = attempts()[4:]
    assert {(step, who, channel) for step, who, channel, _ in third} == {
        (2, who, channel)
        for who in ("admin@aegis.example", "coord@aegis.example")
        for channel in ("push", "sms", "email")
    }
    assert ("admin@aegis.example", "email", "skipped") in {(w, c, s) for _, w, c, s in third}
    skipped = db.session.scalar(
        sa.select(NotificationAttempt).where(
            NotificationAttempt.user_id == world.admin.id, NotificationAttempt.channel == "email"
        )
    )
    assert skipped.error == "Admin has no verified email address"

    # The board's button acknowledges the alert and stops the escalation.
    sign_in(client, world.coordinator)
    clock(T0 + timedelta(seconds=150))
    response = client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "on it"})
    assert response.status_code == 200
    db.session.expire_all()
    esc = db.session.get(Escalation, esc.id)
    assert esc.acknowledged_by_id == world.coordinator.id and esc.acknowledged_via == "board" and esc.ended_at
    # Those already reached who did not take it hear who did.
    assert {user_id for user_id, _ in pushes.queued} == {world.admin.id}
    assert "acknowledged by Coord" in pushes.queued[0][1].body
    told = db.session.scalars(sa.select(TextMessage).where(TextMessage.to_number == BACKUP_NUMBER)).all()
    assert any("acknowledged by Coord" in t.body for t in told)

    before = len(attempts())
    clock(T0 + timedelta(minutes=30))
    run_job()
    assert len(attempts()) == before
    kinds = [
        e.kind for e in db.session.scalars(sa.select(Event).where(Event.kind.like("escalation_%")).order_by(Event.id))
    ]
    assert kinds[0] == "escalation_started" and kinds[-1] == "escalation_acknowledged"
    assert "escalation_attempt" in kinds


def test_a_job_stopped_after_a_step_neither_repeats_nor_skips_it(rota, pushes, clock):
    clock(T0)
    raise_duress(rota)
    # The evaluator ran step 0 and committed; the process stopped before delivering.
    clock(T0 + timedelta(seconds=1))
    jobs._for_each_organisation(escalation.evaluate)
    assert [s for *_, s in attempts()] == ["queued", "queued"]
    # A second evaluator at the same moment finds the step taken.
    jobs._for_each_organisation(escalation.evaluate)
    assert len(attempts()) == 2
    # The restarted job delivers each once, however often it runs.
    run_job()
    run_job()
    assert [s for *_, s in attempts()] == ["sent", "sent"]
    assert len(pushes.sent) == 1 and db.session.scalar(sa.select(sa.func.count(TextMessage.id))) == 1
    # Down for three minutes: on restart both later steps run, in order, none skipped.
    clock(T0 + timedelta(minutes=3))
    run_job()
    assert sorted({step for step, *_ in attempts()}) == [0, 1, 2]
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.next_step is None and esc.ended_at is None


def test_a_push_claimed_by_a_sender_that_stopped_is_never_sent_again(rota, pushes, clock):
    clock(T0)
    raise_duress(rota)
    clock(T0 + timedelta(seconds=1))
    jobs._for_each_organisation(escalation.evaluate)
    push_attempt = db.session.scalar(sa.select(NotificationAttempt).where(NotificationAttempt.channel == "push"))
    assert escalation._claim(push_attempt.id, T0 + timedelta(seconds=1))  # claimed, then the process died
    db.session.commit()
    run_job()
    assert pushes.sent == []
    clock(T0 + timedelta(minutes=10))
    run_job()
    db.session.refresh(push_attempt)
    assert push_attempt.status == "failed" and "may or may not have arrived" in push_attempt.error
    # Later steps' pushes went, each once; step 0's never did.
    sent = db.session.scalars(
        sa.select(NotificationAttempt).where(
            NotificationAttempt.channel == "push", NotificationAttempt.status == "sent"
        )
    ).all()
    assert {a.step for a in sent} == {1, 2} and len(pushes.sent) == len(sent)


def test_a_failing_channel_does_not_stop_the_others(rota, pushes, clock, mailbox):  # noqa: F811
    pushes.failing = True
    clock(T0)
    raise_duress(rota)
    clock(T0 + timedelta(seconds=121))
    run_job()
    by_channel = {}
    for attempt in db.session.scalars(sa.select(NotificationAttempt)):
        by_channel.setdefault(attempt.channel, set()).add((attempt.status, attempt.error))
    assert {s for s, _ in by_channel["push"]} == {"failed"}
    assert all("push refused: HTTP 503" in e for _, e in by_channel["push"])
    assert {s for s, _ in by_channel["sms"]} == {"sent"}
    # The primary's email (step 2: every coordinator) went through the outbox to the SMTP server.
    assert notices.send_due() == 1
    (message,) = mailbox.messages
    assert message["To"] == "duty@aegis.example" and message["Subject"].startswith("ALARM: DURESS: Bravo 1")
    assert "/ack/" in message.get_content() and "ACK " in message.get_content()
    mail_attempt = db.session.scalar(
        sa.select(NotificationAttempt).where(
            NotificationAttempt.channel == "email", NotificationAttempt.status == "sent"
        )
    )
    assert mail_attempt.notice_id == db.session.scalar(sa.select(Notice.id))


def _primary_push():
    db.session.expire_all()
    return db.session.scalar(
        sa.select(NotificationAttempt)
        .where(NotificationAttempt.channel == "push", NotificationAttempt.step == 0)
        .order_by(NotificationAttempt.id)
    )


def test_a_push_every_service_refused_for_the_moment_is_tried_again_until_it_goes(rota, pushes, clock):
    pushes.failing = True  # the push service answers 503
    clock(T0)
    raise_duress(rota)
    clock(T0 + timedelta(seconds=1))
    run_job()
    attempt = _primary_push()
    assert attempt.status == "failed" and attempt.push_tries == 1
    assert attempt.error == "push refused: HTTP 503 Service Unavailable; tried again at 08:00:11 GMT"
    assert pushes.sent == []

    pushes.failing = False
    clock(T0 + timedelta(seconds=10))
    run_job()
    assert _primary_push().status == "failed", "not before its time"
    clock(T0 + timedelta(seconds=11))
    run_job()
    attempt = _primary_push()
    assert (attempt.status, attempt.push_tries, attempt.retry_at) == ("sent", 2, None)
    assert attempt.error.endswith("sent on a later try (2 tries)")
    assert [user_id for user_id, _ in pushes.sent] == [rota.coordinator.id]  # shown once
    clock(T0 + timedelta(seconds=50))
    run_job()
    assert [user_id for user_id, _ in pushes.sent] == [rota.coordinator.id]


def test_a_push_still_refused_after_its_retries_stays_failed(rota, pushes, clock):
    pushes.failing = True
    clock(T0)
    raise_duress(rota)
    for seconds in (1, 11, 41, 131, 400):
        clock(T0 + timedelta(seconds=seconds))
        run_job()
    attempt = _primary_push()
    assert (attempt.status, attempt.push_tries, attempt.retry_at) == ("failed", 4, None)
    assert attempt.error.count("HTTP 503") == 4 and "tried again at 08:02:11 GMT" in attempt.error
    assert not attempt.error.endswith("GMT")  # the last refusal says no next try


@pytest.mark.parametrize("status", [400, 403, 413])
def test_a_push_refused_for_good_is_not_tried_again(rota, pushes, clock, status):
    clock(T0)
    raise_duress(rota)
    for token in pushes.owners:
        pushes.service.answer_with(pushes.service.subscriptions[token], status)
    clock(T0 + timedelta(seconds=1))
    run_job()
    clock(T0 + timedelta(seconds=30))
    run_job()
    attempt = _primary_push()
    assert (attempt.status, attempt.push_tries, attempt.retry_at) == ("failed", 1, None)
    assert "tried again" not in attempt.error


def test_a_push_waiting_for_its_retry_is_not_sent_once_the_alarm_is_acknowledged(rota, pushes, clock, client):
    pushes.failing = True
    clock(T0)
    alert = raise_duress(rota)
    clock(T0 + timedelta(seconds=1))
    run_job()
    pushes.failing = False
    sign_in(client, rota.admin)
    clock(T0 + timedelta(seconds=5))
    assert client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "called him"}).status_code == 200
    clock(T0 + timedelta(seconds=11))
    run_job()
    attempt = _primary_push()
    assert attempt.status == "skipped" and attempt.error.startswith("push refused: HTTP 503")
    assert "before it went" in attempt.error
    assert all(user_id != rota.coordinator.id or "acknowledged" in m["body"] for user_id, m in pushes.sent)


def test_a_text_delivered_or_failed_updates_its_attempt(rota, pushes, clock):
    clock(T0)
    raise_duress(rota)
    clock(T0 + timedelta(seconds=61))
    run_job()
    first, second = db.session.scalars(sa.select(TextMessage).order_by(TextMessage.id)).all()
    first.status, first.delivered_at = "delivered", T0 + timedelta(seconds=5)
    second.status, second.last_error = "undelivered", "30003 Unreachable destination handset"
    events = []
    for text in (first, second):
        for listener in texts.STATUS_LISTENERS:
            events += listener(text)
    db.session.commit()
    assert [e.kind for e in events] == ["escalation_attempt", "escalation_attempt"]
    statuses = {a.text_message_id: (a.status, a.error) for a in db.session.scalars(sa.select(NotificationAttempt))}
    assert statuses[first.id] == ("delivered", "")
    assert statuses[second.id] == ("failed", "text undelivered: 30003 Unreachable destination handset")


def test_nobody_on_call_sends_the_first_step_to_every_coordinator_and_says_why(world, pushes, clock):
    reachable(world.coordinator)
    reachable(world.admin)
    db.session.commit()
    clock(T0)
    raise_duress(world)
    clock(T0 + timedelta(seconds=1))
    run_job()
    rows = db.session.scalars(sa.select(NotificationAttempt).where(NotificationAttempt.channel == "push")).all()
    assert {r.user_id for r in rows} == {world.coordinator.id, world.admin.id}
    assert all(r.error.startswith("nobody on call as primary: sent to every coordinator") for r in rows)
    texts_ = db.session.scalars(sa.select(NotificationAttempt).where(NotificationAttempt.channel == "sms")).all()
    assert {t.status for t in texts_} == {"skipped"}
    assert all("has no verified mobile number" in t.error for t in texts_)


def test_an_app_alarm_is_an_sos_and_a_late_alert_climbs_the_late_policy(rota, pushes, clock):
    clock(T0)
    raise_duress(rota, source="owntracks")
    clock(T0 + timedelta(seconds=1))
    run_job()
    assert db.session.scalar(sa.select(Escalation.kind)) == "sos"


def test_an_alarm_acknowledged_or_cleared_elsewhere_ends_its_escalation(rota, pushes, clock):
    world = rota
    clock(T0)
    late = Alert(
        organisation_id=world.org.id,
        agent=world.agent,
        detail_id=world.detail.id,
        kind="silent",
        message="Bravo 1 silent",
        raised_at=T0,
    )
    db.session.add(late)
    db.session.commit()
    clock(T0 + timedelta(seconds=1))
    run_job()
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.kind == "silent" and [c for _, _, c, _ in attempts()] == ["push"]
    late.resolved_at = T0 + timedelta(seconds=30)
    db.session.commit()
    clock(T0 + timedelta(seconds=31))
    run_job()
    db.session.refresh(esc)
    assert esc.ended_at is not None and esc.end_reason == "the alert cleared" and esc.acknowledged_at is None


def test_an_overdue_urgent_request_escalates_until_acknowledged(rota, pushes, clock):
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
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.kind == "request" and "Car needed now" in esc.title
    assert {(w, c) for _, w, c, _ in attempts()} == {("coord@aegis.example", "push"), ("coord@aegis.example", "email")}
    requests_inbox.acknowledge(request, world.admin)
    db.session.commit()
    run_job()
    db.session.refresh(esc)
    assert esc.acknowledged_by_id == world.admin.id and esc.ended_at is not None


def test_a_critical_advisory_published_escalates_through_intels_hook(rota, pushes, clock):
    from intel.models import Advisory

    world = rota
    clock(T0)
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
    clock(T0 + timedelta(seconds=1))
    run_job()
    run_job()
    (esc,) = db.session.scalars(sa.select(Escalation)).all()
    assert esc.kind == "advisory" and esc.subject == f"advisory:{advisory.id}"
    assert esc.title == "Critical advisory published: Armed protest at ExCeL"


def test_each_organisation_gets_the_default_policies_once(world):
    policies = escalation.ensure_policies(world.org.id)
    db.session.commit()
    assert sorted(policies) == sorted(escalation.DEFAULT_STEPS)
    duress = [(s.delay_seconds, s.target, s.channels) for s in policies["duress"].steps]
    assert duress == [(0, "primary", "push,sms"), (60, "backup", "push,sms"), (120, "coordinators", "push,sms,email")]
    again = escalation.ensure_policies(world.org.id)
    assert {k: p.id for k, p in again.items()} == {k: p.id for k, p in policies.items()}


def test_the_job_runs_often_enough_for_a_duress_to_go_within_seconds():
    job = next(j for j in jobs.JOBS if j.name == "escalation")
    assert job.every_seconds <= 5


def test_the_board_shows_each_alerts_escalation_with_its_attempts(rota, pushes, clock, client):
    world = rota
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=2))
    run_job()
    sign_in(client, world.coordinator)
    state = client.get("/board/state").get_json()
    (shown,) = [a for a in state["alerts"] if a["alert_id"] == alert.id]
    esc = shown["escalation"]
    assert esc["kind"] == "duress" and esc["next_step"] == 1 and esc["next_step_at_local"] == "08:01 GMT"
    assert [(a["user"], a["channel_label"], a["status"]) for a in esc["attempts"]] == [
        ("Coord", "push", "sent"),
        ("Coord", "text", "sent"),
    ]
    detail_state = client.get(f"/board/details/{world.detail.id}/state").get_json()
    assert detail_state["detail"]["alerts"][0]["escalation"]["escalation_id"] == esc["escalation_id"]


def test_the_after_action_timeline_has_the_attempts_and_the_acknowledgment(rota, pushes, clock, client):
    from detail.domain import after_action

    world = rota
    clock(T0)
    alert = raise_duress(world)
    clock(T0 + timedelta(seconds=61))
    run_job()
    sign_in(client, world.admin)
    assert client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "called him"}).status_code == 200
    db.session.expire_all()
    report = after_action.build(db.session.get(type(world.detail), world.detail.id), now=T0 + timedelta(hours=1))
    lines = [e.text for e in report.entries if e.kind.startswith("escalation_")]
    assert lines[0] == "Escalation started (duress): DURESS: Bravo 1 (Sam Carter) on Northwind CEO London"
    assert "Step 1: Coord by push, sent" in lines and "Step 2: Admin by text, sent" in lines
    assert lines[-1] == (
        "Escalation acknowledged by Admin on the board: DURESS: Bravo 1 (Sam Carter) on Northwind CEO London"
    )
    page = client.get(f"/admin/details/{world.detail.id}/after-action")
    assert page.status_code == 200 and "Step 2: Admin by text, sent" in page.get_data(as_text=True)


def test_a_failure_to_tell_the_others_never_undoes_the_acknowledgment(rota, pushes, clock, client, monkeypatch):
    def broken(user_id, message):
        raise RuntimeError("push queue unavailable")

    monkeypatch.setattr(push, "queue_push", broken, raising=False)
    clock(T0)
    alert = raise_duress(rota)
    clock(T0 + timedelta(seconds=61))
    run_job()
    sign_in(client, rota.admin)
    assert client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "called him"}).status_code == 200
    db.session.expire_all()
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.acknowledged_by_id == rota.admin.id and db.session.get(Alert, alert.id).acknowledged_at is not None
    # The primary, texted at step 1, is still told by text.
    assert any("acknowledged by Admin" in t.body for t in db.session.scalars(sa.select(TextMessage)))


def test_on_postgresql_two_evaluators_at_once_write_each_step_once(pg_world, pushes, time_machine):
    """Two job processes evaluating the same organisation at the same moment: the advisory lock lets
    one in, and the conditional UPDATE of the step would stop the other anyway."""
    from .escalation_helpers import make_rota

    world = pg_world
    make_rota(world)
    time_machine.move_to(T0, tick=False)
    raise_duress(world)
    time_machine.move_to(T0 + timedelta(seconds=121), tick=False)
    other = db.engine.connect()
    try:
        # The other process holds the organisation's evaluation lock: this one skips it.
        other.execute(sa.text("SELECT pg_advisory_lock(:cls, :org)"), {"cls": jobs.JOB_LOCK_CLASS, "org": world.org.id})
        jobs._for_each_organisation(escalation.evaluate)
        assert attempts() == []
        other.execute(
            sa.text("SELECT pg_advisory_unlock(:cls, :org)"), {"cls": jobs.JOB_LOCK_CLASS, "org": world.org.id}
        )
    finally:
        other.close()
    run_job()
    run_job()
    rows = attempts()
    assert sorted({step for step, *_ in rows}) == [0, 1, 2]
    assert len(rows) == len(set((s, w, c) for s, w, c, _ in rows)) == 2 + 2 + 6
    assert len(pushes.sent) == sum(1 for *_, c, s in rows if c == "push" and s == "sent")
    # And the text reply's lookup, on PostgreSQL too.
    code = db.session.scalar(sa.select(Escalation.ack_code))
    reply, events = escalation.acknowledge_by_text(PRIMARY_NUMBER, f"ACK {code}")
    db.session.commit()
    assert reply.startswith("Acknowledged: DURESS") and [e.kind for e in events][-1] == "escalation_acknowledged"


@pytest.mark.parametrize("alert_kind", ["late_om", "late_station", "silent"])
def test_late_and_silent_alerts_reach_the_primary_by_push_then_the_backup_after_five_minutes(
    rota, pushes, clock, alert_kind
):
    world = rota
    clock(T0)
    db.session.add(
        Alert(
            organisation_id=world.org.id,
            agent=world.agent,
            detail_id=world.detail.id,
            kind=alert_kind,
            message="Bravo 1 late",
            raised_at=T0,
        )
    )
    db.session.commit()
    for seconds, expected in ((1, 1), (299, 1), (300, 2)):
        clock(T0 + timedelta(seconds=seconds))
        run_job()
        assert len(attempts()) == expected
    assert attempts() == [(0, "coord@aegis.example", "push", "sent"), (1, "admin@aegis.example", "push", "sent")]
    assert db.session.scalar(sa.select(Escalation.kind)) == ("silent" if alert_kind == "silent" else "late")


def test_an_escalation_nobody_answers_stops_a_day_after_its_last_step(rota, pushes, clock):
    clock(T0)
    raise_duress(rota)
    clock(T0 + timedelta(minutes=3))
    run_job()
    esc = db.session.scalar(sa.select(Escalation))
    assert esc.next_step is None and esc.ended_at is None, "every step ran; it waits for an acknowledgment"
    clock(T0 + timedelta(hours=24, minutes=1))
    run_job()
    db.session.refresh(esc)
    assert esc.ended_at is not None and esc.end_reason == "nobody acknowledged it within 24 hours"
    assert esc.acknowledged_at is None
