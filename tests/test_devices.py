"""Binding apps' device ids and texting numbers to agents (API, pages, CLI), position retention,
the board's distance and arrival estimate, and 503 (never 4xx) when the database is away."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from detail.domain import board_state
from detail.domain.devices import BindingError, agent_for_device, agent_for_number, bind, normalise_phone
from detail.domain.positions import record_position
from detail.extensions import db
from detail.models import Device, Position
from detail.web.auth import issue_token

from .conftest import T0, sign_in

NOW = T0 - timedelta(minutes=40)


def _token(user):
    token = issue_token(user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "raw, number",
    [
        ("+44 7700 900-123", "+447700900123"),
        ("+44 (0)7700 900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
    ],
)
def test_phone_numbers_are_normalised(raw, number):
    assert normalise_phone(raw) == number


def test_bind_and_look_up(world):
    device = bind(world.agent, " 823411 ", label="Traccar")
    number = bind(world.agent, "+44 7700 900123")
    db.session.commit()
    assert (device.kind, device.identifier, number.kind, number.identifier) == (
        "device",
        "823411",
        "phone",
        "+447700900123",
    )
    assert agent_for_device("823411") == world.agent and device.last_seen_at is not None
    assert agent_for_number("+447700900123") == world.agent
    assert agent_for_device("+447700900123") is None  # a number is not a device id
    assert bind(world.agent, "823411") is device  # binding again is a no-op
    with pytest.raises(BindingError, match="another agent"):
        bind(world.idle_agent_user.agent, "823411")
    with pytest.raises(BindingError, match="international form"):
        bind(world.agent, "07700", kind="phone")
    with pytest.raises(BindingError, match="device id"):
        bind(world.agent, "a b")


def test_profile_number_works_without_binding_unless_shared(world):
    world.agent_user.phone = "+44 7700 900555"
    db.session.commit()
    assert agent_for_number("+447700900555") == world.agent
    world.idle_agent_user.phone = "+447700900555"
    db.session.commit()
    assert agent_for_number("+447700900555") is None  # ambiguous: nobody


def test_deactivated_agents_devices_are_refused(world):
    bind(world.agent, "823411")
    world.agent_user.active = False
    db.session.commit()
    assert agent_for_device("823411") is None


def test_devices_api(client, world):
    headers = _token(world.coordinator)
    r = client.post("/api/v1/devices", json={"agent_id": world.agent.id, "identifier": "823411"}, headers=headers)
    assert r.status_code == 201 and r.json["kind"] == "device" and r.json["agent_id"] == world.agent.id
    device_id = r.json["id"]
    clash = {"agent_id": world.idle_agent_user.agent.id, "identifier": "823411"}
    r = client.post("/api/v1/devices", json=clash, headers=headers)
    assert r.status_code == 409 and "already bound" in r.json["message"]
    r = client.post(
        "/api/v1/devices", json={"agent_id": world.agent.id, "identifier": "7700", "kind": "phone"}, headers=headers
    )
    assert r.status_code == 422 and "identifier" in r.json["errors"]["json"]
    # another organisation's coordinator neither sees nor binds to our agents
    rival = _token(world.other_org_coordinator)
    assert client.get("/api/v1/devices", headers=rival).json == []
    r = client.post("/api/v1/devices", json={"agent_id": world.agent.id, "identifier": "999999"}, headers=rival)
    assert r.status_code == 422
    assert client.delete(f"/api/v1/devices/{device_id}", headers=rival).status_code == 404
    assert [d["identifier"] for d in client.get("/api/v1/devices", headers=headers).json] == ["823411"]
    assert client.delete(f"/api/v1/devices/{device_id}", headers=headers).status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 0


def test_devices_page_binds_and_unbinds(client, world):
    sign_in(client, world.coordinator)
    page = client.get("/admin/devices").get_data(as_text=True)
    assert "/ingest/owntracks" in page and "/ingest/osmand" in page and "%LAT" in page
    r = client.post(
        "/admin/devices",
        data={"agent_id": world.agent.id, "identifier": "+44 7700 900123", "kind": "", "label": "work"},
    )
    assert r.status_code == 302
    device = db.session.scalar(sa.select(Device))
    assert (device.kind, device.identifier, device.label) == ("phone", "+447700900123", "work")
    clash = {"agent_id": world.idle_agent_user.agent.id, "identifier": "+447700900123", "kind": ""}
    r = client.post("/admin/devices", data=clash)
    assert r.status_code == 400 and "already bound" in r.get_data(as_text=True)
    assert client.post(f"/admin/devices/{device.id}/unbind", data={"confirmed": "1"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 0


def test_calendar_link_from_the_pages(client, world):
    sign_in(client, world.coordinator)
    r = client.post(f"/admin/agents/{world.agent.id}/calendar")
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    url = r.get_data(as_text=True).split("/calendar/")[1].split(".ics")[0]
    assert client.get(f"/calendar/{url}.ics").status_code == 200
    assert client.post(f"/admin/agents/{world.agent.id}/calendar/revoke", data={"confirmed": "1"}).status_code == 302
    assert client.get(f"/calendar/{url}.ics").status_code == 404
    # the agent issues his own from the phone page
    sign_in(client, world.agent_user)
    r = client.post("/phone/calendar")
    assert r.status_code == 201
    secret = r.get_data(as_text=True).split("/calendar/")[1].split(".ics")[0]
    assert client.get(f"/calendar/{secret}.ics").status_code == 200


def test_bind_device_command(runner, world):
    result = runner.invoke(args=["bind-device", "agent@aegis.example", "823411", "--label", "Traccar"])
    assert result.exit_code == 0, result.output
    assert "Bound device id 823411 to Bravo 1" in result.output
    result = runner.invoke(args=["bind-device", "AGENT@aegis.example", "+44 7700 900123"])
    assert result.exit_code == 0 and "phone number +447700900123" in result.output
    result = runner.invoke(args=["bind-device", "idle@aegis.example", "823411"])
    assert result.exit_code != 0 and "already bound" in result.output
    result = runner.invoke(args=["bind-device", "coord@aegis.example", "555555"])
    assert result.exit_code != 0 and "no agent" in result.output


def test_prune_positions_keeps_the_retention_period(runner, world, app):
    with time_machine.travel(T0, tick=False):
        for days in (1, 89, 91, 200):
            record_position(
                world.agent,
                latitude=51.5,
                longitude=-0.1,
                reported_at=T0 - timedelta(days=days),
                now=T0 - timedelta(days=days),
            )
        db.session.commit()
        result = runner.invoke(args=["prune-positions"])
        assert result.exit_code == 0 and "Deleted 2 positions older than 90 days" in result.output
        result = runner.invoke(args=["prune-positions", "--days", "30"])
        assert "Deleted 1 positions older than 30 days" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 1


def test_a_resent_position_is_stored_once(client, world):
    headers = _token(world.agent_user)
    body = {"latitude": 51.51, "longitude": -0.134, "reported_at": (NOW - timedelta(seconds=5)).isoformat()}
    with time_machine.travel(NOW, tick=False):
        first = client.post("/api/v1/positions", json=body, headers=headers)
        again = client.post("/api/v1/positions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200) and first.json["id"] == again.json["id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 1


def test_board_shows_distance_and_arrival_estimate(world):
    # 07:20, ten minutes before report time, about 1.1 km north of the hotel, driving at 40 km/h.
    record_position(world.agent, latitude=51.5201, longitude=-0.1340, speed_kmh=40, reported_at=NOW, now=NOW)
    db.session.commit()
    row = board_state.detail_board(world.detail, now=NOW)["agents"][0]
    estimate = row["next_site"]
    assert estimate["name"] == "Grand Hotel" and 1050 < estimate["distance_m"] < 1150
    assert estimate["eta_minutes"] == 2  # 1.1 km x 1.3 by road at 40 km/h
    # once on station at the hotel the next stop is where the detail goes next: the venue at 10:00-11:00
    later = T0 + timedelta(hours=2, minutes=10)
    record_position(world.agent, latitude=51.5101, longitude=-0.1340, reported_at=later, now=later)
    db.session.commit()
    row = board_state.detail_board(world.detail, now=later)["agents"][0]
    assert row["next_site"]["name"] == "ExCeL London" and row["next_site"]["distance_m"] > 10_000


def test_database_unavailable_is_503_not_4xx(client, world, monkeypatch):
    headers = _token(world.agent_user)

    def down(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "scalar", down)
    r = client.post("/api/v1/status", json={"code": "OM", "client_id": "x-1"}, headers=headers)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30" and "unavailable" in r.json["message"]
    r = client.get("/ingest/osmand?id=823411&lat=51.5&lon=-0.1")
    assert r.status_code == 503


def test_values_an_app_cannot_know_are_kept_as_unknown(client, world):
    bind(world.agent, "823411")
    db.session.commit()
    stamp = int(NOW.timestamp())
    with time_machine.travel(NOW, tick=False):
        r = client.get(f"/ingest/osmand?id=823411&lat=51.5&lon=-0.1&accuracy=-5&batt=150&bearing=720&timestamp={stamp}")
        assert r.status_code == 200
        token = issue_token(world.agent_user, "owntracks")
        db.session.commit()
        body = {"_type": "location", "lat": 51.5, "lon": -0.1, "tst": stamp + 1, "acc": -3, "batt": 250, "cog": -5}
        r = client.post("/ingest/owntracks", json=body, auth=("agent@aegis.example", token))
    assert r.status_code == 200
    for p in db.session.scalars(sa.select(Position)):
        assert (p.accuracy_m, p.battery_pct, p.heading_deg) == (None, None, None)


def test_an_owntracks_region_entry_never_replaces_a_duress(client, world):
    from detail.domain.statuses import record_status
    from detail.models import StatusCode

    stamp = int(NOW.timestamp())
    with time_machine.travel(NOW - timedelta(minutes=30), tick=False):
        dur = db.session.scalar(
            sa.select(StatusCode).where(StatusCode.organisation_id == world.org.id, StatusCode.code == "DUR")
        )
        record_status(world.agent, dur, client_id="dur-1")
        db.session.commit()
    with time_machine.travel(NOW, tick=False):
        token = issue_token(world.agent_user, "owntracks")
        db.session.commit()
        body = {
            "_type": "transition",
            "event": "enter",
            "wtst": 1_600_000_000 + world.hotel.id,
            "tst": stamp,
            "lat": 51.5101,
            "lon": -0.134,
            "acc": 10,
            "desc": "Grand Hotel",
        }
        assert client.post("/ingest/owntracks", json=body, auth=("agent@aegis.example", token)).status_code == 200
    from detail.domain.statuses import latest_report

    assert latest_report(world.agent.id, world.detail.id).status_code.code == "DUR"


def test_a_signature_that_is_not_ascii_is_refused_not_a_crash(client, app, world):
    app.config["SMS_WEBHOOK_SECRET"] = "s3cret"
    r = client.post("/ingest/sms", data={"From": "+447700900123", "Body": "OM"}, headers={"X-Twilio-Signature": "é"})
    assert r.status_code == 403
