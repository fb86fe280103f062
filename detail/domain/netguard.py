"""Which network addresses the server may open a connection to on someone else's say-so.

A URL that a user types (a feed today, a Web Push endpoint later) makes this server connect
somewhere. Left alone, that is a way into the network behind it: the cloud's metadata service,
the database, an admin page on loopback. So such a connection may go only to a public address,
unless the organisation's allow-list names the host or its range (an intranet feed).

The rule is kept on the address actually connected to: `resolve` looks the name up, refuses the
whole name when any of its addresses is not allowed, and hands back the checked addresses for
the caller to connect to, so a name that answers differently the second time (DNS rebinding)
gets no second look-up. Literal spellings that resolvers accept (2130706433, 0177.0.0.1, 0x7f.1,
::ffff:127.0.0.1) are the same address to this module as to the resolver.

No database, no Flask: callers pass the allow-list (see `parse_allow_list`).
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NOT_ALLOWED = "address not allowed"

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
# What inet_aton reads as an IPv4 address: one to four parts, each decimal, octal (0...) or hex (0x...).
_INET_ATON = re.compile(r"^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+)){0,3}$", re.IGNORECASE)


class AddressNotAllowed(Exception):
    """A connection would go to an address that is neither public nor on the allow-list."""

    def __init__(self, detail: str = ""):
        super().__init__(NOT_ALLOWED)
        self.detail = detail  # for input forms and logs: the address and why; never recorded as a fetch's outcome


@dataclass(frozen=True)
class AllowList:
    """Host names and address ranges that may be connected to although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def allows(self, address: Address, host: str | None = None) -> bool:
        if host is not None and _host_key(host) in self.hosts:
            return True
        candidates = [address, _embedded_ipv4(address)]
        return any(
            candidate is not None and candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.networks
        )


PUBLIC_ONLY = AllowList()


def parse_allow_list(text: str | None) -> AllowList:
    """An allow-list from its text: host names, addresses and CIDR ranges, separated by commas or spaces.

    Raises ValueError naming the first entry that is none of these.
    """
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in re.split(r"[\s,]+", text or ""):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        key = _host_key(entry)
        if not _HOST_NAME.match(key) or _INET_ATON.match(key):
            raise ValueError(f"{entry!r} is not a host name, an address or a range such as 10.20.0.0/16")
        hosts.add(key)
    return AllowList(frozenset(hosts), tuple(networks))


def is_public(address: Address) -> bool:
    """True for an address on the public internet: not loopback, private, link-local, multicast or reserved."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public(embedded)
    if isinstance(address, ipaddress.IPv6Address) and (address.is_site_local or address in _NAT64_LOCAL):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4): where packets to it end up."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def check_address(address: Address | str, host: str | None = None, allow: AllowList = PUBLIC_ONLY) -> Address:
    """The address, if it may be connected to (for host, when a name was looked up); else AddressNotAllowed."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id says nothing about the address
    if is_public(address) or allow.allows(address, host):
        return address
    raise AddressNotAllowed(f"{address} is not a public address")


def literal_address(host: str) -> Address | None:
    """The address a host written as a literal stands for (any spelling a resolver reads), else None."""
    key = _host_key(host)
    try:
        return ipaddress.ip_address(key.split("%", 1)[0])
    except ValueError:
        pass
    if _INET_ATON.match(key):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(key))
        except OSError:
            return None
    return None


def check_host(host: str, allow: AllowList = PUBLIC_ONLY) -> None:
    """Refuse, without looking anything up, a host that is plainly not public: a literal address or localhost.

    For input forms; a name is checked again on every connection, by `resolve`.
    """
    key = _host_key(host)
    if key in allow.hosts:
        return
    named_local = key == "localhost" or key.endswith(".localhost")  # RFC 6761: always loopback
    address = ipaddress.ip_address("127.0.0.1") if named_local else literal_address(key)
    if address is None:
        return
    try:
        check_address(address, allow=allow)
    except AddressNotAllowed:
        meant = _embedded_ipv4(address) or address
        spelled = key if named_local or key == str(meant) else f"{key} ({meant})"
        raise AddressNotAllowed(f"{spelled} is not a public address") from None


def check_url(url: str, allow: AllowList = PUBLIC_ONLY) -> None:
    """`check_host` for a URL's host; a URL without a host is left to the caller's own checks."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return
    if host:
        check_host(host, allow)


def resolve(host: str, port: int, allow: AllowList = PUBLIC_ONLY) -> list[tuple]:
    """getaddrinfo's answers for a TCP connection to host, each of them checked; connect to these only.

    Any one address not allowed refuses the name: a resolver that answers with several
    addresses may give them in another order next time. Raises socket.gaierror when the name
    does not resolve.
    """
    literal = literal_address(host)
    lookup = str(literal) if literal is not None else host.strip("[]")
    answers = socket.getaddrinfo(lookup, port, 0, socket.SOCK_STREAM)
    for _family, _type, _proto, _name, sockaddr in answers:
        check_address(sockaddr[0], host=None if literal is not None else host, allow=allow)
    return answers


def connect(host: str, port: int, allow: AllowList, timeout: float | None, socket_options=(), source_address=None):
    """A TCP socket to one of host's checked addresses, its peer checked again once connected."""
    errors: list[OSError] = []
    for family, kind, proto, _name, sockaddr in resolve(host, port, allow):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            check_address(sock.getpeername()[0], host=host, allow=allow)
            return sock
        except AddressNotAllowed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            errors.append(exc)
    raise errors[0] if errors else OSError(f"no address for {host}")


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
