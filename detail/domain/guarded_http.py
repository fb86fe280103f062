"""A requests session whose every connection goes through the address guard (netguard).

For URLs that someone else chose (a browser's Web Push endpoint): the session connects only to an
address the guard allows, the very address it checked (no second look-up for DNS rebinding to
slip through), ignores proxies from the environment, and never follows a redirect. Each request
has a total deadline and reads at most a few kilobytes of the answer: a server that dribbles a
byte at a time, or answers without end, would otherwise hold the jobs that share this process.

Its parts serve intel's feed fetcher too (intel/domain/fetch.py), which follows redirects itself:
GuardedAdapter (connections through the guard, each socket reported to the current Watchdog) and
Watchdog (shuts the sockets of one request down once its total deadline passes).
"""

import contextlib
import contextvars
import socket
import threading

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from detail.domain import netguard

DEADLINE_SECONDS = 15.0
MAX_ANSWER_BYTES = 64 * 1024


class Watchdog:
    """Shuts down the sockets one request opened once its deadline passes (a read timeout bounds each
    read, not the whole answer: a server that sends a byte a second never trips it, and iter_content
    does not help since each chunk blocks until it is full); shutting a socket down wakes the read
    blocked on it, wherever it is. Set it as current_watchdog for the connections to report to it."""

    def __init__(self):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its owner
        sock.shutdown(socket.SHUT_RDWR)


current_watchdog: contextvars.ContextVar[Watchdog | None] = contextvars.ContextVar(
    "oscar_mike_guarded_http_watchdog", default=None
)


class _GuardedConnectionMixin:
    """Connects only to an address the guard allows, the one it checked (urllib3 would look the name
    up again itself, and a name answering with another address the second time, DNS rebinding, must
    not get past the check that way), and reports the socket to the current watchdog."""

    allow: netguard.AllowList = netguard.PUBLIC_ONLY

    def _new_conn(self) -> socket.socket:
        sock = self._guarded_conn()
        watchdog = current_watchdog.get()
        if watchdog is not None:
            watchdog.watch(sock)
        return sock

    def _guarded_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            return netguard.connect(
                self.host,
                self.port,
                self.allow,
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


def _pool_classes(allow: netguard.AllowList) -> dict:
    # Classes bound to one allow-list: urllib3's pool keys have no room for an argument of our own.
    http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), {"allow": allow})
    https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), {"allow": allow})
    return {
        "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connections go only where `allow` permits, reported to the current watchdog."""

    def __init__(self, allow: netguard.AllowList = netguard.PUBLIC_ONLY):
        self._pools = _pool_classes(allow)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pools
        return manager


class _GuardedSession(requests.Session):
    deadline = DEADLINE_SECONDS

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False  # a redirect is answered as it is, never followed
        kwargs["stream"] = True  # the answer is read here, capped
        # A fresh connection per request, so that the watchdog of this request sees its socket.
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Connection": "close"}
        watchdog = Watchdog()
        token = current_watchdog.set(watchdog)
        timer = threading.Timer(self.deadline, watchdog.expire)
        timer.daemon = True
        timer.start()
        try:
            response = super().request(method, url, *args, **kwargs)
            try:
                response._content = _read_capped(response)
                response._content_consumed = True
            finally:
                response.close()
        except (requests.RequestException, OSError) as exc:
            if watchdog.expired:
                raise requests.Timeout(f"no answer within {self.deadline:g} s") from exc
            raise
        finally:
            timer.cancel()
            current_watchdog.reset(token)
        if watchdog.expired:  # what was read ended only because the watchdog cut the connection
            raise requests.Timeout(f"no answer within {self.deadline:g} s")
        return response


def _read_capped(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(8192):
        chunks.append(chunk[: MAX_ANSWER_BYTES - size])
        size += len(chunk)
        if size >= MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


def guarded_session(allow: netguard.AllowList = netguard.PUBLIC_ONLY) -> requests.Session:
    """A session that connects only where `allow` permits (public addresses, else the list's own)."""
    session = _GuardedSession()
    session.trust_env = False  # no proxy from the environment: the guard must see the real peer
    adapter = GuardedAdapter(allow)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
