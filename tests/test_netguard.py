"""detail.domain.netguard: only public addresses, unless the allow-list names the host or its range."""

import ipaddress
import socket

import pytest

from detail.domain import netguard
from detail.domain.netguard import AddressNotAllowed, check_address, check_host, literal_address, parse_allow_list

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254
    "64:ff9b:1::1",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:db8::1",
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    with pytest.raises(AddressNotAllowed) as refused:
        check_address(address)
    assert str(refused.value) == "address not allowed"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert check_address(address) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host, address",
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[::1]", "::1"),
        ("10.0.0.1.", "10.0.0.1"),
    ],
)
def test_every_spelling_of_an_address_is_that_address(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)
    with pytest.raises(AddressNotAllowed):
        check_host(host)


@pytest.mark.parametrize("host", ["feeds.example.org", "example", "1.2.3.4.example", "0x7g.1"])
def test_names_are_not_addresses(host):
    assert literal_address(host) is None
    check_host(host)  # a name is checked when it is connected to, not here


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "feeds.localhost"])
def test_localhost_is_refused_without_looking_it_up(host):
    with pytest.raises(AddressNotAllowed):
        check_host(host)


def test_allow_list_names_hosts_and_ranges():
    allow = parse_allow_list("intranet.corp.example, 10.20.0.0/16\n127.0.0.1 fd00::/8 Feeds.Local.")

    assert allow.hosts == frozenset({"intranet.corp.example", "feeds.local"})
    assert check_address("10.20.3.4", allow=allow)
    assert check_address("127.0.0.1", allow=allow)
    assert check_address("fd00::5", allow=allow)
    assert check_address("192.168.1.1", host="FEEDS.local", allow=allow)
    check_host("10.20.9.9", allow)
    check_host("intranet.corp.example", allow)
    for address, host in [("10.21.0.1", None), ("127.0.0.2", None), ("192.168.1.1", "other.corp.example")]:
        with pytest.raises(AddressNotAllowed):
            check_address(address, host=host, allow=allow)


@pytest.mark.parametrize("text", ["http://intranet/", "10.0.0.0/33", "not a host!", "2130706433", "-bad-.example"])
def test_allow_list_refuses_what_is_neither_host_nor_range(text):
    with pytest.raises(ValueError):
        parse_allow_list(text)


def test_empty_allow_list_allows_nothing_private():
    assert parse_allow_list("") == parse_allow_list(None) == netguard.PUBLIC_ONLY
    with pytest.raises(AddressNotAllowed):
        check_address("127.0.0.1", allow=parse_allow_list("  "))


def fake_resolver(monkeypatch, answers: dict[str, list[str]]):
    calls: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(monkeypatch):
    fake_resolver(monkeypatch, {"mixed.example": ["93.184.215.14", "127.0.0.1"], "public.example": ["93.184.215.14"]})

    with pytest.raises(AddressNotAllowed):
        netguard.resolve("mixed.example", 80)
    assert [answer[4][0] for answer in netguard.resolve("public.example", 80)] == ["93.184.215.14"]


def test_a_named_host_on_the_allow_list_may_resolve_to_a_private_address(monkeypatch):
    fake_resolver(monkeypatch, {"intranet.corp.example": ["10.1.2.3"]})

    answers = netguard.resolve("intranet.corp.example", 80, parse_allow_list("intranet.corp.example"))

    assert [answer[4][0] for answer in answers] == ["10.1.2.3"]
    with pytest.raises(AddressNotAllowed):
        netguard.resolve("intranet.corp.example", 80)


def test_connect_refuses_before_opening_any_socket(monkeypatch):
    fake_resolver(monkeypatch, {"rebound.example": ["127.0.0.1"]})
    opened = []
    monkeypatch.setattr(netguard.socket, "socket", lambda *a: opened.append(a))

    with pytest.raises(AddressNotAllowed):
        netguard.connect("rebound.example", 80, netguard.PUBLIC_ONLY, timeout=1)
    assert opened == []
