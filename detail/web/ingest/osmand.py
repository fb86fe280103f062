"""Traccar Client, and anything else speaking the OsmAnd protocol: a point as query or form fields, or
as Traccar Client 9's JSON, from a device id a coordinator bound to an agent.

Traccar Client deletes a buffered point only after a 2xx and sends it again otherwise, so a point is
stored once by (agent, source, device time). The SOS button is the duress code; a code field a status.
"""

from flask import Response, request

from detail.models import utcnow
from detail.web.ingest.base import (
    MPS_TO_KMH,
    as_point,
    bp,
    device_agent,
    finish,
    parse_timestamp,
    read_coordinates,
    read_number,
    read_text,
    record_point,
    refuse,
    scaled,
    status_from,
)

KNOTS_TO_KMH = 1.852


def _traccar_json(data: dict) -> tuple[str | None, dict, str | None, str | None]:
    location = data.get("location") if isinstance(data.get("location"), dict) else None
    if location is None:
        refuse(400, "location is required (Traccar Client JSON)", "location")
    coords = location.get("coords") if isinstance(location.get("coords"), dict) else {}
    battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
    extras = location.get("extras") if isinstance(location.get("extras"), dict) else {}
    point = as_point(
        *read_coordinates(coords.get("latitude"), coords.get("longitude")),
        parse_timestamp(location.get("timestamp"), "location.timestamp", required=True),
        accuracy=read_number(coords.get("accuracy"), "accuracy"),
        altitude=read_number(coords.get("altitude"), "altitude"),
        speed_kmh=scaled(read_number(coords.get("speed"), "speed"), MPS_TO_KMH),
        heading=read_number(coords.get("heading"), "heading"),
        battery=scaled(read_number(battery.get("level"), "battery.level"), 100),
    )
    device = read_text(data.get("device_id"), 80) or None
    # The alarm rides in the extras, or (some versions) on the location itself.
    alarm = extras.get("alarm") or location.get("alarm")
    return device, point, read_text(alarm, 20) or None, read_text(extras.get("code"), 40) or None


def _osmand_fields(fields) -> tuple[str | None, dict, str | None, str | None]:
    lat, lon = fields.get("lat"), fields.get("lon")
    if (lat is None or lon is None) and fields.get("location"):
        lat, _, lon = fields["location"].partition(",")
    point = as_point(
        *read_coordinates(lat, lon),
        parse_timestamp(fields.get("timestamp"), required=True),
        accuracy=read_number(fields.get("accuracy"), "accuracy"),
        altitude=read_number(fields.get("altitude"), "altitude"),
        speed_kmh=scaled(read_number(fields.get("speed"), "speed"), KNOTS_TO_KMH),
        heading=read_number(fields.get("bearing", fields.get("heading")), "bearing"),
        battery=read_number(fields.get("batt"), "batt"),
    )
    device = read_text(fields.get("id") or fields.get("deviceid"), 80) or None
    return device, point, fields.get("alarm"), fields.get("code")


@bp.route("/osmand", methods=["GET", "POST"])
def osmand():
    """Traccar Client and anything else speaking the OsmAnd protocol (query, form, or Traccar Client 9 JSON)."""
    data = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if request.mimetype == "application/json" and not isinstance(data, dict):
        refuse(400, "the body must be a JSON object")
    # Who is sending first: an unknown device is refused whatever else is wrong with its point.
    fields = request.values
    sender = data.get("device_id") if data is not None else fields.get("id") or fields.get("deviceid")
    agent = device_agent(read_text(sender, 80) or None, "OsmAnd")
    device, point, alarm, code = _traccar_json(data) if data is not None else _osmand_fields(fields)
    now = utcnow()
    events, position = record_point(agent, "osmand", device, point, status_from(agent, alarm, code), now)
    finish(agent, events, position)
    return Response(status=200)
