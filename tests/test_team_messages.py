"""Team messages with receipts: who receives them, stored once per client id, receipts set once,
the summary the board shows, texts to those waiting, and who may see and do what (pages and API).

Pushes are queued for the real push job (QueuedPush rows, read back here); that a handed-over push
marks the message delivered by push is in tests/test_alarm_end_to_end.py, through a real push service.
"""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.domain import after_action, team_messages
from detail.domain.statuses import Refused
from detail.extensions import db
from detail.models import (
    Agent,
    Assignment,
    Device,
    Event,
    MessageRecipient,
    QueuedPush,
    TeamMessage,
    TextMessage,
    User,
    utcnow,
)
from detail.web.auth import issue_token

from .conftest import PASSWORD_HASH


def queued_pushes() -> list[QueuedPush]:
    """What push.queue_push left for the push job, in order."""
    return db.session.scalars(sa.select(QueuedPush).order_by(QueuedPush.id)).all()


def _second_agent(world, call_sign="Bravo 2", name="Alex Reed", phone="+447700900222"):
    user = User(organisation=world.org, email=f"{call_sign.replace(' ', '')}@aegis.example", name=name, role="agent")
    user.password_hash = PASSWORD_HASH
    user.phone = phone
    agent = Agent(organisation=world.org, user=user, call_sign=call_sign)
    a = world.assignment
    db.session.add_all(
        [
            user,
            agent,
            Assignment(
                detail=world.detail,
                agent=agent,
                role="agent",
                report_at=a.report_at,
                shift_starts_at=a.shift_starts_at,
                shift_ends_at=a.shift_ends_at,
            ),
        ]
    )
    db.session.commit()
    return user


def _send(world, client_id="m-1", **kwargs):
    kwargs.setdefault("detail_id", world.detail.id)
    kwargs.setdefault("body", "Principal delayed 20 min, hold positions")
    sent = team_messages.send_from_coordinator(world.coordinator, client_id=client_id, **kwargs)
    db.session.commit()
    return sent


# --- domain --------------------------------------------------------------------------------------


def test_a_message_to_a_detail_reaches_each_of_its_agents_once_and_no_one_else(world):
    second = _second_agent(world)
    sent = _send(world, asks_ack=True)
    message = sent.message
    assert sent.created and message.audience == "detail"
    assert sorted(r.user_id for r in message.recipients) == sorted([world.agent_user.id, second.id])
    # The idle agent (not on the detail), coordinators and the client's contacts are not recipients.
    assert world.idle_agent_user.id not in {r.user_id for r in message.recipients}
    assert world.contact.id not in {r.user_id for r in message.recipients}
    pushes = queued_pushes()
    assert sorted(push.user_id for push in pushes) == sorted([world.agent_user.id, second.id])
    assert {push.tag for push in pushes} == {f"team-message-{message.id}"}
    assert all(push.url == f"/phone/#message-{message.id}" and push.status == "pending" for push in pushes)
    event = db.session.get(Event, sent.events[0].id)
    assert event.kind == "team_message" and event.detail_id == world.detail.id
    assert sorted(event.payload["to_phones"]) == sorted([world.agent_user.id, second.id])
    # What phones are shown names no recipient.
    assert "recipients" not in event.payload["phone"]
    assert event.payload["summary"]["text"] == "0 of 2 acknowledged"


def test_a_retried_send_with_the_same_client_id_is_stored_once(world):
    first = _send(world, client_id="retry-1")
    again = _send(world, client_id="retry-1", body="a different body is still the same send")
    assert not again.created and again.events == [] and again.message.id == first.message.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamMessage)) == 1
    assert len(queued_pushes()) == 1
    # Another sender's same client id is another message.
    other = team_messages.send_from_coordinator(
        world.admin, client_id="retry-1", body="hello", detail_id=world.detail.id
    )
    assert other.created


def test_to_some_agents_and_to_one(world):
    second = _second_agent(world)
    sent = _send(world, agent_ids=[second.agent.id], detail_id=None, body="Bring the spare radio")
    assert sent.message.audience == "agents" and [r.user_id for r in sent.message.recipients] == [second.id]
    both = _send(world, client_id="m-2", agent_ids=[second.agent.id, world.agent.id], detail_id=None)
    assert len(both.message.recipients) == 2


def test_refusals_store_nothing(world):
    rival = team_messages.send_from_coordinator  # shorthand
    with pytest.raises(Refused, match="no detail"):
        rival(world.coordinator, client_id="x1", body="hi", detail_id=world.other_org_detail.id)
    with pytest.raises(Refused, match="no agent"):
        rival(world.other_org_coordinator, client_id="x2", body="hi", agent_ids=[world.agent.id])
    with pytest.raises(Refused, match="write the message"):
        rival(world.coordinator, client_id="x3", body="   ", detail_id=world.detail.id)
    with pytest.raises(Refused, match="no agents assigned"):
        rival(world.coordinator, client_id="x4", body="hi", detail_id=world.other_client_detail.id)
    with pytest.raises(Refused, match="only coordinators"):
        rival(world.agent_user, client_id="x5", body="hi", detail_id=world.detail.id)
    with pytest.raises(Refused, match="only agents"):
        team_messages.send_from_agent(world.contact, client_id="x6", body="hi")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamMessage)) == 0


def test_an_agent_writes_to_the_coordinators_of_the_organisation(world):
    sent = team_messages.send_from_agent(
        world.agent_user, client_id="p-1", body="Side door unlocked", detail_id=world.detail.id
    )
    db.session.commit()
    recipients = {r.user_id for r in sent.message.recipients}
    assert recipients == {world.admin.id, world.coordinator.id}  # not the other firm's, not a contact
    assert queued_pushes() == []  # coordinators watch the board
    assert sent.events[0].payload["to_phones"] == [world.agent_user.id]  # the sender's own phone lists it
    with pytest.raises(Refused, match="not on detail"):
        team_messages.send_from_agent(
            world.agent_user, client_id="p-2", body="x", detail_id=world.other_client_detail.id
        )


def test_receipts_are_set_once_and_imply_the_steps_before(world):
    second = _second_agent(world)
    message = _send(world, asks_ack=True).message
    events = team_messages.record_receipt(message, world.agent_user, "delivered", via="socket")
    db.session.commit()
    assert events[0].payload["changed"] == ["delivered"]
    assert team_messages.record_receipt(message, world.agent_user, "delivered", via="push") == []
    events = team_messages.record_receipt(message, world.agent_user, "acknowledged")
    db.session.commit()
    assert events[0].payload["changed"] == ["read", "acknowledged"]
    assert events[0].payload["to_phones"] == [world.agent_user.id]
    assert team_messages.record_receipt(message, world.agent_user, "acknowledged") == []  # a double tap
    row = team_messages.recipient_row(message, world.agent_user)
    assert row.delivered_via == "socket" and row.read_at and row.acknowledged_at
    summary = team_messages.summary(message)
    assert summary["text"] == "1 of 2 acknowledged"
    assert summary["waiting"] == [f"Bravo 2 ({second.name})"]
    # A push handed over counts as delivery for whoever had not had it by socket.
    team_messages.push_handed_over(second.id, team_messages.push_tag(message.id))
    assert team_messages.recipient_row(message, second).delivered_via == "push"
    # Not a recipient: not found; no acknowledgment asked: refused.
    with pytest.raises(Refused, match="no such message"):
        team_messages.record_receipt(message, world.idle_agent_user, "read")
    plain = _send(world, client_id="m-plain").message
    with pytest.raises(Refused, match="asks for no acknowledgment"):
        team_messages.record_receipt(plain, world.agent_user, "acknowledged")
    assert team_messages.summary(plain)["text"] == "0 of 2 read"


def test_a_tap_queued_offline_keeps_its_time_within_bounds(world):
    message = _send(world, asks_ack=True).message
    message.created_at -= timedelta(minutes=5)  # sent five minutes ago; tapped offline 30 s after
    tapped = message.created_at + timedelta(seconds=30)
    team_messages.record_receipt(message, world.agent_user, "acknowledged", at=tapped)
    assert team_messages.recipient_row(message, world.agent_user).acknowledged_at == tapped
    later = _send(world, client_id="m-3", asks_ack=True).message
    team_messages.record_receipt(later, world.agent_user, "read", at=later.created_at + timedelta(days=3))
    assert team_messages.recipient_row(later, world.agent_user).read_at <= utcnow()


def test_who_sees_which_message(world):
    second = _second_agent(world)
    to_detail = _send(world).message
    to_second = _send(world, client_id="m-2", agent_ids=[second.agent.id], detail_id=None).message
    visible = team_messages.visible_message
    assert visible(world.coordinator, to_second.id) is to_second
    assert visible(world.agent_user, to_detail.id) is to_detail
    assert visible(world.agent_user, to_second.id) is None  # sent to another agent only
    assert visible(world.other_org_coordinator, to_detail.id) is None
    assert visible(world.contact, to_detail.id) is None
    assert [m.id for m in team_messages.messages_for(world.agent_user)] == [to_detail.id]
    assert {m.id for m in team_messages.messages_for(world.coordinator)} == {to_detail.id, to_second.id}
    assert team_messages.messages_for(world.other_org_coordinator) == []
    shown = team_messages.view(to_detail, world.agent_user)
    assert "recipients" not in shown and shown["receipt"]["read_at"] is None


def test_texts_go_to_those_who_have_not_acknowledged_and_have_a_number(world):
    second = _second_agent(world)
    third = _second_agent(world, call_sign="Bravo 3", name="No Number", phone="")
    db.session.add(Device(organisation_id=world.org.id, agent=world.agent, kind="phone", identifier="+447700900111"))
    db.session.commit()
    message = _send(world, asks_ack=True).message
    team_messages.record_receipt(message, second, "acknowledged")
    outcome = team_messages.text_those_waiting(message, world.coordinator)
    db.session.commit()
    assert outcome.texted == ["Bravo 1 (Sam Carter)"]
    assert outcome.no_number == [f"Bravo 3 ({third.name})"]
    texts = db.session.scalars(sa.select(TextMessage)).all()
    assert [(t.to_number, t.user_id) for t in texts] == [("+447700900111", world.agent_user.id)]
    assert "Principal delayed" in texts[0].body
    assert outcome.events[0].kind == "team_message_texted"
    # A second click at once texts nobody again.
    again = team_messages.text_those_waiting(message, world.coordinator)
    assert again.texted == [] and again.just_texted == ["Bravo 1 (Sam Carter)"] and again.events == []
    with pytest.raises(Refused):
        team_messages.text_those_waiting(message, world.agent_user)


def test_the_profile_number_is_used_when_no_phone_is_bound(world):
    second = _second_agent(world, phone="+44 (0)7700 900-333")
    assert team_messages.mobile_number(second) == "+447700900333"


def test_messages_and_receipts_are_in_the_after_action_timeline(world):
    message = _send(world, asks_ack=True).message
    team_messages.record_receipt(message, world.agent_user, "acknowledged")
    db.session.commit()
    report = after_action.build(world.detail)
    texts = [e.text for e in report.entries]
    assert any("Principal delayed 20 min" in t and "Coord" in t for t in texts), texts
    assert any(t.startswith("Bravo 1 (Sam Carter) acknowledged") for t in texts), texts
    assert report.messages[0].summary["text"] == "1 of 1 acknowledged"


# --- pages (session cookie) ------------------------------------------------------------------------


def _page_send(client, **body):
    return client.post("/messages/", json=body)


def test_the_pages_send_list_and_record_receipts(world, as_user):
    world.detail.ends_at = utcnow() + timedelta(hours=2)  # on today's board, which the form lists
    db.session.commit()
    coordinator = as_user(world.coordinator)
    response = _page_send(coordinator, body="Hold positions", client_id="b-1", detail_id=world.detail.id, asks_ack=True)
    assert response.status_code == 201, response.json
    message_id = response.json["id"]
    assert response.json["summary"]["text"] == "0 of 1 acknowledged"
    assert _page_send(coordinator, body="Hold positions", client_id="b-1", detail_id=world.detail.id).status_code == 200
    listing = coordinator.get("/messages/").json
    assert [m["id"] for m in listing["messages"]] == [message_id]
    assert world.detail.id in [d["id"] for d in listing["addressees"]["details"]]

    agent = as_user(world.agent_user)
    assert agent.post(f"/messages/{message_id}/delivered", json={"via": "socket"}).json["changed"] is True
    first = agent.post(f"/messages/{message_id}/acknowledge", json={})
    assert first.status_code == 200 and first.json["changed"] is True
    again = agent.post(f"/messages/{message_id}/acknowledge", json={})
    assert again.status_code == 200 and again.json["changed"] is False
    mine = agent.get("/messages/").json
    assert "addressees" not in mine and "recipients" not in mine["messages"][0]
    assert mine["messages"][0]["receipt"]["acknowledged_at"]

    coordinator = as_user(world.coordinator)
    assert coordinator.get("/messages/").json["messages"][0]["summary"]["text"] == "1 of 1 acknowledged"


def test_page_refusals(world, as_user):
    coordinator = as_user(world.coordinator)
    assert _page_send(coordinator, body="", client_id="r-1", detail_id=world.detail.id).status_code == 422
    assert _page_send(coordinator, body="x", client_id="r-2").status_code == 422
    assert _page_send(coordinator, body="x", client_id="r-3", detail_id=world.other_org_detail.id).status_code == 404
    message_id = _page_send(coordinator, body="x", client_id="r-4", detail_id=world.detail.id).json["id"]
    assert coordinator.post(f"/messages/{message_id}/texts", json={}).status_code == 422  # not confirmed
    assert coordinator.post(f"/messages/{message_id}/acknowledge", json={}).status_code == 403
    idle = as_user(world.idle_agent_user)
    assert idle.post(f"/messages/{message_id}/read", json={}).status_code == 404
    assert _page_send(idle, body="x", client_id="r-5", agent_ids=[world.agent.id]).status_code == 422
    assert as_user(world.contact).get("/messages/").status_code == 403
    rival = as_user(world.other_org_coordinator)
    assert rival.post(f"/messages/{message_id}/texts", json={"confirmed": True}).status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamMessage)) == 1


# --- the JSON API (bearer tokens) ------------------------------------------------------------------


def _api(client, user, method, path, **kwargs):
    token = issue_token(user, "test")
    db.session.commit()
    return client.open(f"/api/v1/messages{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_api_send_list_receipts_and_texts(world, client):
    second = _second_agent(world)
    body = {"body": "Hold", "client_id": "a-1", "agent_ids": [second.agent.id], "asks_ack": True}
    sent = _api(client, world.coordinator, "POST", "", json=body)
    assert sent.status_code == 201, sent.json
    message_id = sent.json["id"]
    assert sent.json["from"] == "Coord" and sent.json["recipients"][0]["user_id"] == second.id
    assert _api(client, world.coordinator, "POST", "", json={"body": "Hold", "client_id": "a-1"}).status_code == 200
    assert _api(client, second, "POST", f"/{message_id}/read", json={}).json["changed"] is True
    assert _api(client, second, "GET", f"/{message_id}").json["receipt"]["read_at"]
    assert _api(client, world.agent_user, "GET", f"/{message_id}").status_code == 404  # not his
    assert _api(client, world.coordinator, "POST", f"/{message_id}/read", json={}).status_code == 403
    assert _api(client, world.other_org_coordinator, "GET", f"/{message_id}").status_code == 404
    assert _api(client, world.other_org_coordinator, "GET", "").json == []
    assert _api(client, world.contact, "GET", "").status_code == 403
    texted = _api(client, world.coordinator, "POST", f"/{message_id}/texts", json={"confirmed": True})
    assert texted.status_code == 200 and texted.json["texted"] == [f"Bravo 2 ({second.name})"]
    assert _api(client, second, "POST", f"/{message_id}/texts", json={"confirmed": True}).status_code == 403
    from_agent = _api(client, world.agent_user, "POST", "", json={"body": "Side door open", "client_id": "a-2"})
    assert from_agent.status_code == 201 and from_agent.json["mine"] is True
    to_agents = {"body": "x", "client_id": "a-3", "agent_ids": [1]}
    assert _api(client, world.agent_user, "POST", "", json=to_agents).status_code == 422
    rows = db.session.scalars(sa.select(MessageRecipient).where(MessageRecipient.message_id == from_agent.json["id"]))
    assert {r.user_id for r in rows} == {world.admin.id, world.coordinator.id}


def test_a_send_racing_its_own_retry_is_stored_once_on_each_backend(backend, monkeypatch):
    """The unique (sender, client_id) decides when two copies of one send miss each other's row."""
    w = backend
    first = team_messages.send_from_coordinator(w.coordinator, client_id="race-1", body="x", detail_id=w.detail.id)
    db.session.commit()
    real = team_messages._stored
    looks = iter([None])  # the second copy looks before the first is visible, then finds it
    monkeypatch.setattr(team_messages, "_stored", lambda sender, client_id: next(looks, real(sender, client_id)))
    again = team_messages.send_from_coordinator(w.coordinator, client_id="race-1", body="x", detail_id=w.detail.id)
    db.session.commit()
    assert not again.created and again.events == [] and again.message.id == first.message.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TeamMessage)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MessageRecipient)) == 1


def test_the_queries_on_each_backend(backend):
    w = backend
    w.agent_user.phone = "+447700900111"
    message = team_messages.send_from_coordinator(
        w.coordinator, client_id="b-1", body="Hold", detail_id=w.detail.id, asks_ack=True
    ).message
    team_messages.record_receipt(message, w.agent_user, "read")
    db.session.commit()
    assert [m.id for m in team_messages.messages_for(w.agent_user, w.detail.id)] == [message.id]
    assert team_messages.messages_for(w.other_org_coordinator) == []
    assert team_messages.addressees(w.org.id, now=w.detail.starts_at)["details"][0]["agents"] == [w.agent.id]
    outcome = team_messages.text_those_waiting(message, w.coordinator)
    db.session.commit()
    assert outcome.texted == ["Bravo 1 (Sam Carter)"]
    assert team_messages.summary(message)["text"] == "0 of 1 acknowledged"
    assert after_action.build(w.detail).messages[0].summary["read"] == 1
