"""CAP (the Common Alerting Protocol) inside a feed: its alert fields and its polygon and circle areas.

An entry carries CAP when the feed declares a namespace under urn:oasis:names:tc:emergency:cap:,
whatever prefix it gives it; CAP writes positions as "lat,lon", already in the order kept here.
"""

import math
from typing import Any

from .coordinates import Geometry, Refused, closed_ring, number, position
from .fields import namespaced, parse_when

_CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:"


def is_cap_namespace(uri: str) -> bool:
    """Whether a namespace URI is one of CAP's versions."""
    return uri.lower().startswith(_CAP_NAMESPACE)


def cap_fields(entry, prefixes: list[str]) -> dict[str, Any] | None:
    """The CAP fields the classifier reads, or None when the entry has none."""
    if not prefixes:
        return None
    cap = {
        "severity": namespaced(entry, prefixes, "severity"),
        "urgency": namespaced(entry, prefixes, "urgency"),
        "certainty": namespaced(entry, prefixes, "certainty"),
        "event": namespaced(entry, prefixes, "event"),
        "onset": parse_when(namespaced(entry, prefixes, "onset", "effective")),
        "expires": parse_when(namespaced(entry, prefixes, "expires")),
        "area_desc": namespaced(entry, prefixes, "areadesc"),
        "status": namespaced(entry, prefixes, "status"),
        "msg_type": namespaced(entry, prefixes, "msgtype", "message_type"),
        "category": namespaced(entry, prefixes, "category"),
    }
    return cap if any(value is not None for value in cap.values()) else None


def from_cap_polygon(text: str) -> Geometry:
    """CAP: space-separated "lat,lon" pairs, first and last the same."""
    ring = []
    for pair in text.split():
        parts = pair.split(",")
        if len(parts) < 2:
            raise Refused(f"CAP polygon position {pair!r} is not 'lat,lon'")
        ring.append(position(parts[0], parts[1]))
    return {"type": "polygon", "coordinates": closed_ring(ring)}


def from_cap_circle(text: str) -> Geometry:
    """CAP: "lat,lon radius_km"; a point with its radius."""
    parts = text.split()
    centre = parts[0].split(",") if parts else []
    if len(centre) < 2:
        raise Refused(f"CAP circle {text!r} is not 'lat,lon radius'")
    point: Geometry = {"type": "point", "coordinates": position(centre[0], centre[1])}
    if len(parts) > 1:
        radius = number(parts[1])
        if not math.isfinite(radius) or radius < 0:
            raise Refused(f"CAP circle radius {parts[1]!r} is not a distance")
        point["radius_km"] = radius
    return point
