"""GeoRSS (Simple and GML) and W3C geo: an entry's place as feedparser reads it, back in (lat, lon).

feedparser turns GeoRSS and GML into GeoJSON-like (longitude, latitude) tuples under `where`;
they are turned back here, and refused unless their reference system is WGS84. Elevation (a
third number) is dropped. GeoRSS Simple has no third number; a GeoRSS line written with three
numbers a position cannot be told apart from a longer 2-D line, so feeds must use GML with
srsDimension="3" for that.
"""

import re

from .coordinates import Geometry, Refused, box, closed_ring, position

_SRS_NAME = re.compile(rb"""(srsName\s*=\s*)(["'])([^"'<>]{0,300})\2""", re.IGNORECASE)
_WGS84_SRS = re.compile(r"(?:urn:ogc:def:crs:)?EPSG:(?:[\d.]*:)?4326", re.IGNORECASE)


def normalise_srs_names(body: bytes) -> bytes:
    """Rewrite srsName values feedparser would crash on (it int()s the text after the last ':').

    "http://www.opengis.net/def/crs/EPSG/0/4326", the current OGC spelling, raises ValueError
    inside feedparser and loses the whole feed; it becomes "EPSG:4326".
    """
    if b"srsname" not in body.lower():
        return body

    def fix(match: re.Match) -> bytes:
        value = match.group(3)
        if b"EPSG" not in value:
            return match.group(0)
        try:
            int(value.split(b":")[-1])
            return match.group(0)
        except ValueError:
            pass
        digits = re.search(rb"(\d+)\s*$", value)
        replacement = b"EPSG:" + digits.group(1) if digits else b"unknown-crs"
        return match.group(1) + match.group(2) + replacement + match.group(2)

    return _SRS_NAME.sub(fix, body)


def from_where(where) -> Geometry:
    """feedparser's GeoRSS/GML `where` as a geometry, or Refused."""
    if not isinstance(where, dict) or not where.get("type"):
        raise Refused("GeoRSS/GML geometry present but unreadable")
    srs = where.get("srsName")
    if srs and not _WGS84_SRS.fullmatch(str(srs).strip()):
        raise Refused(f"coordinate reference system {srs!r} is not WGS84 latitude/longitude{_projected_hint(where)}")
    kind, coordinates = where["type"], where.get("coordinates")
    if kind == "Point":
        return {"type": "point", "coordinates": _from_lonlat(coordinates)}
    if kind == "LineString":
        line = [_from_lonlat(pair) for pair in coordinates or ()]
        if len(line) < 2:
            raise Refused("line has fewer than two positions")
        return {"type": "line", "coordinates": line}
    if kind == "Polygon":
        ring = [_from_lonlat(pair) for pair in (coordinates or [()])[0]]
        return {"type": "polygon", "coordinates": closed_ring(ring)}
    if kind == "Box":
        if not isinstance(coordinates, list | tuple) or len(coordinates) != 2:
            raise Refused("box does not have exactly two corners")
        (south, west), (north, east) = (_from_lonlat(pair) for pair in coordinates)
        return {"type": "box", "coordinates": box(south, west, north, east)}
    raise Refused(f"unsupported geometry type {kind!r}")


def from_w3c(lat: str | None, lon: str | None) -> Geometry:
    """W3C geo's geo:lat and geo:long as a point, or Refused."""
    if not (lat and lon):
        raise Refused("W3C geo position has a latitude or a longitude but not both")
    return {"type": "point", "coordinates": position(lat, lon)}


def _from_lonlat(pair) -> tuple[float, float]:
    """feedparser's (lon, lat[, elevation]) back to (lat, lon)."""
    if not isinstance(pair, list | tuple) or len(pair) < 2:
        raise Refused("GeoRSS/GML position is incomplete")
    return position(pair[1], pair[0])


def _projected_hint(where) -> str:
    values = []
    stack = [where.get("coordinates")]
    while stack:
        value = stack.pop()
        if isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, float | int):
            values.append(value)
    return " (projected coordinates?)" if any(abs(v) > 180 for v in values) else ""
