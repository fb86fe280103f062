"""GPSLogger's custom URL: a point as query or form fields from a device id a coordinator bound to an
agent; the annotation (%DESC) may carry a status code.
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
    scaled,
    status_from,
)


@bp.route("/gpslogger", methods=["GET", "POST"])
def gpslogger():
    """GPSLogger's custom URL (see README for the template); the annotation (%DESC) may carry a status code."""
    fields = request.values
    agent = device_agent(read_text(fields.get("device"), 80) or None, "GPSLogger")
    point = as_point(
        *read_coordinates(fields.get("lat"), fields.get("lon")),
        parse_timestamp(fields.get("time"), "time", required=True),
        accuracy=read_number(fields.get("acc"), "acc"),
        altitude=read_number(fields.get("alt"), "alt"),
        speed_kmh=scaled(read_number(fields.get("spd"), "spd"), MPS_TO_KMH),
        heading=read_number(fields.get("dir"), "dir"),
        battery=read_number(fields.get("batt"), "batt"),
    )
    now = utcnow()
    status = status_from(agent, None, read_text(fields.get("desc"), 40) or None)
    events, position = record_point(agent, "gpslogger", read_text(fields.get("device"), 80), point, status, now)
    finish(agent, events, position)
    return Response(status=200)
