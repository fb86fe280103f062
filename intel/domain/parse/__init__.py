"""Parse one feed's bytes: `parse` and its dialects, pure functions for the poller, no database, no Flask.

`parse` turns the bytes into `ParsedItem`s (items.py) with plain-text titles, sanitised
summaries (html.py), UTC times, one geometry shape (geometry.py, in (lat, lon) order:
coordinates.py) and the CAP, GDACS and USGS fields the classifier reads (cap.py, gdacs.py,
usgs.py; GeoRSS, GML and W3C geo in georss.py). It never raises for what a feed contains: a
document that declares XML entities is refused unread (document.py says why), and every other
trouble is a problem recorded on the result. The body is handed to feedparser as a stream, never
as bare bytes, because feedparser treats bare bytes as a file name to open.
"""

import io

import feedparser

from intel.domain import collector

from . import document, entry_xml, plain_rss
from .cap import is_cap_namespace
from .gdacs import is_gdacs_namespace
from .georss import normalise_srs_names
from .html import plain_text
from .items import FeedContext, ParsedFeed, build_items

# A bound for a hostile document of tiny entries, not for real feeds: every entry of a feed within
# the poller's byte cap (20 MB, ~36,000 entries of a usual size) is read; past it, a problem says so.
MAX_ITEMS = 50_000


def parse(body: bytes, *, default_category: str | None = None, base_url: str | None = None) -> ParsedFeed:
    """Parse a feed's bytes; problems are recorded, never raised.

    `base_url` (the feed's URL) resolves relative links; `default_category` is carried on
    every item for the classifier to fall back on.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError(f"parse() takes the feed's bytes, not {type(body).__name__}")
    body = bytes(body)
    if not body.strip():
        return ParsedFeed(title=None, version=None, problems=["empty body: no feed"])
    if document.declares_entities(body):
        return ParsedFeed(
            title=None,
            version=None,
            problems=["refused: the document declares XML entities (<!ENTITY>), a sign of an entity-expansion attack"],
        )
    with collector.paused():
        return _parse(body, default_category, base_url)


def _parse(body: bytes, default_category: str | None, base_url: str | None) -> ParsedFeed:
    fast = plain_rss.read(body)  # a plain RSS 2.0 document, read once; None for anything else
    if fast is not None:
        raw, georss = fast
    else:
        try:
            raw = _feedparser(body)
        except Exception as exc:  # feedparser has crashes of its own on odd input; one feed must not stop the poller
            return ParsedFeed(title=None, version=None, problems=[f"feed parser failed: {type(exc).__name__}: {exc}"])

    problems: list[str] = []
    document_problem, malformed, truncated = document.document_problem(raw)
    if document_problem:
        problems.append(document_problem)
    version = raw.get("version") or None
    title = plain_text(raw.get("feed", {}).get("title")) or None
    entries = list(raw.get("entries", []))
    if fast is None:
        georss = entry_xml.georss_elements(body, len(entries))  # read before entries are dropped from the end
    if truncated and entries and document.last_entry_cut_off(body):
        entries.pop()
        problems.append("the document ends early (truncated?): its last, incomplete entry was dropped")
    if len(entries) > MAX_ITEMS:
        problems.append(f"the feed has {len(entries)} entries; only the first {MAX_ITEMS} were read")
        entries = entries[:MAX_ITEMS]

    if not version:
        problems.append("not a feed: no RSS, Atom or RDF document found (an HTML page or other XML?)")
        return ParsedFeed(title=title, version=None, problems=problems, usable=False)
    if malformed and not entries:
        problems.append("no entries could be read from the malformed document")
        return ParsedFeed(title=title, version=version, problems=problems, usable=False)

    context = FeedContext(
        source=title,
        default_category=default_category,
        base_url=base_url,
        cap_prefixes=document.namespace_prefixes(raw, is_cap_namespace),
        gdacs_prefixes=document.namespace_prefixes(raw, is_gdacs_namespace),
        problems=problems,
        georss=georss,
    )
    items = build_items(entries, context)
    return ParsedFeed(title=title, version=version, items=items, problems=problems, usable=True)


def _feedparser(body: bytes):
    return feedparser.parse(
        io.BytesIO(normalise_srs_names(body)),
        # html.py sanitises every field with nh3 (and resolves a summary's links against base_url):
        # feedparser's own pass over the same HTML would cost a third of the parse for nothing.
        sanitize_html=False,
        resolve_relative_uris=False,
    )
