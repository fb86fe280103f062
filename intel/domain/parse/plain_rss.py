"""A fast reader for plain RSS 2.0 documents: one pass of expat through defusedxml, feedparser's answer.

feedparser spends most of a large feed's parse in its pure-Python SAX handlers, and a GeoRSS
document is then read a second time for its geometry elements (entry_xml.py). A plain RSS 2.0
document, the common case, is read here once with the C ElementTree, and `read` gives what
`parse._parse` takes from feedparser's result, with the values feedparser 6.0.14 would give.

What is produced, and why (each key is one that items.py or a reader it calls looks at):

- the feed's `title` (the source of every item), `version` "rss20", and `namespaces` (only
  GeoRSS's can be declared here, so no CAP or GDACS prefix is ever found);
- per entry: `title`; `link` (the last <link>, else a permalink <guid>'s value); `summary` (from
  <description>); `id` (from <guid>); `published_parsed` (a UTC struct_time from <pubDate>);
  `tags` (from <category>, term and domain as scheme, kept in feedparser's way, repeats merged);
- per entry, its first GeoRSS point, line, polygon or box element, as entry_xml.georss_elements
  gives it, so the document is not read a second time; `where` is then never consulted.

Every text goes through what feedparser's `pop` does to it: stripped, re-read as UTF-8 when it
is UTF-8 mistaken for Latin-1, characters \\x80-\\x9f mapped as windows-1252 would; a link (and a
permalink guid) has the slashes after "scheme://" squeezed and, for <link>, "&amp;" and
"&name;" turned back into "&" and "&name". Keys nothing of ours reads are left out: `author`
and `comments` elements are passed over (feedparser maps them to author, authors and comments).

The reader declines (None: feedparser reads the document as before) whenever it has not been
shown to read a document as feedparser does: a byte order mark, an XML declaration naming
anything but UTF-8, bytes that are not UTF-8, a DOCTYPE, a document that is not well-formed; a
root other than <rss version="2.0"> holding exactly one <channel>; a namespace other than GeoRSS
(so no Atom, Dublin Core, content, media, CAP, GDACS, W3C geo, GML); an attribute other than a
guid's isPermaLink and a category's domain; an element inside a channel or item element other
than those named here (<image>, <textInput>, <enclosure>, <source>, ...), or holding an element
of its own (markup written as elements, not escaped); a second <title>, <link>, <description>,
<guid> or <pubDate> in one item, or a second channel <title> (feedparser's "first title wins"
depth rule and its summary-becomes-content rule); a <pubDate> not in the form
"Www, D Mmm YYYY HH:MM[:SS] zone" with a numeric zone or one of GMT, UT, Z and the US zones.

Proof: tests/test_parse_plain.py compares `parse` through this reader and through feedparser,
item by item, on the fixture feeds, the benchmark's feed and hypothesis-generated documents of
hostile text, and shows a decline for each kind of document declined here.
"""

import contextlib
import io
import re
import time
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeElementTree

from .entry_xml import GEORSS

_GEORSS_SHAPES = frozenset(f"{{{GEORSS}}}{name}" for name in ("point", "line", "polygon", "box"))
_CHANNEL_CHILDREN = frozenset(
    {
        "title",
        "link",
        "description",
        "language",
        "copyright",
        "managingEditor",
        "webMaster",
        "pubDate",
        "lastBuildDate",
        "category",
        "generator",
        "docs",
        "ttl",
    }
)
# feedparser maps these to author, authors and comments: keys nothing of ours reads.
_PASSED_OVER = frozenset({"author", "comments"})
_ONCE_PER_ITEM = ("title", "link", "description", "guid", "pubDate")
_ATTRIBUTES = {"guid": frozenset({"isPermaLink"}), "category": frozenset({"domain"})}
_NO_ATTRIBUTES: frozenset[str] = frozenset()

_XML_DECLARATION = re.compile(
    rb"<\?xml\s+version\s*=\s*(['\"])1\.0\1(?:\s+encoding\s*=\s*(['\"])utf-8\2)?"
    rb"(?:\s+standalone\s*=\s*(['\"])(?:yes|no)\3)?\s*\?>",
    re.IGNORECASE,
)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# feedparser's urls._urifixer: "http:///x" becomes "http://x".
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_LINK_REFERENCE = re.compile(r"&([A-Za-z0-9_]+);")
# What feedparser's pop does with characters \x80-\x9f: read them as windows-1252 would (its _cp1252).
_CP1252 = {
    code: bytes([code]).decode("cp1252") for code in range(0x80, 0xA0) if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
}

_MONTHS = {"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6}
_MONTHS |= {"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}
_ZONE_HOURS = {"GMT": 0, "UT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5}
_ZONE_HOURS |= {"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (?P<day>\d{1,2}) (?P<month>[A-Z][a-z]{2}) (?P<year>\d{4}) "
    r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))? (?P<zone>[+-]\d{4}|[A-Z]{1,3})",
    re.ASCII,
)


class _Decline(Exception):
    """The document is not one this reader has been shown to read as feedparser does."""


def read(body: bytes) -> tuple[dict[str, Any], list[Element | None] | None] | None:
    """(feedparser-like result, each entry's GeoRSS element) for a plain RSS 2.0 document; None to decline.

    The result has `version`, `feed` (with `title` when the channel has one), `namespaces` and
    `entries` (plain dicts); the GeoRSS list is None when the document does not declare GeoRSS,
    as entry_xml.georss_elements answers.
    """
    if not _encoding_is_plain_utf8(body) or _DOCTYPE.search(body):
        return None
    try:
        root, namespaces = _tree(body)
        return _read_rss(root, namespaces)
    except (_Decline, ParseError, defusedxml.DefusedXmlException, ValueError, LookupError):
        return None


def _encoding_is_plain_utf8(body: bytes) -> bool:
    """UTF-8 as both readers take it: no byte order mark, no other encoding declared, valid bytes."""
    if body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return False
    if body.startswith(b"<?xml") and not _XML_DECLARATION.match(body):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _tree(body: bytes) -> tuple[Element, dict[str, str]]:
    """The whole document and the namespaces it declares; only GeoRSS may be declared."""
    namespaces: dict[str, str] = {}
    events = SafeElementTree.iterparse(io.BytesIO(body), events=("start-ns",))
    for _, (_prefix, uri) in events:
        if uri != GEORSS:
            raise _Decline(f"namespace {uri!r}")
        namespaces["georss"] = uri  # feedparser files it under GeoRSS's usual prefix, whatever the document's
    return events.root, namespaces


def _read_rss(root: Element, namespaces: dict[str, str]) -> tuple[dict[str, Any], list[Element | None] | None]:
    if root.tag != "rss" or root.attrib != {"version": "2.0"} or len(root) != 1 or root[0].tag != "channel":
        raise _Decline("not <rss version='2.0'> with one channel")
    channel = root[0]
    _check_attributes(channel)
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    georss: list[Element | None] = []
    for child in channel:
        if child.tag == "item":
            entry, shape = _read_item(child)
            entries.append(entry)
            georss.append(shape)
            continue
        if child.tag not in _CHANNEL_CHILDREN:
            raise _Decline(f"channel element {child.tag!r}")
        _check_leaf(child)
        if child.tag == "title":
            if "title" in feed:
                raise _Decline("a second channel title")
            feed["title"] = _text(child)
    raw = {"version": "rss20", "feed": feed, "namespaces": namespaces, "entries": entries}
    return raw, (georss if namespaces else None)


def _read_item(item: Element) -> tuple[dict[str, Any], Element | None]:
    _check_attributes(item)
    entry: dict[str, Any] = {}
    seen: set[str] = set()
    shape: Element | None = None
    for child in item:
        tag = child.tag
        if tag in _GEORSS_SHAPES:
            _check_leaf(child)
            shape = child if shape is None else shape  # entry_xml keeps the first
            continue
        if tag in _PASSED_OVER:
            _check_leaf(child)
            continue
        if tag in _ONCE_PER_ITEM:
            if tag in seen:
                raise _Decline(f"a second <{tag}> in an item")
            seen.add(tag)
        _check_leaf(child)
        _read_item_child(entry, tag, child)
    return entry, shape


def _read_item_child(entry: dict[str, Any], tag: str, child: Element) -> None:
    if tag == "title":
        entry["title"] = _text(child)
    elif tag == "description":
        entry["summary"] = _text(child)
    elif tag == "link":
        entry["link"] = _link(child)
    elif tag == "guid":
        _read_guid(entry, child)
    elif tag == "pubDate":
        entry["published_parsed"] = _rfc822(_text(child))
    elif tag == "category":
        _read_category(entry, child)
    else:
        raise _Decline(f"item element {tag!r}")


def _read_guid(entry: dict[str, Any], guid: Element) -> None:
    """feedparser: a guid is the id; a permalink one (isPermaLink absent or exactly "true") is the link too,
    unless the item gave a <link> before it (a <link> after it wins)."""
    is_link = guid.get("isPermaLink", "true") == "true"
    value = _text(guid, resolve=is_link)
    entry["id"] = value
    if is_link:
        entry.setdefault("link", value)


def _read_category(entry: dict[str, Any], category: Element) -> None:
    """feedparser's _start_category/_end_category: a tag for the domain first, its term filled in at the end."""
    tags = entry.setdefault("tags", [])
    domain = category.get("domain")
    if domain is not None:
        _add_tag(tags, None, domain)
    term = _text(category)
    if not term:
        return
    if tags and not tags[-1]["term"]:
        tags[-1]["term"] = term
    else:
        _add_tag(tags, term, None)


def _add_tag(tags: list[dict[str, Any]], term: str | None, scheme: str | None) -> None:
    if not term and not scheme:
        return
    tag = {"term": term, "scheme": scheme, "label": None}
    if tag not in tags:
        tags.append(tag)


def _check_leaf(element: Element) -> None:
    """No element inside (feedparser would read a nested <title> as the item's), no attribute not allowed."""
    if len(element):
        raise _Decline(f"<{element.tag}> holds an element")
    _check_attributes(element)


def _check_attributes(element: Element) -> None:
    if element.attrib and not element.attrib.keys() <= _ATTRIBUTES.get(element.tag, _NO_ATTRIBUTES):
        raise _Decline(f"attributes on <{element.tag}>")


def _text(element: Element, *, resolve: bool = False) -> str:
    """An element's text as feedparser's pop leaves it."""
    value = (element.text or "").strip()
    if resolve and value:
        value = _fix_uri(value)  # its resolve_uri, against no base: urljoin("", uri) is uri
    if value.isascii():  # neither fix-up below can change ASCII text; most text is
        return value
    # "address common error where people take data that is already utf-8, presume that it is
    # iso-8859-1, and re-encode it": feedparser undoes it, so must we.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("iso-8859-1").decode("utf-8")
    return value.translate(_CP1252)


def _fix_uri(value: str) -> str:
    """feedparser's urls._urifixer: the slashes after "scheme://" squeezed to two."""
    match = _URI_FIXER.match(value)
    return match.group(1) + value[match.end(2) :] if match else value


def _link(element: Element) -> str:
    """feedparser's <link>: its query "&amp;" and "&name;" fix-ups after the usual text reading."""
    value = _text(element, resolve=True)
    if "&" not in value:
        return value
    return _LINK_REFERENCE.sub(r"&\g<1>", value.replace("&amp;", "&"))


def _rfc822(value: str) -> time.struct_time | None:
    """feedparser's _parse_date_rfc822 for the one form read here; any other form declines."""
    if not value:
        return None  # feedparser's _parse_date of "" is None
    match = _RFC822.fullmatch(value)
    if not match or match["month"] not in _MONTHS:
        raise _Decline(f"date {value!r}")
    zone = match["zone"]
    if zone[0] in "+-":
        hours, minutes = int(zone[1:3]), int(zone[3:])
        if zone[0] == "-":
            hours, minutes = -hours, -minutes
    elif zone in _ZONE_HOURS:
        hours, minutes = _ZONE_HOURS[zone], 0
    else:
        raise _Decline(f"time zone {zone!r}")
    try:
        stamp = datetime(
            int(match["year"]),
            _MONTHS[match["month"]],
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
        )
        return (stamp - timedelta(hours=hours, minutes=minutes)).utctimetuple()
    except (ValueError, OverflowError) as exc:  # feedparser would go on to its other date readers
        raise _Decline(f"date {value!r}") from exc
