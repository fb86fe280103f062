"""What every app's route shares: the ingest blueprint, refusals in the kit's JSON shape, reading an
app's fields (numbers, coordinates, times, text) into a point, authenticating a device by the id it
sends, recording a status that rides with a point, and the commit and publish that end a request.

Only what can never succeed when sent again (bad credentials, an unknown device, garbage) is a 4xx:
the apps drop what gets a 4xx and send again what gets anything else.
"""

import logging
import math
from datetime import datetime, timezone
from typing import NoReturn

from flask import Blueprint
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from detail.domain import live
from detail.domain.devices import agent_for_device
from detail.domain.positions import publish_position, record_position
from detail.domain.statuses import Refused, duress_code, keep_loaded_after_commit, organisation_codes, record_status
from detail.extensions import db
from detail.models import Agent, Position, StatusCode
from detail.web.api.schemas import check_plausible_time
from detail.web.kit import json_error

log = logging.getLogger(__name__)
bp = Blueprint("ingest", __name__, url_prefix="/ingest")

MPS_TO_KMH = 3.6
EPOCH_SECONDS_LIMIT = 2_147_483_647
# What a phone can plausibly report; anything else (the apps' -1 for "unknown") is kept as unknown.
ACCURACY_M = (0, 1_000_000)
ALTITUDE_M = (-1_000, 100_000)
SPEED_KMH = (0, 2_000)
HEADING = (0, 360)
BATTERY = (0, 100)


class BadRequest(HTTPException):
    """A refusal that carries its own response, whatever its status."""

    code = 400


def refuse(status: int, message: str, field: str | None = None, headers: dict | None = None) -> NoReturn:
    """End the request with the kit's JSON refusal (the shape of every other one), and these headers."""
    response, _ = json_error(status, message, field)
    response.status_code = status
    response.headers.update(headers or {})
    raise BadRequest(response=response)


@bp.errorhandler(Refused)
def refused(exc: Refused):
    # What the domain refuses (a negative accuracy, say) can never succeed when sent again: a 4xx.
    return json_error(400, exc.message, exc.field)


# --- reading fields -------------------------------------------------------------------------------


def read_number(value, field: str, required: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            refuse(400, f"{field} is required", field)
        return None
    if isinstance(value, bool):
        refuse(400, f"{field} must be a number, got {value!r}", field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        refuse(400, f"{field} must be a number, got {str(value)[:40]!r}", field)
    if not math.isfinite(number):
        refuse(400, f"{field} must be a finite number", field)
    return number


def read_coordinates(lat, lon) -> tuple[float, float]:
    latitude, longitude = read_number(lat, "lat", required=True), read_number(lon, "lon", required=True)
    if not -90 <= latitude <= 90:
        refuse(400, f"lat must be from -90 to 90, got {latitude}", "lat")
    if not -180 <= longitude <= 180:
        refuse(400, f"lon must be from -180 to 180, got {longitude}", "lon")
    return latitude, longitude


def parse_timestamp(value, field: str = "timestamp", required: bool = False) -> datetime | None:
    """Epoch seconds (below 2^31), epoch milliseconds (above), ISO 8601, or 'yyyy-MM-dd HH:mm:ss' in UTC.

    Required where retries are told apart by it: a point without its own time would be stored
    again on every resend, and an old buffered point would pass for a fresh one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            refuse(400, f"{field} is required (the time of the fix)", field)
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
        refuse(
            400,
            f"{field} must be epoch seconds or milliseconds, ISO 8601, or yyyy-MM-dd HH:mm:ss; got {text[:40]!r}",
            field,
        )


def read_text(value, limit: int = 80) -> str:
    """A field as text: control codes and lone surrogates dropped (an app's field is never refused for them)."""
    if value is None:
        return ""
    return "".join(c for c in str(value) if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF).strip()[:limit]


def within(value: float | None, low: float, high: float) -> float | None:
    # What an app cannot know it sends as -1 (or nonsense): kept as unknown rather than stored.
    return value if value is not None and low <= value <= high else None


def read_accuracy(value, field: str) -> float | None:
    return within(read_number(value, field), *ACCURACY_M)


def scaled(value: float | None, factor: float) -> float | None:
    return value * factor if value is not None else None


def as_point(
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
        "accuracy": within(accuracy, *ACCURACY_M),
        "altitude": within(altitude, *ALTITUDE_M),
        "speed_kmh": within(speed_kmh, *SPEED_KMH),
        "heading": within(heading, *HEADING),
        "battery": within(battery, *BATTERY),
    }


# --- statuses, devices, the commit -----------------------------------------------------------------


def code_named(agent: Agent, name: str) -> StatusCode | None:
    wanted = name.strip().lower()
    for code in organisation_codes(agent.organisation_id):
        if wanted in (code.code.lower(), code.spoken_name.lower()):
            return code
    return None


def record_app_status(agent: Agent, code: StatusCode, **kwargs) -> list:
    """A status from an app: one the server cannot take (no assignment now) is logged, never refused,
    because the app cannot show a refusal and the position with it is already kept."""
    try:
        with db.session.begin_nested():
            return record_status(agent, code, refuse_clock_ahead=False, **kwargs).events
    except Refused as exc:
        log.warning("status %s from %s for agent %s not recorded: %s", code.code, kwargs.get("source"), agent.id, exc)
        return []


def device_agent(identifier: str | None, app: str) -> Agent:
    if not identifier:
        refuse(400, "id (the device identifier) is required", "id")
    agent = agent_for_device(identifier)
    if agent is None:
        log.warning("%s point from unknown device %r refused", app, identifier[:80])
        refuse(403, f"unknown device {identifier[:80]!r}: a coordinator must bind it to an agent first", "id")
    return agent


def status_from(agent: Agent, alarm: str | None, code: str | None) -> StatusCode | None:
    if (alarm or "").strip().lower() == "sos":
        try:
            return duress_code(agent.organisation_id)
        except Refused:
            log.error("SOS from agent %s but the organisation has no duress code", agent.id)
            return None
    if code:
        found = code_named(agent, code)
        if found is None:
            log.warning("unknown status code %r from agent %s's app ignored", code[:40], agent.id)
        return found
    return None


def record_point(
    agent: Agent, source: str, device: str, point: dict, status: StatusCode | None, now: datetime
) -> tuple[list, Position | None]:
    recorded = record_position(agent, source=source, refuse_clock_ahead=False, now=now, **point)
    events = list(recorded.events)
    if status is not None:
        at = point.get("reported_at") or now
        events += record_app_status(
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


def finish(agent: Agent, events: list, position: Position | None) -> None:
    keep_loaded_after_commit()
    db.session.commit()
    live.publish(events)
    if position is not None:
        publish_position(agent, position)
