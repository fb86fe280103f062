"""USGS earthquake feeds: magnitude, place, depth and event id, from the title, tags, id and elevation.

An entry is read as USGS's when its id is a urn:earthquake-usgs-gov: one, its link is on usgs.gov,
or its title reads "M 4.5 - place".
"""

import math
import re
from typing import Any
from urllib.parse import urlsplit

from .fields import text

_USGS_ID = "urn:earthquake-usgs-gov:"
# "M 4.5 - 10 km SSW of Hualien City, Taiwan": a magnitude always has its decimal, so a motorway
# ("M25 - Lane closures between J10 and J11") is not an earthquake.
_USGS_TITLE = re.compile(r"^\s*M\s*(-?\d+\.\d+)\s+-\s+(.*)$")
_MAGNITUDE_TERM = re.compile(r"^\s*Magnitude\s+(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)


def usgs_fields(entry, title: str, link: str | None) -> dict[str, Any] | None:
    """The USGS fields the classifier reads, or None when the entry is not USGS's."""
    entry_id = text(entry, "id") or ""
    host = (urlsplit(link).hostname or "") if link else ""
    title_match = _USGS_TITLE.match(title)
    if not (entry_id.startswith(_USGS_ID) or host.endswith("usgs.gov") or title_match):
        return None
    magnitude = float(title_match.group(1)) if title_match else _magnitude_from_tags(entry)
    depth_km = None
    elevation = text(entry, "georss_elev")
    if elevation:
        try:
            depth_km = round(-float(elevation) / 1000.0, 3)
        except ValueError:
            depth_km = None
    event_id = None
    if entry_id.startswith(_USGS_ID):
        event_id = "".join(entry_id.split(":")[2:])
    return {
        "magnitude": magnitude,
        "place": title_match.group(2).strip() if title_match else None,
        "depth_km": depth_km if depth_km is not None and math.isfinite(depth_km) else None,
        "event_id": event_id or None,
    }


def _magnitude_from_tags(entry) -> float | None:
    for tag in entry.get("tags") or []:
        term = tag.get("term") if isinstance(tag, dict) else None
        match = _MAGNITUDE_TERM.match(term) if isinstance(term, str) else None
        if match:
            return float(match.group(1))
    return None
