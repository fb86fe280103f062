"""Ingest from the agents' own phone apps, with each request shaped exactly as the real app sends it.

OwnTracks (HTTP mode), Traccar Client (OsmAnd protocol, and the JSON body of Traccar Client 9),
GPSLogger (custom URL) and an SMS gateway webhook signed the way Twilio signs it.
"""

import base64
import hashlib
import hmac
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from detail.domain.devices import bind
from detail.extensions import db
from detail.models import Alert, Position, StatusCode, StatusReport
from detail.web.auth import issue_token

from .conftest import T0

NOW = T0 - timedelta(minutes=40)  # 07:20 UTC: inside the agent's shift, ten minutes before report time
EPOCH = int(NOW.timestamp())
MINUTE_AGO = NOW - timedelta(minutes=1)
# A street corner about 3 km from the hotel and 8 km from the venue: no geofence is involved there.
AWAY = (51.5155, -0.0922)
DEVICE_ID = "123456"
WAYPOINT_EPOCH = 1600000000


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _statuses(source):
    """(code, automatic) of the stored reports from one source, oldest first."""
    rows = db.session.execute(
        sa.select(StatusCode.code, StatusReport.automatic)
        .join(StatusCode, StatusReport.status_code_id == StatusCode.id)
        .where(StatusReport.source == source)
        .order_by(StatusReport.reported_at, StatusReport.id)
    ).all()
    return [(code, automatic) for code, automatic in rows]


def _only_position(source):
    positions = db.session.scalars(sa.select(Position).where(Position.source == source)).all()
    assert len(positions) == 1, positions
    return positions[0]


def _duress_alerts(agent):
    return db.session.scalars(sa.select(Alert).where(Alert.agent_id == agent.id, Alert.kind == "duress")).all()


@pytest.fixture
def device(world):
    bind(world.agent, DEVICE_ID)
    db.session.commit()
    return DEVICE_ID


# --- OwnTracks, HTTP mode ---------------------------------------------------------------------


def _basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
def owntracks(client, world):
    """post(payload) as the OwnTracks app does: Basic auth with the agent's token, X-Limit-U/D headers."""
    token = issue_token(world.agent_user, "owntracks")
    db.session.commit()
    headers = {
        "Authorization": _basic(world.agent_user.email, token),
        "X-Limit-U": "agent",
        "X-Limit-D": "iphone",
    }

    def post(payload):
        return client.post("/ingest/owntracks", json=payload, headers=headers)

    post.token = token
    return post


def _location(tst, lat=AWAY[0], lon=AWAY[1], **extra):
    """A location message with every field the apps send, types as they send them (ints but lat/lon)."""
    return {
        "_type": "location",
        "lat": lat,
        "lon": lon,
        "tst": tst,
        "acc": 12,
        "alt": 21,
        "vac": 3,
        "vel": 18,  # km/h
        "cog": 270,
        "batt": 77,
        "bs": 1,
        "tid": "B1",
        "t": "u",
        "conn": "m",
        "m": 1,
        "created_at": tst,
        "topic": "owntracks/agent/iphone",
        **extra,
    }


def _set_waypoints(reply):
    commands = [m for m in reply if m.get("_type") == "cmd" and m.get("action") == "setWaypoints"]
    assert len(commands) <= 1, reply
    return commands[0] if commands else None


def test_owntracks_location_is_stored_with_every_field(owntracks, world):
    response = owntracks(_location(EPOCH - 60))
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json" and isinstance(response.json, list)
    position = _only_position("owntracks")
    assert position.agent_id == world.agent.id
    assert (position.latitude, position.longitude) == AWAY
    assert position.reported_at == MINUTE_AGO
    assert position.speed_kmh == pytest.approx(18)  # vel is already km/h
    assert position.heading_deg == pytest.approx(270)
    assert position.battery_pct == pytest.approx(77)
    assert position.accuracy_m == pytest.approx(12)
    assert position.altitude_m == pytest.approx(21)
    assert _count(StatusReport) == 0  # no tag, no status


def test_owntracks_empty_body_answers_an_empty_list(client, world):
    token = issue_token(world.agent_user, "owntracks")
    db.session.commit()
    # Any username will do, and X-Limit-U / X-Limit-D are not required.
    headers = {"Authorization": _basic("bravo1", token), "Content-Type": "application/json"}
    response = client.post("/ingest/owntracks", data=b"", headers=headers)
    assert response.status_code == 200
    assert response.json == []


@pytest.mark.parametrize("body", [b"[1, 2]", b'"location"', b"{not json"])
def test_owntracks_body_that_is_not_a_json_object_is_refused(owntracks, client, body):
    headers = {"Authorization": _basic("agent@aegis.example", owntracks.token), "Content-Type": "application/json"}
    response = client.post("/ingest/owntracks", data=body, headers=headers)
    assert response.status_code == 400
    assert _count(Position) == 0


@pytest.mark.parametrize("credentials", ["none", "wrong password", "coordinator token", "token as username"])
def test_owntracks_needs_an_agents_token_as_basic_password(client, world, credentials):
    agent_token = issue_token(world.agent_user, "owntracks")
    coordinator_token = issue_token(world.coordinator, "owntracks")
    db.session.commit()
    headers = {
        "none": {},
        "wrong password": {"Authorization": _basic(world.agent_user.email, "om_not-a-token")},
        "coordinator token": {"Authorization": _basic(world.coordinator.email, coordinator_token)},
        # The token belongs in the password; OwnTracks' username is free text.
        "token as username": {"Authorization": _basic(agent_token, "")},
    }[credentials]
    response = client.post("/ingest/owntracks", json=_location(EPOCH - 60), headers=headers)
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic")
    assert _count(Position) == 0


def test_owntracks_tag_records_a_status_once_while_it_stays_set(owntracks):
    # iOS keeps the tag on every following location until the agent clears it.
    assert owntracks(_location(EPOCH - 300, tag="OS")).status_code == 200
    assert owntracks(_location(EPOCH - 240, tag="OS")).status_code == 200
    assert owntracks(_location(EPOCH - 180, tag="OS")).status_code == 200
    assert _statuses("owntracks") == [("OS", False)]
    # A new tag, by spoken name and in any case, is a new status.
    assert owntracks(_location(EPOCH - 120, tag="oscar mike")).status_code == 200
    assert owntracks(_location(EPOCH - 60, tag="oscar mike")).status_code == 200
    assert _statuses("owntracks") == [("OS", False), ("OM", False)]
    assert _count(Position, Position.source == "owntracks") == 5


def test_owntracks_tag_set_again_after_it_was_cleared_records_again(owntracks):
    owntracks(_location(EPOCH - 180, tag="OS"))
    owntracks(_location(EPOCH - 120))  # tag cleared on the phone
    owntracks(_location(EPOCH - 60, tag="OS"))
    assert _statuses("owntracks") == [("OS", False), ("OS", False)]


def test_owntracks_sends_waypoints_on_first_contact_and_again_only_after_a_change(owntracks, world):
    first = owntracks(_location(EPOCH - 180))
    assert first.status_code == 200
    command = _set_waypoints(first.json)
    assert command is not None, first.json
    assert command["waypoints"]["_type"] == "waypoints"
    waypoints = {w["desc"]: w for w in command["waypoints"]["waypoints"]}
    assert {"Grand Hotel", "ExCeL London"} <= set(waypoints)
    hotel = waypoints["Grand Hotel"]
    assert hotel["_type"] == "waypoint"
    assert (hotel["lat"], hotel["lon"]) == pytest.approx((51.5101, -0.1340))
    assert hotel["rad"] == world.hotel.arrival_radius_m == 150
    assert hotel["tst"] == WAYPOINT_EPOCH + world.hotel.id
    assert waypoints["ExCeL London"]["tst"] == WAYPOINT_EPOCH + world.venue.id

    # Nothing changed: the phone already has them.
    assert owntracks(_location(EPOCH - 120)).json == []

    world.hotel.arrival_radius_m = 300
    db.session.commit()
    again = _set_waypoints(owntracks(_location(EPOCH - 60)).json)
    assert again is not None
    assert {w["desc"]: w["rad"] for w in again["waypoints"]["waypoints"]}["Grand Hotel"] == 300


def test_owntracks_transitions_at_a_venue_set_on_station_then_oscar_mike(owntracks, world):
    owntracks(_location(EPOCH - 600))  # first contact: the phone gets the waypoints
    wtst = WAYPOINT_EPOCH + world.hotel.id
    enter = {
        "_type": "transition",
        "event": "enter",
        "desc": "Grand Hotel",
        "rid": "a1b2c3",
        "wtst": wtst,
        "tst": EPOCH - 300,
        "lat": 51.5101,
        "lon": -0.1340,
        "acc": 10,
        "t": "c",
        "tid": "B1",
    }
    assert owntracks(enter).status_code == 200
    assert _statuses("owntracks") == [("OS", True)]
    # Leaving: the fix is where the phone noticed, just outside the 150 m radius.
    leave = {**enter, "event": "leave", "tst": EPOCH - 60, "lat": 51.5128, "lon": -0.1340}
    assert owntracks(leave).status_code == 200
    assert _statuses("owntracks") == [("OS", True), ("OM", True)]
    # The phone repeats a transition it is not sure was delivered.
    assert owntracks(leave).status_code == 200
    assert _statuses("owntracks") == [("OS", True), ("OM", True)]


def test_owntracks_retried_location_is_stored_once(owntracks):
    payload = _location(EPOCH - 60)
    assert owntracks(payload).status_code == 200
    assert owntracks(payload).status_code == 200
    assert _count(Position, Position.source == "owntracks") == 1


def test_owntracks_device_clock_two_hours_ahead_is_stored_and_flagged(owntracks):
    response = owntracks(_location(EPOCH + 2 * 3600))
    assert response.status_code == 200, response.data
    position = _only_position("owntracks")
    assert position.reported_at == NOW  # our clock, not the phone's
    assert position.clock_offset_s == pytest.approx(7200, abs=1)


def test_owntracks_point_from_a_clock_ahead_sent_again_later_is_stored_once(owntracks):
    # Stored at our time, which differs on every retry: the device's own time is what repeats.
    payload = _location(EPOCH + 2 * 3600)
    assert owntracks(payload).status_code == 200
    with time_machine.travel(NOW + timedelta(seconds=45), tick=False):
        assert owntracks(payload).status_code == 200
    position = _only_position("owntracks")
    assert position.reported_at == NOW
    assert position.device_time == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    "payload",
    [
        {"_type": "lwt", "tst": EPOCH - 3600},
        {"_type": "waypoint", "desc": "Home", "lat": 51.5, "lon": -0.1, "rad": 50, "tst": EPOCH - 3600},
        {"_type": "card", "name": "Sam Carter", "tid": "B1"},
        {"_type": "status", "iOS": {"version": "17.0"}},
    ],
    ids=lambda p: p["_type"],
)
def test_owntracks_other_message_types_store_nothing(owntracks, payload):
    response = owntracks(payload)
    assert response.status_code == 200
    assert isinstance(response.json, list)
    assert _count(Position) == 0 and _count(StatusReport) == 0


# --- Traccar Client, OsmAnd protocol ----------------------------------------------------------


def _osmand_fields(device_id=DEVICE_ID, **override):
    """What Traccar Client puts in its request: Java's String.valueOf for every number."""
    fields = {
        "id": device_id,
        "timestamp": str(EPOCH - 60),
        "lat": str(AWAY[0]),
        "lon": str(AWAY[1]),
        "speed": "10.0",  # knots
        "bearing": "90.0",
        "altitude": "30.0",
        "accuracy": "8.0",
        "batt": "64.0",
        "charge": "false",
    }
    fields.update(override)
    return {k: v for k, v in fields.items() if v is not None}


def _assert_osmand_position(position):
    assert (position.latitude, position.longitude) == pytest.approx(AWAY)
    assert position.reported_at == MINUTE_AGO
    assert position.speed_kmh == pytest.approx(18.52, abs=0.01)  # 10 knots
    assert position.heading_deg == pytest.approx(90)
    assert position.altitude_m == pytest.approx(30)
    assert position.accuracy_m == pytest.approx(8)
    assert position.battery_pct == pytest.approx(64)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_osmand_query_string(client, device, method):
    # Traccar Client (Android, before 9) POSTs with every field in the URL and an empty body.
    response = client.open("/ingest/osmand", method=method, query_string=_osmand_fields())
    assert response.status_code == 200, response.data
    _assert_osmand_position(_only_position("osmand"))
    assert _count(StatusReport) == 0


def test_osmand_form_body_with_deviceid_and_heading(client, device):
    fields = _osmand_fields()
    fields["deviceid"] = fields.pop("id")
    fields["heading"] = fields.pop("bearing")
    response = client.post("/ingest/osmand", data=fields)
    assert response.status_code == 200, response.data
    _assert_osmand_position(_only_position("osmand"))


def test_osmand_location_as_one_pair(client, device):
    fields = _osmand_fields(lat=None, lon=None, location=f"{AWAY[0]},{AWAY[1]}")
    response = client.get("/ingest/osmand", query_string=fields)
    assert response.status_code == 200, response.data
    assert (_only_position("osmand").latitude, _only_position("osmand").longitude) == pytest.approx(AWAY)


@pytest.mark.parametrize(
    "timestamp",
    [
        str(EPOCH - 60),  # Traccar Client: seconds
        str((EPOCH - 60) * 1000),  # OsmAnd's {2}: milliseconds
        "2026-11-24T07:19:00Z",
        "2026-11-24T07:19:00.000Z",
        "2026-11-24T08:19:00+01:00",
        "2026-11-24 07:19:00",  # yyyy-MM-dd HH:mm:ss, UTC
    ],
)
def test_osmand_timestamp_formats(client, device, timestamp):
    response = client.get("/ingest/osmand", query_string=_osmand_fields(timestamp=timestamp))
    assert response.status_code == 200, response.data
    assert _only_position("osmand").reported_at == MINUTE_AGO


def test_osmand_sos_alarm_is_a_duress_status_and_alert(client, device, world):
    response = client.get("/ingest/osmand", query_string=_osmand_fields(alarm="sos"))
    assert response.status_code == 200, response.data
    assert _statuses("osmand") == [("DUR", False)]
    alerts = _duress_alerts(world.agent)
    assert len(alerts) == 1 and alerts[0].resolved_at is None
    assert (alerts[0].latitude, alerts[0].longitude) == pytest.approx(AWAY)


def test_osmand_code_parameter_records_a_status(client, device):
    response = client.get("/ingest/osmand", query_string=_osmand_fields(code="OM"))
    assert response.status_code == 200, response.data
    assert _statuses("osmand") == [("OM", False)]
    assert _count(Position, Position.source == "osmand") == 1


def test_osmand_retries_of_one_point_are_stored_once(client, device, world):
    fields = _osmand_fields(alarm="sos")
    for _ in range(3):
        response = client.get("/ingest/osmand", query_string=fields)
        assert response.status_code == 200, response.data
    assert _count(Position, Position.source == "osmand") == 1
    assert _count(StatusReport) == 1
    assert len(_duress_alerts(world.agent)) == 1


def test_osmand_unknown_device_is_forbidden(client, device):
    response = client.get("/ingest/osmand", query_string=_osmand_fields(device_id="999999"))
    assert response.status_code == 403
    assert response.is_json and response.json.get("message")
    assert _count(Position) == 0


@pytest.mark.parametrize(
    "override, field",
    [
        ({"lat": "91.0"}, "lat"),
        ({"lat": "abc"}, "lat"),
        ({"lat": "NaN"}, "lat"),
        ({"lon": None}, "lon"),
        ({"lon": "181.5"}, "lon"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
    ],
    ids=["lat 91", "lat abc", "lat NaN", "lon missing", "lon 181.5", "timestamp yesterday", "timestamp missing"],
)
def test_osmand_bad_fields_are_refused_naming_the_field(client, device, override, field):
    response = client.get("/ingest/osmand", query_string=_osmand_fields(**override))
    assert response.status_code == 400
    assert field in response.get_data(as_text=True)
    assert _count(Position) == 0


def _traccar9(device_id=DEVICE_ID, coords=None, battery=None, **location):
    """The body Traccar Client 9 posts (flutter_background_geolocation with Traccar's location template)."""
    return {
        "location": {
            "timestamp": "2026-11-24T07:19:00.000Z",
            "coords": {
                "latitude": AWAY[0],
                "longitude": AWAY[1],
                "accuracy": 8.5,
                "speed": 5.0,  # m/s
                "heading": 90.0,
                "altitude": 30.2,
                **(coords or {}),
            },
            "is_moving": True,
            "odometer": 1234.5,
            "event": "motionchange",
            "battery": {"level": 0.64, "is_charging": False, **(battery or {})},
            "activity": {"type": "in_vehicle"},
            "extras": {},
            "_": f"&id={device_id}&lat={AWAY[0]}&lon={AWAY[1]}&timestamp=2026-11-24T07:19:00.000Z&",
            **location,
        },
        "device_id": device_id,
    }


def test_traccar_client_9_json_body(client, device):
    response = client.post("/ingest/osmand", json=_traccar9())
    assert response.status_code == 200, response.data
    position = _only_position("osmand")
    assert (position.latitude, position.longitude) == pytest.approx(AWAY)
    assert position.reported_at == MINUTE_AGO
    assert position.speed_kmh == pytest.approx(18.0)  # 5 m/s
    assert position.heading_deg == pytest.approx(90)
    assert position.battery_pct == pytest.approx(64)  # level 0.64
    assert position.accuracy_m == pytest.approx(8.5)
    assert _count(StatusReport) == 0


@pytest.mark.parametrize(
    "sos",
    [
        {"extras": {"alarm": "sos"}},
        # flutter_background_geolocation merges a fix's extras into the rendered location: with Traccar's
        # template ("extras": {} literal) the SOS quick action arrives as location.alarm, and Traccar's
        # own server reads it there first.
        {"alarm": "sos"},
    ],
    ids=["extras.alarm", "location.alarm"],
)
def test_traccar_client_9_sos_is_duress(client, device, world, sos):
    response = client.post("/ingest/osmand", json=_traccar9(**sos))
    assert response.status_code == 200, response.data
    assert _statuses("osmand") == [("DUR", False)]
    assert len(_duress_alerts(world.agent)) == 1


def test_traccar_client_9_code_in_extras(client, device):
    response = client.post("/ingest/osmand", json=_traccar9(extras={"code": "OM"}))
    assert response.status_code == 200, response.data
    assert _statuses("osmand") == [("OM", False)]


@pytest.mark.parametrize("unknown", [-1, None], ids=["minus one", "null"])
def test_traccar_client_9_unknown_values_are_not_stored_as_negatives(client, device, unknown):
    # The plugin reports -1 (newer versions: null) for a speed, heading or battery level it does not know.
    body = _traccar9(coords={"speed": unknown, "heading": unknown}, battery={"level": unknown})
    response = client.post("/ingest/osmand", json=body)
    assert response.status_code == 200, response.data
    position = _only_position("osmand")
    assert position.speed_kmh is None
    assert position.heading_deg is None
    assert position.battery_pct is None


def test_traccar_client_9_unknown_device_is_forbidden(client, device):
    response = client.post("/ingest/osmand", json=_traccar9(device_id="999999"))
    assert response.status_code == 403
    assert _count(Position) == 0


# --- GPSLogger, custom URL --------------------------------------------------------------------

GPSLOGGER_TEMPLATE = (
    "/ingest/gpslogger?device=DEVICE_ID&lat=%LAT&lon=%LON&time=%TIMESTAMP&acc=%ACC&spd=%SPD"
    "&batt=%BATT&alt=%ALT&dir=%DIR&desc=%DESC"
)


def _gpslogger_url(device_id=DEVICE_ID, desc="", lat=AWAY[0], lon=AWAY[1]):
    """The template filled the way GPSLogger fills it: Java String.valueOf of each value, %DESC URL-encoded."""
    from urllib.parse import quote_plus  # URLEncoder.encode: spaces become '+'

    values = {
        "DEVICE_ID": device_id,
        "%LAT": str(lat),
        "%LON": str(lon),
        "%TIMESTAMP": str(EPOCH - 60),  # Location.getTime() / 1000
        "%ACC": "8.0",  # float
        "%SPD": "5.0",  # float, m/s
        "%BATT": "64.0",  # float
        "%ALT": "30.0",  # double
        "%DIR": "90.0",  # float
        "%DESC": quote_plus(desc),  # empty when there is no annotation
    }
    url = GPSLOGGER_TEMPLATE
    for placeholder, value in values.items():
        url = url.replace(placeholder, value)
    return url


def test_gpslogger_custom_url_get(client, device):
    response = client.get(_gpslogger_url())
    assert response.status_code == 200, response.data
    position = _only_position("gpslogger")
    assert (position.latitude, position.longitude) == pytest.approx(AWAY)
    assert position.reported_at == MINUTE_AGO
    assert position.speed_kmh == pytest.approx(18.0)  # 5 m/s
    assert position.battery_pct == pytest.approx(64)
    assert position.heading_deg == pytest.approx(90)
    assert position.altitude_m == pytest.approx(30)
    assert position.accuracy_m == pytest.approx(8)
    assert _count(StatusReport) == 0  # empty desc


def test_gpslogger_custom_url_post_with_the_template_as_body(client, device):
    # GPSLogger's "HTTP Body" setting with the same placeholders, sent as a form.
    path, _, query = _gpslogger_url().partition("?")
    response = client.post(path, data=query, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.data
    assert _only_position("gpslogger").speed_kmh == pytest.approx(18.0)


@pytest.mark.parametrize("desc, code", [("OS", "OS"), ("On station", "OS"), ("om", "OM")])
def test_gpslogger_annotation_naming_a_code_records_it(client, device, desc, code):
    response = client.get(_gpslogger_url(desc=desc))
    assert response.status_code == 200, response.data
    assert _statuses("gpslogger") == [(code, False)]
    assert _count(Position, Position.source == "gpslogger") == 1


def test_gpslogger_annotation_that_is_not_a_code_still_logs_the_point(client, device):
    response = client.get(_gpslogger_url(desc="coffee with driver"))
    assert response.status_code == 200, response.data
    assert _count(Position, Position.source == "gpslogger") == 1
    assert _count(StatusReport) == 0


def test_gpslogger_longitude_in_javas_scientific_notation(client, device):
    # String.valueOf(double) writes magnitudes under 0.001 as "-5.0E-4": every fix near Greenwich looks like this.
    response = client.get(_gpslogger_url(lat="51.4779", lon="-5.0E-4"))
    assert response.status_code == 200, response.data
    position = _only_position("gpslogger")
    assert (position.latitude, position.longitude) == pytest.approx((51.4779, -0.0005))


def test_gpslogger_retry_is_stored_once(client, device):
    assert client.get(_gpslogger_url(desc="OS")).status_code == 200
    assert client.get(_gpslogger_url(desc="OS")).status_code == 200
    assert _count(Position, Position.source == "gpslogger") == 1
    assert _count(StatusReport) == 1


def test_gpslogger_unknown_device_and_bad_fields(client, device):
    assert client.get(_gpslogger_url(device_id="999999")).status_code == 403
    bad = client.get(_gpslogger_url(lat="abc"))
    assert bad.status_code == 400 and "lat" in bad.get_data(as_text=True)
    assert _count(Position) == 0


# --- SMS gateway webhook, Twilio-compatible ---------------------------------------------------

SECRET = "twilio-auth-token-for-tests"
PUBLIC_URL = "https://om.example.org"
PHONE = "+447700900123"


def _twilio_signature(url, form, secret=SECRET):
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL and the sorted form pairs run together."""
    payload = url + "".join(key + form[key] for key in sorted(form))
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _twilio_form(body, sender=PHONE, sid=None):
    form = {
        "ToCountry": "GB",
        "ToState": "",
        "SmsMessageSid": "",
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": "",
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "GB",
        "To": "+447700900999",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": "",
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    sid = sid or "SM" + uuid.uuid4().hex
    form["SmsMessageSid"] = form["SmsSid"] = form["MessageSid"] = sid
    return form


@pytest.fixture
def sms(app, client, world):
    """send(body, ...) posts a signed webhook from the agent's bound phone."""
    app.config["SMS_WEBHOOK_SECRET"] = SECRET
    app.config["PUBLIC_URL"] = PUBLIC_URL
    bind(world.agent, "+44 7700 900-123")
    db.session.commit()

    def send(body, sender=PHONE, sid=None, form=None):
        form = form or _twilio_form(body, sender, sid)
        headers = {"X-Twilio-Signature": _twilio_signature(PUBLIC_URL + "/ingest/sms", form)}
        return client.post("/ingest/sms", data=form, headers=headers)

    return send


def _message(response):
    assert response.status_code == 200, response.data
    assert response.mimetype in ("text/xml", "application/xml")
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    message = root.find("Message")
    assert message is not None, response.data
    return message.text or ""


def test_sms_om_is_confirmed_in_twiml(sms):
    reply = _message(sms("OM"))
    assert "OM" in reply
    assert _statuses("sms") == [("OM", False)]


def test_sms_om_with_an_eta(sms):
    reply = _message(sms("om eta 0615"))
    assert "OM" in reply
    report = db.session.scalar(sa.select(StatusReport))
    assert report.source == "sms"
    # 06:15 London time (GMT in November), the next one after 07:20: tomorrow morning.
    assert report.eta == datetime(2026, 11, 25, 6, 15, tzinfo=timezone.utc)


def test_sms_os_lowercase(sms):
    reply = _message(sms("os"))
    assert "OS" in reply
    assert _statuses("sms") == [("OS", False)]


def test_sms_unknown_code_lists_the_valid_ones_but_never_the_duress_code(sms):
    reply = _message(sms("code 4"))
    assert "OM" in reply and "OS" in reply and "CLR" in reply
    assert "DUR" not in reply and "uress" not in reply
    assert _count(StatusReport) == 0


def test_sms_duress_is_confirmed_as_the_clear_code_but_raises_the_alarm(sms, world):
    clear_reply = _message(sms("CLR"))
    duress_reply = _message(sms("dur"))
    # Whoever holds the phone sees exactly what a real "clear" gets back.
    assert duress_reply == clear_reply
    assert "CLR" in duress_reply and "DUR" not in duress_reply and "uress" not in duress_reply
    assert _statuses("sms") == [("CLR", False), ("DUR", False)]
    alerts = _duress_alerts(world.agent)
    assert len(alerts) == 1 and alerts[0].resolved_at is None


def test_sms_retried_message_sid_is_stored_once(sms):
    form = _twilio_form("OM", sid="SM" + "a" * 32)
    assert "OM" in _message(sms("OM", form=form))
    assert "OM" in _message(sms("OM", form=form))
    assert _count(StatusReport) == 1


def test_sms_without_message_sid_is_stored_once_within_the_minute(sms):
    # Not every gateway sends a MessageSid: From, Body and the minute make the key.
    form = {"From": PHONE, "Body": "OS"}
    assert _message(sms("OS", form=form))
    assert _message(sms("OS", form=form))
    assert _count(StatusReport) == 1


@pytest.mark.parametrize("signature", ["missing", "wrong secret", "other body", "other url"])
def test_sms_without_a_valid_signature_is_forbidden(sms, client, signature):
    form = _twilio_form("OM")
    url = PUBLIC_URL + "/ingest/sms"
    headers = {
        "missing": {},
        "wrong secret": {"X-Twilio-Signature": _twilio_signature(url, form, secret="guess")},
        "other body": {"X-Twilio-Signature": _twilio_signature(url, {**form, "Body": "CLR"})},
        # A signature made for another endpoint is not good for this one.
        "other url": {"X-Twilio-Signature": _twilio_signature(PUBLIC_URL + "/ingest/owntracks", form)},
    }[signature]
    response = client.post("/ingest/sms", data=form, headers=headers)
    assert response.status_code == 403
    assert _count(StatusReport) == 0


def test_sms_from_an_unknown_number_is_forbidden_without_a_reply(sms):
    response = sms("OM", sender="+447700900555")
    assert response.status_code == 403
    assert b"<Message" not in response.data
    assert _count(StatusReport) == 0


def test_sms_from_the_agents_profile_phone_is_accepted(app, client, world):
    app.config["SMS_WEBHOOK_SECRET"] = SECRET
    app.config["PUBLIC_URL"] = PUBLIC_URL
    world.agent_user.phone = "+44 7700 900456"
    db.session.commit()
    form = _twilio_form("OM", sender="+447700900456")
    headers = {"X-Twilio-Signature": _twilio_signature(PUBLIC_URL + "/ingest/sms", form)}
    reply = _message(client.post("/ingest/sms", data=form, headers=headers))
    assert "OM" in reply
    assert _statuses("sms") == [("OM", False)]


def test_sms_gateway_not_configured(app, client, world):
    app.config["SMS_WEBHOOK_SECRET"] = None
    bind(world.agent, PHONE)
    db.session.commit()
    form = _twilio_form("OM")
    response = client.post("/ingest/sms", data=form, headers={"X-Twilio-Signature": "x"})
    assert response.status_code == 503
    assert _count(StatusReport) == 0
