"""The board: Socket.IO connect and join checks, live events, catch-up, alerts and detail state."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from detail.domain.live import NAMESPACE
from detail.domain.statuses import find_code, record_status
from detail.extensions import db
from detail.models import Alert, Event
from detail.web.auth import issue_token

from .conftest import T0, FreshContextSocket, sign_in


def _socket(app, client=None, auth=None):
    return FreshContextSocket(app, namespace=NAMESPACE, flask_test_client=client, auth=auth)


def _token(user):
    token = issue_token(user, "board")
    db.session.commit()
    return token


def _events(sock):
    return [r["args"][0] for r in sock.get_received(NAMESPACE) if r["name"] == "event"]


def test_signed_in_coordinator_connects_and_joins(app, client, world):
    sign_in(client, world.coordinator)
    sock = _socket(app, client)
    assert sock.is_connected(NAMESPACE)
    assert sock.emit("join", {}, namespace=NAMESPACE, callback=True) == {"ok": True, "room": "organisation"}
    ack = sock.emit("join", {"detail_id": world.detail.id}, namespace=NAMESPACE, callback=True)
    assert ack["ok"]


def test_coordinator_token_connects(app, world):
    sock = _socket(app, auth={"token": _token(world.coordinator)})
    assert sock.is_connected(NAMESPACE)


@pytest.mark.parametrize("who", ["anonymous", "agent", "client", "bad_token", "agent_token"])
def test_refused_connections(app, client, world, who):
    auth = None
    if who in ("agent", "client"):
        sign_in(client, world.user(who))
    elif who == "bad_token":
        auth = {"token": "om_not_a_token"}
    elif who == "agent_token":
        auth = {"token": _token(world.agent_user)}
    sock = _socket(app, client, auth=auth)
    assert not sock.is_connected(NAMESPACE)


def test_joining_another_organisations_detail_is_refused(app, client, world):
    sign_in(client, world.coordinator)
    sock = _socket(app, client)
    for detail_id in (world.other_org_detail.id, 999999, "x"):
        ack = sock.emit("join", {"detail_id": detail_id}, namespace=NAMESPACE, callback=True)
        assert ack["ok"] is False


def _om(world, client_id, minutes=-40, **extra):
    return record_status(
        world.agent, find_code(world.org.id, "OM"), client_id=client_id, now=T0 + timedelta(minutes=minutes), **extra
    )


def test_status_posted_reaches_the_room_and_no_other_organisation(app, client, world):
    sign_in(client, world.coordinator)
    ours = _socket(app, client)
    ours.emit("join", {"detail_id": world.detail.id}, namespace=NAMESPACE, callback=True)
    theirs = _socket(app, auth={"token": _token(world.other_org_coordinator)})
    theirs.emit("join", {}, namespace=NAMESPACE, callback=True)
    ours.get_received(NAMESPACE)

    from detail.domain.live import publish

    recorded = _om(world, "a1")
    db.session.commit()
    publish(recorded.events)
    received = _events(ours)
    assert [e["kind"] for e in received] == ["status"]
    assert received[0]["payload"]["code"]["code"] == "OM"
    assert received[0]["id"] == recorded.events[0].id
    assert _events(theirs) == []


def test_catch_up_returns_exactly_the_missed_events_in_order(app, client, world):
    sign_in(client, world.coordinator)
    first = _om(world, "c1")
    db.session.commit()
    seen = first.events[-1].id
    for n in range(2, 5):
        _om(world, f"c{n}", minutes=-40 + n)
    db.session.commit()
    sock = _socket(app, client)
    reply = sock.emit("catch_up", {"after": seen}, namespace=NAMESPACE, callback=True)
    ids = [e["id"] for e in reply["events"]]
    assert ids == sorted(ids) and len(ids) == 3 and min(ids) > seen
    # Filtered to a detail of one's own organisation; another's is refused.
    assert sock.emit("catch_up", {"after": 0, "detail_id": world.detail.id}, namespace=NAMESPACE, callback=True)["ok"]
    refused = sock.emit(
        "catch_up", {"after": 0, "detail_id": world.other_org_detail.id}, namespace=NAMESPACE, callback=True
    )
    assert refused["ok"] is False


def test_catch_up_never_shows_another_organisations_events(app, world):
    _om(world, "mine")
    db.session.commit()
    sock = _socket(app, auth={"token": _token(world.other_org_coordinator)})
    assert sock.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)["events"] == []


def test_duress_stays_raised_across_reloads_until_acknowledged(app, client, world):
    from detail.domain.statuses import submit_status

    submit_status(world.agent_user, {"duress": True, "client_id": "d1"}, "phone", now=T0)
    db.session.commit()
    sign_in(client, world.coordinator)
    for _ in range(2):  # a reload is a fresh read of the board state
        state = client.get("/board/state").json
        assert [a["kind"] for a in state["alerts"]] == ["duress"]
    alert_id = state["alerts"][0]["alert_id"]
    response = client.post(f"/board/alerts/{alert_id}/acknowledge", json={"note": "Agent safe, false alarm"})
    assert response.status_code == 200
    assert response.json["acknowledged_by"] == world.coordinator.name
    assert client.get("/board/state").json["alerts"] == []
    kinds = db.session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["status", "alert", "alert_acknowledged"]


def test_duress_cannot_be_muted_and_other_orgs_cannot_touch_alerts(app, client, world):
    from detail.domain.statuses import submit_status

    submit_status(world.agent_user, {"duress": True, "client_id": "d2"}, "phone", now=T0)
    db.session.commit()
    alert = db.session.scalars(sa.select(Alert)).one()
    sign_in(client, world.coordinator)
    assert client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 15}).status_code == 409
    client.post("/logout")
    sign_in(client, world.other_org_coordinator)
    assert client.post(f"/board/alerts/{alert.id}/acknowledge", json={"note": "x"}).status_code == 404
    db.session.refresh(alert)
    assert alert.acknowledged_at is None


def test_late_alert_can_be_muted(app, client, world):
    from detail.domain import alerts

    alerts.evaluate(world.org, T0)
    db.session.commit()
    alert = db.session.scalars(sa.select(Alert).where(Alert.kind == "late_om")).one()
    sign_in(client, world.coordinator)
    assert client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 7}).status_code == 422
    response = client.post(f"/board/alerts/{alert.id}/mute", json={"minutes": 15})
    assert response.status_code == 200 and response.json["muted_until"]


@pytest.mark.parametrize("who, status", [("coordinator", 200), ("lead", 200), ("other_agent", 404), ("client", 403)])
def test_detail_state_changes_by_lead_or_coordinator(app, client, world, who, status):
    user = {
        "coordinator": world.coordinator,
        "lead": world.agent_user,
        "other_agent": world.idle_agent_user,
        "client": world.contact,
    }[who]
    sign_in(client, user)
    body = {"state": "hot", "from_state": "planned", "confirmed": True}
    response = client.post(f"/board/details/{world.detail.id}/state", json=body)
    assert response.status_code == status
    db.session.refresh(world.detail)
    assert world.detail.state == ("hot" if status == 200 else "planned")
    if status == 200:
        event = db.session.scalars(sa.select(Event).where(Event.kind == "detail_state")).one()
        assert event.payload["by"] == user.name and event.payload["previous"] == "planned"


def test_detail_state_must_be_known(app, client, world):
    sign_in(client, world.coordinator)
    response = client.post(f"/board/details/{world.detail.id}/state", json={"state": "lukewarm"})
    assert response.status_code == 422 and "planned, hot, complete" in response.json["message"]


def test_board_state_json(app, client, world):
    _om(world, "s1", latitude=51.509, longitude=-0.13)
    db.session.commit()
    sign_in(client, world.coordinator)
    state = client.get(f"/board/details/{world.detail.id}/state").json
    row = state["detail"]["agents"][0]
    assert row["call_sign"] == "Bravo 1" and row["status"]["code"]["code"] == "OM"
    assert row["position"]["latitude"] == 51.509
    assert [e["kind"] for e in state["timeline"]] == ["status"]
    assert client.get(f"/board/details/{world.other_org_detail.id}/state").status_code == 404


NO_DATA = object()


@pytest.mark.parametrize(
    "event, data, says",
    [
        ("catch_up", {"after": 10**20}, "after must be"),
        ("catch_up", {"after": -1}, "after must be"),
        ("catch_up", {"after": "x"}, "after must be"),
        ("catch_up", {"after": True}, "after must be"),
        ("catch_up", {"after": 0, "detail_id": 10**20}, "detail_id must be"),
        ("catch_up", [0], "an object"),
        ("catch_up", "0", "an object"),
        ("catch_up", NO_DATA, "an object"),
        ("join", NO_DATA, "an object"),
        ("join", None, "an object"),
        ("join", {"detail_id": 10**20}, "detail_id must be"),
        ("join", {"detail_id": -4}, "detail_id must be"),
        ("join", {"detail_id": 2.5}, "detail_id must be"),
        ("join", ["detail_id", 1], "an object"),
        ("join", 7, "an object"),
        ("leave", NO_DATA, "an object"),
        ("leave", {"detail_id": 10**20}, "detail_id must be"),
        ("leave", "x", "an object"),
    ],
)
def test_bad_socket_input_gets_an_error_answer(app, client, world, event, data, says):
    sign_in(client, world.coordinator)
    sock = _socket(app, client)
    args = () if data is NO_DATA else (data,)
    ack = sock.emit(event, *args, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False and says in ack["error"], ack
    assert sock.is_connected(NAMESPACE)
    assert sock.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)["ok"] is True
