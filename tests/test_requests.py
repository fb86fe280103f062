"""The requests inbox: clients ask (portal) or coordinators log a call; acknowledged, answered, both timed;
the board sees the waiting ones oldest first and is alerted about urgent ones left too long; the contact
is told by email (a real SMTP server on loopback) and in the portal; monthly figures per client."""

from datetime import timedelta

import sqlalchemy as sa

from detail.domain import notices
from detail.domain import requests as inbox
from detail.domain.board_state import organisation_board
from detail.domain.live import NAMESPACE
from detail.domain.requests import percentile
from detail.extensions import db
from detail.models import ClientRequest, Event, Notice

from .conftest import T0, FreshContextSocket, sign_in


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _request(world, **values) -> ClientRequest:
    fields = {"client": world.client, "contact": world.contact, "subject": "Any protests near the venue tomorrow?"}
    fields.update(values)
    req, _ = inbox.log_request(**fields)
    db.session.commit()
    return req


def test_a_contact_asks_in_the_portal_and_the_board_hears_it_at_once(app, client, world, time_machine):
    time_machine.move_to(T0, tick=False)
    sign_in(client, world.coordinator)
    sock = FreshContextSocket(app, namespace=NAMESPACE, flask_test_client=client)
    assert sock.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"]
    sign_in(client, world.contact)
    r = client.post(
        "/portal/requests",
        data={"subject": "Any protests near the venue tomorrow?", "body": "We hear of a march.", "priority": "urgent"},
    )
    assert r.status_code == 302
    req = db.session.scalar(sa.select(ClientRequest))
    assert (req.client_id, req.contact_id, req.channel, req.priority, req.received_at) == (
        world.client.id,
        world.contact.id,
        "portal",
        "urgent",
        T0,
    )
    pushed = [m["args"][0] for m in sock.get_received(NAMESPACE) if m["name"] == "event"]
    assert [(e["kind"], e["payload"]["subject"], e["payload"]["state"]) for e in pushed] == [
        ("request", "Any protests near the venue tomorrow?", "new")
    ]
    assert [r["subject"] for r in organisation_board(world.org.id)["requests"]] == [
        "Any protests near the venue tomorrow?"
    ]
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert "Not yet: the team has it in their inbox." in page


def test_an_empty_request_is_refused_and_nothing_is_stored(client, world):
    sign_in(client, world.contact)
    r = client.post("/portal/requests", data={"subject": "  ", "priority": "normal"})
    assert r.status_code == 400 and "This field is required." in r.get_data(as_text=True)
    r = client.post("/portal/requests", data={"subject": "ok", "priority": "whenever"})
    assert r.status_code == 400 and "Not a valid choice" in r.get_data(as_text=True)
    assert _count(ClientRequest) == 0


def test_acknowledge_and_answer_are_timed_mailed_and_shown_in_the_portal(client, world, mailbox, time_machine):
    time_machine.move_to(T0, tick=False)
    req = _request(world, priority="urgent")
    sign_in(client, world.coordinator)
    time_machine.move_to(T0 + timedelta(minutes=4), tick=False)
    r = client.post(f"/admin/requests/{req.id}/acknowledge", data={"ack-note": "Looking into it now."})
    assert r.status_code == 302
    time_machine.move_to(T0 + timedelta(minutes=42), tick=False)
    typed = {"answer-answer": "One march, 2 km away, ends 11:00."}
    r = client.post(f"/admin/requests/{req.id}/answer", data=typed)
    assert r.status_code == 200 and "Check the answer before it goes" in r.get_data(as_text=True)
    assert db.session.get(ClientRequest, req.id).answered_at is None  # shown for checking, not sent
    r = client.post(f"/admin/requests/{req.id}/answer", data={**typed, "answer-confirmed": "yes"})
    assert r.status_code == 302
    db.session.expire_all()
    assert (req.state, req.acknowledged_by_id, req.answered_by_id) == (
        "answered",
        world.coordinator.id,
        world.coordinator.id,
    )
    assert inbox.minutes_between(req.received_at, req.acknowledged_at) == 4
    assert inbox.minutes_between(req.received_at, req.answered_at) == 42

    assert notices.send_due() == 2
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == [
        "Received: Any protests near the venue tomorrow?",
        "Answer: Any protests near the venue tomorrow?",
    ]
    assert all(m["To"] == world.contact.email for m in mailbox.messages)
    assert "Looking into it now." in mailbox.messages[0].get_content()
    assert "One march, 2 km away, ends 11:00." in mailbox.messages[1].get_content()
    assert notices.send_due() == 0  # sent once

    sign_in(client, world.contact)
    page = client.get(f"/portal/requests/{req.id}").get_data(as_text=True)
    assert "Looking into it now." in page and "One march, 2 km away, ends 11:00." in page
    assert "4 min after you sent it" in page


def test_answering_first_acknowledges_and_nothing_is_done_twice(world, time_machine):
    time_machine.move_to(T0, tick=False)
    req = _request(world)
    event = inbox.answer(req, world.coordinator, "No protests planned.")
    db.session.commit()
    assert event.kind == "request_answered"
    assert req.acknowledged_at == req.answered_at == T0
    assert inbox.acknowledge(req, world.admin, "late") is None
    assert inbox.answer(req, world.admin, "again") is None
    db.session.commit()
    assert (req.acknowledged_by_id, req.answer) == (world.coordinator.id, "No protests planned.")
    assert _count(Notice) == 1  # the answer; no separate acknowledgment mail


def test_an_urgent_request_alerts_the_board_once_after_the_organisations_time(world, time_machine):
    time_machine.move_to(T0, tick=False)
    world.org.request_alert_minutes = 15
    urgent = _request(world, priority="urgent", subject="Principal's car blocked")
    normal = _request(world, priority="normal", subject="Dinner plans")
    assert inbox.evaluate(world.org, T0 + timedelta(minutes=14)) == []
    events = inbox.evaluate(world.org, T0 + timedelta(minutes=15))
    db.session.commit()
    assert [(e.kind, e.payload["request_id"], e.payload["overdue"]) for e in events] == [
        ("request_overdue", urgent.id, True)
    ]
    assert inbox.evaluate(world.org, T0 + timedelta(hours=2)) == []  # once
    board = organisation_board(world.org.id, T0 + timedelta(minutes=20))
    assert [(r["subject"], r["overdue"]) for r in board["requests"]] == [
        ("Principal's car blocked", True),
        ("Dinner plans", False),
    ]
    # Acknowledged: off the board's list, and no alert later.
    inbox.acknowledge(urgent, world.coordinator)
    inbox.acknowledge(normal, world.coordinator)
    db.session.commit()
    assert organisation_board(world.org.id)["requests"] == []


def test_an_acknowledged_urgent_request_never_alerts(world, time_machine):
    time_machine.move_to(T0, tick=False)
    req = _request(world, priority="urgent")
    inbox.acknowledge(req, world.coordinator, now=T0 + timedelta(minutes=3))
    db.session.commit()
    assert inbox.evaluate(world.org, T0 + timedelta(hours=1)) == []


def test_a_coordinator_logs_a_phone_call_for_a_contact(client, world, time_machine):
    time_machine.move_to(T0, tick=False)
    sign_in(client, world.coordinator)
    form = {
        "client_id": world.client.id,
        "contact_id": world.contact.id,
        "detail_id": world.detail.id,
        "channel": "phone",
        "priority": "normal",
        "subject": "Can the car wait at the side door?",
        "body": "",
        "received_at": "2026-11-24T07:40",  # London: 07:40 UTC, twenty minutes ago
    }
    assert client.post("/admin/requests/new", data=form).status_code == 302
    req = db.session.scalar(sa.select(ClientRequest))
    assert (req.channel, req.logged_by_id, req.received_at) == (
        "phone",
        world.coordinator.id,
        T0 - timedelta(minutes=20),
    )
    assert "Can the car wait at the side door?" in client.get("/admin/requests").get_data(as_text=True)
    assert db.session.scalar(sa.select(Event.kind).order_by(Event.id.desc())) == "request"


def test_logging_refuses_another_clients_contact_or_detail_and_future_times(client, world, time_machine):
    time_machine.move_to(T0, tick=False)
    sign_in(client, world.coordinator)
    base = {
        "client_id": world.client.id,
        "contact_id": "",
        "detail_id": "",
        "channel": "email",
        "priority": "low",
        "subject": "Question",
    }
    r = client.post("/admin/requests/new", data={**base, "contact_id": world.other_contact.id})
    assert r.status_code == 400 and "is not a contact of Northwind plc" in r.get_data(as_text=True)
    r = client.post("/admin/requests/new", data={**base, "detail_id": world.other_client_detail.id})
    assert r.status_code == 400 and "is not a detail of Northwind plc" in r.get_data(as_text=True)
    r = client.post("/admin/requests/new", data={**base, "received_at": "2026-11-24T10:00"})
    assert r.status_code == 400 and "cannot be received in the future" in r.get_data(as_text=True)
    r = client.post("/admin/requests/new", data={**base, "contact_id": world.other_org_coordinator.id})
    assert r.status_code == 400 and world.other_org_coordinator.name not in r.get_data(as_text=True)
    assert _count(ClientRequest) == 0


def test_a_contact_sees_only_its_own_clients_requests(client, world):
    mine = _request(world, subject="Northwind question")
    theirs = _request(world, client=world.other_client, contact=world.other_contact, subject="Contoso question")
    sign_in(client, world.contact)
    page = client.get("/portal/requests").get_data(as_text=True)
    assert "Northwind question" in page and "Contoso question" not in page
    assert client.get(f"/portal/requests/{theirs.id}").status_code == 404
    assert client.get(f"/portal/requests/{mine.id}").status_code == 200


def test_percentile_is_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile(list(range(1, 21)), 0.9) == 18
    assert percentile([1, 2, 3], 0.9) == 3


def test_monthly_figures_per_client(world, client):
    # November (London): acknowledgments after 2, 4, 6, 8, 30 min; answers after 10, 20, 60 min; one unanswered.
    ack_after = [2, 4, 6, 8, 30]
    answer_after = [10, 20, 60, None, None]
    for i, (ack, ans) in enumerate(zip(ack_after, answer_after, strict=True)):
        received = T0 + timedelta(days=i)
        req = _request(world, subject=f"Nov {i}", received_at=received)
        inbox.acknowledge(req, world.coordinator, now=received + timedelta(minutes=ack))
        if ans is not None:
            inbox.answer(req, world.coordinator, "done", now=received + timedelta(minutes=ans))
    # December: one, still waiting.
    _request(world, subject="Dec", received_at=T0 + timedelta(days=10))
    _request(world, client=world.other_client, contact=world.other_contact, subject="Other", received_at=T0)
    db.session.commit()
    rows = {(r.client, r.month): r for r in inbox.figures(world.org)}
    nov = rows[("Northwind plc", "2026-11")]
    assert (nov.count, nov.acknowledged, nov.answered) == (5, 5, 3)
    assert (nov.ack_median, nov.ack_p90, nov.answer_median, nov.answer_p90) == (6, 30, 20, 60)
    dec = rows[("Northwind plc", "2026-12")]
    assert (dec.count, dec.acknowledged, dec.ack_median) == (1, 0, None)
    assert [r.client for r in inbox.figures(world.org, world.client.id)] == ["Northwind plc", "Northwind plc"]

    sign_in(client, world.coordinator)
    page = client.get(f"/admin/requests/figures?client={world.client.id}").get_data(as_text=True)
    assert "2026-11" in page and "30 min" in page and "1 h 00 min" in page


def test_mail_server_down_the_notice_waits_and_goes_once(world, mailbox, app, time_machine):
    from .mailbox import free_port

    time_machine.move_to(T0, tick=False)
    req = _request(world)
    inbox.acknowledge(req, world.coordinator)
    db.session.commit()
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    assert notices.send_due() == 0
    notice = db.session.scalar(sa.select(Notice))
    assert notice.status == "failed" and notice.next_attempt_at == T0 + timedelta(minutes=1)
    app.config["SMTP_PORT"] = port
    assert notices.send_due() == 0  # not due yet
    time_machine.move_to(T0 + timedelta(minutes=1), tick=False)
    assert notices.send_due() == 1
    assert notices.send_due() == 0
    assert len(mailbox.messages) == 1


def test_a_receipt_a_little_ahead_of_our_clock_is_acknowledged_at_the_receipt(client, world, time_machine):
    """A call logged with a typed time a minute ahead (the form allows it), or a clock that drifts:
    acknowledging and answering at once is not a database error, and is never timed before the receipt."""
    time_machine.move_to(T0, tick=False)
    req = _request(world, received_at=T0 + timedelta(minutes=1))
    sign_in(client, world.coordinator)
    assert client.post(f"/admin/requests/{req.id}/acknowledge", data={"ack-note": ""}).status_code == 302
    assert (
        client.post(
            f"/admin/requests/{req.id}/answer", data={"answer-answer": "None expected", "answer-confirmed": "yes"}
        ).status_code
        == 302
    )
    db.session.expire_all()
    assert req.acknowledged_at == req.answered_at == req.received_at == T0 + timedelta(minutes=1)


def test_acknowledging_long_before_the_receipt_is_refused_with_a_message(client, world, time_machine):
    """A receipt stamped hours ahead (the demo's old early-morning request): a 409 that says why, on the
    page and on the board, never an Internal Server Error; nothing is stored or mailed."""
    time_machine.move_to(T0, tick=False)
    req = _request(world, received_at=T0 + timedelta(hours=2, minutes=29))
    sign_in(client, world.coordinator)
    page = client.post(f"/admin/requests/{req.id}/acknowledge", data={"ack-note": "On it"})
    assert page.status_code == 409
    assert "received at Tue 24 Nov 10:29 GMT, 149 min from now" in page.get_data(as_text=True)
    answer = client.post(f"/admin/requests/{req.id}/answer", data={"answer-answer": "None", "answer-confirmed": "yes"})
    assert answer.status_code == 409
    assert "cannot be acknowledged or answered before then" in answer.get_data(as_text=True)
    board = client.post(f"/board/requests/{req.id}/acknowledge", json={"note": "On it"})
    assert board.status_code == 409 and "149 min from now" in board.get_json()["message"]
    db.session.expire_all()
    assert (req.acknowledged_at, req.answered_at, _count(Notice)) == (None, None, 0)
