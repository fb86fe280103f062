"""OwnTracks in HTTP mode: locations and region transitions, sent with the agent's API token as the
Basic auth password; the reply carries the agent's venues of the day as waypoints to watch.

OwnTracks drops a message it gets a 4xx for, so only bad credentials and garbage are refused. Its
iOS tag stays on every location until cleared: a status is recorded when it changes, not each time.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import jsonify, request

from detail.domain import geofence
from detail.domain.positions import record_position
from detail.domain.statuses import latest_report
from detail.extensions import db
from detail.models import Agent, Assignment, Position, Site, utcnow
from detail.web.auth import user_for_token
from detail.web.ingest.base import (
    as_point,
    bp,
    code_named,
    finish,
    parse_timestamp,
    read_accuracy,
    read_coordinates,
    read_number,
    read_text,
    record_app_status,
    refuse,
)

log = logging.getLogger(__name__)

# OwnTracks identifies a waypoint by its creation time (tst); ours are numbered from here by venue id,
# so a transition's wtst names the venue.
WAYPOINT_EPOCH = 1_600_000_000
# Waypoints are sent again when they change, and at least this often (a reply can be lost).
WAYPOINTS_REFRESH = timedelta(hours=6)


def _basic_auth_agent() -> Agent:
    auth = request.authorization
    user = user_for_token(auth.password) if auth is not None and auth.type == "basic" and auth.password else None
    agent = user.agent if user is not None and user.role == "agent" else None
    if agent is None:
        log.warning("OwnTracks request refused: bad credentials (user %r)", auth.username if auth else None)
        refuse(
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
    point = as_point(
        *read_coordinates(data.get("lat"), data.get("lon")),
        tst,
        accuracy=read_number(data.get("acc"), "acc"),
        altitude=read_number(data.get("alt"), "alt"),
        speed_kmh=read_number(data.get("vel"), "vel"),
        heading=read_number(data.get("cog"), "cog"),
        battery=read_number(data.get("batt"), "batt"),
    )
    tag = read_text(data.get("tag"), 40) or None
    previous_tag = _previous_tag(agent, tst)
    recorded = record_position(agent, tag=tag, source="owntracks", refuse_clock_ahead=False, now=now, **point)
    events = list(recorded.events)
    # The iOS tag stays on every location until cleared: only a change is a status.
    if recorded.created and tag and tag.lower() != (previous_tag or "").lower():
        code = code_named(agent, tag)
        if code is not None:
            events += record_app_status(
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
    wtst = read_number(data.get("wtst"), "wtst")
    for assignment, site in pairs:
        if wtst is not None and int(wtst) == WAYPOINT_EPOCH + site.id:
            return assignment, site
    desc = read_text(data.get("desc"), 200).lower()
    for assignment, site in pairs:
        if desc and desc == site.name.lower():
            return assignment, site
    if data.get("lat") is not None and data.get("lon") is not None and pairs:
        latitude, longitude = read_coordinates(data.get("lat"), data.get("lon"))

        def away(pair):
            site = pair[1]
            return geofence.distance_m(latitude, longitude, site.latitude, site.longitude) - site.arrival_radius_m

        nearest = min(pairs, key=away)
        if away(nearest) <= max(geofence.EDGE_MARGIN_M, read_accuracy(data.get("acc"), "acc") or 0) * 4:
            return nearest
    return None


def _owntracks_transition(agent: Agent, data: dict, now: datetime) -> tuple[list, Position | None]:
    event = data.get("event")
    if event not in ("enter", "leave"):
        refuse(400, f"event must be enter or leave, got {read_text(event, 20)!r}", "event")
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
            latitude, longitude = read_coordinates(data.get("lat"), data.get("lon")) if has_position else (None, None)
            events += record_app_status(
                agent,
                code,
                client_id=f"owntracks:{event}:{int(read_number(data.get('wtst'), 'wtst') or 0)}:{int(tst.timestamp())}",
                reported_at=tst,
                latitude=latitude,
                longitude=longitude,
                accuracy=read_accuracy(data.get("acc"), "acc"),
                note=f"{'arrived at' if event == 'enter' else 'left'} {site.name} (OwnTracks region)",
                source="owntracks",
                detail_id=assignment.detail_id,
                automatic=True,
                now=now,
            )
    position = None
    if data.get("lat") is not None and data.get("lon") is not None:
        latitude, longitude = read_coordinates(data.get("lat"), data.get("lon"))
        recorded = record_position(
            agent,
            latitude=latitude,
            longitude=longitude,
            reported_at=tst,
            accuracy=read_accuracy(data.get("acc"), "acc"),
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
        refuse(400, "the body must be one OwnTracks JSON object")
    now = utcnow()
    kind = data.get("_type")
    events, position = [], None
    if kind == "location":
        events, position = _owntracks_location(agent, data, now)
    elif kind == "transition":
        events, position = _owntracks_transition(agent, data, now)
    reply = _waypoint_commands(agent, now)
    finish(agent, events, position)
    return jsonify(reply)
