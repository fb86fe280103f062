"""intel.domain.fetch over loopback HTTP, and intel.domain.parse on real-shaped and hostile feeds."""

import contextlib
import gzip
import hashlib
import random
import socket
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from detail.domain.netguard import parse_allow_list
from intel.domain import parse as parse_package
from intel.domain.fetch import MAX_REDIRECTS, FetchResult, fetch
from intel.domain.parse import document, parse
from intel.domain.parse.items import ParsedFeed

from .conftest import LOOPBACK_FEEDS

FEEDS = Path(__file__).parent / "data" / "feeds"
LAST_MODIFIED = "Tue, 10 Jun 2025 08:15:00 GMT"
# The feed servers here listen on loopback, which fetch refuses unless told otherwise.
LOOPBACK = parse_allow_list(LOOPBACK_FEEDS)


def fixture(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def items_by_guid(parsed: ParsedFeed) -> dict:
    return {item.guid: item for item in parsed.items}


# --------------------------------------------------------------------------- a loopback feed server


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__((host, 0), FeedHandler)
        self.host = host
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FeedServer

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, dict(self.headers)))
        path = self.path
        try:
            if path.startswith("/feeds/"):
                self._feed(path.removeprefix("/feeds/"))
            elif path.startswith("/redirect-to/"):
                self._redirect(unquote(path.removeprefix("/redirect-to/")))
            elif path.startswith("/redirect/"):
                hops = int(path.removeprefix("/redirect/"))
                target = "/feeds/rss_georss_point.xml" if hops == 0 else f"/redirect/{hops - 1}"
                self._redirect(target)
            else:
                getattr(self, "_" + path.strip("/").replace("-", "_"))()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _feed(self, name: str):
        body = fixture(name)
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, headers={"ETag": etag, "Last-Modified": LAST_MODIFIED})
            return
        headers = {"Content-Type": "application/rss+xml", "ETag": etag, "Last-Modified": LAST_MODIFIED}
        self._send(200, body, headers)

    def _redirect(self, location: str, status: int = 302):
        self._send(status, b"", {"Location": location})

    def _redirect_loop(self):
        self._redirect("/redirect-loop")

    def _redirect_file(self):
        self._redirect("file:///etc/passwd")

    def _server_error(self):
        self._send(500, b"<html><body>Internal Server Error</body></html>", {"Content-Type": "text/html"})

    def _hang(self):
        self.server.stop.wait(30)

    def _drip(self):
        """A valid start, then one byte every 0.2 s: each read succeeds, the whole never ends."""
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.flush()
        while not self.server.stop.wait(0.2):
            self.wfile.write(b" ")
            self.wfile.flush()

    def _drip_headers(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self.wfile.flush()
        while not self.server.stop.wait(0.2):
            self.wfile.write(b"a")
            self.wfile.flush()

    def _huge(self):
        """3 MB of feed-looking bytes with no Content-Length: only counting can stop it."""
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Huge</title>')
        chunk = b"<item><title>filler</title></item>" * 2000
        written = 0
        while written < 3_000_000 and not self.server.stop.is_set():
            self.wfile.write(chunk)
            written += len(chunk)
        self.close_connection = True

    def _huge_declared(self):
        self.send_response(200)
        self.send_header("Content-Length", "50000000")
        self.end_headers()
        self.wfile.write(b"<rss>")
        self.close_connection = True

    def _gzip_bomb(self):
        body = gzip.compress(b" " * 3_000_000)
        self._send(200, body, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})


def serving(host: str = "127.0.0.1"):
    httpd = FeedServer(host)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def server():
    yield from serving()


@pytest.fixture
def other_server():
    """A second feed server on another loopback address, which LOOPBACK does not allow."""
    yield from serving("127.0.0.2")


# --------------------------------------------------------------------------- fetch


def test_fetch_ok_returns_body_validators_and_sends_user_agent(server):
    result = fetch(server.url("/feeds/rss_georss_point.xml"), allow=LOOPBACK)

    assert isinstance(result, FetchResult)
    assert result.status == "ok", result.error
    assert result.http_status == 200
    assert result.body == fixture("rss_georss_point.xml")
    assert result.etag == '"' + hashlib.sha1(result.body).hexdigest() + '"'
    assert result.modified == LAST_MODIFIED
    assert result.error is None
    assert 0 <= result.elapsed_s < 5
    assert result.url == server.url("/feeds/rss_georss_point.xml")
    _path, headers = server.seen[-1]
    assert headers["User-Agent"] == "OscarMike/1.0 (+feed poller)"
    assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


def test_fetch_conditional_get_gives_not_modified(server):
    first = fetch(server.url("/feeds/gdacs.xml"), allow=LOOPBACK)

    second = fetch(
        server.url("/feeds/gdacs.xml"), allow=LOOPBACK, etag=first.etag, modified=first.modified, user_agent="Test/2"
    )

    assert second.status == "not_modified"
    assert second.http_status == 304
    assert second.body is None
    assert second.etag == first.etag and second.modified == LAST_MODIFIED
    _path, headers = server.seen[-1]
    assert headers["If-None-Match"] == first.etag
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    assert headers["User-Agent"] == "Test/2"


def test_fetch_stale_etag_gets_the_body(server):
    result = fetch(server.url("/feeds/gdacs.xml"), allow=LOOPBACK, etag='"stale"')

    assert result.status == "ok"
    assert result.body == fixture("gdacs.xml")


def test_fetch_http_500_is_an_error_not_an_exception(server):
    result = fetch(server.url("/server-error"), allow=LOOPBACK)

    assert result.status == "error"
    assert result.http_status == 500
    assert result.error.startswith("HTTP 500")
    assert result.body is None


def test_fetch_times_out_on_a_server_that_never_answers(server):
    result = fetch(server.url("/hang"), allow=LOOPBACK, timeout=1.0)

    assert result.status == "error"
    assert result.error == "timed out"
    assert result.elapsed_s < 3


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_fetch_total_deadline_stops_a_dripping_server(server, path):
    started = time.monotonic()

    result = fetch(server.url(path), allow=LOOPBACK, timeout=1.0)

    elapsed = time.monotonic() - started
    assert result.status == "error"
    assert result.error == "timed out"
    assert elapsed < 2.5, f"held for {elapsed:.1f} s by a server sending a byte every 0.2 s"


def test_fetch_stops_reading_past_max_bytes(server):
    result = fetch(server.url("/huge"), allow=LOOPBACK, max_bytes=1_000_000)

    assert result.status == "error"
    assert "too large" in result.error
    assert result.body is None


def test_fetch_refuses_a_declared_length_over_max_bytes_without_reading(server):
    result = fetch(server.url("/huge-declared"), allow=LOOPBACK, max_bytes=1_000_000, timeout=5)

    assert result.status == "error"
    assert "declares 50000000 bytes" in result.error
    assert result.elapsed_s < 2


def test_fetch_counts_decompressed_bytes_against_the_cap(server):
    result = fetch(server.url("/gzip-bomb"), allow=LOOPBACK, max_bytes=1_000_000)

    assert result.status == "error"
    assert "too large" in result.error


def test_fetch_follows_a_few_redirects(server):
    result = fetch(server.url("/redirect/2"), allow=LOOPBACK)

    assert result.status == "ok"
    assert result.url == server.url("/feeds/rss_georss_point.xml")
    assert [path for path, _ in server.seen] == ["/redirect/2", "/redirect/1", "/redirect/0", result.url[-27:]]


def test_fetch_limits_redirects(server):
    result = fetch(server.url("/redirect-loop"), allow=LOOPBACK)

    assert result.status == "error"
    assert "too many redirects" in result.error
    assert len(server.seen) == MAX_REDIRECTS + 1


def test_fetch_refuses_a_redirect_to_another_scheme(server):
    result = fetch(server.url("/redirect-file"), allow=LOOPBACK)

    assert result.status == "error"
    assert "redirect refused" in result.error and "'file'" in result.error


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/feed.xml", "file:///etc/passwd", "javascript:alert(1)", "gopher://x", "", "http://", "/feed.xml"],
)
def test_fetch_only_http_and_https(server, url):
    result = fetch(url, allow=LOOPBACK)

    assert result.status == "error"
    assert result.error
    assert server.seen == []


def test_fetch_connection_refused_is_an_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetch(f"http://127.0.0.1:{port}/feed.xml", timeout=2, allow=LOOPBACK)

    assert result.status == "error"
    assert result.error == "connection failed"


# --------------------------------------------------------------------------- fetch: public addresses only


def test_fetch_refuses_loopback_unless_allowed(server):
    result = fetch(server.url("/feeds/rss_georss_point.xml"))

    assert (result.status, result.error, result.body) == ("error", "address not allowed", None)
    assert server.seen == []


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0177.0.0.1", "0x7f.1", "127.1", "[::ffff:127.0.0.1]"])
def test_fetch_refuses_every_spelling_of_loopback(server, host):
    result = fetch(f"http://{host}:{server.port}/feeds/rss_georss_point.xml")

    assert (result.status, result.error) == ("error", "address not allowed")
    assert server.seen == []


def test_fetch_checks_the_address_a_name_resolves_to(server, monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: real("127.0.0.1" if host == "feeds.test" else host, *a, **k)
    )

    refused = fetch(f"http://feeds.test:{server.port}/feeds/rss_georss_point.xml")
    allowed = fetch(f"http://feeds.test:{server.port}/feeds/rss_georss_point.xml", allow=parse_allow_list("feeds.test"))

    assert refused.error == "address not allowed"
    assert allowed.status == "ok", allowed.error
    assert len(server.seen) == 1


def test_fetch_connects_to_the_address_it_checked(server, other_server, monkeypatch):
    """DNS rebinding: a name that answers an allowed address to the check and another to the connection."""
    real, lookups = socket.getaddrinfo, []

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        return real("127.0.0.1" if len(lookups) == 1 else "127.0.0.2", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.test:{server.port}/feeds/rss_georss_point.xml"

    first = fetch(url, allow=LOOPBACK)
    second = fetch(url, allow=LOOPBACK)

    assert first.status == "ok" and len(lookups) == 2, "one look-up per connection, connected to what it checked"
    assert second.error == "address not allowed"
    assert len(server.seen) == 1 and other_server.seen == []


def test_fetch_checks_every_redirect(server, other_server):
    target = quote(other_server.url("/feeds/rss_georss_point.xml"), safe="")

    result = fetch(server.url(f"/redirect-to/{target}"), allow=LOOPBACK)

    assert (result.status, result.error) == ("error", "address not allowed")
    assert [path for path, _ in server.seen] == [f"/redirect-to/{target}"]
    assert other_server.seen == []


def test_fetch_ignores_proxies_from_the_environment(server, other_server, monkeypatch):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", other_server.url(""))
    monkeypatch.setenv("http_proxy", other_server.url(""))

    result = fetch(server.url("/feeds/rss_georss_point.xml"), allow=LOOPBACK)

    assert result.status == "ok"
    assert other_server.seen == []


def _listener(answer: bytes | None):
    """A TCP port that is open but speaks no HTTP: it sends `answer` (if any) and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    if answer:
                        conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return listener


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_address_reads_the_same_whatever_listens_there(server):
    with _listener(b"SSH-2.0-OpenSSH_9.2\r\n") as ssh:
        ports = [server.port, ssh.getsockname()[1], _closed_port()]
        errors = {fetch(f"http://127.0.0.1:{port}/", timeout=2).error for port in ports}

    assert errors == {"address not allowed"}
    assert server.seen == []


def test_a_failed_connection_reads_the_same_for_a_closed_port_and_an_open_one():
    with _listener(b"SSH-2.0-OpenSSH_9.2\r\n") as ssh, _listener(None) as silent:
        urls = [f"http://127.0.0.1:{port}/feed.xml" for port in (_closed_port(), ssh.getsockname()[1])]
        results = [fetch(url, timeout=2, allow=LOOPBACK) for url in urls]
        results.append(fetch(f"http://127.0.0.1:{silent.getsockname()[1]}/feed.xml", timeout=2, allow=LOOPBACK))

    assert [r.error for r in results] == ["connection failed", "connection failed", "connection failed"]
    assert all(r.status == "error" and r.http_status is None for r in results)


# --------------------------------------------------------------------------- parse: formats and axis order


def test_parse_rss_georss_point_keeps_latitude_first():
    parsed = parse(fixture("rss_georss_point.xml"))

    assert parsed.usable and parsed.problems == []
    assert parsed.version == "rss20"
    assert parsed.title == "Metropolitan Demonstrations Bulletin"
    march = items_by_guid(parsed)["bulletin-4411"]
    assert march.geometry == {"type": "point", "coordinates": (51.5101, -0.134)}
    latitude, longitude = march.geometry["coordinates"]
    # Read the wrong way round, this march would be at 0.134°S 51.5101°E: the Indian Ocean, not Piccadilly.
    assert latitude == 51.5101 and longitude == -0.134
    assert march.title == "Protest march from Piccadilly Circus to Whitehall"
    assert march.link == "https://bulletin.example.org/events/4411"
    assert march.categories == ["Protest", "Road closure"]
    assert march.published == datetime(2025, 6, 10, 6, 30, tzinfo=timezone.utc)
    assert march.source == "Metropolitan Demonstrations Bulletin"
    assert march.summary_text == "About 2,000 people expected. Route: Regent Street, Haymarket. Map"
    assert 'href="https://bulletin.example.org/maps/4411"' in march.summary_html
    assert 'rel="noopener nofollow"' in march.summary_html


def test_parse_rss_items_without_guid_or_place():
    parsed = parse(fixture("rss_georss_point.xml"), default_category="protest")

    rally, advisory = parsed.items[1], parsed.items[2]
    assert rally.guid == "https://bulletin.example.org/events/4412"
    assert rally.geometry == {"type": "point", "coordinates": (51.508, -0.1281)}
    assert advisory.geometry is None and advisory.geometry_problem is None
    assert advisory.published == advisory.updated == datetime(2025, 6, 10, 10, 0, tzinfo=timezone.utc)
    assert {item.default_category for item in parsed.items} == {"protest"}


def test_parse_atom_georss_polygon_box_and_line():
    parsed = parse(fixture("atom_georss_shapes.xml"))

    assert parsed.usable and parsed.version == "atom10"
    cordon, area, closure = parsed.items
    assert cordon.title == "Police cordon around Parliament Square"
    assert cordon.geometry == {
        "type": "polygon",
        "coordinates": [(51.502, -0.129), (51.502, -0.1245), (51.4995, -0.1245), (51.4995, -0.129), (51.502, -0.129)],
    }
    assert cordon.published == datetime(2025, 6, 10, 6, 0, tzinfo=timezone.utc)
    assert cordon.updated == datetime(2025, 6, 10, 6, 45, tzinfo=timezone.utc)
    assert area.geometry == {"type": "box", "coordinates": (51.495, -0.145, 51.515, -0.115)}
    assert closure.geometry == {
        "type": "line",
        "coordinates": [(51.501, -0.1262), (51.5045, -0.1265), (51.5074, -0.1278)],
    }


def test_parse_gml_point_polygon_and_three_dimensional_position():
    parsed = parse(fixture("gml.xml"))

    station, zone, rooftop = parsed.items
    assert station.geometry == {"type": "point", "coordinates": (48.8809, 2.3553)}
    assert zone.geometry == {
        "type": "polygon",
        "coordinates": [(48.869, 2.361), (48.869, 2.366), (48.8655, 2.366), (48.8655, 2.361), (48.869, 2.361)],
    }
    assert rooftop.geometry == {"type": "point", "coordinates": (48.8738, 2.295)}  # elevation 65 m dropped


def test_parse_w3c_geo():
    parsed = parse(fixture("w3c_geo.xml"))

    station, airport, metro = parsed.items
    assert station.geometry == {"type": "point", "coordinates": (52.5251, 13.3694)}
    assert airport.geometry == {"type": "point", "coordinates": (52.3667, 13.5033)}  # inside <geo:Point>
    assert metro.geometry == {"type": "point", "coordinates": (52.5219, 13.4132)}  # <geo:Point geo:lat=.. geo:long=..>


def test_parse_cap_in_atom_polygon_circle_and_fields():
    parsed = parse(fixture("cap_atom.xml"))

    flood, hazmat, heat = parsed.items
    assert flood.geometry == {
        "type": "polygon",
        "coordinates": [(29.78, -95.4), (29.79, -95.33), (29.73, -95.32), (29.72, -95.39), (29.78, -95.4)],
    }
    assert flood.cap == {
        "severity": "Severe",
        "urgency": "Immediate",
        "certainty": "Likely",
        "event": "Flash Flood Warning",
        "onset": datetime(2025, 6, 10, 20, 15, tzinfo=timezone.utc),
        "expires": datetime(2025, 6, 10, 23, 15, tzinfo=timezone.utc),
        "area_desc": "Harris, TX",
        "status": "Actual",
        "msg_type": "Alert",
        "category": "Met",
    }
    assert hazmat.geometry == {"type": "point", "coordinates": (29.723, -95.145), "radius_km": 3.0}
    assert hazmat.cap["severity"] == "Extreme"
    assert hazmat.cap["onset"] == datetime(2025, 6, 10, 21, 0, tzinfo=timezone.utc)
    assert heat.geometry is None and heat.cap["severity"] == "Unknown"
    assert heat.cap["area_desc"] == "Galveston; Brazoria"


def test_parse_cap_under_another_prefix():
    body = fixture("cap_atom.xml").replace(b"<cap:", b"<alert:").replace(b"</cap:", b"</alert:")
    body = body.replace(b"xmlns:cap=", b"xmlns:alert=")

    flood = parse(body).items[0]

    assert flood.cap["severity"] == "Severe"
    assert flood.geometry["type"] == "polygon"


def test_parse_gdacs_alert_level_bbox_and_point():
    parsed = parse(fixture("gdacs.xml"))

    quake, cyclone = parsed.items
    assert quake.guid == "EQ1450001"
    assert quake.geometry == {"type": "point", "coordinates": (-6.9175, 107.6191)}  # georss:point beats the bbox
    assert quake.gdacs["alertlevel"] == "Orange"
    assert quake.gdacs["eventtype"] == "EQ"
    assert quake.gdacs["country"] == "Indonesia"
    assert quake.gdacs["severity"] == "Magnitude 6.4M, Depth:10km"
    assert quake.gdacs["severity_value"] == 6.4 and quake.gdacs["severity_unit"] == "M"
    assert quake.gdacs["fromdate"] == datetime(2025, 6, 12, 4, 21, 31, tzinfo=timezone.utc)
    assert quake.gdacs["todate"] == datetime(2025, 6, 12, 4, 21, 31, tzinfo=timezone.utc)
    # "lonmin lonmax latmin latmax" becomes (south, west, north, east)
    assert quake.gdacs["bbox"] == (-10.9175, 103.6191, -2.9175, 111.6191)
    assert cyclone.geometry == {"type": "box", "coordinates": (-20.5, 43.5, -12.0, 51.0)}
    assert cyclone.gdacs["alertlevel"] == "Red"
    assert cyclone.gdacs["eventname"] == "KIRRA-25"
    assert cyclone.gdacs["severity"] == "213 km/h"
    assert quake.cap is None and quake.usgs is None


def test_parse_usgs_earthquakes():
    parsed = parse(fixture("usgs_earthquakes.atom"))

    taiwan, alaska, geysers = parsed.items
    assert taiwan.geometry == {"type": "point", "coordinates": (24.065, 121.601)}
    assert taiwan.usgs == {
        "magnitude": 4.5,
        "place": "10 km N of Hualien City, Taiwan",
        "depth_km": 10.0,
        "event_id": "us7000pq3x",
    }
    assert alaska.geometry == {"type": "point", "coordinates": (54.617, -159.614)}
    assert alaska.usgs["magnitude"] == 7.1
    assert geysers.usgs["magnitude"] == 2.6 and geysers.usgs["depth_km"] is None
    assert "24.065°N 121.601°E" in taiwan.summary_text


def test_parse_usgs_magnitude_from_the_category_when_the_title_has_none():
    body = fixture("usgs_earthquakes.atom").replace(b"M 4.5 - 10 km N", b"Earthquake 10 km N")

    assert parse(body).items[0].usgs["magnitude"] == 4.0


# --------------------------------------------------------------------------- parse: hostile documents


def test_parse_empty_body():
    for body in (fixture("empty.xml"), b"", b"  \n\t "):
        parsed = parse(body)
        assert not parsed.usable and parsed.items == []
        assert parsed.problems == ["empty body: no feed"]


def test_parse_html_error_page():
    parsed = parse(fixture("html_error_page.html"))

    assert not parsed.usable
    assert parsed.items == []
    assert any("not a feed" in problem for problem in parsed.problems)


def test_parse_truncated_before_any_entry_is_unusable():
    parsed = parse(fixture("truncated_before_items.xml"))

    assert not parsed.usable
    assert any("no element found" in problem for problem in parsed.problems)


def test_parse_truncated_keeps_complete_entries_and_drops_the_cut_one():
    parsed = parse(fixture("truncated.xml"))

    assert parsed.usable
    assert [item.guid for item in parsed.items] == ["bulletin-4411"]
    assert any("truncated" in problem for problem in parsed.problems)


def test_parse_wrong_declared_encoding_is_usable_with_a_problem():
    parsed = parse(fixture("wrong_encoding.xml"))

    assert parsed.usable
    assert any("declared as utf-8" in problem for problem in parsed.problems)
    item = parsed.items[0]
    assert item.title == "Manifestation déclarée : place de la République - Nation"
    assert item.summary_text.startswith("Grève et défilé")
    assert item.geometry == {"type": "point", "coordinates": (48.8675, 2.3636)}


def test_parse_well_formed_feed_with_no_entries_is_usable():
    parsed = parse(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>')

    assert parsed.usable and parsed.items == [] and parsed.problems == []


@pytest.mark.parametrize(
    "name", ["billion_laughs.xml", "billion_laughs_behind_comment.xml", "xxe_file.xml", "xxe_parameter_entity.xml"]
)
def test_parse_refuses_entity_declarations(name):
    started = time.monotonic()

    parsed = parse(fixture(name))

    assert time.monotonic() - started < 1
    assert not parsed.usable and parsed.items == []
    assert "declares XML entities" in parsed.problems[0]


def test_parse_refuses_a_quadratic_blowup_of_plain_text_entities():
    # feedparser alone keeps this "safe-looking" entity and expands it: 2 GB from 2 MB.
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "' + b"A" * 100_000 + b'">]>\n'
        b'<rss version="2.0"><channel><title>Q</title><item><title>t</title><description>'
        + b"&a;" * 20_000
        + b"</description></item></channel></rss>"
    )
    started = time.monotonic()

    parsed = parse(body)

    assert time.monotonic() - started < 1
    assert not parsed.usable and parsed.items == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-7", "cp037"])
def test_parse_refuses_entity_declarations_in_any_encoding(encoding):
    text = fixture("billion_laughs.xml").decode()
    declaration, rest = text.split("?>", 1)
    declaration = declaration.replace('encoding="UTF-8"', f'encoding="{encoding}"') + "?>"
    if encoding == "utf-7":
        body = declaration.encode() + rest.encode(encoding)
    else:
        body = (declaration + rest).encode(encoding)

    parsed = parse(body)

    assert not parsed.usable
    assert "declares XML entities" in parsed.problems[0]


def test_without_the_guard_feedparser_still_resolves_no_external_entity(monkeypatch):
    """Defence in depth: with the entity guard off, /etc/passwd still never shows up."""
    monkeypatch.setattr(document, "declares_entities", lambda body: False)
    passwd = Path("/etc/passwd").read_text().splitlines()[0]

    for name in ("xxe_file.xml", "xxe_parameter_entity.xml", "billion_laughs.xml"):
        parsed = parse(fixture(name))
        texts = [parsed.title or ""] + [f"{i.title} {i.summary_html} {i.summary_text}" for i in parsed.items]
        assert not any(passwd in text or "root:" in text for text in texts)
        assert all(len(text) < 1000 for text in texts)


def test_parse_external_dtd_is_not_fetched():
    parsed = parse(fixture("external_dtd.xml"))

    assert parsed.usable
    assert [item.title for item in parsed.items] == ["Road closure on the ring road"]
    assert "root:" not in parsed.items[0].summary_text


def test_parse_never_opens_a_file_named_by_the_body(tmp_path):
    # feedparser.parse(bytes) would open() bytes that look like a path; parse hands it a stream.
    path = tmp_path / "secret.xml"
    path.write_bytes(fixture("rss_georss_point.xml"))

    parsed = parse(str(path).encode())

    assert not parsed.usable and parsed.items == []


def test_parse_survives_a_crs_name_feedparser_crashes_on():
    parsed = parse(fixture("bad_coordinates.xml"))

    assert parsed.usable
    url_crs = items_by_guid(parsed)["gml-url-crs"]
    assert url_crs.geometry == {"type": "point", "coordinates": (51.5101, -0.134)}


@pytest.mark.parametrize(
    ("guid", "geometry", "problem"),
    [
        ("bad-nan", None, "not finite"),
        ("bad-inf", None, "not finite"),
        ("bad-lat-range", None, "latitude 95 is out of range"),
        ("bad-lon-range", None, "projected coordinates?"),
        # Swapped axes that still make a valid place cannot be told apart: kept as written, not guessed.
        ("swapped-plausible", {"type": "point", "coordinates": (-0.134, 51.5101)}, None),
        ("swapped-impossible", None, "latitude -122.419 is out of range (axes swapped?)"),
        ("three-d-georss", {"type": "point", "coordinates": (51.5101, -0.134)}, None),
        (
            "three-d-gml",
            {"type": "line", "coordinates": [(51.501, -0.1262), (51.5045, -0.1265), (51.5074, -0.1278)]},
            None,
        ),
        ("projected-georss", None, "projected coordinates?"),
        ("w3c-garbage", None, "'fifty-one' is not a number"),
        ("georss-garbage", None, "unreadable"),
        ("short-polygon", None, "polygon has fewer than three distinct positions"),
        ("inverted-box", None, "south 51.6 is north of its north 51.4"),
        ("odd-georss-line", None, "GeoRSS line has 5 numbers, an odd count"),
        ("null-island-georss", None, "position (0, 0)"),
        ("null-island-w3c", None, "position (0, 0)"),
    ],
)
def test_parse_bad_coordinates(guid, geometry, problem):
    parsed = parse(fixture("bad_coordinates.xml"))

    item = items_by_guid(parsed)[guid]
    assert item.geometry == geometry
    if problem is None:
        assert item.geometry_problem is None
    else:
        assert problem in item.geometry_problem


def test_parse_gml_in_other_reference_systems_is_transformed_to_wgs84():
    items = items_by_guid(parse(fixture("gml_reference_systems.xml")))

    def point(guid):
        assert items[guid].geometry_problem is None
        assert items[guid].geometry["type"] == "point"
        return items[guid].geometry["coordinates"]

    # Each written in its own system's axis order: easting first for grids, longitude first for CRS84.
    assert point("bng-point") == pytest.approx((51.5080, -0.1281), abs=1e-5)  # British National Grid
    assert point("utm-point") == pytest.approx((52.5219, 13.4132), abs=1e-5)  # UTM 33N, as a URN
    assert point("wgs84-3d") == (48.8584, 2.2945)  # EPSG:4979: three numbers, the height dropped
    assert point("crs84-point") == (48.8566, 2.3522)  # written lon lat
    assert point("gml2-point") == (55.9486, -3.1999)  # the GML 2 spelling is x/y
    cordon = items["mercator-polygon"].geometry  # Web Mercator, as an OGC URL
    assert cordon["type"] == "polygon" and len(cordon["coordinates"]) == 5
    assert cordon["coordinates"][0] == pytest.approx((51.5120, 0.0340), abs=1e-5)
    assert items["mercator-envelope"].geometry["coordinates"] == pytest.approx((51.504, 0.025, 51.512, 0.034), abs=1e-5)
    assert items["poslist-3d"].geometry == {
        "type": "line",
        "coordinates": [(51.501, -0.1262), (51.5045, -0.1265), (51.5074, -0.1278)],
    }


def test_parse_gml_in_a_system_not_known_is_a_problem_on_the_item():
    parsed = parse(fixture("gml_reference_systems.xml"))
    items = items_by_guid(parsed)

    assert parsed.usable
    assert items["unknown-code"].geometry is None
    assert items["unknown-code"].geometry_problem == "coordinate reference system 'EPSG:99999' is not one PROJ knows"
    assert items["local-grid"].geometry_problem == (
        "coordinate reference system 'site-grid-7' is not an EPSG or OGC name"
    )
    assert items["odd-poslist"].geometry_problem == (
        "GML LineString posList has 5 numbers: not a whole number of 2-D positions"
    )


def test_parse_gml_in_a_malformed_document_is_read_only_in_wgs84():
    # Not well-formed (a bare "&"), so feedparser's own reading stands: WGS84 is kept, a grid refused.
    body = _rss(
        '<title>Fish & chips</title><georss:where xmlns:georss="http://www.georss.org/georss" '
        'xmlns:gml="http://www.opengis.net/gml"><gml:Point srsName="EPSG:27700"><gml:pos>530006 180446</gml:pos>'
        "</gml:Point></georss:where>",
        '<title>Bangers & mash</title><georss:point xmlns:georss="http://www.georss.org/georss">51.5 -0.12'
        "</georss:point>",
    )

    grid, wgs84 = parse(body).items

    assert grid.geometry is None and "read only in WGS84" in grid.geometry_problem
    assert wgs84.geometry == {"type": "point", "coordinates": (51.5, -0.12)}


def test_parse_every_bad_coordinate_item_is_kept():
    parsed = parse(fixture("bad_coordinates.xml"))

    assert len(parsed.items) == 18
    assert all(item.title for item in parsed.items)


def test_parse_cap_polygon_with_bad_numbers():
    body = fixture("cap_atom.xml").replace(b"29.78,-95.40 29.79", b"29.78,-95.40 NaN,-95.33 29.79", 1)

    flood = parse(body).items[0]

    assert flood.geometry is None
    assert "not finite" in flood.geometry_problem


def test_parse_box_with_three_corners_is_refused_not_skipped():
    body = _rss('<title>Box</title><georss:box xmlns:georss="http://www.georss.org/georss">1 2 3 4 5 6</georss:box>')

    box = parse(body).items[0]

    assert box.geometry is None
    assert box.geometry_problem == "box does not have exactly two corners"


def test_parse_strips_scripts_and_unsafe_links():
    parsed = parse(fixture("script_injection.xml"))

    assert parsed.title == "Hostile Bulletin"
    riot, data, spaced = parsed.items
    assert riot.title == "Riot near the stadium"
    for item in parsed.items:
        assert item.link is None
        for text in (item.title, item.summary_html, item.summary_text):
            lowered = text.lower()
            for bad in ("<script", "alert(", "onerror", "onclick", "javascript:", "<iframe", "<style", "<img"):
                assert bad not in lowered, (bad, text)
    assert '<a href="https://news.example.org/riot" rel="noopener nofollow">report</a>' in riot.summary_html
    assert 'target="_blank"' not in riot.summary_html
    assert data.summary_text == "Plain text & an ampersand"
    assert spaced.summary_text == "x"
    problems = " ".join(parsed.problems)
    assert "'hostile-1': link dropped (scheme 'javascript' is not allowed)" in problems
    assert "'hostile-2': link dropped (scheme 'data' is not allowed)" in problems


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


def test_parse_resolves_relative_links_only_with_a_base_url():
    body = _rss(
        '<title>A</title><link>/events/1</link><description>&lt;a href="/maps/1"&gt;map&lt;/a&gt;</description>'
    )

    without = parse(body).items[0]
    with_base = parse(body, base_url="https://feeds.example.org/intel/feed.xml").items[0]

    assert without.link is None and "href" not in without.summary_html
    assert with_base.link == "https://feeds.example.org/events/1"
    assert 'href="https://feeds.example.org/maps/1"' in with_base.summary_html


def test_parse_guid_falls_back_to_a_stable_hash():
    body = _rss("<title>No id, no link</title><pubDate>Tue, 10 Jun 2025 07:30:00 GMT</pubDate>")

    first, second = parse(body).items[0], parse(body).items[0]
    other = parse(body.replace(b"No id", b"Other")).items[0]

    assert first.guid == second.guid and first.guid.startswith("sha256:")
    assert other.guid != first.guid


def test_parse_long_guids_are_hashed_and_duplicates_skipped():
    long_id = "x" * 2000
    body = _rss(
        f"<title>Long</title><guid>{long_id}</guid>",
        "<title>One</title><guid>same</guid>",
        "<title>Two</title><guid>same</guid>",
        "<description></description>",
    )

    parsed = parse(body)

    assert [item.title for item in parsed.items] == ["Long", "One"]
    assert parsed.items[0].guid == "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    problems = " ".join(parsed.problems)
    assert "duplicate guid 'same'" in problems
    assert "no title, link or summary" in problems


def test_parse_reads_every_entry_of_a_big_feed():
    body = _rss(*(f"<title>Item {n}</title><guid>g{n}</guid>" for n in range(5_000)))

    parsed = parse(body)

    assert len(parsed.items) == 5_000
    assert not any("entries" in problem for problem in parsed.problems)


def test_parse_bounds_a_hostile_number_of_entries_and_says_so(monkeypatch):
    monkeypatch.setattr(parse_package, "MAX_ITEMS", 10)
    body = _rss(*(f"<title>Item {n}</title><guid>g{n}</guid>" for n in range(15)))

    parsed = parse(body)

    assert len(parsed.items) == 10
    assert any("the feed has 15 entries; only the first 10 were read" in problem for problem in parsed.problems)


def test_parse_takes_bytes_only():
    with pytest.raises(TypeError):
        parse("<rss/>")


def test_parse_never_raises_on_mangled_fixtures():
    rng = random.Random(20250610)
    names = sorted(path.name for path in FEEDS.iterdir())
    for _ in range(300):
        body = bytearray(fixture(rng.choice(names)))
        if body:
            body = body[: rng.randrange(len(body) + 1)]
        for _flip in range(rng.randrange(4)):
            if body:
                body[rng.randrange(len(body))] = rng.randrange(256)
        result = parse(bytes(body))
        assert isinstance(result, ParsedFeed)
        for item in result.items:
            assert item.geometry is None or item.geometry["type"] in {"point", "line", "polygon", "box"}


def test_a_motorway_title_is_not_an_earthquake():
    from intel.domain.parse import usgs

    assert usgs.usgs_fields({}, "M25 - Lane closures between J10 and J11 from 22:00 tonight", None) is None
    assert usgs.usgs_fields({}, "M 4.5 - 10 km SSW of Hualien City, Taiwan", None)["magnitude"] == 4.5
