"""Positions sent on their own (phone page, API, the agents' own apps): stored once, weighed by the
geofence (which may set a status), and pushed to the boards after commit.

Flushes, never commits: the caller commits once per unit of work, then publishes.
"""

from dataclasses import dataclass
from datetime import datetime

from detail.domain import alerts, geofence, live
from detail.domain.statuses import Refused, active_detail_ids, check_position, device_time, store_position
from detail.models import Agent, Position, utcnow


@dataclass
class PositionRecorded:
    position: Position
    created: bool
    events: list


def record_position(
    agent: Agent,
    *,
    latitude: float,
    longitude: float,
    reported_at: datetime | None = None,
    accuracy: float | None = None,
    altitude: float | None = None,
    speed_kmh: float | None = None,
    heading: float | None = None,
    battery: float | None = None,
    tag: str | None = None,
    source: str = "phone",
    refuse_clock_ahead: bool = True,
    now: datetime | None = None,
) -> PositionRecorded:
    """Store a position once; return it with the events it causes (silence ended, arrival by geofence).

    Positions are not events themselves: after commit, publish_position sends the newest per agent.
    """
    now = now or utcnow()
    if latitude is None or longitude is None:
        raise Refused("latitude and longitude are required", field="latitude" if latitude is None else "longitude")
    check_position(latitude, longitude, accuracy)
    when = device_time(reported_at, now, refuse_clock_ahead)
    position, created = store_position(
        agent.id,
        source,
        when,
        now,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy,
        altitude_m=altitude,
        speed_kmh=speed_kmh,
        heading_deg=heading,
        battery_pct=battery,
        tag=tag,
    )
    if not created:
        return PositionRecorded(position, False, [])
    events = alerts.resolve_silence(agent, now)
    events.extend(geofence.evaluate_agent(agent, now))
    return PositionRecorded(position, True, events)


def publish_position(agent: Agent, position: Position) -> None:
    """After commit: hand the position to the boards of the agent's organisation and active details."""
    detail_ids = active_detail_ids(agent, position.received_at)
    live.publish_position(agent.organisation_id, detail_ids, live.position_payload(position, position.received_at))
