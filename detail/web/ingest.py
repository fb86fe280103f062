"""Agents' own phone apps, accepted as they speak: OwnTracks, Traccar Client (OsmAnd), GPSLogger, texts.

Every request becomes positions and statuses through detail.status, stored once under the apps'
retries: positions by (agent, source, device time), statuses by a client_id built from what the
app sent. The replies follow each app's rules: OwnTracks drops a message it gets a 4xx for and
Traccar Client deletes a buffered point only after a 2xx, so only what can never succeed (bad
credentials, an unknown device, garbage) is a 4xx; a fault of ours is a 503 (see the app's error
handlers) and the app sends again.
"""

import base64
import hashlib
import hmac
import json
import logging
import math
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from detail.domain import geofence, live
from detail.domain.devices import agent_for_device, agent_for_number
from detail.domain.positions import publish_position, record_position
from detail.domain.statuses import (
    Refused,
    duress_code,
    keep_loaded_after_commit,
    latest_report,
    organisation_codes,
    parse_short_burst,
    record_status,
)
from detail.domain.timefmt import local_time
from detail.extensions import db
from detail.models import Agent, Assignment, Position, Site, StatusCode, utcnow
from detail.web.api.schemas import check_plausible_time
from detail.web.auth import user_for_token

log = logging.getLogger(__name__)
bp = Blueprint("ingest", __name__, url_prefix="/ingest")

KNOTS_TO_KMH = 1.852
MPS_TO_KMH = 3.6
# OwnTracks identifies a waypoint by its creation time (tst); ours are numbered from here by venue id,
# so a transition's wtst names the venue.
WAYPOINT_EPOCH = 1_600_000_000
# Waypoints are sent again when they change, and at least this often (a reply can be lost).
WAYPOINTS_REFRESH = timedelta(hours=6)
EPOCH_SECONDS_LIMIT = 2_147_483_647
# What a phone can plausibly report; anything else (the apps' -1 for "unknown") is kept as unknown.
ACCURACY_M = (0, 1_000_000)
ALTITUDE_M = (-1_000, 100_000)
SPEED_KMH = (0, 2_000)
HEADING = (0, 360)
BATTERY = (0, 100)


class BadRequest(HTTPException):
    code = 400


def _refuse(status: int, message: str, field: str | None = None, headers: dict | None = None):
    body = {"code": status, "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    raise BadRequest(response=response)


@bp.errorhandler(Refused)
def refused(exc: Refused):
    # What the domain refuses (a negative accuracy, say) can never succeed when sent again: a 4xx.
    body = {"code": 400, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return jsonify(body), 400


# --- reading fields -------------------------------------------------------------------------------


def _number(value, field: str, required: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            _refuse(400, f"{field} is required", field)
        return None
    if isinstance(value, bool):
        _refuse(400, f"{field} must be a number, got {value!r}", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        _refuse(400, f"{field} must be a number, got {str(value)[:40]!r}", field)
    if not math.isfinite(number):
        _refuse(400, f"{field} must be a finite number", field)
    return number


def _coordinates(lat, lon) -> tuple[float, float]:
    latitude, longitude = _number(lat, "lat", required=True), _number(lon, "lon", required=True)
    if not -90 <= latitude <= 90:
        _refuse(400, f"lat must be from -90 to 90, got {latitude}", "lat")
    if not -180 <= longitude <= 180:
        _refuse(400, f"lon must be from -180 to 180, got {longitude}", "lon")
    return latitude, longitude


def parse_timestamp(value, field: str = "timestamp", required: bool = False) -> datetime | None:
    """Epoch seconds (below 2^31), epoch milliseconds (above), ISO 8601, or 'yyyy-MM-dd HH:mm:ss' in UTC.

    Required where retries are told apart by it: a point without its own time would be stored
    again on every resend, and an old buffered point would pass for a fresh one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            _refuse(400, f"{field} is required (the time of the fix)", field)
        return None
    text = str(value).strip()
    try:
        if "T" in text or ("-" in text and ":" in text):
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
            moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        else:
            number = float(text)
            if not math.isfinite(number) or number < 0:
                raise ValueError
            seconds = number if number < EPOCH_SECONDS_LIMIT else number / 1000
            moment = datetime.fromtimestamp(seconds, timezone.utc)
        check_plausible_time(moment)
        return moment
    except (ValueError, OverflowError, OSError, ValidationError):
        _refuse(
            400,
            f"{field} must be epoch seconds or milliseconds, ISO 8601, or yyyy-MM-dd HH:mm:ss; got {text[:40]!r}",
            field,
        )


def _text(value, limit: int = 80) -> str:
    """A field as text: control codes and lone surrogates dropped (an app's field is never refused for them)."""
    if value is None:
        return ""
    return "".join(c for c in str(value) if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF).strip()[:limit]


def _within(value: float | None, low: float, high: float) -> float | None:
    # What an app cannot know it sends as -1 (or nonsense): kept as unknown rather than stored.
    return value if value is not None and low <= value <= high else None


def _code_named(agent: Agent, name: str) -> StatusCode | None:
    wanted = name.strip().lower()
    for code in organisation_codes(agent.organisation_id):
        if wanted in (code.code.lower(), code.spoken_name.lower()):
            return code
    return None


def _record_app_status(agent: Agent, code: StatusCode, **kwargs) -> list:
    """A status from an app: one the server cannot take (no assignment now) is logged, never refused,
    because the app cannot show a refusal and the position with it is already kept."""
    try:
        with db.session.begin_nested():
            return record_status(agent, code, refuse_clock_ahead=False, **kwargs).events
    except Refused as exc:
        log.warning("status %s from %s for agent %s not recorded: %s", code.code, kwargs.get("source"), agent.id, exc)
        return []


def _finish(agent: Agent, events: list, position: Position | None) -> None:
    keep_loaded_after_commit()
    db.session.commit()
    live.publish(events)
    if position is not None:
        publish_position(agent, position)


# --- OwnTracks ------------------------------------------------------------------------------------


def _basic_auth_agent() -> Agent:
    auth = request.authorization
    user = user_for_token(auth.password) if auth is not None and auth.type == "basic" and auth.password else None
    agent = user.agent if user is not None and user.role == "agent" else None
    if agent is None:
        log.warning("OwnTracks request refused: bad credentials (user %r)", auth.username if auth else None)
        _refuse(
            401,
            "send HTTP Basic auth with your API token as the password",
            headers={"WWW-Authenticate": 'Basic realm="Oscar Mike", charset="UTF-8"'},
        )
    return agent


def _previous_tag(agent: Agent, before: datetime) -> str | None:
    return db.session.scalar(
        sa.select(Position.tag)
        .where(Position.agent_id == agent.id, Position.source == "owntracks", Position.reported_at < before)
        .order_by(Position.reported_at.desc(), Position.id.desc())
        .limit(1)
    )


def _owntracks_location(agent: Agent, data: dict, now: datetime) -> tuple[list, Position | None]:
    tst = parse_timestamp(data.get("tst"), "tst", required=True)
    point = _point(
        *_coordinates(data.get("lat"), data.get("lon")),
        tst,
        accuracy=_number(data.get("acc"), "acc"),
        altitude=_number(data.get("alt"), "alt"),
        speed_kmh=_number(data.get("vel"), "vel"),
        heading=_number(data.get("cog"), "cog"),
        battery=_number(data.get("batt"), "batt"),
    )
    tag = _text(data.get("tag"), 40) or None
    previous_tag = _previous_tag(agent, tst)
    recorded = record_position(agent, tag=tag, source="owntracks", refuse_clock_ahead=False, now=now, **point)
    events = list(recorded.events)
    # The iOS tag stays on every location until cleared: only a change is a status.
    if recorded.created and tag and tag.lower() != (previous_tag or "").lower():
        code = _code_named(agent, tag)
        if code is not None:
            events += _record_app_status(
                agent,
                code,
                client_id=f"owntracks:tag:{int(tst.timestamp())}",
                reported_at=tst,
                latitude=point["latitude"],
                longitude=point["longitude"],
                accuracy=point["accuracy"],
                source="owntracks",
                now=now,
            )
    return events, recorded.position if recorded.created else None


def _venues_of_the_day(agent: Agent, now: datetime) -> list[tuple[Assignment, Site]]:
    assignments = geofence.active_assignments(agent, now, ahead=timedelta(hours=24))
    venues = geofence.venues_of(assignments)
    return [(assignment, site) for assignment in assignments for site in venues[assignment.id]]


def _transition_site(agent: Agent, data: dict, now: datetime) -> tuple[Assignment, Site] | None:
    pairs = _venues_of_the_day(agent, now)
    wtst = _number(data.get("wtst"), "wtst")
    for assignment, site in pairs:
        if wtst is not None and int(wtst) == WAYPOINT_EPOCH + site.id:
            return assignment, site
    desc = _text(data.get("desc"), 200).lower()
    for assignment, site in pairs:
        if desc and desc == site.name.lower():
            return assignment, site
    if data.get("lat") is not None and data.get("lon") is not None and pairs:
        latitude, longitude = _coordinates(data.get("lat"), data.get("lon"))

        def away(pair):
            site = pair[1]
            return geofence.distance_m(latitude, longitude, site.latitude, site.longitude) - site.arrival_radius_m

        nearest = min(pairs, key=away)
        if away(nearest) <= max(geofence.EDGE_MARGIN_M, _accuracy(data.get("acc"), "acc") or 0) * 4:
            return nearest
    return None


def _owntracks_transition(agent: Agent, data: dict, now: datetime) -> tuple[list, Position | None]:
    event = data.get("event")
    if event not in ("enter", "leave"):
        _refuse(400, f"event must be enter or leave, got {_text(event, 20)!r}", "event")
    tst = parse_timestamp(data.get("tst"), "tst") or now
    found = _transition_site(agent, data, now)
    events = []
    if found is None:
        log.info("OwnTracks %s of %r by agent %s matches none of their venues", event, data.get("desc"), agent.id)
    else:
        assignment, site = found
        latest = latest_report(agent.id, assignment.detail_id)
        signal = latest.status_code.signal if latest else None
        organisation = agent.organisation
        wanted = "on_station" if event == "enter" else organisation.geofence_leave_signal
        # As the server's geofence: never over a duress (only an acknowledgement ends it), never twice.
        applies = signal != "duress" and (
            signal not in geofence.AT_VENUE if event == "enter" else signal == "on_station"
        )
        code = geofence.code_for_signal(agent.organisation_id, wanted)
        if applies and code is not None and not geofence.manual_hold(latest, organisation, now):
            has_position = data.get("lat") is not None and data.get("lon") is not None
            latitude, longitude = _coordinates(data.get("lat"), data.get("lon")) if has_position else (None, None)
            events += _record_app_status(
                agent,
                code,
                client_id=f"owntracks:{event}:{int(_number(data.get('wtst'), 'wtst') or 0)}:{int(tst.timestamp())}",
                reported_at=tst,
                latitude=latitude,
                longitude=longitude,
                accuracy=_accuracy(data.get("acc"), "acc"),
                note=f"{'arrived at' if event == 'enter' else 'left'} {site.name} (OwnTracks region)",
                source="owntracks",
                detail_id=assignment.detail_id,
                automatic=True,
                now=now,
            )
    position = None
    if data.get("lat") is not None and data.get("lon") is not None:
        latitude, longitude = _coordinates(data.get("lat"), data.get("lon"))
        recorded = record_position(
            agent,
            latitude=latitude,
            longitude=longitude,
            reported_at=tst,
            accuracy=_accuracy(data.get("acc"), "acc"),
            tag=_previous_tag(agent, tst),  # a transition does not clear the iOS tag
            source="owntracks",
            refuse_clock_ahead=False,
            now=now,
        )
        events += recorded.events
        position = recorded.position if recorded.created else None
    return events, position


def _waypoint_commands(agent: Agent, now: datetime) -> list[dict]:
    """setWaypoints with the agent's venues of the day, when they changed since we last sent them."""
    sites = []
    for _, site in _venues_of_the_day(agent, now):
        if site not in sites:
            sites.append(site)
    if not sites:
        return []
    waypoints = [
        {
            "_type": "waypoint",
            "desc": site.name,
            "lat": site.latitude,
            "lon": site.longitude,
            "rad": site.arrival_radius_m,
            "tst": WAYPOINT_EPOCH + site.id,
        }
        for site in sites
    ]
    digest = hashlib.sha256(json.dumps(waypoints, sort_keys=True).encode()).hexdigest()
    sent_at = agent.owntracks_waypoints_sent_at
    fresh = sent_at is not None and now - sent_at < WAYPOINTS_REFRESH
    if digest == agent.owntracks_waypoints_hash and fresh:
        return []
    agent.owntracks_waypoints_hash, agent.owntracks_waypoints_sent_at = digest, now
    return [
        {
            "_type": "cmd",
            "action": "setWaypoints",
            "waypoints": {"_type": "waypoints", "waypoints": waypoints},
        }
    ]


@bp.route("/owntracks", methods=["POST"])
def owntracks():
    """OwnTracks in HTTP mode: locations, region transitions; replies with the venues to watch."""
    agent = _basic_auth_agent()
    if not request.get_data().strip():
        return jsonify([])
    # Whatever its Content-Type says; a body that is not JSON is refused there (detail/web/bodies.py).
    data = request.get_json(force=True)
    if not isinstance(data, dict):
        _refuse(400, "the body must be one OwnTracks JSON object")
    now = utcnow()
    kind = data.get("_type")
    events, position = [], None
    if kind == "location":
        events, position = _owntracks_location(agent, data, now)
    elif kind == "transition":
        events, position = _owntracks_transition(agent, data, now)
    reply = _waypoint_commands(agent, now)
    _finish(agent, events, position)
    return jsonify(reply)


# --- Traccar Client (OsmAnd protocol) and GPSLogger -----------------------------------------------


def _device_agent(identifier: str | None, app: str) -> Agent:
    if not identifier:
        _refuse(400, "id (the device identifier) is required", "id")
    agent = agent_for_device(identifier)
    if agent is None:
        log.warning("%s point from unknown device %r refused", app, identifier[:80])
        _refuse(403, f"unknown device {identifier[:80]!r}: a coordinator must bind it to an agent first", "id")
    return agent


def _record_point(
    agent: Agent, source: str, device: str, point: dict, status: StatusCode | None, now: datetime
) -> tuple[list, Position | None]:
    recorded = record_position(agent, source=source, refuse_clock_ahead=False, now=now, **point)
    events = list(recorded.events)
    if status is not None:
        at = point.get("reported_at") or now
        events += _record_app_status(
            agent,
            status,
            client_id=f"{source}:{device[:24]}:{int(at.timestamp() * 1000)}:{status.code}"[:64],
            reported_at=point.get("reported_at"),
            latitude=point["latitude"],
            longitude=point["longitude"],
            accuracy=point.get("accuracy"),
            source=source,
            now=now,
        )
    return events, recorded.position if recorded.created else None


def _status_from(agent: Agent, alarm: str | None, code: str | None) -> StatusCode | None:
    if (alarm or "").strip().lower() == "sos":
        try:
            return duress_code(agent.organisation_id)
        except Refused:
            log.error("SOS from agent %s but the organisation has no duress code", agent.id)
            return None
    if code:
        found = _code_named(agent, code)
        if found is None:
            log.warning("unknown status code %r from agent %s's app ignored", code[:40], agent.id)
        return found
    return None


def _traccar_json(data: dict) -> tuple[str | None, dict, str | None, str | None]:
    location = data.get("location") if isinstance(data.get("location"), dict) else None
    if location is None:
        _refuse(400, "location is required (Traccar Client JSON)", "location")
    coords = location.get("coords") if isinstance(location.get("coords"), dict) else {}
    battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
    extras = location.get("extras") if isinstance(location.get("extras"), dict) else {}
    point = _point(
        *_coordinates(coords.get("latitude"), coords.get("longitude")),
        parse_timestamp(location.get("timestamp"), "location.timestamp", required=True),
        accuracy=_number(coords.get("accuracy"), "accuracy"),
        altitude=_number(coords.get("altitude"), "altitude"),
        speed_kmh=_scaled(_number(coords.get("speed"), "speed"), MPS_TO_KMH),
        heading=_number(coords.get("heading"), "heading"),
        battery=_scaled(_number(battery.get("level"), "battery.level"), 100),
    )
    device = _text(data.get("device_id"), 80) or None
    # The alarm rides in the extras, or (some versions) on the location itself.
    alarm = extras.get("alarm") or location.get("alarm")
    return device, point, _text(alarm, 20) or None, _text(extras.get("code"), 40) or None


def _accuracy(value, field: str) -> float | None:
    return _within(_number(value, field), *ACCURACY_M)


def _scaled(value: float | None, factor: float) -> float | None:
    return value * factor if value is not None else None


def _point(
    latitude: float,
    longitude: float,
    reported_at: datetime | None,
    *,
    accuracy: float | None = None,
    altitude: float | None = None,
    speed_kmh: float | None = None,
    heading: float | None = None,
    battery: float | None = None,
) -> dict:
    """A fix as record_position takes it, with what no phone can report kept as unknown."""
    return {
        "latitude": latitude,
        "longitude": longitude,
        "reported_at": reported_at,
        "accuracy": _within(accuracy, *ACCURACY_M),
        "altitude": _within(altitude, *ALTITUDE_M),
        "speed_kmh": _within(speed_kmh, *SPEED_KMH),
        "heading": _within(heading, *HEADING),
        "battery": _within(battery, *BATTERY),
    }


def _osmand_fields(fields) -> tuple[str | None, dict, str | None, str | None]:
    lat, lon = fields.get("lat"), fields.get("lon")
    if (lat is None or lon is None) and fields.get("location"):
        lat, _, lon = fields["location"].partition(",")
    point = _point(
        *_coordinates(lat, lon),
        parse_timestamp(fields.get("timestamp"), required=True),
        accuracy=_number(fields.get("accuracy"), "accuracy"),
        altitude=_number(fields.get("altitude"), "altitude"),
        speed_kmh=_scaled(_number(fields.get("speed"), "speed"), KNOTS_TO_KMH),
        heading=_number(fields.get("bearing", fields.get("heading")), "bearing"),
        battery=_number(fields.get("batt"), "batt"),
    )
    device = _text(fields.get("id") or fields.get("deviceid"), 80) or None
    return device, point, fields.get("alarm"), fields.get("code")


@bp.route("/osmand", methods=["GET", "POST"])
def osmand():
    """Traccar Client and anything else speaking the OsmAnd protocol (query, form, or Traccar Client 9 JSON)."""
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if request.mimetype == "application/json" and not isinstance(data, dict):
        _refuse(400, "the body must be a JSON object")
    # Who is sending first: an unknown device is refused whatever else is wrong with its point.
    fields = request.values
    sender = data.get("device_id") if data is not None else fields.get("id") or fields.get("deviceid")
    agent = _device_agent(_text(sender, 80) or None, "OsmAnd")
    device, point, alarm, code = _traccar_json(data) if data is not None else _osmand_fields(fields)
    now = utcnow()
    events, position = _record_point(agent, "osmand", device, point, _status_from(agent, alarm, code), now)
    _finish(agent, events, position)
    return Response(status=200)


@bp.route("/gpslogger", methods=["GET", "POST"])
def gpslogger():
    """GPSLogger's custom URL (see README for the template); the annotation (%DESC) may carry a status code."""
    fields = request.values
    agent = _device_agent(_text(fields.get("device"), 80) or None, "GPSLogger")
    point = _point(
        *_coordinates(fields.get("lat"), fields.get("lon")),
        parse_timestamp(fields.get("time"), "time", required=True),
        accuracy=_number(fields.get("acc"), "acc"),
        altitude=_number(fields.get("alt"), "alt"),
        speed_kmh=_scaled(_number(fields.get("spd"), "spd"), MPS_TO_KMH),
        heading=_number(fields.get("dir"), "dir"),
        battery=_number(fields.get("batt"), "batt"),
    )
    now = utcnow()
    status = _status_from(agent, None, _text(fields.get("desc"), 40) or None)
    events, position = _record_point(agent, "gpslogger", _text(fields.get("device"), 80), point, status, now)
    _finish(agent, events, position)
    return Response(status=200)


# --- text messages --------------------------------------------------------------------------------


def twilio_signature(secret: str, url: str, params) -> str:
    """The signature Twilio-compatible gateways send: HMAC-SHA1 of the URL and the sorted form fields."""
    payload = url + "".join(key + value for key, value in sorted(params.items(multi=True)))
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _signed_urls() -> list[str]:
    # Behind a proxy the gateway signed the public address, not the one we see.
    public = current_app.config.get("PUBLIC_URL", "").rstrip("/")
    urls = [request.url]
    if public:
        urls.append(public + request.full_path.rstrip("?"))
    return urls


def _check_signature() -> None:
    secret = current_app.config.get("SMS_WEBHOOK_SECRET")
    if not secret:
        _refuse(503, "the SMS gateway is not configured (set SMS_WEBHOOK_SECRET)")
    sent = request.headers.get("X-Twilio-Signature", "")
    good = any(
        hmac.compare_digest(sent.encode(), twilio_signature(secret, url, request.form).encode())
        for url in _signed_urls()
    )
    if not sent or not good:
        log.warning("SMS webhook refused: %s signature", "wrong" if sent else "missing")
        _refuse(403, "the request signature (X-Twilio-Signature) is missing or wrong")


def _twiml(message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(message)}</Message></Response>'
    return Response(body, mimetype="text/xml")


def _sms_client_id(now: datetime) -> str:
    message_id = request.form.get("MessageSid") or request.form.get("SmsSid") or request.form.get("id")
    if message_id:
        return "sms:" + _text(message_id, 60)
    # Without the gateway's id, the same text from the same number in the same minute is one report.
    key = f"{request.form.get('From')}|{request.form.get('Body')}|{now:%Y-%m-%dT%H:%M}"
    return "sms:" + hashlib.sha256(key.encode()).hexdigest()[:40]


@bp.route("/sms", methods=["POST"])
def sms():
    """A text through the SMS gateway: 'OM', 'os', 'om eta 0615'; the reply confirms or lists the codes."""
    _check_signature()
    sender = request.form.get("From", "")
    agent = agent_for_number(sender)
    if agent is None:
        log.warning("text from unknown number %s refused", sender[-4:].rjust(len(sender), "*") if sender else "(none)")
        _refuse(403, "unknown number: a coordinator must bind it to an agent first")
    now = utcnow()
    codes = organisation_codes(agent.organisation_id)
    try:
        burst = parse_short_burst(request.form.get("Body", ""), codes)
        recorded = record_status(
            agent,
            burst.code,
            client_id=_sms_client_id(now),
            note=burst.note,
            eta=burst.eta,
            source="sms",
            now=now,
        )
    except Refused as exc:
        db.session.rollback()
        return _twiml(f"Not recorded: {exc.message}")
    db.session.commit()
    live.publish(recorded.events)
    return _twiml(_confirmation(recorded.report, codes))


def _confirmation(report, codes: list[StatusCode]) -> str:
    sites = report.detail.sites if report.detail else []
    tz = sites[0].timezone if sites else report.agent.organisation.timezone
    at = local_time(report.received_at, tz, "%H:%M")
    code = report.status_code
    detail = f" ({report.detail.name})" if report.detail else ""
    if code.is_duress:
        # Whoever holds the phone must not see that an alarm went: confirm it as the clear code would be.
        code = next((c for c in codes if c.signal == "clear"), code)
        return f"{code.code} received {at}{detail}."
    eta = f", ETA {local_time(report.eta, tz, '%H:%M')}" if report.eta else ""
    return f"{code.code} received {at}{eta}{detail}."
