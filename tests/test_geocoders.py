"""intel.domain.geocoders: a place for a query, offline or through geopy (Nominatim).

Nothing here reaches the internet: the Nominatim wrapper is tested with a fake geopy geocoder and with a
stub Nominatim server on loopback.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from geopy.exc import GeocoderServiceError
from geopy.geocoders import Nominatim
from geopy.geocoders.base import Geocoder
from geopy.location import Location

from intel.domain import gazetteer, geocoders


def where(place: gazetteer.Place | None) -> tuple[str, str, str] | None:
    return None if place is None else (place.name, place.country_code, place.admin1)


# --------------------------------------------------------------------------------------------------------
# Geocoding for the venue form


@pytest.mark.parametrize(
    ("query", "country", "expected"),
    [
        ("London", None, ("London", "GB", "ENG")),
        ("Zurich", None, ("Zürich", "CH", "ZH")),
        ("Paris", "US", ("Paris", "US", "TX")),
        ("Paris, TX", None, ("Paris", "US", "TX")),
        ("Paris, France", None, ("Paris", "FR", "11")),
        ("Springfield, IL, USA", None, ("Springfield", "US", "IL")),
        ("Springfield, Illinois", None, ("Springfield", "US", "IL")),
        ("London, Ontario, Canada", None, ("London", "CA", "08")),
        ("london, uk", None, ("London", "GB", "ENG")),
        ("10 Downing Street, London", None, ("London", "GB", "ENG")),
        ("Trafalgar Square, London", None, ("London", "GB", "ENG")),
        ("Washington, D.C.", None, ("Washington", "US", "DC")),
        ("Switzerland", None, ("Switzerland", "CH", "")),
    ],
)
def test_geocode(query, country, expected):
    assert where(geocoders.geocode(query, country)) == expected


@pytest.mark.parametrize("query", ["", "   ", "Xyzzyville", "Paris, Japan"])
def test_geocode_unknown_gives_none(query):
    assert geocoders.geocode(query) is None


def test_offline_geocoder_returns_geopy_locations():
    geocoder = geocoders.OfflineGeocoder()
    assert isinstance(geocoder, Geocoder)
    london = geocoder.geocode("London")
    assert isinstance(london, Location)
    assert london.address == "London, United Kingdom"
    assert (london.latitude, london.longitude) == pytest.approx((51.50853, -0.12574))
    assert london.raw["country_code"] == "GB"
    assert london.raw["kind"] == "city"

    springfield = geocoder.geocode("Springfield", exactly_one=True, country_codes=["us"])
    assert springfield.address == "Springfield, Missouri, United States"
    several = geocoder.geocode("Springfield", exactly_one=False, limit=3)
    assert len(several) == 3 and all(isinstance(loc, Location) for loc in several)
    assert geocoder.geocode("Paris", country_codes="us", language="en", addressdetails=True).raw["admin1"] == "TX"
    assert geocoder.geocode({"city": "Paris", "country": "France"}).raw["country_code"] == "FR"
    assert geocoder.geocode("Xyzzyville") is None
    assert geocoder.geocode("Xyzzyville", exactly_one=False) == []


def test_make_geocoder_is_offline_by_default():
    assert isinstance(geocoders.make_geocoder({}), geocoders.OfflineGeocoder)
    assert isinstance(geocoders.make_geocoder({"GEOCODER": "offline"}), geocoders.OfflineGeocoder)
    with pytest.raises(ValueError, match="GEOCODER"):
        geocoders.make_geocoder({"GEOCODER": "google"})


# --------------------------------------------------------------------------------------------------------
# Nominatim: user agent, rate limit, cache; never the internet


@pytest.mark.parametrize("user_agent", [None, "", "   ", "geopy/2.5.0"])
def test_nominatim_refuses_to_build_without_a_user_agent(tmp_path, user_agent):
    config = {"GEOCODER": "nominatim", "GEOCODER_CACHE_PATH": str(tmp_path / "cache.sqlite3")}
    if user_agent is not None:
        config["GEOCODER_USER_AGENT"] = user_agent
    with pytest.raises(ValueError, match="GEOCODER_USER_AGENT"):
        geocoders.make_geocoder(config)


def test_nominatim_needs_a_cache_path():
    with pytest.raises(ValueError, match="GEOCODER_CACHE_PATH"):
        geocoders.make_geocoder({"GEOCODER": "nominatim", "GEOCODER_USER_AGENT": "oscar-mike-test (ops@example.org)"})


def test_nominatim_is_wrapped_with_a_one_second_rate_limit(tmp_path):
    geocoder = geocoders.make_geocoder(
        {
            "GEOCODER": "Nominatim",
            "GEOCODER_USER_AGENT": "oscar-mike-test (ops@example.org)",
            "GEOCODER_CACHE_PATH": str(tmp_path / "sub" / "cache.sqlite3"),
            "GEOCODER_MIN_DELAY_SECONDS": 0.1,  # never below one second
        }
    )
    assert isinstance(geocoder, geocoders.CachingGeocoder)
    assert isinstance(geocoder.geocoder, Nominatim)
    assert geocoder.geocoder.headers["User-Agent"] == "oscar-mike-test (ops@example.org)"
    assert geocoder.geocoder.domain == "nominatim.openstreetmap.org"
    assert geocoder._limited.min_delay_seconds == 1.0
    assert (tmp_path / "sub" / "cache.sqlite3").exists()


class FakeClock:
    """Time that moves only when the code under test sleeps (or the test says so)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeGeocoder:
    """A geopy-like geocoder that records when it is called and answers from a table."""

    def __init__(self, clock, answers=None, fail=0):
        self.clock = clock
        self.answers = answers or {}
        self.calls = []
        self.fail = fail

    def geocode(self, query, exactly_one=True, **kwargs):
        self.calls.append((self.clock(), query, kwargs))
        if self.fail:
            self.fail -= 1
            raise GeocoderServiceError("503 from the fake")
        point = self.answers.get(query.strip().lower())
        if point is None:
            return None if exactly_one else []
        location = Location(f"{query.strip()}, Somewhere", point, {"query": query})
        return location if exactly_one else [location]


def caching(tmp_path, clock, fake, **kwargs):
    return geocoders.CachingGeocoder(
        fake, tmp_path / "geocode.sqlite3", clock=clock, sleep=clock.sleep, now=clock, **kwargs
    )


def test_rate_limit_spaces_calls_a_second_apart(tmp_path):
    clock = FakeClock()
    fake = FakeGeocoder(clock, {"a": (1, 1), "b": (2, 2), "c": (3, 3)})
    geocoder = caching(tmp_path, clock, fake)
    for query in ["a", "b", "c", "d"]:
        geocoder.geocode(query)
    times = [t for t, _, _ in fake.calls]
    assert len(times) == 4
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))
    assert sum(clock.sleeps) == pytest.approx(3.0)


def test_rate_limit_with_the_real_clock(tmp_path):
    """The same with real time and a shorter delay: calls are really spaced."""
    stamps = []

    class Recorder:
        def geocode(self, query, exactly_one=True, **kwargs):
            stamps.append(time.monotonic())
            return None

    geocoder = geocoders.CachingGeocoder(Recorder(), tmp_path / "geocode.sqlite3", min_delay_seconds=0.2)
    for query in ["a", "b", "c"]:
        geocoder.geocode(query)
    assert len(stamps) == 3
    assert all(later - earlier >= 0.19 for earlier, later in zip(stamps, stamps[1:], strict=False))


def test_cache_answers_repeated_and_normalised_queries_without_calling(tmp_path):
    clock = FakeClock()
    fake = FakeGeocoder(clock, {"trafalgar square, london": (51.508, -0.128)})
    geocoder = caching(tmp_path, clock, fake)
    first = geocoder.geocode("Trafalgar Square, London")
    again = geocoder.geocode("  trafalgar   square London ")
    assert len(fake.calls) == 1
    assert isinstance(again, Location)
    assert (again.latitude, again.longitude, again.address) == (first.latitude, first.longitude, first.address)
    assert again.raw == {"query": "Trafalgar Square, London"}
    assert clock.sleeps == []

    # The cache is a file: a new process (a new wrapper) finds the answer there, a year later.
    clock.now += 365 * 86400
    reopened = caching(tmp_path, clock, fake)
    assert reopened.geocode("TRAFALGAR SQUARE, LONDON").latitude == pytest.approx(51.508)
    assert len(fake.calls) == 1


def test_cache_keeps_options_apart(tmp_path):
    clock = FakeClock()
    fake = FakeGeocoder(clock, {"paris": (48.85, 2.35)})
    geocoder = caching(tmp_path, clock, fake)
    one = geocoder.geocode("Paris")
    many = geocoder.geocode("Paris", exactly_one=False)
    filtered = geocoder.geocode("Paris", country_codes="fr")
    assert isinstance(one, Location) and isinstance(many, list) and isinstance(filtered, Location)
    assert len(fake.calls) == 3
    assert fake.calls[2][2] == {"country_codes": "fr"}
    assert geocoder.geocode("paris", exactly_one=False)[0].latitude == pytest.approx(48.85)
    assert len(fake.calls) == 3


def test_cache_keeps_misses_for_a_day(tmp_path):
    clock = FakeClock()
    fake = FakeGeocoder(clock)
    geocoder = caching(tmp_path, clock, fake)
    assert geocoder.geocode("Nowhere") is None
    clock.now += 23 * 3600
    assert geocoder.geocode("nowhere") is None
    assert geocoder.geocode("nowhere", exactly_one=False) == []  # another key: asked once
    assert len(fake.calls) == 2
    clock.now += 2 * 3600
    fake.answers["nowhere"] = (10.0, 20.0)
    assert geocoder.geocode("Nowhere").latitude == 10.0
    assert len(fake.calls) == 3


def test_service_errors_raise_and_are_not_cached(tmp_path):
    clock = FakeClock()
    fake = FakeGeocoder(clock, {"lyon": (45.75, 4.85)}, fail=3)
    geocoder = caching(tmp_path, clock, fake)  # two retries: three calls, all failing
    with pytest.raises(geocoders.GeocodingError):
        geocoder.geocode("Lyon")
    assert len(fake.calls) == 3
    assert geocoder.geocode("Lyon").latitude == 45.75
    assert len(fake.calls) == 4


class StubNominatim(BaseHTTPRequestHandler):
    """Answers /search like Nominatim for one place; records what it was sent."""

    requests: list = []

    def do_GET(self):
        url = urlparse(self.path)
        params = parse_qs(url.query)
        type(self).requests.append((url.path, params, self.headers.get("User-Agent")))
        if "Trafalgar" in params.get("q", [""])[0]:
            body = [
                {
                    "place_id": 1,
                    "lat": "51.5080",
                    "lon": "-0.1281",
                    "display_name": "Trafalgar Square, London, Greater London, England, United Kingdom",
                }
            ]
        else:
            body = []
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def stub_nominatim():
    StubNominatim.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubNominatim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_nominatim_through_make_geocoder_on_a_loopback_stub(tmp_path, stub_nominatim):
    config = {
        "GEOCODER": "nominatim",
        "GEOCODER_USER_AGENT": "oscar-mike-test (ops@example.org)",
        "GEOCODER_CACHE_PATH": str(tmp_path / "nominatim.sqlite3"),
        "GEOCODER_DOMAIN": stub_nominatim,
        "GEOCODER_SCHEME": "http",
        "GEOCODER_TIMEOUT": 5,
    }
    geocoder = geocoders.make_geocoder(config)
    location = geocoder.geocode("Trafalgar Square, London")
    assert isinstance(location, Location)
    assert (location.latitude, location.longitude) == (51.508, -0.1281)
    assert geocoder.geocode("trafalgar square london").address.startswith("Trafalgar Square")
    assert geocoders.make_geocoder(config).geocode("Trafalgar Square, London") is not None
    assert len(StubNominatim.requests) == 1
    path, params, user_agent = StubNominatim.requests[0]
    assert path == "/search"
    assert params["q"] == ["Trafalgar Square, London"]
    assert user_agent == "oscar-mike-test (ops@example.org)"
