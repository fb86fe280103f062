"""intel.geo: the offline gazetteer, places in feed text, geocoders, distances, shapes and time zones.

Nothing here reaches the internet: the Nominatim wrapper is tested with a fake geopy geocoder and with a
stub Nominatim server on loopback.
"""

import json
import math
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from geographiclib.geodesic import Geodesic
from geopy.exc import GeocoderServiceError
from geopy.geocoders import Nominatim
from geopy.geocoders.base import Geocoder
from geopy.location import Location

from intel.domain import geo

# --------------------------------------------------------------------------------------------------------
# Gazetteer look-ups


def test_gazetteer_is_built_once_per_process():
    assert geo._gazetteer() is geo._gazetteer()
    stats = geo.gazetteer_stats()
    assert stats["cities"] > 30_000
    assert stats["countries"] > 200


def test_lookup_london_most_populous_first_and_by_country():
    places = geo.lookup("London")
    assert places[0].country_code == "GB"
    assert places[0].kind == "city"
    assert places[0].latitude == pytest.approx(51.51, abs=0.01)
    assert places[0].longitude == pytest.approx(-0.13, abs=0.01)
    assert places[0].timezone == "Europe/London"
    assert "CA" in {p.country_code for p in places}
    assert [p.country_code for p in geo.lookup("london", "ca")] == ["CA"]


def test_lookup_paris_france_before_texas_and_filter_by_country():
    places = geo.lookup("Paris")
    assert (places[0].country_code, places[0].admin1) == ("FR", "11")
    texas = geo.lookup("Paris", "US")
    assert [(p.country_code, p.admin1) for p in texas] == [("US", "TX")]


@pytest.mark.parametrize(
    ("query", "name", "country"),
    [
        ("Zürich", "Zürich", "CH"),
        ("Zurich", "Zürich", "CH"),
        ("ZURICH", "Zürich", "CH"),
        ("São Paulo", "São Paulo", "BR"),
        ("Sao Paulo", "São Paulo", "BR"),
        ("sao  paulo", "São Paulo", "BR"),
        ("Köln", "Köln", "DE"),
        ("Cologne", "Köln", "DE"),
        ("Kiev", "Kyiv", "UA"),
        ("Bogota", "Bogotá", "CO"),
        ("İzmir", "İzmir", "TR"),
    ],
)
def test_lookup_ignores_case_accents_and_finds_alternate_names(query, name, country):
    place = geo.lookup(query)[0]
    assert (place.name, place.country_code) == (name, country)


def test_alternate_names_weigh_less_than_main_names():
    # Dayton, Ohio, has "Venice" among its alternate names and more people than Venice, Italy.
    assert geo.lookup("Venice")[0].country_code == "IT"
    # But a big city's well-known other name beats a small place's own: Calcutta is Kolkata.
    assert geo.lookup("Calcutta")[0].name == "Kolkata"


def test_countries_are_places_at_their_capital():
    france = geo.lookup("France")[0]
    paris = geo.lookup("Paris", "FR")[0]
    assert france.kind == "country"
    assert (france.latitude, france.longitude) == (paris.latitude, paris.longitude)
    assert france.population > 60_000_000
    assert geo.lookup("United States")[0].name == "United States"
    assert geo.lookup("USA")[0].country_code == "US"
    washington = geo.lookup("United States")[0]
    assert distance_km(washington, geo.lookup("Washington", "US")[0]) < 1


def test_unknown_names_give_nothing():
    assert geo.lookup("Xyzzyville") == []
    assert geo.lookup("") == []


@pytest.mark.parametrize(
    ("text", "key"),
    [("Zürich", "zurich"), ("St. John's", "st johns"), ("Stratford-upon-Avon", "stratford upon avon"), ("Ærø", "aero")],
)
def test_normalise(text, key):
    assert geo.normalise(text) == key


def distance_km(a: geo.Place, b: geo.Place) -> float:
    return geo.distance_m(a.latitude, a.longitude, b.latitude, b.longitude) / 1000


# --------------------------------------------------------------------------------------------------------
# Places in free text


def where(place: geo.Place | None) -> tuple[str, str, str] | None:
    return None if place is None else (place.name, place.country_code, place.admin1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Demonstration alert: protests expected near Trafalgar Square, London on Saturday", ("London", "GB", "ENG")),
        ("U.S. Embassy Paris – Demonstration Alert", ("Paris", "FR", "11")),
        ("Security Alert: U.S. Embassy Bogotá, Colombia", ("Bogotá", "CO", "34")),
        ("Embassy of the United States in Paris warns of strikes", ("Paris", "FR", "11")),
        ("Protest planned in Paris, Texas on Sunday", ("Paris", "US", "TX")),
        ("Rally in Springfield, IL tomorrow", ("Springfield", "US", "IL")),
        ("Rally in Portland, Maine", ("Portland", "US", "ME")),
        ("Atlanta, Georgia: march downtown", ("Atlanta", "US", "GA")),
        ("Marches in Rio de Janeiro and São Paulo", ("Rio de Janeiro", "BR", "21")),
        ("Rally planned in New York on Friday", ("New York City", "US", "NY")),
        ("Protest in Washington, D.C. on Saturday", ("Washington", "US", "DC")),
        ("Road blocks reported around Kiev", ("Kyiv", "UA", "12")),
        ("TAXI STRIKE: MUNICH AIRPORT ACCESS DISRUPTED", ("Munich", "DE", "02")),  # headlines in capitals
        ("Clashes in Nice, France after the match", ("Nice", "FR", "93")),
        ("Protests across France over pension reform", ("France", "FR", "")),
        ("Alert for U.S. Citizens in Paris", ("Paris", "FR", "11")),
        ("London's mayor bans Saturday's march", ("London", "GB", "ENG")),
        ("Strike at Frankfurt airport", ("Frankfurt am Main", "DE", "05")),
    ],
)
def test_place_from_text(text, expected):
    assert where(geo.place_from_text(text)) == expected


def test_ambiguity_resolved_by_other_names_in_the_text():
    # Eight Springfields in the data; Missouri's is the biggest. The state named elsewhere decides.
    assert where(geo.place_from_text("protest in Springfield near the Illinois State Capitol")) == (
        "Springfield",
        "US",
        "IL",
    )
    assert where(geo.place_from_text("Springfield")) == ("Springfield", "US", "MO")
    # Another city of the same country: Paris next to Dallas is the Texan one.
    assert where(geo.place_from_text("Marches in Paris and Dallas")) == ("Paris", "US", "TX")
    # A country named elsewhere: London next to Toronto and Canada.
    assert where(geo.place_from_text("Vigil in London tonight; Toronto police on alert across Canada")) == (
        "London",
        "CA",
        "08",
    )


def test_country_hint_comes_first():
    assert where(geo.place_from_text("Demonstration in Paris", country_hint="US")) == ("Paris", "US", "TX")
    assert where(geo.place_from_text("Demonstration in Paris", country_hint="fr")) == ("Paris", "FR", "11")
    assert where(geo.place_from_text("Demonstration in Paris")) == ("Paris", "FR", "11")
    # A hint with no candidate in that country does not stop the name from being placed.
    assert where(geo.place_from_text("Demonstration in Paris", country_hint="JP")) == ("Paris", "FR", "11")
    # The hint is enough support for a small town.
    assert geo.place_from_text("Sit-in at the town hall in Ferguson") is None
    assert where(geo.place_from_text("Sit-in at the town hall in Ferguson", country_hint="US")) == (
        "Ferguson",
        "US",
        "MO",
    )


def test_places_from_text_lists_every_place_cities_first():
    places = geo.places_from_text("Strikes in France: marches in Lyon, then Paris and Marseille")
    assert [(p.name, p.kind) for p in places] == [
        ("Lyon", "city"),
        ("Paris", "city"),
        ("Marseille", "city"),
        ("France", "country"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Nice weather for Reading the Mobile police report.",
        "Of course the Man from the Police said so.",
        "The meeting went well and everyone agreed.",
        "The President met the Prime Minister on Monday to discuss the Budget and the Economy.",
        "Demonstration Alert – Best Practices For Travelers",
        "Name And Shame: Gold Prices Hang Lower As Luck Runs Out",
        "Martin said the March was Best Practice.",
        "Tours of the Temple resume after Union talks",
        "Independence Day Parade: Police Advise Delays in the Central Business District",
        "Surprise inspection at the Mission; Spring Sale cancelled",
        "Man arrested after Split decision sparks anger",
    ],
)
def test_no_place_in_ordinary_sentences(text):
    assert geo.places_from_text(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Details at https://example.com/Paris/London-protest-route",
        "See www.Berlin.de/Demonstrationen for the list",
        "Write to London.Office@example.org for updates",
        "Source: reuters.com/world/Madrid",
    ],
)
def test_names_inside_urls_are_ignored(text):
    assert geo.place_from_text(text) is None


def test_url_next_to_a_real_name():
    text = "Demonstrations in Madrid (https://example.com/Paris/Berlin)"
    assert [p.name for p in geo.places_from_text(text)] == ["Madrid"]


@pytest.mark.parametrize("text", ["", "   ", "lowercase london and paris are not names here", "Xyzzy Plugh", "12345"])
def test_unplaceable_text_gives_none(text):
    assert geo.place_from_text(text) is None


def test_a_qualifier_that_fits_no_candidate_drops_the_name():
    # Berlin, New Hampshire, has 10,000 people: not in the data, and not the German capital either.
    assert geo.place_from_text("Protest in Berlin, New Hampshire") is None
    assert where(geo.place_from_text("Protest in Berlin")) == ("Berlin", "DE", "16")


def test_small_towns_need_support():
    # "Best" is a Dutch town of 29,000, "Gap" a French one of 42,000: words, unless the text says otherwise.
    assert geo.place_from_text("Gap between rich and poor widens") is None
    assert where(geo.place_from_text("Farmers block roads near Gap, France")) == ("Gap", "FR", "93")


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
    assert where(geo.geocode(query, country)) == expected


@pytest.mark.parametrize("query", ["", "   ", "Xyzzyville", "Paris, Japan"])
def test_geocode_unknown_gives_none(query):
    assert geo.geocode(query) is None


def test_offline_geocoder_returns_geopy_locations():
    geocoder = geo.OfflineGeocoder()
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
    assert isinstance(geo.make_geocoder({}), geo.OfflineGeocoder)
    assert isinstance(geo.make_geocoder({"GEOCODER": "offline"}), geo.OfflineGeocoder)
    with pytest.raises(ValueError, match="GEOCODER"):
        geo.make_geocoder({"GEOCODER": "google"})


# --------------------------------------------------------------------------------------------------------
# Nominatim: user agent, rate limit, cache; never the internet


@pytest.mark.parametrize("user_agent", [None, "", "   ", "geopy/2.5.0"])
def test_nominatim_refuses_to_build_without_a_user_agent(tmp_path, user_agent):
    config = {"GEOCODER": "nominatim", "GEOCODER_CACHE_PATH": str(tmp_path / "cache.sqlite3")}
    if user_agent is not None:
        config["GEOCODER_USER_AGENT"] = user_agent
    with pytest.raises(ValueError, match="GEOCODER_USER_AGENT"):
        geo.make_geocoder(config)


def test_nominatim_needs_a_cache_path():
    with pytest.raises(ValueError, match="GEOCODER_CACHE_PATH"):
        geo.make_geocoder({"GEOCODER": "nominatim", "GEOCODER_USER_AGENT": "oscar-mike-test (ops@example.org)"})


def test_nominatim_is_wrapped_with_a_one_second_rate_limit(tmp_path):
    geocoder = geo.make_geocoder(
        {
            "GEOCODER": "Nominatim",
            "GEOCODER_USER_AGENT": "oscar-mike-test (ops@example.org)",
            "GEOCODER_CACHE_PATH": str(tmp_path / "sub" / "cache.sqlite3"),
            "GEOCODER_MIN_DELAY_SECONDS": 0.1,  # never below one second
        }
    )
    assert isinstance(geocoder, geo.CachingGeocoder)
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
    return geo.CachingGeocoder(fake, tmp_path / "geocode.sqlite3", clock=clock, sleep=clock.sleep, now=clock, **kwargs)


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

    geocoder = geo.CachingGeocoder(Recorder(), tmp_path / "geocode.sqlite3", min_delay_seconds=0.2)
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
    with pytest.raises(geo.GeocodingError):
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
    geocoder = geo.make_geocoder(config)
    location = geocoder.geocode("Trafalgar Square, London")
    assert isinstance(location, Location)
    assert (location.latitude, location.longitude) == (51.508, -0.1281)
    assert geocoder.geocode("trafalgar square london").address.startswith("Trafalgar Square")
    assert geo.make_geocoder(config).geocode("Trafalgar Square, London") is not None
    assert len(StubNominatim.requests) == 1
    path, params, user_agent = StubNominatim.requests[0]
    assert path == "/search"
    assert params["q"] == ["Trafalgar Square, London"]
    assert user_agent == "oscar-mike-test (ops@example.org)"


# --------------------------------------------------------------------------------------------------------
# Coordinates and distances


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (math.nan, 0),
        (0, math.nan),
        (91, 0),
        (-90.0001, 0),
        (0, 180.5),
        (0, -181),
        (math.inf, 0),
        ("north", 0),
        (None, 0),
    ],
)
def test_bad_coordinates_raise_value_error(lat, lon):
    with pytest.raises(ValueError):
        geo.check_point(lat, lon)
    with pytest.raises(ValueError):
        geo.distance_m(lat, lon, 0, 0)
    with pytest.raises(ValueError):
        geo.fast_distance_m(0, 0, lat, lon)
    with pytest.raises(ValueError):
        geo.timezone_at(lat, lon)
    with pytest.raises(ValueError):
        geo.GridIndex([("x", lat, lon)])


def test_distance_of_850_metres():
    # Trafalgar Square to a point 850 m along a bearing of 60 degrees, on the ellipsoid.
    start = (51.50809, -0.12804)
    end = Geodesic.WGS84.Direct(*start, 60.0, 850.0)
    assert geo.distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, abs=0.001)
    assert geo.fast_distance_m(*start, end["lat2"], end["lon2"]) == pytest.approx(850.0, rel=0.006)
    index = geo.GridIndex([("venue", end["lat2"], end["lon2"])], cell_km=1)
    assert index.near(*start, 851) == ["venue"]
    assert index.near(*start, 849) == []


def test_known_distances():
    # London to Paris (GeoNames points) is about 343.9 km; across the antimeridian stays short.
    assert geo.distance_m(51.50853, -0.12574, 48.85341, 2.3488) / 1000 == pytest.approx(343.9, abs=0.5)
    assert geo.distance_m(0, 179.9, 0, -179.9) == pytest.approx(22_264, rel=0.001)
    assert geo.distance_m(89.9, 0, 89.9, 180) == pytest.approx(22_338, rel=0.002)
    assert geo.distance_m(10, 10, 10, 10) == 0


# --------------------------------------------------------------------------------------------------------
# GridIndex against brute force


def random_points(rng, count):
    """Uniform on the sphere, plus crowds at the antimeridian, near both poles and on the poles."""
    points = []
    for i in range(count):
        points.append((f"u{i}", math.degrees(math.asin(rng.uniform(-1, 1))), rng.uniform(-180, 180)))
    for i in range(count // 4):
        points.append((f"a{i}", rng.uniform(-60, 60), rng.choice([-1, 1]) * rng.uniform(179.0, 180.0)))
        points.append((f"n{i}", rng.uniform(84, 90), rng.uniform(-180, 180)))
        points.append((f"s{i}", rng.uniform(-90, -84), rng.uniform(-180, 180)))
    points += [("north-pole", 90.0, 0.0), ("south-pole", -90.0, 123.0), ("dateline", 0.0, 180.0)]
    return points


def brute_force(points, lat, lon, radius_m):
    found = []
    for key, p_lat, p_lon in points:
        d = Geodesic.WGS84.Inverse(lat, lon, p_lat, p_lon, Geodesic.DISTANCE)["s12"]
        if d <= radius_m:
            found.append(key)
    return set(found)


def random_queries(rng, count):
    queries = [
        (0.0, 179.95, 30_000),
        (-12.0, -179.99, 150_000),
        (45.0, 180.0, 80_000),
        (89.95, 10.0, 50_000),
        (88.0, -100.0, 400_000),
        (-89.0, 0.0, 200_000),
        (90.0, 0.0, 1_000_000),
        (-90.0, 0.0, 700_000),
        (70.0, 179.5, 300_000),
        (0.0, 0.0, 25_000_000),  # more than half the way round: everything
        (10.0, 10.0, 0.0),
    ]
    for _ in range(count):
        lat = math.degrees(math.asin(rng.uniform(-1, 1)))
        queries.append((lat, rng.uniform(-180, 180), 10 ** rng.uniform(3, 6.5)))
    return queries


@pytest.fixture(scope="module")
def scattered():
    """Points, queries and the brute-force answers, computed once for all cell sizes (geodesics are slow)."""
    rng = random.Random(20240517)
    points = random_points(rng, 800)
    queries = random_queries(rng, 20)
    return points, [(q, brute_force(points, *q)) for q in queries]


@pytest.mark.parametrize("cell_km", [2.0, 50.0, 500.0])
def test_grid_index_matches_brute_force(scattered, cell_km):
    points, answers = scattered
    index = geo.GridIndex(points, cell_km=cell_km)
    assert len(index) == len(points)
    for (lat, lon, radius), expected in answers:
        near = index.near(lat, lon, radius)
        assert set(near) == expected, (lat, lon, radius)
        assert len(near) == len(set(near))
    assert sum(len(expected) for _, expected in answers) > 1000  # the queries do find things


def test_grid_index_near_boundaries_and_order():
    rng = random.Random(7)
    centre = (-16.5, 179.8)  # Fiji, across the antimeridian
    points = []
    for i in range(300):
        bearing, dist = rng.uniform(0, 360), rng.uniform(0, 60_000)
        p = Geodesic.WGS84.Direct(*centre, bearing, dist)
        points.append((i, p["lat2"], (p["lon2"] + 180) % 360 - 180, dist))
    index = geo.GridIndex([(k, lat, lon) for k, lat, lon, _ in points], cell_km=10)
    near = index.near(*centre, 30_000)
    expected = sorted((d, k) for k, _, _, d in points if d <= 30_000)
    assert near == [k for _, k in expected]
    assert any(lon < 0 for k, _, lon, d in points if d <= 30_000)  # some really are across the line


def test_grid_index_rejects_bad_input():
    index = geo.GridIndex(cell_km=10)
    with pytest.raises(ValueError):
        index.near(0, 0, -1)
    with pytest.raises(ValueError):
        index.near(0, 0, math.nan)
    with pytest.raises(ValueError):
        geo.GridIndex(cell_km=0)
    index.add("a", 1, 1)
    index.add("a", 1, 1)
    assert index.near(1, 1, 0) == ["a", "a"]


# --------------------------------------------------------------------------------------------------------
# Routes and shapes


def test_distance_to_segment():
    # A route along the equator from 0°E to 1°E (111 km).
    a, b = (0.0, 0.0), (0.0, 1.0)
    assert geo.distance_to_segment_m(0.0, 0.5, a, b) == pytest.approx(0.0, abs=0.5)
    north = Geodesic.WGS84.Direct(0.0, 0.5, 0.0, 1_000.0)
    assert geo.distance_to_segment_m(north["lat2"], north["lon2"], a, b) == pytest.approx(1_000.0, abs=1.0)
    # Beyond an end, the distance is to that end.
    assert geo.distance_to_segment_m(0.0, 1.2, a, b) == pytest.approx(geo.distance_m(0.0, 1.2, 0.0, 1.0), abs=0.01)
    assert geo.distance_to_segment_m(0.3, -0.4, a, b) == pytest.approx(geo.distance_m(0.3, -0.4, 0, 0), abs=0.01)
    # A segment of one point is that point.
    assert geo.distance_to_segment_m(51.5, -0.1, (51.5, -0.12), (51.5, -0.12)) == pytest.approx(
        geo.distance_m(51.5, -0.1, 51.5, -0.12), abs=0.01
    )
    # Across the antimeridian.
    assert geo.distance_to_segment_m(0.01, 180.0, (0.0, 179.9), (0.0, -179.9)) == pytest.approx(1_106, abs=2)


def densified_distance(lat, lon, start, end, steps=4000):
    line = Geodesic.WGS84.InverseLine(*start, *end)
    best = math.inf
    for i in range(steps + 1):
        p = line.Position(line.s13 * i / steps)
        best = min(best, Geodesic.WGS84.Inverse(lat, lon, p["lat2"], p["lon2"], Geodesic.DISTANCE)["s12"])
    return best


@pytest.mark.parametrize(
    ("point", "start", "end"),
    [
        ((51.45, -0.05), (51.50809, -0.12804), (51.3, 0.3)),  # a few km, London
        ((48.9, 2.0), (48.85, 2.35), (45.76, 4.83)),  # Paris to Lyon, 390 km
        ((60.2, 24.5), (59.44, 24.75), (60.17, 24.94)),  # Tallinn to Helsinki, over the sea
        ((40.0, -100.0), (34.05, -118.24), (40.71, -74.01)),  # Los Angeles to New York: cut in pieces
    ],
)
def test_distance_to_segment_matches_a_dense_geodesic(point, start, end):
    expected = densified_distance(*point, start, end)
    assert geo.distance_to_segment_m(*point, start, end) == pytest.approx(expected, rel=0.002, abs=5)


SQUARE = [(51.50, -0.14), (51.50, -0.11), (51.52, -0.11), (51.52, -0.14)]
# A U: the notch between its arms is outside.
U_SHAPE = [(0, 0), (0, 3), (3, 3), (3, 2), (1, 2), (1, 1), (3, 1), (3, 0)]
# A zone across the antimeridian, around Fiji and Samoa.
PACIFIC = [(-20, 170), (-20, -170), (-10, -170), (-10, 170)]


@pytest.mark.parametrize(
    ("lat", "lon", "polygon", "inside"),
    [
        (51.51, -0.125, SQUARE, True),
        (51.53, -0.125, SQUARE, False),
        (51.51, -0.15, SQUARE, False),
        (51.50, -0.12, SQUARE, True),  # on an edge
        (51.52, -0.14, SQUARE, True),  # on a vertex
        (51.51, -0.125, [*SQUARE, SQUARE[0]], True),  # closed ring
        (0.5, 1.5, U_SHAPE, True),
        (2.0, 1.5, U_SHAPE, False),  # in the notch
        (2.0, 0.5, U_SHAPE, True),
        (2.0, 2.5, U_SHAPE, True),
        (-15, 179.5, PACIFIC, True),
        (-15, -175, PACIFIC, True),
        (-15, 180, PACIFIC, True),
        (-15, 160, PACIFIC, False),
        (-15, -160, PACIFIC, False),
        (-25, 179, PACIFIC, False),
    ],
)
def test_point_in_polygon(lat, lon, polygon, inside):
    assert geo.point_in_polygon(lat, lon, polygon) is inside


def test_point_in_polygon_rejects_bad_shapes():
    with pytest.raises(ValueError):
        geo.point_in_polygon(0, 0, [(0, 0), (1, 1)])
    with pytest.raises(ValueError):
        geo.point_in_polygon(0, 0, [(0, 0), (1, 1), (95, 1)])
    with pytest.raises(ValueError):
        geo.point_in_polygon(math.nan, 0, SQUARE)


@pytest.mark.parametrize(
    ("lat", "lon", "bbox", "inside"),
    [
        (51.51, -0.12, (51.5, -0.14, 51.52, -0.11), True),
        (51.51, -0.10, (51.5, -0.14, 51.52, -0.11), False),
        (51.53, -0.12, (51.5, -0.14, 51.52, -0.11), False),
        (51.5, -0.14, (51.5, -0.14, 51.52, -0.11), True),
        (-15, 179, (-20, 170, -10, -170), True),  # west > east: across the antimeridian
        (-15, -175, (-20, 170, -10, -170), True),
        (-15, 0, (-20, 170, -10, -170), False),
    ],
)
def test_bbox_contains(lat, lon, bbox, inside):
    assert geo.bbox_contains(lat, lon, bbox) is inside


def test_bbox_contains_rejects_bad_boxes():
    with pytest.raises(ValueError):
        geo.bbox_contains(0, 0, (10, 0, 5, 1))
    with pytest.raises(ValueError):
        geo.bbox_contains(0, 0, (0, 0, 1, 200))


# --------------------------------------------------------------------------------------------------------
# Time zones


@pytest.mark.parametrize(
    ("lat", "lon", "zone"),
    [
        (51.5074, -0.1278, "Europe/London"),
        (40.7128, -74.0060, "America/New_York"),
        (35.6762, 139.6503, "Asia/Tokyo"),
        (-33.8688, 151.2093, "Australia/Sydney"),
    ],
)
def test_timezone_at(lat, lon, zone):
    assert geo.timezone_at(lat, lon) == zone


def test_timezone_at_sea_and_of_gazetteer_places():
    assert geo.timezone_at(40.0, -30.0).startswith("Etc/GMT")
    zurich = geo.lookup("Zurich")[0]
    assert geo.timezone_at(zurich.latitude, zurich.longitude) == zurich.timezone == "Europe/Zurich"
