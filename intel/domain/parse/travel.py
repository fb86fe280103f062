"""Travel advisories: a government's level of advice for a whole country, as the US State Department's feed writes it.

travel.state.gov's RSS (/_res/rss/TAsTWs.xml) has one item per country: a title such as "Mexico -
Level 2: Exercise Increased Caution" (a few read "Mexico Travel Advisory" instead), a
<category domain="Threat-Level">Level 2: Exercise Increased Caution</category>, a
<category domain="Country-Tag">MX</category> whose code is FIPS 10-4, not ISO ("UK", "TU"), and a
pubDate, the day it was issued. An entry is read as an advisory when a Threat-Level category gives
a level, or its title does in the State Department's words ("Level 3: Reconsider Travel": a
headline's "Level 2 lockdown" is not one). Its countries come from the title's part before " - "
or before " Travel Advisory" ("Israel, the West Bank and Gaza" is two), else from the tag
(intel.domain.countries reads both); an advisory whose country is not recognised says so.

The feed rewrites a country's item in place, under the same link, when the advice changes; so an
advisory's guid here is its id (or link) with the level and the issue date added, and a changed
advisory arrives as a new item rather than one already stored.
"""

import hashlib
import re
from datetime import datetime
from typing import Any

from intel.domain.countries import countries_named, country_of_fips

from .html import plain_text

LEVELS = {
    1: "Exercise Normal Precautions",
    2: "Exercise Increased Caution",
    3: "Reconsider Travel",
    4: "Do Not Travel",
}
_LEVEL = re.compile(r"^\s*Level\s+(?P<level>[1-4])\s*:\s*(?P<advice>.*?)\s*$", re.IGNORECASE)
_DASH = re.compile(r"\s+[-–—]\s+")
_TRAVEL_ADVISORY_SUFFIX = re.compile(r"\s+travel\s+advisory\s*$", re.IGNORECASE)
MAX_GUID_LENGTH = 500


def travel_advisory_fields(entry, title: str) -> dict[str, Any] | None:
    """The advisory's countries (ISO codes; empty when none is recognised), the name and FIPS tag they were read
    from, its level and advice; None when the entry gives no level."""
    country_name, level, advice = _from_title(title)
    tags = _tags(entry)
    if "threat-level" in tags:
        match = _LEVEL.match(tags["threat-level"])
        if match:
            level, advice = int(match["level"]), match["advice"]
    if level is None:
        return None
    country_tag = tags.get("country-tag")
    countries = countries_named(country_name) if country_name else []
    if not countries and country_tag:
        countries = [code for code in (country_of_fips(country_tag),) if code]
    return {
        "countries": countries,
        "country_name": country_name,
        "country_tag": country_tag,
        "level": level,
        "advice": advice or LEVELS[level],
    }


def unrecognised(advisory: dict[str, Any]) -> str | None:
    """Why an advisory has no country, or None when it has one."""
    if advisory["countries"]:
        return None
    written = advisory["country_name"] or advisory["country_tag"]
    if not written:
        return "travel advisory names no country"
    return f"travel advisory for {written!r}: no country of that name"


def _from_title(title: str) -> tuple[str | None, int | None, str | None]:
    """("Mexico", 2, "Exercise Increased Caution") from "Mexico - Level 2: Exercise Increased Caution"."""
    parts = _DASH.split(title, maxsplit=1)
    if len(parts) == 2:
        country = parts[0].strip() or None
        match = _LEVEL.match(parts[1])
        if match and match["advice"].lower().startswith(LEVELS[int(match["level"])].lower()):
            return country, int(match["level"]), match["advice"]
        return country, None, None
    country = _TRAVEL_ADVISORY_SUFFIX.sub("", title).strip()
    return (country or None) if country != title.strip() else None, None, None


def _tags(entry) -> dict[str, str]:
    """The entry's categories by their domain (feedparser's scheme), lower-cased: {"threat-level": ...}."""
    found: dict[str, str] = {}
    for tag in entry.get("tags") or []:
        if not isinstance(tag, dict):
            continue
        scheme, term = tag.get("scheme"), tag.get("term")
        if isinstance(scheme, str) and isinstance(term, str) and plain_text(term):
            found.setdefault(scheme.strip().lower(), plain_text(term))
    return found


def advisory_guid(guid: str, advisory: dict[str, Any], issued: datetime | None) -> str:
    """The entry's guid with the advisory's level and issue date: a new item each time the advice changes."""
    stamp = issued.date().isoformat() if issued else "undated"
    versioned = f"{guid}#level-{advisory['level']}-{stamp}"
    if len(versioned) > MAX_GUID_LENGTH:
        return "sha256:" + hashlib.sha256(versioned.encode("utf-8", "replace")).hexdigest()
    return versioned
