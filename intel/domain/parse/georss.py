"""GeoRSS (Simple and GML) and W3C geo: an entry's place, in (lat, lon).

GeoRSS is read from the document's own elements when it can be (entry_xml.py): GeoRSS Simple here,
always WGS84 "lat lon" pairs, a list with an odd count refused; GML by gml.py, in whatever reference
system it names. A GeoRSS point may carry a third number (an elevation some feeds add), dropped; a
list cannot, since three numbers a position cannot be told from a longer 2-D list: feeds must use
GML with srsDimension="3" for that. When the document could not be read that way (not well-formed),
feedparser's `where` stands, GeoJSON-like (longitude, latitude) tuples turned back here, read only
when WGS84. W3C geo comes as elements (geo:lat, geo:long, alone or inside geo:Point) or as
geo:Point's attributes, both as feedparser reads them.
"""

import re
from xml.etree.ElementTree import Element

from .coordinates import Geometry, Refused, box, closed_ring, numbers, pairs, position
from .gml import GML_NAMESPACES, from_gml, gml_geometry, local_name, namespace

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


def from_georss(element: Element) -> Geometry:
    """A GeoRSS geometry element (point, line, polygon, box, or where holding GML), or a bare GML geometry,
    as a geometry, or Refused."""
    if namespace(element) in GML_NAMESPACES:
        return gml_geometry(element)
    kind = local_name(element)
    if kind == "where":
        return from_gml(element)
    text = element.text or ""
    values = numbers(text, f"GeoRSS {kind}")
    if kind == "point":
        if len(values) not in (2, 3):
            raise Refused(f"GeoRSS point {text.strip()[:80]!r} is unreadable: {len(values)} numbers, not 'lat lon'")
        return {"type": "point", "coordinates": position(values[0], values[1])}
    positions = pairs(values, f"GeoRSS {kind}")
    if kind == "line":
        if len(positions) < 2:
            raise Refused("line has fewer than two positions")
        return {"type": "line", "coordinates": positions}
    if kind == "polygon":
        return {"type": "polygon", "coordinates": closed_ring(positions)}
    if len(positions) != 2:
        raise Refused("box does not have exactly two corners")
    (south, west), (north, east) = positions
    return {"type": "box", "coordinates": box(south, west, north, east)}


def from_where(where) -> Geometry:
    """feedparser's GeoRSS/GML `where` as a geometry, or Refused: for documents not read by from_georss."""
    if not isinstance(where, dict) or not where.get("type"):
        raise Refused("GeoRSS/GML geometry present but unreadable")
    srs = where.get("srsName")
    if srs and not _WGS84_SRS.fullmatch(str(srs).strip()):
        raise Refused(
            f"coordinate reference system {srs!r} is not WGS84 latitude/longitude, and a malformed document's "
            f"GML is read only in WGS84{_projected_hint(where)}"
        )
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


def w3c_position(entry) -> tuple[str | None, str | None]:
    """W3C geo's latitude and longitude as written: geo:lat and geo:long elements, else geo:Point's attributes."""
    lat, lon = _text(entry.get("geo_lat")), _text(entry.get("geo_long")) or _text(entry.get("geo_lon"))
    if lat or lon:
        return lat, lon
    attributes = entry.get("geo_point")
    if not isinstance(attributes, dict):
        return None, None
    # feedparser names the attributes by W3C geo's usual prefix, whatever prefix the document gave it.
    lat = _text(attributes.get("geo:lat")) or _text(attributes.get("lat"))
    lon = _text(attributes.get("geo:long")) or _text(attributes.get("long")) or _text(attributes.get("geo:lon"))
    return lat, lon


def from_w3c(lat: str | None, lon: str | None) -> Geometry:
    """W3C geo's geo:lat and geo:long as a point, or Refused."""
    if not (lat and lon):
        raise Refused("W3C geo position has a latitude or a longitude but not both")
    return {"type": "point", "coordinates": position(lat, lon)}


def _text(value) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip() or None


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
