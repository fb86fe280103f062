"""Each entry's GeoRSS element, read from the document itself: what feedparser's reading of it loses.

feedparser keeps a GeoRSS or GML geometry's numbers but not the text they came from (a list with an
odd count silently loses its last number), knows a GML reference system only from its own list of
latitude-first codes, and ignores srsDimension on a posList. So when a document mentions GeoRSS or
GML, its entries are read a second time here, with defusedxml (it refuses entity declarations, already
refused before feedparser saw the document, and never fetches anything external), keeping each entry's
first geometry element: GeoRSS's point, line, polygon, box or where, or a GML geometry standing in the
entry without a where around it. When the document is not well-formed,
or its entries do not line up one for one with feedparser's, the answer is None and feedparser's
reading stands.
"""

import io
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeElementTree

from .gml import GML_NAMESPACES, local_name, namespace

GEORSS = "http://www.georss.org/georss"
GEORSS_GEOMETRIES = frozenset({"point", "line", "polygon", "box", "where"})
GML_GEOMETRIES = frozenset({"Point", "LineString", "Polygon", "Envelope"})
# Where feedparser finds entries: RSS 0.9x/2.0 items (no namespace), RSS 1.0 and 0.90 items, Atom entries.
_ENTRY_NAMESPACES = frozenset(
    {
        "",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/atom/ns#",
    }
)


def georss_elements(body: bytes, entry_count: int) -> list[Element | None] | None:
    """Each entry's first GeoRSS (or bare GML) geometry element (None for an entry with none), in document
    order; or None when the document cannot be read this way, or its entries are not feedparser's
    `entry_count`."""
    if not any(uri.encode() in body for uri in (GEORSS, *GML_NAMESPACES)):
        return None
    try:
        found = _read(body)
    except (ParseError, defusedxml.DefusedXmlException, ValueError, LookupError):
        return None
    return found if len(found) == entry_count else None


def _read(body: bytes) -> list[Element | None]:
    found: list[Element | None] = []
    for _, element in SafeElementTree.iterparse(io.BytesIO(body), events=("end",)):
        if local_name(element) not in ("item", "entry") or namespace(element) not in _ENTRY_NAMESPACES:
            continue
        found.append(next((child for child in element if _is_geometry(child)), None))
        element.clear()  # the entry's other content is feedparser's; the geometry element kept stays whole
    return found


def _is_geometry(element: Element) -> bool:
    if namespace(element) == GEORSS:
        return local_name(element) in GEORSS_GEOMETRIES
    return namespace(element) in GML_NAMESPACES and local_name(element) in GML_GEOMETRIES
