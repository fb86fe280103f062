"""A parsed feed and its items: the dataclasses the poller stores, and each entry read into one.

Every text is capped and cleaned here (plain-text titles and categories, sanitised summaries,
absolute http(s) links only), times are aware UTC, and each dialect's fields are read by its own
module. One odd entry is skipped with a problem recorded; it never stops the rest of the feed.
"""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element

from .cap import cap_fields
from .coordinates import Geometry
from .fields import struct_to_utc, text
from .gdacs import gdacs_fields
from .geometry import entry_geometry
from .html import LINK_SCHEMES, html_to_text, plain_text, sanitise_html
from .travel import advisory_guid, travel_advisory_fields, unrecognised
from .usgs import usgs_fields

MAX_GUID_LENGTH = 500  # the FeedItem.guid column; longer ids are hashed, never cut
MAX_LINK_LENGTH = 2048
MAX_TITLE_LENGTH = 500
MAX_SUMMARY_INPUT = 100_000
MAX_CATEGORIES = 50
MAX_CATEGORY_LENGTH = 200
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")  # never in a link


@dataclass
class ParsedItem:
    """One entry of a feed, cleaned: plain-text title, sanitised summary, (lat, lon) geometry.

    geometry is {"type": "point"|"line"|"polygon"|"box", "coordinates": ...} with every
    position as (latitude, longitude): a point (lat, lon), a line or polygon a list of them
    (a polygon closed, first == last), a box (south, west, north, east). A CAP circle is a
    point with "radius_km". When a feed's location is refused, geometry is None and
    geometry_problem says why (so it does for a travel advisory whose country is not recognised).
    """

    guid: str  # the entry's id, else its link, else "sha256:" of title and time; at most 500 characters
    link: str | None  # absolute http(s) only
    title: str  # plain text, may be ""
    summary_html: str  # sanitised: basic formatting, http(s) links with rel="noopener nofollow"
    summary_text: str
    published: datetime | None  # aware UTC; the feed's updated time when it gives no published one
    updated: datetime | None
    categories: list[str] = field(default_factory=list)
    geometry: Geometry | None = None
    geometry_problem: str | None = None
    cap: dict[str, Any] | None = None  # severity, urgency, certainty, event, onset, expires, area_desc, status, ...
    gdacs: dict[str, Any] | None = None  # alertlevel, eventtype, severity, country, fromdate, todate, bbox, ...
    usgs: dict[str, Any] | None = None  # magnitude, place, depth_km, event_id
    travel_advisory: dict[str, Any] | None = None  # countries, country_name, country_tag, level, advice
    source: str | None = None  # the feed's title
    default_category: str | None = None  # the feed's, for the classifier to fall back on


@dataclass
class ParsedFeed:
    """A parsed feed; `usable` is False when the document is not a feed at all."""

    title: str | None
    version: str | None
    items: list[ParsedItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    usable: bool = False


@dataclass
class FeedContext:
    """What every entry of one feed shares while it is read; `problems` is the feed's list, appended to."""

    source: str | None
    default_category: str | None
    base_url: str | None
    cap_prefixes: list[str]
    gdacs_prefixes: list[str]
    problems: list[str]
    georss: list[Element | None] | None = None  # each entry's GeoRSS element from the document (entry_xml.py)

    def georss_of(self, index: int) -> Element | None:
        """The GeoRSS element of the entry at `index` (1-based), when the document could be read for it."""
        return self.georss[index - 1] if self.georss is not None and index <= len(self.georss) else None


def build_items(entries, context: FeedContext) -> list[ParsedItem]:
    """The entries that read as items, in order, each guid once."""
    items: list[ParsedItem] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        try:
            item = _item(entry, index, context)
        except Exception as exc:  # one odd entry is skipped, the rest of the feed still counts
            context.problems.append(f"entry {index} skipped: {type(exc).__name__}: {exc}")
            continue
        if item is None:
            continue
        if item.guid in seen:
            context.problems.append(f"entry {index} skipped: duplicate guid {item.guid!r}")
            continue
        seen.add(item.guid)
        items.append(item)
    return items


def _item(entry, index: int, context: FeedContext) -> ParsedItem | None:
    title = plain_text(text(entry, "title"))
    if len(title) > MAX_TITLE_LENGTH:
        title = title[: MAX_TITLE_LENGTH - 1].rstrip() + "…"
    raw_link = text(entry, "link")
    link = _safe_link(raw_link, context.base_url)
    summary_source = _summary_source(entry)
    summary_html = sanitise_html(summary_source, context.base_url)
    summary_text = html_to_text(summary_html)
    if not (title or link or summary_text):
        context.problems.append(f"entry {index} skipped: no title, link or summary")
        return None
    # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed, with a warning.
    published = struct_to_utc(dict.get(entry, "published_parsed"))
    updated = struct_to_utc(dict.get(entry, "updated_parsed"))
    guid = _guid(text(entry, "id"), raw_link, title, published or updated)
    travel_advisory = travel_advisory_fields(entry, title)
    if travel_advisory is not None:
        guid = advisory_guid(guid, travel_advisory, published or updated)
    if raw_link and link is None:
        context.problems.append(f"item {guid!r}: link dropped ({_describe_link(raw_link)})")
    geometry, geometry_problem, refused = entry_geometry(
        entry, context.cap_prefixes, context.gdacs_prefixes, context.georss_of(index)
    )
    for problem in refused:
        context.problems.append(f"item {guid!r}: {problem}")
    if travel_advisory is not None and geometry is None:
        geometry_problem = geometry_problem or unrecognised(travel_advisory)
    return ParsedItem(
        guid=guid,
        link=link,
        title=title,
        summary_html=summary_html,
        summary_text=summary_text,
        published=published or updated,
        updated=updated,
        categories=_categories(entry),
        geometry=geometry,
        geometry_problem=geometry_problem,
        cap=cap_fields(entry, context.cap_prefixes),
        gdacs=gdacs_fields(entry, context.gdacs_prefixes, title),
        usgs=usgs_fields(entry, title, link),
        travel_advisory=travel_advisory,
        source=context.source,
        default_category=context.default_category,
    )


def _summary_source(entry) -> str:
    summary = text(entry, "summary")
    if not summary:
        for content in entry.get("content") or []:
            value = content.get("value") if isinstance(content, dict) else None
            if isinstance(value, str) and value.strip():
                summary = value
                break
    return (summary or "")[:MAX_SUMMARY_INPUT]


def _guid(entry_id: str | None, raw_link: str | None, title: str, when: datetime | None) -> str:
    guid = entry_id or raw_link
    if not guid:
        stamp = when.isoformat() if when else ""
        return "sha256:" + hashlib.sha256(f"{title}\n{stamp}".encode()).hexdigest()
    if len(guid) > MAX_GUID_LENGTH:
        return "sha256:" + hashlib.sha256(guid.encode("utf-8", "replace")).hexdigest()
    return guid


def _safe_link(raw: str | None, base_url: str | None) -> str | None:
    """An absolute http(s) link, or None (javascript:, data:, relative without a base...)."""
    if not raw:
        return None
    link = raw.strip()
    if base_url:
        link = urljoin(base_url, link)
    if len(link) > MAX_LINK_LENGTH or _CONTROL_OR_SPACE.search(link):
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
        return None
    return link


def _describe_link(raw: str) -> str:
    scheme = raw.strip().split(":", 1)[0].lower() if ":" in raw else ""
    if scheme and scheme.isalpha() and scheme not in LINK_SCHEMES:
        return f"scheme {scheme!r} is not allowed"
    return "not an absolute http(s) URL"


def _categories(entry) -> list[str]:
    categories: list[str] = []
    for tag in entry.get("tags") or []:
        if not isinstance(tag, dict):
            continue
        term = tag.get("term") if isinstance(tag.get("term"), str) else None
        label = tag.get("label") if isinstance(tag.get("label"), str) else None
        value = plain_text(term or label)[:MAX_CATEGORY_LENGTH]
        if value and value not in categories:
            categories.append(value)
        if len(categories) >= MAX_CATEGORIES:
            break
    return categories
