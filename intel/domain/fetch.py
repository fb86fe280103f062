"""Fetch one feed over HTTP: a pure function and its result for the poller, no database, no Flask.

`fetch` makes one bounded HTTP GET (conditional, capped in size and in total time) and never
raises for network or HTTP trouble. It connects only to public addresses, or to those the
organisation's allow-list names (detail/domain/netguard.py), on the first request and on every
redirect, and records a failure in plain words that do not tell what lies behind the address.
"""

import contextlib
import contextvars
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from detail.domain import netguard

DEFAULT_USER_AGENT = "OscarMike/1.0 (+feed poller)"
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5

# The only words a failed connection is recorded with (see fetch).
ADDRESS_NOT_ALLOWED = netguard.NOT_ALLOWED
CONNECTION_FAILED = "connection failed"
TIMED_OUT = "timed out"

_CHUNK_BYTES = 64 * 1024
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"


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


class _FetchError(Exception):
    """A fetch failed for a reason worth saying as it is."""


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
