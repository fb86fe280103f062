"""A requests session whose every connection goes through the address guard (netguard).

For URLs that someone else chose (a browser's Web Push endpoint): the session connects only to an
address the guard allows, the very address it checked (no second look-up for DNS rebinding to
slip through), ignores proxies from the environment, and never follows a redirect.
"""

import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from detail.domain import netguard


class _GuardedConnectionMixin:
    allow: netguard.AllowList = netguard.PUBLIC_ONLY

    def _new_conn(self) -> socket.socket:
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


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allow: netguard.AllowList):
        self._pools = _pool_classes(allow)
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools


class _NoRedirects(requests.Session):
    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False  # a redirect is answered as it is, never followed
        return super().request(*args, **kwargs)


def guarded_session(allow: netguard.AllowList = netguard.PUBLIC_ONLY) -> requests.Session:
    """A session that connects only where `allow` permits (public addresses, else the list's own)."""
    session = _NoRedirects()
    session.trust_env = False  # no proxy from the environment: the guard must see the real peer
    adapter = _GuardedAdapter(allow)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
