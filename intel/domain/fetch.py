"""Fetch one feed over HTTP: a pure function and its result for the poller, no database, no Flask.

`fetch` makes one bounded HTTP GET (conditional, capped in size and in total time) and never
raises for network or HTTP trouble. It connects only to public addresses, or to those the
organisation's allow-list names (detail/domain/netguard.py), on the first request and on every
redirect, and records a failure in plain words that do not tell what lies behind the address.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests

from detail.domain import guarded_http, netguard

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

    watchdog = guarded_http.Watchdog()
    token = guarded_http.current_watchdog.set(watchdog)
    timer = threading.Timer(timeout, watchdog.expire)
    timer.daemon = True
    session = requests.Session()
    # No proxy from the environment (nor .netrc): the guard must see the address really connected to.
    session.trust_env = False
    adapter = guarded_http.GuardedAdapter(allow)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    response = None
    try:
        timer.start()
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
        timer.cancel()
        if response is not None:
            response.close()
        session.close()
        guarded_http.current_watchdog.reset(token)
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
