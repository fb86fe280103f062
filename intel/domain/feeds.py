"""Fetch and parse one feed: pure functions and dataclasses for the poller, no database, no Flask.

`fetch` makes one bounded HTTP GET (conditional, capped in size and in total time) and never
raises for network or HTTP trouble. It connects only to public addresses, or to those the
organisation's allow-list names (detail.netguard), on the first request and on every redirect.
`parse` turns the bytes into `ParsedItem`s with plain-text titles, sanitised summaries, UTC
times, one geometry shape and the CAP, GDACS and USGS fields the classifier reads; it never
raises for what a feed contains.

XML safety. feedparser 6.0.14 on its own is not safe against entity expansion: it keeps
entity declarations whose value is plain text, and when expat then refuses the document
its fallback parser expands them itself, so one 100 kB entity referenced 20,000 times
becomes a 2 GB string (measured: 108 s, 5.7 GB of memory). Its DOCTYPE filter also misses
a DOCTYPE placed after a comment that contains a tag. So `parse` refuses, before feedparser
sees it, any document that declares an entity (`<!ENTITY` anywhere, in the raw bytes or in
the UTF-8 text feedparser would convert them to). Feeds have no use for entity declarations;
the one cost is a feed quoting "<!ENTITY" literally inside CDATA, which is refused too.
External DTDs are never fetched (feedparser strips the DOCTYPE and turns external entities
off). The body is handed over as a stream, never as bare bytes, because feedparser treats
bare bytes as a file name to open.

Coordinates. Geometry always comes out as (latitude, longitude). feedparser turns GeoRSS and
GML into GeoJSON-like (longitude, latitude) tuples; they are turned back here. Axes that a
feed wrote the wrong way round cannot be detected in general (51.5, -0.13 and -0.13, 51.5
are both places on Earth), so nothing is guessed: a swapped pair that is still valid is
kept as written, one that is out of range is refused with a problem that says so.
Elevation (a third number) is dropped. GeoRSS Simple has no third number; a GeoRSS line
written with three numbers a position cannot be told apart from a longer 2-D line, so
feeds must use GML with srsDimension="3" for that.
"""

import contextlib
import contextvars
import hashlib
import html
import io
import math
import re
import socket
import threading
import time
import xml.sax
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit
from xml.parsers.expat import errors as expat_errors

import feedparser
import nh3
import requests
from feedparser.encodings import convert_to_utf8
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from detail.domain import netguard

DEFAULT_USER_AGENT = "OscarMike/1.0 (+feed poller)"
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
MAX_ITEMS = 1000
MAX_GUID_LENGTH = 500  # the FeedItem.guid column; longer ids are hashed, never cut
MAX_LINK_LENGTH = 2048
MAX_TITLE_LENGTH = 500
MAX_SUMMARY_INPUT = 100_000
MAX_CATEGORIES = 50
MAX_CATEGORY_LENGTH = 200

# The only words a failed connection is recorded with (see fetch).
ADDRESS_NOT_ALLOWED = netguard.NOT_ALLOWED
CONNECTION_FAILED = "connection failed"
TIMED_OUT = "timed out"

_CHUNK_BYTES = 64 * 1024
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"

Geometry = dict[str, Any]


# --------------------------------------------------------------------------- results


@dataclass
class FetchResult:
    """What one GET of a feed came to; `error` says why when status is "error"."""

    status: Literal["ok", "not_modified", "error"]
    body: bytes | None = None
    etag: str | None = None
    modified: str | None = None
    http_status: int | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    url: str | None = None  # the URL finally answered, after redirects


@dataclass
class ParsedItem:
    """One entry of a feed, cleaned: plain-text title, sanitised summary, (lat, lon) geometry.

    geometry is {"type": "point"|"line"|"polygon"|"box", "coordinates": ...} with every
    position as (latitude, longitude): a point (lat, lon), a line or polygon a list of them
    (a polygon closed, first == last), a box (south, west, north, east). A CAP circle is a
    point with "radius_km". When a feed's location is refused, geometry is None and
    geometry_problem says why.
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


class _FetchError(Exception):
    """A fetch failed for a reason worth saying as it is."""


# --------------------------------------------------------------------------- fetch

_current_watchdog: contextvars.ContextVar["_Watchdog | None"] = contextvars.ContextVar(
    "oscar_mike_fetch_watchdog", default=None
)
_current_allow: contextvars.ContextVar[netguard.AllowList] = contextvars.ContextVar(
    "oscar_mike_fetch_allow", default=netguard.PUBLIC_ONLY
)


class _Watchdog:
    """Shuts down every socket a fetch opened once its total deadline passes.

    Read timeouts bound each recv, not the whole response: a server that sends a byte a
    second, in the headers or the body, never trips them. iter_content does not help
    either, since each chunk blocks until it is full. Shutting the socket down wakes the
    blocked read wherever it is.
    """

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its owner
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedConnectionMixin:
    """Connects only to an address the guard allows, the one it checked, and reports the socket to the watchdog.

    urllib3 would look the name up again itself; a name that answers with another address the
    second time (DNS rebinding) must not get past the check that way.
    """

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            sock = netguard.connect(
                self.host,
                self.port,
                _current_allow.get(),
                timeout,
                socket_options=self.socket_options,
                source_address=self.source_address,
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        watchdog = _current_watchdog.get()
        if watchdog is not None:
            watchdog.watch(sock)
        return sock


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections report their sockets to the current fetch's watchdog."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _url_problem(url: Any) -> str | None:
    """Why this URL may not be fetched, or None."""
    if not isinstance(url, str) or not url.strip():
        return "no URL given"
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        return f"malformed URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"unsupported URL scheme {scheme or '(none)'!r}: only http and https are fetched"
    if not parts.hostname:
        return "URL has no host"
    return None


def allow_list(text: str | None) -> netguard.AllowList:
    """An organisation's feed allow-list from its stored text; text that no longer reads allows nothing private."""
    try:
        return netguard.parse_allow_list(text)
    except ValueError:
        return netguard.PUBLIC_ONLY


def address_problem(url: str, allow: netguard.AllowList) -> str | None:
    """Why a feed URL is refused as it is typed (a private address written out, localhost), or None.

    A host name is judged when the feed is fetched, on the addresses it resolves to then.
    """
    try:
        netguard.check_url(url, allow)
    except netguard.AddressNotAllowed as refused:
        return (
            f"{refused.detail}: feeds are fetched from public addresses only, unless an admin allows "
            "the host under Settings (private hosts for feeds)."
        )
    return None


def fetch(
    url: str,
    *,
    etag: str | None = None,
    modified: str | None = None,
    timeout: float = 10.0,
    max_bytes: int = 5_000_000,
    user_agent: str = DEFAULT_USER_AGENT,
    allow: netguard.AllowList = netguard.PUBLIC_ONLY,
) -> FetchResult:
    """GET one feed with a conditional request, a total deadline of `timeout` and a size cap.

    Every connection, the first and each redirect's, goes only to a public address or one that
    `allow` names. A refused or failed connection is recorded as one plain reason (ADDRESS_NOT_ALLOWED,
    CONNECTION_FAILED, TIMED_OUT) without the network's own words, so a feed's health cannot tell a
    closed port from an open one behind it.
    """
    started = time.monotonic()
    deadline = started + timeout
    problem = _url_problem(url)
    if problem:
        return FetchResult("error", error=problem, elapsed_s=round(time.monotonic() - started, 3))
    headers = {"User-Agent": user_agent, "Accept": _ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if modified:
        headers["If-Modified-Since"] = modified

    watchdog = _Watchdog(timeout)
    token = _current_watchdog.set(watchdog)
    allow_token = _current_allow.set(allow)
    session = requests.Session()
    # No proxy from the environment (nor .netrc): the guard must see the address really connected to.
    session.trust_env = False
    session.mount("http://", _WatchedAdapter())
    session.mount("https://", _WatchedAdapter())
    response = None
    try:
        watchdog.start()
        response, final_url = _get_following_redirects(session, url.strip(), headers, deadline)
        result = _result_from(response, final_url, etag, modified, max_bytes, deadline)
        if watchdog.expired:  # whatever was read ended only because the watchdog cut the connection
            raise _FetchError(TIMED_OUT)
    except _FetchError as exc:
        result = FetchResult(
            "error", error=str(exc), http_status=response.status_code if response is not None else None
        )
    except netguard.AddressNotAllowed:
        result = FetchResult("error", error=ADDRESS_NOT_ALLOWED)
    except (requests.RequestException, OSError, ValueError) as exc:
        timed_out = watchdog.expired or time.monotonic() >= deadline or isinstance(exc, requests.Timeout)
        result = FetchResult("error", error=TIMED_OUT if timed_out else CONNECTION_FAILED)
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()
        session.close()
        _current_allow.reset(allow_token)
        _current_watchdog.reset(token)
    result.elapsed_s = round(time.monotonic() - started, 3)
    return result


def _result_from(response, final_url, etag, modified, max_bytes, deadline) -> FetchResult:
    fields = {"http_status": response.status_code, "url": final_url}
    if response.status_code == 304:
        return FetchResult(
            "not_modified",
            etag=response.headers.get("ETag") or etag,
            modified=response.headers.get("Last-Modified") or modified,
            **fields,
        )
    if not 200 <= response.status_code < 300:
        reason = (response.reason or "").strip()[:100]
        return FetchResult("error", error=f"HTTP {response.status_code} {reason}".strip(), **fields)
    body = _read_capped(response, max_bytes, deadline)
    return FetchResult(
        "ok",
        body=body,
        etag=response.headers.get("ETag"),
        modified=response.headers.get("Last-Modified"),
        **fields,
    )


def _get_following_redirects(session, url, headers, deadline) -> tuple[requests.Response, str]:
    """Follow at most MAX_REDIRECTS redirects by hand, never reading a redirect's body.

    Each hop opens its connection through the guard, so a redirect to a private address is refused too.
    """
    for _hop in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _FetchError(TIMED_OUT)
        response = session.get(url, headers=headers, timeout=(remaining, remaining), stream=True, allow_redirects=False)
        if response.status_code not in _REDIRECT_CODES:
            return response, url
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise _FetchError(f"HTTP {response.status_code} redirect without a Location header")
        url = urljoin(url, location.strip())
        problem = _url_problem(url)
        if problem:
            raise _FetchError(f"redirect refused: {problem}")
    raise _FetchError(f"too many redirects (more than {MAX_REDIRECTS})")


def _read_capped(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise _FetchError(f"response too large: declares {int(declared)} bytes, the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise _FetchError(f"response too large: more than {max_bytes} bytes")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _FetchError(TIMED_OUT)
    return b"".join(chunks)


# --------------------------------------------------------------------------- parse: the document

_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_SRS_NAME = re.compile(rb"""(srsName\s*=\s*)(["'])([^"'<>]{0,300})\2""", re.IGNORECASE)
_TRUNCATION_MESSAGES = {
    expat_errors.XML_ERROR_NO_ELEMENTS,
    expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_PARTIAL_CHAR,
    expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
}
_CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:"
_GDACS_NAMESPACE = "http://www.gdacs.org"


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
    if _declares_entities(body):
        return ParsedFeed(
            title=None,
            version=None,
            problems=["refused: the document declares XML entities (<!ENTITY>), a sign of an entity-expansion attack"],
        )
    headers = {"content-location": base_url} if base_url else None
    try:
        raw = feedparser.parse(
            io.BytesIO(_normalise_srs_names(body)),
            response_headers=headers,
            sanitize_html=True,
            resolve_relative_uris=bool(base_url),
        )
    except Exception as exc:  # feedparser has crashes of its own on odd input; one feed must not stop the poller
        return ParsedFeed(title=None, version=None, problems=[f"feed parser failed: {type(exc).__name__}: {exc}"])

    problems: list[str] = []
    document_problem, malformed, truncated = _document_problem(raw)
    if document_problem:
        problems.append(document_problem)
    version = raw.get("version") or None
    title = _plain_text(raw.get("feed", {}).get("title")) or None
    entries = list(raw.get("entries", []))
    if truncated and entries and _last_entry_cut_off(body):
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

    context = _FeedContext(
        source=title,
        default_category=default_category,
        base_url=base_url,
        cap_prefixes=_prefixes(raw, lambda uri: uri.lower().startswith(_CAP_NAMESPACE)),
        gdacs_prefixes=_prefixes(raw, lambda uri: uri.lower().rstrip("/") == _GDACS_NAMESPACE),
        problems=problems,
    )
    items = _items(entries, context)
    return ParsedFeed(title=title, version=version, items=items, problems=problems, usable=True)


def _declares_entities(body: bytes) -> bool:
    """True if the document declares an entity, in its raw bytes or in feedparser's UTF-8 view."""
    if _ENTITY_DECLARATION.search(body):
        return True
    for encoding in _wide_encodings(body):
        try:
            if _ENTITY_DECLARATION.search(body.decode(encoding, "ignore").encode("utf-8")):
                return True
        except LookupError:
            continue
    try:
        converted = convert_to_utf8({}, body, {})
    except Exception:  # the parser would fail on the same bytes later; the raw scan above stands
        return False
    return bool(_ENTITY_DECLARATION.search(converted))


def _wide_encodings(body: bytes) -> list[str]:
    """Encodings in which '<!ENTITY' would not appear as ASCII bytes."""
    head = body[:4]
    candidates = []
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) or b"\x00\x00" in head:
        candidates.append("utf-32")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.append("utf-16")
    elif b"\x00" in head:
        candidates += ["utf-16-le", "utf-16-be"]
    if head.startswith(b"\x4c\x6f\xa7\x94"):
        candidates.append("cp037")
    return candidates


def _normalise_srs_names(body: bytes) -> bytes:
    """Rewrite srsName values feedparser would crash on (it int()s the text after the last ':').

    "http://www.opengis.net/def/crs/EPSG/0/4326", the current OGC spelling, raises ValueError
    inside feedparser and loses the whole feed; it becomes "EPSG:4326".
    """
    if b"srsname" not in body.lower():
        return body

    def fix(match: re.Match) -> bytes:
        value = match.group(3)
        if b"EPSG" not in value:
            return match.group(0)
        try:
            int(value.split(b":")[-1])
            return match.group(0)
        except ValueError:
            pass
        digits = re.search(rb"(\d+)\s*$", value)
        replacement = b"EPSG:" + digits.group(1) if digits else b"unknown-crs"
        return match.group(1) + match.group(2) + replacement + match.group(2)

    return _SRS_NAME.sub(fix, body)


def _document_problem(raw) -> tuple[str | None, bool, bool]:
    """(problem, malformed, truncated) from feedparser's bozo flag."""
    exc = raw.get("bozo_exception")
    if not raw.get("bozo") or exc is None:
        return None, False, False
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"character encoding: {exc}", False, False
    if isinstance(exc, feedparser.NonXMLContentType):
        return f"content type: {exc}", False, False
    if isinstance(exc, xml.sax.SAXParseException):
        message = exc.getMessage()
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        return f"not well-formed XML ({where}): {message}", True, message in _TRUNCATION_MESSAGES
    return f"{type(exc).__name__}: {exc}", True, False


_ENTRY_OPEN = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]", re.IGNORECASE)
_ENTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


def _last_entry_cut_off(body: bytes) -> bool:
    """Whether the last <item>/<entry> of a truncated document was left open."""
    last_open = max((m.start() for m in _ENTRY_OPEN.finditer(body)), default=-1)
    last_close = max((m.start() for m in _ENTRY_CLOSE.finditer(body)), default=-1)
    if last_open < 0:
        return True  # not an ASCII-compatible encoding, or no markup to go by: assume the worst
    return last_open > last_close


def _prefixes(raw, matches) -> list[str]:
    namespaces = raw.get("namespaces") or {}
    return [prefix for prefix, uri in namespaces.items() if prefix and isinstance(uri, str) and matches(uri)]


# --------------------------------------------------------------------------- parse: items


@dataclass
class _FeedContext:
    source: str | None
    default_category: str | None
    base_url: str | None
    cap_prefixes: list[str]
    gdacs_prefixes: list[str]
    problems: list[str]


def _items(entries, context: _FeedContext) -> list[ParsedItem]:
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


def _item(entry, index: int, context: _FeedContext) -> ParsedItem | None:
    title = _plain_text(_text(entry, "title"))
    if len(title) > MAX_TITLE_LENGTH:
        title = title[: MAX_TITLE_LENGTH - 1].rstrip() + "…"
    raw_link = _text(entry, "link")
    link = _safe_link(raw_link, context.base_url)
    summary_source = _summary_source(entry)
    summary_html = _sanitise_html(summary_source, context.base_url)
    summary_text = _html_to_text(summary_html)
    if not (title or link or summary_text):
        context.problems.append(f"entry {index} skipped: no title, link or summary")
        return None
    # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed, with a warning.
    published = _struct_to_utc(dict.get(entry, "published_parsed"))
    updated = _struct_to_utc(dict.get(entry, "updated_parsed"))
    guid = _guid(_text(entry, "id"), raw_link, title, published or updated)
    if raw_link and link is None:
        context.problems.append(f"item {guid!r}: link dropped ({_describe_link(raw_link)})")
    geometry, geometry_problem, refused = _geometry(entry, context)
    for problem in refused:
        context.problems.append(f"item {guid!r}: {problem}")
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
        cap=_cap(entry, context.cap_prefixes),
        gdacs=_gdacs(entry, context.gdacs_prefixes, title),
        usgs=_usgs(entry, title, link),
        source=context.source,
        default_category=context.default_category,
    )


def _text(entry, key: str) -> str | None:
    """A string field of an entry; feedparser gives a dict instead for elements with attributes."""
    value = entry.get(key)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _summary_source(entry) -> str:
    summary = _text(entry, "summary")
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
    if len(link) > MAX_LINK_LENGTH or any(ord(ch) <= 32 or ord(ch) == 127 for ch in link):
        return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        return None
    return link


def _describe_link(raw: str) -> str:
    scheme = raw.strip().split(":", 1)[0].lower() if ":" in raw else ""
    if scheme and scheme.isalpha() and scheme not in ALLOWED_SCHEMES:
        return f"scheme {scheme!r} is not allowed"
    return "not an absolute http(s) URL"


def _categories(entry) -> list[str]:
    categories: list[str] = []
    for tag in entry.get("tags") or []:
        if not isinstance(tag, dict):
            continue
        term = tag.get("term") if isinstance(tag.get("term"), str) else None
        label = tag.get("label") if isinstance(tag.get("label"), str) else None
        text = _plain_text(term or label)[:MAX_CATEGORY_LENGTH]
        if text and text not in categories:
            categories.append(text)
        if len(categories) >= MAX_CATEGORIES:
            break
    return categories


# --------------------------------------------------------------------------- HTML and text

_SUMMARY_TAGS = {"a", "b", "strong", "i", "em", "u", "p", "br", "ul", "ol", "li", "blockquote", "code", "pre"}
_SUMMARY_TAGS |= {"dl", "dt", "dd", "h3", "h4", "h5", "h6", "small", "sub", "sup"}
_DROP_WITH_CONTENT = {"script", "style"}
_BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|dl|dt|dd|h\d|blockquote|pre|tr|td|th|table)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=_DROP_WITH_CONTENT, attributes={})


def _sanitise_html(source: str, base_url: str | None) -> str:
    """Basic formatting and http(s) links only, with rel="noopener nofollow"."""
    if not source:
        return ""
    cleaner = nh3.Cleaner(
        tags=_SUMMARY_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        # "*": none on every tag; without it nh3 keeps title and lang everywhere.
        attributes={"a": {"href"}, "*": set()},
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel="noopener nofollow",
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
    )
    return cleaner.clean(source).strip()


def _plain_text(value: Any) -> str:
    """Tags (and the content of script and style) stripped, entities decoded, spaces collapsed."""
    if not isinstance(value, str) or not value:
        return ""
    return _SPACES.sub(" ", html.unescape(_TEXT_CLEANER.clean(value))).strip()


def _html_to_text(sanitised: str) -> str:
    if not sanitised:
        return ""
    return _plain_text(_BLOCK_TAG.sub(" ", sanitised))


# --------------------------------------------------------------------------- times


def _struct_to_utc(value) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def _parse_when(text: str | None) -> datetime | None:
    """An ISO 8601 (CAP) or RFC 822 (GDACS) time as an aware UTC datetime; naive means UTC."""
    if not text:
        return None
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# --------------------------------------------------------------------------- geometry


class _Refused(ValueError):
    """A coordinate or shape that is not accepted; the message says why."""


def _geometry(entry, context: _FeedContext) -> tuple[Geometry | None, str | None, list[str]]:
    """(geometry, why there is none, refusals of sources passed over for a later one).

    Sources, first usable wins: GeoRSS/GML (feedparser's `where`), CAP polygon, CAP circle,
    W3C geo, GDACS bbox.
    """
    problems: list[str] = []
    for source in _geometry_sources(entry, context):
        try:
            geometry = source()
        except _Refused as exc:
            problems.append(str(exc))
            continue
        if geometry is not None:
            return geometry, None, problems
    if problems:
        return None, "; ".join(problems), []
    return None, None, []


def _geometry_sources(entry, context: _FeedContext):
    if "where" in entry:
        yield lambda: _from_where(entry.get("where"))
    for prefix in context.cap_prefixes:
        polygon = _text(entry, f"{prefix}_polygon")
        if polygon:
            yield lambda polygon=polygon: _from_cap_polygon(polygon)
        circle = _text(entry, f"{prefix}_circle")
        if circle:
            yield lambda circle=circle: _from_cap_circle(circle)
    lat = _text(entry, "geo_lat")
    lon = _text(entry, "geo_long") or _text(entry, "geo_lon")
    if lat or lon:
        yield lambda: _from_w3c(lat, lon)
    for prefix in context.gdacs_prefixes:
        bbox = _text(entry, f"{prefix}_bbox")
        if bbox:
            yield lambda bbox=bbox: {"type": "box", "coordinates": _gdacs_box(bbox)}


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Refused(f"coordinate {value!r} is not a number") from None
    return number


def _position(lat: Any, lon: Any) -> tuple[float, float]:
    """A validated (lat, lon); refuses NaN, infinity, projected-looking and out-of-range values."""
    lat, lon = _number(lat), _number(lon)
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise _Refused(f"coordinates ({lat:g}, {lon:g}) are not finite numbers")
    if abs(lat) > 180 or abs(lon) > 180:
        raise _Refused(f"coordinates ({lat:g}, {lon:g}) lie beyond ±180: projected coordinates? Only WGS84 is read")
    if abs(lat) > 90:
        raise _Refused(f"latitude {lat:g} is out of range (axes swapped?)")
    return lat, lon


def _from_lonlat(pair) -> tuple[float, float]:
    """feedparser's (lon, lat[, elevation]) back to (lat, lon)."""
    if not isinstance(pair, list | tuple) or len(pair) < 2:
        raise _Refused("GeoRSS/GML position is incomplete")
    return _position(pair[1], pair[0])


_WGS84_SRS = re.compile(r"(?:urn:ogc:def:crs:)?EPSG:(?:[\d.]*:)?4326", re.IGNORECASE)


def _from_where(where) -> Geometry:
    if not isinstance(where, dict) or not where.get("type"):
        raise _Refused("GeoRSS/GML geometry present but unreadable")
    srs = where.get("srsName")
    if srs and not _WGS84_SRS.fullmatch(str(srs).strip()):
        raise _Refused(f"coordinate reference system {srs!r} is not WGS84 latitude/longitude{_projected_hint(where)}")
    kind, coordinates = where["type"], where.get("coordinates")
    if kind == "Point":
        return {"type": "point", "coordinates": _from_lonlat(coordinates)}
    if kind == "LineString":
        line = [_from_lonlat(pair) for pair in coordinates or ()]
        if len(line) < 2:
            raise _Refused("line has fewer than two positions")
        return {"type": "line", "coordinates": line}
    if kind == "Polygon":
        ring = [_from_lonlat(pair) for pair in (coordinates or [()])[0]]
        return {"type": "polygon", "coordinates": _closed_ring(ring)}
    if kind == "Box":
        if not isinstance(coordinates, list | tuple) or len(coordinates) != 2:
            raise _Refused("box does not have exactly two corners")
        (south, west), (north, east) = (_from_lonlat(pair) for pair in coordinates)
        return {"type": "box", "coordinates": _box(south, west, north, east)}
    raise _Refused(f"unsupported geometry type {kind!r}")


def _projected_hint(where) -> str:
    values = []
    stack = [where.get("coordinates")]
    while stack:
        value = stack.pop()
        if isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, float | int):
            values.append(value)
    return " (projected coordinates?)" if any(abs(v) > 180 for v in values) else ""


def _closed_ring(ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if ring and ring[0] != ring[-1]:
        ring = [*ring, ring[0]]
    if len(ring) < 4:
        raise _Refused("polygon has fewer than three distinct positions")
    return ring


def _box(south: float, west: float, north: float, east: float) -> tuple[float, float, float, float]:
    if south > north:
        raise _Refused(f"box south {south:g} is north of its north {north:g}")
    return (south, west, north, east)


def _from_cap_polygon(text: str) -> Geometry:
    """CAP: space-separated "lat,lon" pairs, first and last the same."""
    ring = []
    for pair in text.split():
        parts = pair.split(",")
        if len(parts) < 2:
            raise _Refused(f"CAP polygon position {pair!r} is not 'lat,lon'")
        ring.append(_position(parts[0], parts[1]))
    return {"type": "polygon", "coordinates": _closed_ring(ring)}


def _from_cap_circle(text: str) -> Geometry:
    """CAP: "lat,lon radius_km"; a point with its radius."""
    parts = text.split()
    centre = parts[0].split(",") if parts else []
    if len(centre) < 2:
        raise _Refused(f"CAP circle {text!r} is not 'lat,lon radius'")
    point: Geometry = {"type": "point", "coordinates": _position(centre[0], centre[1])}
    if len(parts) > 1:
        radius = _number(parts[1])
        if not math.isfinite(radius) or radius < 0:
            raise _Refused(f"CAP circle radius {parts[1]!r} is not a distance")
        point["radius_km"] = radius
    return point


def _from_w3c(lat: str | None, lon: str | None) -> Geometry:
    if not (lat and lon):
        raise _Refused("W3C geo position has a latitude or a longitude but not both")
    return {"type": "point", "coordinates": _position(lat, lon)}


def _gdacs_box(text: str) -> tuple[float, float, float, float]:
    """GDACS bbox "lonmin lonmax latmin latmax" as (south, west, north, east)."""
    parts = text.split()
    if len(parts) != 4:
        raise _Refused(f"GDACS bbox {text!r} does not have four numbers")
    west, east, south, north = (_number(part) for part in parts)
    south, west = _position(south, west)
    north, east = _position(north, east)
    return _box(south, west, north, east)


# --------------------------------------------------------------------------- CAP, GDACS, USGS


def _namespaced(entry, prefixes: list[str], *names: str) -> str | None:
    for prefix in prefixes:
        for name in names:
            value = _text(entry, f"{prefix}_{name}")
            if value:
                return _plain_text(value)
    return None


def _cap(entry, prefixes: list[str]) -> dict[str, Any] | None:
    if not prefixes:
        return None
    cap = {
        "severity": _namespaced(entry, prefixes, "severity"),
        "urgency": _namespaced(entry, prefixes, "urgency"),
        "certainty": _namespaced(entry, prefixes, "certainty"),
        "event": _namespaced(entry, prefixes, "event"),
        "onset": _parse_when(_namespaced(entry, prefixes, "onset", "effective")),
        "expires": _parse_when(_namespaced(entry, prefixes, "expires")),
        "area_desc": _namespaced(entry, prefixes, "areadesc"),
        "status": _namespaced(entry, prefixes, "status"),
        "msg_type": _namespaced(entry, prefixes, "msgtype", "message_type"),
        "category": _namespaced(entry, prefixes, "category"),
    }
    return cap if any(value is not None for value in cap.values()) else None


_GDACS_TITLE_SEVERITY = re.compile(r"\((Magnitude [^()]{1,80})\)")


def _gdacs(entry, prefixes: list[str], title: str) -> dict[str, Any] | None:
    if not prefixes or not any(key.startswith(f"{p}_") for p in prefixes for key in entry):
        return None
    severity_text, severity_value, severity_unit = _gdacs_severity(entry, prefixes, title)
    bbox_text = _namespaced(entry, prefixes, "bbox")
    try:
        bbox = _gdacs_box(bbox_text) if bbox_text else None
    except _Refused:
        bbox = None
    current = _namespaced(entry, prefixes, "iscurrent")
    return {
        "alertlevel": _namespaced(entry, prefixes, "alertlevel"),
        "eventtype": _namespaced(entry, prefixes, "eventtype"),
        "eventname": _namespaced(entry, prefixes, "eventname"),
        "severity": severity_text,
        "severity_value": severity_value,
        "severity_unit": severity_unit,
        "country": _namespaced(entry, prefixes, "country"),
        "iso3": _namespaced(entry, prefixes, "iso3"),
        "fromdate": _parse_when(_namespaced(entry, prefixes, "fromdate")),
        "todate": _parse_when(_namespaced(entry, prefixes, "todate")),
        "is_current": None if current is None else current.lower() == "true",
        "bbox": bbox,
    }


def _gdacs_severity(entry, prefixes: list[str], title: str) -> tuple[str | None, float | None, str | None]:
    """feedparser keeps only the attributes of <gdacs:severity unit=".." value="..">, not its text."""
    for prefix in prefixes:
        raw = entry.get(f"{prefix}_severity")
        if isinstance(raw, str) and raw.strip():
            return _plain_text(raw), None, None
        if isinstance(raw, dict):
            unit = _plain_text(raw.get("unit")) or None
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


_USGS_TITLE = re.compile(r"^\s*M\s*(-?\d+(?:\.\d+)?)\s*-\s*(.*)$")
_MAGNITUDE_TERM = re.compile(r"^\s*Magnitude\s+(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)


def _usgs(entry, title: str, link: str | None) -> dict[str, Any] | None:
    entry_id = _text(entry, "id") or ""
    host = (urlsplit(link).hostname or "") if link else ""
    title_match = _USGS_TITLE.match(title)
    if not (entry_id.startswith("urn:earthquake-usgs-gov:") or host.endswith("usgs.gov") or title_match):
        return None
    magnitude = float(title_match.group(1)) if title_match else _magnitude_from_tags(entry)
    depth_km = None
    elevation = _text(entry, "georss_elev")
    if elevation:
        try:
            depth_km = round(-float(elevation) / 1000.0, 3)
        except ValueError:
            depth_km = None
    event_id = None
    if entry_id.startswith("urn:earthquake-usgs-gov:"):
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
