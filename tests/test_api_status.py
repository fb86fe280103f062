"""The live API: agents post status and positions with tokens; coordinators read boards and events."""

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from detail.extensions import db
from detail.models import Event, Position, StatusReport
from detail.web.auth import issue_token

from .conftest import T0

NOW = T0 - timedelta(minutes=40)  # 07:20 UTC: ten minutes before the agent's report time


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _token(user):
    token = issue_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_status_is_stored_once_and_a_retry_gets_it_back(client, world):
    headers = _token(world.agent_user)
    body = {
        "code": "OM",
        "client_id": "7f0c-1",
        "latitude": 51.51,
        "longitude": -0.134,
        "accuracy": 12,
        "reported_at": NOW.isoformat(),
        "note": "leaving hotel",
    }
    first = client.post("/api/v1/status", json=body, headers=headers)
    assert first.status_code == 201, first.json
    retry = client.post("/api/v1/status", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.json == first.json
    assert first.json["code"] == "OM" and first.json["detail_id"] == world.detail.id
    assert _count(StatusReport) == 1 and _count(Event) == 1 and _count(Position) == 1


def test_short_burst_text(client, world):
    response = client.post(
        "/api/v1/status", json={"text": "om eta 0745", "client_id": "t1"}, headers=_token(world.agent_user)
    )
    assert response.status_code == 201
    assert response.json["code"] == "OM" and response.json["eta"].startswith("2026-11-24T07:45")
    assert response.json["source"] == "text"


def test_unknown_code_lists_valid_ones(client, world):
    response = client.post(
        "/api/v1/status", json={"text": "code 4", "client_id": "u1"}, headers=_token(world.agent_user)
    )
    assert response.status_code == 422
    assert "valid codes: OM (Oscar Mike), OS (On station)" in response.json["message"]
    assert _count(StatusReport) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"code": "OM", "client_id": "b", "latitude": 91, "longitude": 0}, "latitude"),
        ({"code": "OM", "client_id": "b", "latitude": "NaN", "longitude": 0}, "latitude"),
        ({"code": "OM", "client_id": "b", "latitude": 51}, "latitude"),
        ({"code": "OM", "client_id": "b", "reported_at": "2026-11-24T07:20:00"}, "reported_at"),
        ({"code": "OM", "client_id": "b", "reported_at": (NOW + timedelta(minutes=10)).isoformat()}, "reported_at"),
        ({"code": "OM"}, "client_id"),
        ({"client_id": "b"}, "code"),
        ({"code": "OM", "text": "om", "client_id": "b"}, "code"),
        ({"code": "OM", "client_id": "b", "colour": "red"}, "colour"),
        ({"code": "OM", "client_id": "b", "duress": True}, "duress"),
        ({"code": "OM", "client_id": "b", "note": "x" * 281}, "note"),
    ],
)
def test_bad_reports_are_refused_and_name_the_field(client, world, body, field):
    response = client.post("/api/v1/status", json=body, headers=_token(world.agent_user))
    assert 400 <= response.status_code < 500
    assert field in response.json["message"] or field in str(response.json.get("errors"))
    assert _count(StatusReport) == 0


def test_late_upload_is_stored_and_flagged(client, world):
    body = {"code": "OS", "client_id": "late", "reported_at": (NOW - timedelta(minutes=30)).isoformat()}
    response = client.post("/api/v1/status", json=body, headers=_token(world.agent_user))
    assert response.status_code == 201 and response.json["late_upload"] is True


def test_only_agents_post_status_and_only_on_their_assignments(client, world):
    body = {"code": "OM", "client_id": "x"}
    assert client.post("/api/v1/status", json=body, headers=_token(world.coordinator)).status_code == 403
    assert client.post("/api/v1/status", json=body, headers=_token(world.contact)).status_code == 403
    assert client.post("/api/v1/status", json=body).status_code == 401
    other = client.post(
        "/api/v1/status", json={**body, "detail_id": world.other_client_detail.id}, headers=_token(world.agent_user)
    )
    assert other.status_code == 403
    assert client.post("/api/v1/status", json=body, headers=_token(world.idle_agent_user)).status_code == 403
    assert _count(StatusReport) == 0


def test_body_size_is_limited(client, world):
    response = client.post(
        "/api/v1/status",
        data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
        headers={**_token(world.agent_user), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json["message"]


def test_positions(client, world):
    headers = _token(world.agent_user)
    response = client.post(
        "/api/v1/positions",
        json={"latitude": 51.5, "longitude": -0.12, "accuracy": 8, "speed_kmh": 12.5, "battery": 80},
        headers=headers,
    )
    assert response.status_code == 201
    assert client.post("/api/v1/positions", json={"latitude": 51.5}, headers=headers).status_code == 422
    assert (
        client.post(
            "/api/v1/positions", json={"latitude": 0, "longitude": 0}, headers=_token(world.coordinator)
        ).status_code
        == 403
    )
    assert _count(Position) == 1


def test_agent_lists_only_own_assignments(client, world):
    agent = client.get("/api/v1/assignments", headers=_token(world.agent_user))
    assert agent.status_code == 200
    assert [a["agent_id"] for a in agent.json] == [world.agent.id]
    spoofed = client.get(
        f"/api/v1/assignments?agent_id={world.idle_agent_user.agent.id}", headers=_token(world.agent_user)
    )
    assert all(a["agent_id"] == world.agent.id for a in spoofed.json)
    # An agent reads but never writes assignments.
    assert client.post("/api/v1/assignments", json={}, headers=_token(world.agent_user)).status_code == 403
    assert client.get("/api/v1/assignments", headers=_token(world.contact)).status_code == 403


def test_events_after_and_board(client, world):
    agent = _token(world.agent_user)
    for n in range(3):
        client.post("/api/v1/status", json={"code": "OM", "client_id": f"e{n}"}, headers=agent)
    coordinator = _token(world.coordinator)
    everything = client.get("/api/v1/events", headers=coordinator).json
    assert [e["kind"] for e in everything] == ["status"] * 3
    after = client.get(f"/api/v1/events?after={everything[0]['id']}", headers=coordinator).json
    assert [e["id"] for e in after] == [e["id"] for e in everything[1:]]
    assert client.get("/api/v1/events", headers=_token(world.other_org_coordinator)).json == []
    assert client.get("/api/v1/events", headers=agent).status_code == 403
    assert client.get(f"/api/v1/events?detail_id={world.other_org_detail.id}", headers=coordinator).status_code == 404

    board = client.get(f"/api/v1/details/{world.detail.id}/board", headers=coordinator)
    assert board.status_code == 200
    row = board.json["agents"][0]
    assert row["call_sign"] == "Bravo 1" and row["status"]["code"]["code"] == "OM"
    # Countdowns to report times run on the server's clock, as the board page's do.
    assert datetime.fromisoformat(board.json["server_now"]).utcoffset() == timedelta(0)
    assert client.get(f"/api/v1/details/{world.other_org_detail.id}/board", headers=coordinator).status_code == 404
    assert client.get(f"/api/v1/details/{world.detail.id}/board", headers=agent).status_code == 403


def test_unknown_api_path_answers_json_with_message(client, world):
    response = client.get("/api/v1/nothing-here", headers=_token(world.coordinator))
    assert response.status_code == 404 and response.json["message"]
