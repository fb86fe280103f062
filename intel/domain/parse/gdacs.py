"""GDACS (the Global Disaster Alert and Coordination System): its alert fields and its bounding box.

An entry carries GDACS fields when the feed declares the http://www.gdacs.org namespace, under
whatever prefix. GDACS writes a bbox as "lonmin lonmax latmin latmax"; it is kept as
(south, west, north, east).
"""

import math
import re
from typing import Any

from .coordinates import Refused, box, number, position
from .fields import namespaced, parse_when
from .html import plain_text

_GDACS_NAMESPACE = "http://www.gdacs.org"
_GDACS_TITLE_SEVERITY = re.compile(r"\((Magnitude [^()]{1,80})\)")


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
    return {
        "alertlevel": namespaced(entry, prefixes, "alertlevel"),
        "eventtype": namespaced(entry, prefixes, "eventtype"),
        "eventname": namespaced(entry, prefixes, "eventname"),
        "severity": severity_text,
        "severity_value": severity_value,
        "severity_unit": severity_unit,
        "country": namespaced(entry, prefixes, "country"),
        "iso3": namespaced(entry, prefixes, "iso3"),
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
