"""An entry's one geometry, from the first of its dialects' places that is usable.

Sources, in order: GeoRSS/GML (its element in the document, else feedparser's `where`), CAP
polygon, CAP circle, W3C geo, GDACS bbox. A source that is present but refused is passed over for
a later one, and its refusal is recorded; when none is usable the refusals say why the entry has
no place. A place at exactly (0, 0) is refused whatever its source.
"""

from xml.etree.ElementTree import Element

from .cap import from_cap_circle, from_cap_polygon
from .coordinates import Geometry, Refused, refuse_null_island
from .fields import text
from .gdacs import gdacs_box
from .georss import from_georss, from_w3c, from_where, w3c_position


def entry_geometry(
    entry, cap_prefixes: list[str], gdacs_prefixes: list[str], georss: Element | None = None
) -> tuple[Geometry | None, str | None, list[str]]:
    """(geometry, why there is none, refusals of sources passed over for a later one).

    `georss` is the entry's GeoRSS element as the document has it (entry_xml.py), when it could be read.
    """
    problems: list[str] = []
    for source in _sources(entry, cap_prefixes, gdacs_prefixes, georss):
        try:
            geometry = source()
            if geometry is not None:
                geometry = refuse_null_island(geometry)
        except Refused as exc:
            problems.append(str(exc))
            continue
        if geometry is not None:
            return geometry, None, problems
    if problems:
        return None, "; ".join(problems), []
    return None, None, []


def _sources(entry, cap_prefixes: list[str], gdacs_prefixes: list[str], georss: Element | None):
    if georss is not None:
        yield lambda: from_georss(georss)
    elif "where" in entry:
        yield lambda: from_where(entry.get("where"))
    for prefix in cap_prefixes:
        polygon = text(entry, f"{prefix}_polygon")
        if polygon:
            yield lambda polygon=polygon: from_cap_polygon(polygon)
        circle = text(entry, f"{prefix}_circle")
        if circle:
            yield lambda circle=circle: from_cap_circle(circle)
    lat, lon = w3c_position(entry)
    if lat or lon:
        yield lambda: from_w3c(lat, lon)
    for prefix in gdacs_prefixes:
        bbox = text(entry, f"{prefix}_bbox")
        if bbox:
            yield lambda bbox=bbox: {"type": "box", "coordinates": gdacs_box(bbox)}
