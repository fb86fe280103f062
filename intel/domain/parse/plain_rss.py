"""A fast reader for plain RSS 2.0 documents: one pass of expat through defusedxml, feedparser's answer.

feedparser spends most of a large feed's parse in its pure-Python SAX handlers, and a GeoRSS
document is then read a second time for its geometry elements (entry_xml.py). A plain RSS 2.0
document, the common case (WordPress's and most news sites' feeds among them), is read here once
with the C ElementTree, and `read` gives what `parse._parse` takes from feedparser's result, with
the values feedparser 6.0.14 would give.

What is produced, and why (each key is one that items.py or a reader it calls looks at):

- the feed's `title` (the source of every item), `version` "rss20", and `namespaces` as feedparser
  files them: under its own prefix for each URI whatever the document's ("dc", "content", "sy",
  "wfw", "slash", "media", "georss"; Atom's is ""), so no CAP or GDACS prefix is ever found;
- per entry: `title`; `link` (the last <link> or alternate HTML atom:link, else a permalink
  <guid>'s value); `summary` (from <description>, else the first content:encoded); `content` (each
  content:encoded's value, which items.py reads when the summary is empty); `id` (from <guid>);
  `published_parsed` (a UTC struct_time from <pubDate>); `updated_parsed` (from dc:date, by
  feedparser's own date function: it is what feedparser calls, and the forms it reads are too many
  to restate); `tags` (from <category> and dc:subject, term and domain as scheme, kept in
  feedparser's way, repeats merged);
- per entry, its first GeoRSS point, line, polygon or box element, as entry_xml.georss_elements
  gives it, so the document is not read a second time; `where` is then never consulted.

Every text goes through what feedparser's `pop` does to it: stripped, re-read as UTF-8 when it
is UTF-8 mistaken for Latin-1, characters \\x80-\\x9f mapped as windows-1252 would; a link (and a
permalink guid) has the slashes after "scheme://" squeezed and, for <link>, "&amp;" and
"&name;" turned back into "&" and "&name". An atom:link's href is an attribute: feedparser only
squeezes its slashes.

Passed over, as leaves, since feedparser maps them to keys nothing of ours reads: in the channel,
<link>, <description>, <language>, <copyright>, <managingEditor>, <webMaster>, <pubDate>,
<lastBuildDate>, <category>, <generator>, <docs>, <ttl>, atom:link, sy:updatePeriod,
sy:updateFrequency, and an <image> of <title>, <url>, <link>, <width>, <height> and <description>
(feedparser files these under the feed's `image`: _start_image resets its title depth, so the
image's title is never the channel's, and a channel <title> after it is shallower, so still taken);
in an item, <author>, dc:creator (author, authors), <comments>, wfw:comment, wfw:commentRss,
slash:comments, <enclosure> (links, enclosures: the item's link is unchanged), media:content and
media:thumbnail (media_content, media_thumbnail, url), and an atom:link not alternate HTML (links).

The reader declines (None: feedparser reads the document as before) whenever it has not been
shown to read a document as feedparser does: a byte order mark, an XML declaration naming
anything but UTF-8, bytes that are not UTF-8, a DOCTYPE, a document that is not well-formed; a
root other than <rss version="2.0"> holding exactly one <channel>; a default namespace, or a
namespace other than those named above, spelled exactly (so no CAP, GDACS, W3C geo, GML, iTunes);
an attribute other than a guid's isPermaLink, a category's domain, an enclosure's url, length and
type, an atom:link's href, rel, type, title, hreflang and length, and Media RSS's usual ones (never
xml:base, xml:lang, or "base" and "lang", which feedparser takes for them); an element inside a
channel or item other than those named here (<textInput>, <source>, <cloud>, dc:title,
dc:description, any dc: element in the channel, atom:title and Atom's other elements, media:title,
media:description, media:keywords, media:category, media:group, sy:updateBase, an <image> in an
item, ...), or holding an element of its own (markup written as elements, not escaped); an
atom:link without an href (feedparser then reads its text as a <link>); a second <title>, <link>,
<description>, <guid>, <pubDate> or dc:date in one item, or a second channel <title> (feedparser's
"first title wins" depth rule and its summary-becomes-content rule); a <pubDate> not in the form
"Www, D Mmm YYYY HH:MM[:SS] zone" with a numeric zone or one of GMT, UT, Z and the US zones.

Proof: tests/test_parse_plain.py compares `parse` through this reader and through feedparser,
item by item, and the `namespaces` mapping, on the fixture feeds (a WordPress-shaped one among
them), the benchmark's feed and hypothesis-generated documents of hostile text using every element
read or passed over here, and shows a decline for each kind of document declined here.
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
from feedparser.datetimes import _parse_date as feedparser_date

from .entry_xml import GEORSS

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
SY = "http://purl.org/rss/1.0/modules/syndication/"
WFW = "http://wellformedweb.org/commentAPI/"
SLASH = "http://purl.org/rss/1.0/modules/slash/"
MEDIA = "http://search.yahoo.com/mrss/"
MEDIA_BEFORE_1_1_2 = "http://search.yahoo.com/mrss"  # Media RSS's namespace before its trailing slash
# The namespaces that may be declared, each with the prefix feedparser files it under in `namespaces`
# whatever the document calls it (Atom's is "": feedparser reads its elements as RSS's own). Both of
# Media RSS's spellings are feedparser's. Matched exactly: feedparser matches any case, so a differently
# cased URI is declined rather than reasoned about.
_NAMESPACES = {
    GEORSS: "georss",
    ATOM: "",
    DC: "dc",
    CONTENT: "content",
    SY: "sy",
    WFW: "wfw",
    SLASH: "slash",
    MEDIA: "media",
    MEDIA_BEFORE_1_1_2: "media",
}
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
        f"{{{ATOM}}}link",
        f"{{{SY}}}updatePeriod",
        f"{{{SY}}}updateFrequency",
    }
)
# feedparser files an <image>'s children under the feed's `image`, never its title (_get_context).
_IMAGE_CHILDREN = frozenset({"title", "url", "link", "width", "height", "description"})
# Media RSS's content and thumbnail as leaves (feedparser: media_content, media_thumbnail and url); its
# title, description, keywords and category are the item's title, summary and tags, its group holds them.
_MEDIA_PASSED_OVER = frozenset(
    f"{{{uri}}}{name}" for uri in (MEDIA, MEDIA_BEFORE_1_1_2) for name in ("content", "thumbnail")
)
# feedparser maps these to keys nothing of ours reads: author, authors and author_detail (author,
# dc:creator); comments, wfw_comment, wfw_commentrss, slash_comments; links and enclosures (enclosure).
_PASSED_OVER = _MEDIA_PASSED_OVER | {
    "author",
    "comments",
    "enclosure",
    f"{{{DC}}}creator",
    f"{{{WFW}}}comment",
    f"{{{WFW}}}commentRss",
    f"{{{SLASH}}}comments",
}
_DC_DATE = f"{{{DC}}}date"
_DC_SUBJECT = f"{{{DC}}}subject"
_CONTENT_ENCODED = f"{{{CONTENT}}}encoded"
_ATOM_LINK = f"{{{ATOM}}}link"
_ONCE_PER_ITEM = frozenset({"title", "link", "description", "guid", "pubDate", _DC_DATE})
# No attribute that feedparser reads as xml:base or xml:lang ("base", "lang") is ever allowed: its
# base stack does not restore an empty base after the element, so it would change later links.
_ATOM_LINK_ATTRIBUTES = frozenset({"href", "rel", "type", "title", "hreflang", "length"})
_MEDIA_ATTRIBUTES = frozenset(
    {"url", "type", "medium", "width", "height", "fileSize", "duration", "bitrate", "isDefault", "expression"}
)
_ATTRIBUTES = {
    "guid": frozenset({"isPermaLink"}),
    "category": frozenset({"domain"}),
    "enclosure": frozenset({"url", "length", "type"}),
    _ATOM_LINK: _ATOM_LINK_ATTRIBUTES,
} | dict.fromkeys(_MEDIA_PASSED_OVER, _MEDIA_ATTRIBUTES)
_NO_ATTRIBUTES: frozenset[str] = frozenset()
# feedparser's map_content_type and html_types: an atom:link of these types can be the item's link.
_HTML_TYPES = frozenset({"text/html", "html", "application/xhtml+xml", "xhtml"})

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
    """The whole document and its namespaces as feedparser's `namespaces` has them; only _NAMESPACES'."""
    namespaces: dict[str, str] = {}
    events = SafeElementTree.iterparse(io.BytesIO(body), events=("start-ns",))
    for _, (prefix, uri) in events:
        # A default namespace would put RSS's own elements in it: feedparser reads that otherwise.
        if not prefix or uri not in _NAMESPACES:
            raise _Decline(f"namespace {prefix!r}: {uri!r}")
        namespaces[_NAMESPACES[uri]] = uri  # feedparser's own prefix, whatever the document's
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
        if child.tag == "image":
            _check_image(child)
            continue
        if child.tag not in _CHANNEL_CHILDREN:
            raise _Decline(f"channel element {child.tag!r}")
        _check_leaf(child)
        if child.tag == "title":
            if "title" in feed:
                raise _Decline("a second channel title")
            feed["title"] = _text(child)
    raw = {"version": "rss20", "feed": feed, "namespaces": namespaces, "entries": entries}
    return raw, (georss if "georss" in namespaces else None)


def _check_image(image: Element) -> None:
    """A channel <image> of leaves only, passed over. feedparser files its children under the feed's
    `image`, and its title does not count as the channel's: _start_image resets the title depth, and a
    channel <title> after it is one element shallower, so still taken."""
    _check_attributes(image)
    for child in image:
        if child.tag not in _IMAGE_CHILDREN:
            raise _Decline(f"image element {child.tag!r}")
        _check_leaf(child)


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
    elif tag == "category" or tag == _DC_SUBJECT:  # feedparser's dc:subject is its category
        _read_category(entry, child)
    elif tag == _CONTENT_ENCODED:
        _read_content(entry, child)
    elif tag == _DC_DATE:
        entry["updated_parsed"] = _dc_date(_text(child))
    elif tag == _ATOM_LINK:
        _read_atom_link(entry, child)
    else:
        raise _Decline(f"item element {tag!r}")


def _dc_date(value: str) -> time.struct_time | None:
    """feedparser's dc:date is its <updated>, read by whichever of its date readers takes the text first:
    too many forms to restate, so its own function, the one its parse would call."""
    try:
        return feedparser_date(value)
    except Exception as exc:  # were one of its readers to raise, feedparser's whole parse would fail
        raise _Decline(f"dc:date {value!r}") from exc


def _read_content(entry: dict[str, Any], content: Element) -> None:
    """feedparser's content:encoded: appended to `content` (items.py reads its value when the summary is
    empty), and the summary when the item has none yet; a <description>, before or after, is the summary."""
    value = _text(content)
    entry.setdefault("content", []).append({"type": "text/html", "value": value})
    entry.setdefault("summary", value)


def _read_atom_link(entry: dict[str, Any], link: Element) -> None:
    """feedparser's _start_link for an atom:link with an href: an alternate HTML link is the item's link
    (until a later <link>), its href as written but for the urifixer; any other is only in `links`."""
    href = link.get("href")
    if href is None:  # without one, feedparser reads the element's text as a <link>
        raise _Decline("atom:link without href")
    rel = link.get("rel", "alternate").lower()
    kind = link.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    if rel == "alternate" and kind in _HTML_TYPES:
        entry["link"] = _fix_uri(href)


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
