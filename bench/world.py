"""A synthetic but realistic world for the intel benchmarks, built with a fixed seed.

One organisation with venues clustered around 50 world cities (from the offline gazetteer, so
their coordinates and time zones are real) plus scattered regional and remote ones; details of
2 to 4 visits joined by movements over one week, a few of them flying to a second city; and feed
items whose categories, places, shapes and times are drawn the way regional feeds spread them.
"""

import math
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import sqlalchemy.orm as so

from detail import create_app
from detail.config import testing
from detail.domain.distance import fast_distance_m
from detail.extensions import db
from detail.models import Assignment, Client, Detail, Movement, Organisation, Principal, Site, Visit
from intel.domain import gazetteer
from intel.domain.classify import CATEGORIES
from intel.models import Feed, FeedItem

SEED = 20261124
# Monday 00:00 UTC of the benchmark's week.
WEEK_START = datetime(2026, 11, 23, tzinfo=timezone.utc)
WEEK = timedelta(days=7)

CITY_NAMES = (
    "London",
    "Paris",
    "New York City",
    "Tokyo",
    "Berlin",
    "Madrid",
    "Rome",
    "Moscow",
    "Istanbul",
    "Dubai",
    "Mumbai",
    "Delhi",
    "Singapore",
    "Hong Kong",
    "Shanghai",
    "Beijing",
    "Seoul",
    "Sydney",
    "Los Angeles",
    "San Francisco",
    "Chicago",
    "Washington",
    "Toronto",
    "Mexico City",
    "São Paulo",
    "Buenos Aires",
    "Lagos",
    "Nairobi",
    "Johannesburg",
    "Cairo",
    "Riyadh",
    "Tel Aviv",
    "Geneva",
    "Zürich",
    "Frankfurt am Main",
    "Amsterdam",
    "Brussels",
    "Vienna",
    "Stockholm",
    "Warsaw",
    "Athens",
    "Lisbon",
    "Dublin",
    "Bangkok",
    "Jakarta",
    "Manila",
    "Doha",
    "Abu Dhabi",
    "Milan",
    "Munich",
)

# How feed items spread over the categories (weights), and how long each kind of event matters.
CATEGORY_WEIGHTS = {
    "protest": 20,
    "civil_unrest": 7,
    "crime": 20,
    "terrorism": 4,
    "security": 6,
    "weather": 14,
    "natural_hazard": 7,
    "transport": 16,
    "health": 5,
    "other": 7,
}
assert set(CATEGORY_WEIGHTS) == set(CATEGORIES)
DURATION_HOURS = {
    "weather": (12, 48),
    "natural_hazard": (24, 72),
    "health": (24, 96),
    "civil_unrest": (6, 24),
}
DEFAULT_DURATION_HOURS = (2, 8)
AREA_CATEGORIES = ("weather", "natural_hazard", "civil_unrest", "health")


@dataclass(frozen=True)
class City:
    name: str
    latitude: float
    longitude: float
    timezone: str
    country_code: str


@dataclass
class World:
    organisation_id: int
    feed_id: int | None
    cities: list[City]
    venue_count: int
    detail_count: int
    visit_count: int
    movement_count: int
    item_count: int
    build_seconds: float
    extra: dict = field(default_factory=dict)


def cities(count: int = len(CITY_NAMES)) -> list[City]:
    """The first `count` benchmark cities, placed by the offline gazetteer (gazetteer.lookup)."""
    found = []
    for name in CITY_NAMES[:count]:
        place = gazetteer.lookup(name)[0]
        found.append(City(place.name, place.latitude, place.longitude, place.timezone or "UTC", place.country_code))
    return found


def offset(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """A point about `distance_m` from (lat, lon) on a bearing (equirectangular: fine for a synthetic world)."""
    b = math.radians(bearing_deg)
    dlat = distance_m * math.cos(b) / 111_320.0
    dlon = distance_m * math.sin(b) / (111_320.0 * max(0.05, math.cos(math.radians(lat))))
    new_lat = max(-89.0, min(89.0, lat + dlat))
    new_lon = (lon + dlon + 180.0) % 360.0 - 180.0
    return round(new_lat, 6), round(new_lon, 6)


def near(rng: random.Random, lat: float, lon: float, sigma_m: float) -> tuple[float, float]:
    """A point scattered around (lat, lon): normal in each axis, so most fall within 2 sigma."""
    distance = math.hypot(rng.gauss(0, sigma_m), rng.gauss(0, sigma_m))
    return offset(lat, lon, distance, rng.uniform(0, 360))


def app_for(workdir: str, database_url: str | None = None):
    """An app on a throwaway SQLite file in `workdir` (or on `database_url`)."""
    url = database_url or f"sqlite:///{os.path.join(workdir, 'bench.db')}"
    return create_app(testing(workdir, SQLALCHEMY_DATABASE_URI=url))


def _second_city(rng: random.Random, city: City, city_list: list[City], long_haul_share: float) -> City | None:
    """Where a detail flies on to: a city within 1,500 km (a short hop), or, for a share, any city at all."""
    others = [c for c in city_list if c.name != city.name]
    if not others:
        return None
    if rng.random() < long_haul_share:
        return rng.choice(others)
    close = [c for c in others if fast_distance_m(c.latitude, c.longitude, city.latitude, city.longitude) < 1.5e6]
    return rng.choice(close) if close else None  # nowhere near: the detail stays in its city


def build_venues(rng: random.Random, org: Organisation, city_list: list[City], venues: int) -> dict[str, list[Site]]:
    """Venues: 85 % in city clusters, 10 % regional (30-250 km out), 5 % anywhere (catalogue only).

    Returns each city's venues and regional sites, the ones its details use.
    """
    by_city: dict[str, list[Site]] = {c.name: [] for c in city_list}
    clustered = round(venues * 0.85)
    regional = round(venues * 0.10)
    for i in range(venues):
        city = city_list[i % len(city_list)]
        if i < clustered:  # hotels, offices, venues: most within ~10 km of the centre
            (lat, lon), kind = near(rng, city.latitude, city.longitude, 4_000), "venue"
        elif i < clustered + regional:  # estates, plants, out-of-town sites
            lat, lon = offset(city.latitude, city.longitude, rng.uniform(30_000, 250_000), rng.uniform(0, 360))
            kind = "regional site"
        else:
            (lat, lon), kind = _anywhere(rng), "remote site"
        name = f"{city.name} {kind} {i}"
        site = Site(organisation=org, name=name, latitude=lat, longitude=lon, timezone=city.timezone)
        db.session.add(site)
        if i < clustered + regional:
            by_city[city.name].append(site)
    return by_city


def _stops(
    rng: random.Random, pool: list[Site], second_pool: list[Site] | None
) -> list[tuple[Site, datetime, datetime]]:
    """2-4 visits (1 to 14 hours) from the week's first six days on, 20-75 minutes apart, or a 2-6 hour
    flight before the last one when the detail ends in a second city."""
    wanted = rng.randint(2, 4)
    moment = WEEK_START + timedelta(minutes=rng.randrange(0, 6 * 24 * 60, 15))
    stops: list[tuple[Site, datetime, datetime]] = []
    for v in range(wanted):
        choices = second_pool if second_pool and v == wanted - 1 else pool
        site = rng.choice(choices)
        if stops and site is stops[-1][0]:
            site = next((s for s in choices if s is not stops[-1][0]), None)
            if site is None:
                continue
        stay = timedelta(minutes=rng.randrange(60, 14 * 60, 15))
        stops.append((site, moment, moment + stay))
        flight = second_pool and v == wanted - 2
        travel = timedelta(hours=rng.randint(2, 6)) if flight else timedelta(minutes=rng.randrange(20, 75, 5))
        moment += stay + travel
    return stops


def build_details(
    rng: random.Random,
    org: Organisation,
    city_list: list[City],
    by_city: dict[str, list[Site]],
    details: int,
    flight_share: float = 0.12,
    long_haul_share: float = 0.0,
) -> tuple[int, int]:
    """Details of 2-4 visits joined by movements over the week; returns (visits, movements).

    Details use their city's venues and regional sites; `flight_share` of them end in a second city, a
    short hop (within 1,500 km) or, for `long_haul_share` of those, any city at all.
    """
    clients = [Client(organisation=org, name=f"Client {i}") for i in range(max(1, details // 10))]
    db.session.add_all(clients)
    city_list = [c for c in city_list if by_city[c.name]]  # with fewer venues than cities, some have none
    visit_count = movement_count = 0
    for d in range(details):
        client = clients[d % len(clients)]
        city = city_list[rng.randrange(len(city_list))]
        second = _second_city(rng, city, city_list, long_haul_share) if rng.random() < flight_share else None
        stops = _stops(rng, by_city[city.name], by_city[second.name] if second else None)
        if len(stops) < 2:
            continue
        detail = Detail(
            client=client,
            principal=Principal(client=client, name=f"Principal {d}", code_name=f"P{d}"),
            name=f"Detail {d} {city.name}",
            starts_at=stops[0][1] - timedelta(hours=1),
            ends_at=stops[-1][2] + timedelta(hours=1),
        )
        for site, arrives, departs in stops:
            detail.visits.append(Visit(site=site, arrives_at=arrives, departs_at=departs))
        for (a, _, a_departs), (b, b_arrives, _) in zip(stops, stops[1:], strict=False):
            detail.movements.append(Movement(from_site=a, to_site=b, departs_at=a_departs, arrives_at=b_arrives))
        visit_count += len(stops)
        movement_count += len(stops) - 1
        db.session.add(detail)
    return visit_count, movement_count


def _polygon(rng: random.Random, lat: float, lon: float) -> list[list[float]]:
    """A warning area: 5-8 vertices 10-80 km from its centre, closed."""
    radius = rng.uniform(10_000, 80_000)
    vertices = sorted(rng.uniform(0, 360) for _ in range(rng.randint(5, 8)))
    ring = [list(offset(lat, lon, radius * rng.uniform(0.6, 1.0), b)) for b in vertices]
    return [*ring, ring[0]]


def _box(rng: random.Random, lat: float, lon: float) -> list[float]:
    """A GDACS-like box, 0.5 to 3 degrees each side of its centre (kept off the antimeridian)."""
    half_lat, half_lon = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0)
    south, north = max(-89.0, lat - half_lat), min(89.0, lat + half_lat)
    west, east = max(-180.0, lon - half_lon), min(180.0, lon + half_lon)
    return [round(south, 4), round(west, 4), round(north, 4), round(east, 4)]


def item_times(rng: random.Random, category: str) -> tuple[datetime, datetime]:
    low, high = DURATION_HOURS.get(category, DEFAULT_DURATION_HOURS)
    starts = WEEK_START - timedelta(days=1) + timedelta(minutes=rng.randrange(0, 9 * 24 * 60))
    return starts, starts + timedelta(hours=rng.uniform(low, high))


def pick_category(rng: random.Random) -> str:
    return rng.choices(list(CATEGORY_WEIGHTS), weights=list(CATEGORY_WEIGHTS.values()))[0]


def build_items(rng: random.Random, feed: Feed, city_list: list[City], count: int) -> list[FeedItem]:
    """Feed items: 3 % unplaced, 6 % polygons and 3 % boxes (mostly weather and hazards), the rest points:
    three quarters of those near the cities (sigma 12 km), the others anywhere."""
    items = []
    for n in range(count):
        category = pick_category(rng)
        starts, ends = item_times(rng, category)
        city = city_list[rng.randrange(len(city_list))]
        roll = rng.random()
        geometry = None
        latitude = longitude = None
        if roll < 0.03:
            pass  # no place found
        elif roll < 0.09:
            if category not in AREA_CATEGORIES:
                category = rng.choice(AREA_CATEGORIES)
                starts, ends = item_times(rng, category)
            lat, lon = near(rng, city.latitude, city.longitude, 30_000)
            ring = _polygon(rng, lat, lon)
            geometry = {"type": "polygon", "coordinates": ring}
            points = ring[:-1]
            latitude = sum(p[0] for p in points) / len(points)
            longitude = sum(p[1] for p in points) / len(points)
        elif roll < 0.12:
            category = rng.choice(("weather", "natural_hazard"))
            starts, ends = item_times(rng, category)
            lat, lon = near(rng, city.latitude, city.longitude, 60_000) if rng.random() < 0.7 else _anywhere(rng)
            box = _box(rng, lat, lon)
            geometry = {"type": "box", "coordinates": box}
            latitude, longitude = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        else:
            if rng.random() < 0.75:
                latitude, longitude = near(rng, city.latitude, city.longitude, 12_000)
            else:
                latitude, longitude = _anywhere(rng)
            geometry = {"type": "point", "coordinates": [latitude, longitude]}
        items.append(
            FeedItem(
                feed=feed,
                guid=f"bench-{n}",
                title=f"{category} item {n} near {city.name}",
                category=category,
                source_severity=rng.choice(("low", "moderate", "high")) if rng.random() < 0.2 else None,
                latitude=latitude,
                longitude=longitude,
                geometry=geometry,
                located_by="feed" if latitude is not None else None,
                published_at=starts,
                starts_at=starts,
                ends_at=ends,
            )
        )
    return items


def _anywhere(rng: random.Random) -> tuple[float, float]:
    return round(rng.uniform(-55, 70), 6), round(rng.uniform(-180, 180), 6)


def build_world(
    *,
    venues: int,
    details: int,
    items: int,
    city_count: int = len(CITY_NAMES),
    seed: int = SEED,
    flight_share: float = 0.12,
    long_haul_share: float = 0.0,
) -> World:
    """Build the world in the current app's database (tables created here) and commit it."""
    started = time.perf_counter()
    rng = random.Random(seed)
    db.create_all()
    city_list = cities(min(city_count, max(1, venues // 10)))  # at least ten venues a city
    org = Organisation(name="Bench Protective", timezone="UTC")
    db.session.add(org)
    by_city = build_venues(rng, org, city_list, venues)
    visit_count, movement_count = build_details(rng, org, city_list, by_city, details, flight_share, long_haul_share)
    feed = None
    if items:
        feed = Feed(organisation=org, url="http://127.0.0.1:9/bench-matching.xml", name="Bench feed")
        db.session.add(feed)
        db.session.add_all(build_items(rng, feed, city_list, items))
    db.session.commit()
    detail_count = db.session.scalar(sa.select(sa.func.count(Detail.id)))
    return World(
        organisation_id=org.id,
        feed_id=feed.id if feed else None,
        cities=city_list,
        venue_count=venues,
        detail_count=detail_count,
        visit_count=visit_count,
        movement_count=movement_count,
        item_count=items,
        build_seconds=time.perf_counter() - started,
    )


def load_details(organisation_id: int) -> list[Detail]:
    """Every detail of the organisation with its visits, movements, posts and their sites loaded."""
    query = (
        sa.select(Detail)
        .join(Client)
        .where(Client.organisation_id == organisation_id)
        .options(
            so.selectinload(Detail.visits).joinedload(Visit.site),
            so.selectinload(Detail.movements).joinedload(Movement.from_site),
            so.selectinload(Detail.movements).joinedload(Movement.to_site),
            so.selectinload(Detail.assignments).joinedload(Assignment.site),
        )
        .order_by(Detail.id)
    )
    return list(db.session.scalars(query))


def load_items(feed_id: int) -> list[FeedItem]:
    return list(db.session.scalars(sa.select(FeedItem).where(FeedItem.feed_id == feed_id).order_by(FeedItem.id)))


# --------------------------------------------------------------------------- measuring


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def summary(values: Sequence[float]) -> dict:
    """Median and range of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def peak_rss_mb() -> float:
    """The process's peak resident set so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def workdir(path: str | None) -> tempfile.TemporaryDirectory | None:
    """A throwaway folder unless the caller gave one."""
    return None if path else tempfile.TemporaryDirectory(prefix="om-bench-")
