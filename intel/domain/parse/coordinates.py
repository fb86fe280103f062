"""Coordinates and shapes checked before they are kept: WGS84 (latitude, longitude), finite, in range.

Geometry always comes out as (latitude, longitude). Axes that a feed wrote the wrong way round
cannot be detected in general (51.5, -0.13 and -0.13, 51.5 are both places on Earth), so nothing
is guessed: a swapped pair that is still valid is kept as written, one that is out of range is
refused with a problem that says so (`Refused`, whose message is recorded on the feed). So is a
list of numbers with an odd count (which number is missing cannot be told), and a place at exactly
(0, 0): "null island", where a missing position written as zeros lands, in the Gulf of Guinea.
"""

import math
from typing import Any

Geometry = dict[str, Any]


class Refused(ValueError):
    """A coordinate or shape that is not accepted; the message says why."""


def number(value: Any) -> float:
    """A float, or Refused."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Refused(f"coordinate {value!r} is not a number") from None


def numbers(text: str, what: str) -> list[float]:
    """The numbers of a coordinate list ("51.5 -0.13 51.6 -0.12"; commas count as spaces), or Refused."""
    try:
        return [float(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise Refused(f"{what} {text.strip()[:80]!r} is unreadable: not a list of numbers") from None


def pairs(values: list[float], what: str) -> list[tuple[float, float]]:
    """(lat, lon) positions from a flat list of numbers in that order; an odd count is refused."""
    if len(values) % 2:
        raise Refused(f"{what} has {len(values)} numbers, an odd count: not whole (latitude, longitude) pairs")
    return [position(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def position(lat: Any, lon: Any) -> tuple[float, float]:
    """A validated (lat, lon); refuses NaN, infinity, projected-looking and out-of-range values."""
    lat, lon = number(lat), number(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise Refused(f"coordinates ({lat:g}, {lon:g}) are not finite numbers")
    if abs(lat) > 180 or abs(lon) > 180:
        raise Refused(
            f"coordinates ({lat:g}, {lon:g}) lie beyond ±180: projected coordinates? Only WGS84 is read "
            "without a GML srsName"
        )
    if abs(lat) > 90:
        raise Refused(f"latitude {lat:g} is out of range (axes swapped?)")
    return lat, lon


def closed_ring(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A polygon's ring closed (first == last), with at least three distinct positions."""
    if ring and ring[0] != ring[-1]:
        ring = [*ring, ring[0]]
    if len(ring) < 4:
        raise Refused("polygon has fewer than three distinct positions")
    return ring


def box(south: float, west: float, north: float, east: float) -> tuple[float, float, float, float]:
    """A box as (south, west, north, east); refused when its south lies north of its north."""
    if south > north:
        raise Refused(f"box south {south:g} is north of its north {north:g}")
    return (south, west, north, east)


def refuse_null_island(geometry: Geometry) -> Geometry:
    """The geometry, unless every position of it is exactly (0, 0): a missing location, not a place."""
    coordinates = geometry["coordinates"]
    flat = geometry["type"] in ("point", "box")  # (lat, lon) and (south, west, north, east)
    values = list(coordinates) if flat else [value for pair in coordinates for value in pair]
    if values and all(value == 0 for value in values):
        raise Refused("position (0, 0) is where a missing location written as zeros lands, not a place")
    return geometry
