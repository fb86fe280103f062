"""GML reference systems: a position as a document writes it, in its srsName's axis order, to WGS84 (lat, lon).

The srsName spellings GML uses ("EPSG:27700", "urn:ogc:def:crs:EPSG::4326",
"http://www.opengis.net/def/crs/EPSG/0/32633", "urn:ogc:def:crs:OGC:1.3:CRS84") are read into an
authority code, and only those: nothing else a feed writes reaches PROJ. Axis order is the
authority's, as GML requires: EPSG:4326 and EPSG:4979 are latitude first, CRS84 longitude first, a
projected system (UTM, British National Grid, Web Mercator) easting first. The one exception is the
old GML 2 spelling ".../gml/srs/epsg.xml#4326", which by its convention is x/y, longitude first,
whatever the code. WGS84 itself is read as it stands; every other system goes through pyproj,
offline on its bundled PROJ database (without the network, a datum shift falls back to PROJ's
best-available transformation: metres, not centimetres), its transformers built once per process
(pyproj's are safe across threads). A height (a third axis) is dropped.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from .coordinates import Refused, position

_URN = re.compile(r"urn:(?:x-)?ogc:def:crs:(?P<authority>[a-z]+):(?P<version>[\w.]*):(?P<code>\w+)", re.IGNORECASE)
_URL = re.compile(
    r"https?://www\.opengis\.net/def/crs/(?P<authority>[a-z]+)/(?P<version>[\w.]*)/(?P<code>\w+)", re.IGNORECASE
)
_GML2_URL = re.compile(r"https?://www\.opengis\.net/gml/srs/epsg\.xml#(?P<code>\d+)", re.IGNORECASE)
_SHORT = re.compile(r"(?P<authority>EPSG|OGC|CRS|IGNF|ESRI):(?P<code>\w+)", re.IGNORECASE)

# WGS84 read without pyproj: (code, longitude first) -> axis count.
_WGS84 = {
    ("EPSG:4326", False): 2,
    ("EPSG:4979", False): 3,
    ("EPSG:4326", True): 2,  # the GML 2 spelling
    ("OGC:CRS84", True): 2,
    ("OGC:CRS84H", True): 3,
}


@dataclass(frozen=True)
class Reference:
    """A reference system as a document names it: how many numbers a position has, and how to read one."""

    name: str
    dimensions: int
    to_latlon: Callable[[float, float], tuple[float, float]]


WGS84_LATLON = Reference("WGS84 latitude/longitude", 2, position)


def reference(srs_name: str | None) -> Reference:
    """The reference system an srsName names (None: WGS84 latitude/longitude), or Refused."""
    if srs_name is None or not srs_name.strip():
        return WGS84_LATLON
    srs_name = srs_name.strip()
    code, lon_first = _authority_code(srs_name)
    if (code, lon_first) in _WGS84:
        dimensions = _WGS84[(code, lon_first)]
        read = _lonlat if lon_first else position
        return Reference(srs_name, dimensions, read)
    found = _projection(code, lon_first)
    if found is None:
        raise Refused(f"coordinate reference system {srs_name!r} is not one PROJ knows")
    dimensions, transformer = found

    def to_latlon(x: float, y: float) -> tuple[float, float]:
        try:
            a, b = transformer.transform(x, y)
        except ProjError as exc:
            raise Refused(f"({x:g}, {y:g}) in {srs_name} could not be transformed to WGS84: {exc}") from None
        return position(b, a) if lon_first else position(a, b)

    return Reference(srs_name, dimensions, to_latlon)


def _authority_code(srs_name: str) -> tuple[str, bool]:
    """("AUTHORITY:CODE", whether the document writes longitude first regardless), or Refused."""
    if match := _GML2_URL.fullmatch(srs_name):
        return f"EPSG:{match['code']}", True
    match = _URN.fullmatch(srs_name) or _URL.fullmatch(srs_name) or _SHORT.fullmatch(srs_name)
    if match is None:
        raise Refused(f"coordinate reference system {srs_name[:100]!r} is not an EPSG or OGC name")
    authority, code = match["authority"].upper(), match["code"].upper()
    if authority == "CRS":  # "CRS:84", the WMS spelling of OGC:CRS84
        authority, code = "OGC", f"CRS{code}"
    return f"{authority}:{code}", authority == "OGC" and code.startswith("CRS")


def _lonlat(lon: float, lat: float) -> tuple[float, float]:
    return position(lat, lon)


@functools.lru_cache(maxsize=128)
def _projection(code: str, lon_first: bool) -> tuple[int, Transformer] | None:
    """(axis count, transformer to WGS84 latitude/longitude), or None for a code PROJ does not know.

    Cached, failures too: every item of a feed names the same system, and building one costs milliseconds.
    With always_xy off, the transformer takes positions in the system's own axis order and gives
    (latitude, longitude); with it on (longitude-first documents) it takes (x, y) and gives (longitude, latitude).
    """
    try:
        crs = CRS.from_user_input(code)
        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=lon_first)
    except (CRSError, ProjError):
        return None
    return len(crs.axis_info), transformer
