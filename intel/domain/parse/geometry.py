"""An entry's one geometry, from the first of its dialects' places that is usable.

Sources, in order: GeoRSS/GML (feedparser's `where`), CAP polygon, CAP circle, W3C geo, GDACS
bbox. A source that is present but refused is passed over for a later one, and its refusal is
recorded; when none is usable the refusals say why the entry has no place.
"""

from .cap import from_cap_circle, from_cap_polygon
from .coordinates import Geometry, Refused
from .fields import text
from .gdacs import gdacs_box
from .georss import from_w3c, from_where


def entry_geometry(
    entry, cap_prefixes: list[str], gdacs_prefixes: list[str]
) -> tuple[Geometry | None, str | None, list[str]]:
    """(geometry, why there is none, refusals of sources passed over for a later one)."""
    problems: list[str] = []
    for source in _sources(entry, cap_prefixes, gdacs_prefixes):
        try:
            geometry = source()
        except Refused as exc:
            problems.append(str(exc))
            continue
        if geometry is not None:
            return geometry, None, problems
    if problems:
        return None, "; ".join(problems), []
    return None, None, []


def _sources(entry, cap_prefixes: list[str], gdacs_prefixes: list[str]):
    if "where" in entry:
        yield lambda: from_where(entry.get("where"))
    for prefix in cap_prefixes:
        polygon = text(entry, f"{prefix}_polygon")
        if polygon:
            yield lambda polygon=polygon: from_cap_polygon(polygon)
        circle = text(entry, f"{prefix}_circle")
        if circle:
            yield lambda circle=circle: from_cap_circle(circle)
    lat = text(entry, "geo_lat")
    lon = text(entry, "geo_long") or text(entry, "geo_lon")
    if lat or lon:
        yield lambda: from_w3c(lat, lon)
    for prefix in gdacs_prefixes:
        bbox = text(entry, f"{prefix}_bbox")
        if bbox:
            yield lambda bbox=bbox: {"type": "box", "coordinates": gdacs_box(bbox)}
