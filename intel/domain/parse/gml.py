"""GML geometry as GeoRSS carries it (inside georss:where): a point, line, polygon or envelope, in any reference system.

Read from the document's own elements (entry_xml.py), not from feedparser's reading of them. A
position's reference system is the srsName of the nearest element that states one, from the geometry
down to its pos or posList (WGS84 latitude/longitude when none does); its number of values is the
nearest srsDimension the same way, else the system's own axis count (3 for EPSG:4979). crs.py reads
each position in that system's axis order and gives it back as WGS84 (latitude, longitude), its height
dropped. A list whose count is not a whole number of positions is refused: which value is missing
cannot be told.
"""

from dataclasses import dataclass
from xml.etree.ElementTree import Element

from .coordinates import Geometry, Refused, box, closed_ring, numbers
from .crs import reference

GML_NAMESPACES = frozenset({"http://www.opengis.net/gml", "http://www.opengis.net/gml/3.2"})


def namespace(element: Element) -> str:
    """An element's namespace URI ("" for none)."""
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def local_name(element: Element) -> str:
    """An element's name without its namespace."""
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class _Frame:
    """The srsName and srsDimension in force at an element, inherited from the elements above it."""

    srs_name: str | None = None
    dimension: int | None = None

    def within(self, element: Element) -> "_Frame":
        dimension = element.get("srsDimension")
        return _Frame(element.get("srsName") or self.srs_name, _dimension(dimension) if dimension else self.dimension)


def from_gml(where: Element) -> Geometry:
    """The GML geometry inside a georss:where as a geometry in (lat, lon), or Refused."""
    geometry = next((child for child in where if namespace(child) in GML_NAMESPACES), None)
    if geometry is None:
        raise Refused("GeoRSS where holds no GML geometry")
    return gml_geometry(geometry)


def gml_geometry(geometry: Element) -> Geometry:
    """A GML geometry element as a geometry in (lat, lon), or Refused."""
    kind = local_name(geometry)
    reader = _READERS.get(kind)
    if reader is None:
        raise Refused(f"unsupported GML geometry {kind!r} (a Point, LineString, Polygon or Envelope is read)")
    return reader(geometry, _Frame().within(geometry))


def _point(element: Element, frame: _Frame) -> Geometry:
    pos = _child(element, "pos")
    if pos is None:
        raise Refused("GML Point has no pos")
    return {"type": "point", "coordinates": _position(pos, frame, "GML pos")}


def _line(element: Element, frame: _Frame) -> Geometry:
    line = _position_list(element, frame, "GML LineString")
    if len(line) < 2:
        raise Refused("line has fewer than two positions")
    return {"type": "line", "coordinates": line}


def _polygon(element: Element, frame: _Frame) -> Geometry:
    exterior = _child(element, "exterior")
    if exterior is None:
        exterior = _child(element, "outerBoundaryIs")  # the GML 2 name
    ring = _child(exterior, "LinearRing") if exterior is not None else None
    if ring is None:
        raise Refused("GML Polygon has no exterior LinearRing")
    positions = _position_list(ring, frame.within(exterior).within(ring), "GML LinearRing")
    return {"type": "polygon", "coordinates": closed_ring(positions)}


def _envelope(element: Element, frame: _Frame) -> Geometry:
    lower, upper = _child(element, "lowerCorner"), _child(element, "upperCorner")
    if lower is None or upper is None:
        raise Refused("GML Envelope needs a lowerCorner and an upperCorner")
    south, west = _position(lower, frame, "GML lowerCorner")
    north, east = _position(upper, frame, "GML upperCorner")
    return {"type": "box", "coordinates": box(south, west, north, east)}


_READERS = {"Point": _point, "LineString": _line, "Polygon": _polygon, "Envelope": _envelope}


def _position_list(element: Element, frame: _Frame, what: str) -> list[tuple[float, float]]:
    """A posList's positions, or those of a run of pos elements."""
    pos_list = _child(element, "posList")
    if pos_list is not None:
        return _positions(pos_list, frame.within(pos_list), f"{what} posList")
    return [_position(pos, frame, "GML pos") for pos in element if local_name(pos) == "pos"]


def _position(element: Element, frame: _Frame, what: str) -> tuple[float, float]:
    """The one position of a pos (or corner); an undeclared third value is taken as a height."""
    frame = frame.within(element)
    if frame.dimension is None:
        count = len((element.text or "").replace(",", " ").split())
        if count == 3 and reference(frame.srs_name).dimensions == 2:
            frame = _Frame(frame.srs_name, 3)
    positions = _positions(element, frame, what)
    if len(positions) != 1:
        raise Refused(f"{what} holds {len(positions)} positions, not one")
    return positions[0]


def _positions(element: Element, frame: _Frame, what: str) -> list[tuple[float, float]]:
    system = reference(frame.srs_name)
    values = numbers(element.text or "", what)
    dimension = frame.dimension or system.dimensions
    if not values or len(values) % dimension:
        raise Refused(f"{what} has {len(values)} numbers: not a whole number of {dimension}-D positions")
    return [system.to_latlon(values[i], values[i + 1]) for i in range(0, len(values), dimension)]


def _child(element: Element, name: str) -> Element | None:
    return next((child for child in element if local_name(child) == name), None)


def _dimension(text: str) -> int:
    try:
        dimension = int(text)
    except ValueError:
        raise Refused(f"GML srsDimension {text[:20]!r} is not a number") from None
    if not 2 <= dimension <= 4:
        raise Refused(f"GML srsDimension {dimension} is not 2, 3 or 4")
    return dimension
