"""Geocoding a query ("Paris, TX", "Trafalgar Square, London"): offline from the gazetteer, or through geopy.

``geocode`` and ``geocode_all`` answer from the gazetteer. ``OfflineGeocoder`` gives the same answers as
geopy ``Location`` objects, so code written for Nominatim runs unchanged; ``make_geocoder`` builds it, or
(``GEOCODER=nominatim``) Nominatim behind a one-second rate limit and a SQLite cache, as Nominatim's usage
policy asks, and refuses to build that without a user agent.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from typing import Any

from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.geocoders.base import DEFAULT_SENTINEL, Geocoder
from geopy.location import Location

from intel.domain.gazetteer import Gazetteer, Place, load_gazetteer, lookup, normalise, place_label
from intel.domain.places import places_from_text

NOMINATIM_DOMAIN = "nominatim.openstreetmap.org"
NOMINATIM_MIN_DELAY_SECONDS = 1.0
MISS_TTL_SECONDS = 24 * 3600


def _parse_qualifier(g: Gazetteer, part: str) -> tuple[str | None, str | None]:
    """A trailing part of "City, State, Country": a country (name, alias or code) or a US state."""
    key = normalise(part)
    compact = key.replace(" ", "").upper()
    if key in g.country_keys:
        return g.country_keys[key], None
    if key in g.state_keys:
        return "US", g.state_keys[key]
    if compact in g.state_names and len(part.strip()) <= 4:
        return "US", compact
    if compact in g.countries:
        return compact, None
    return None, None


def _matches(place: Place, codes: frozenset[str] | None) -> bool:
    return codes is None or place.country_code in codes


def _comma_candidates(g: Gazetteer, parts: list[str], codes: frozenset[str] | None) -> tuple[list[Place], bool]:
    """Narrow "Springfield, IL, USA" down: trailing parts qualify the places named by the first ones.

    Returns the places and whether the query named a country or state (then nothing else may answer).
    """
    country = state = None
    while len(parts) > 1:
        q_country, q_state = _parse_qualifier(g, parts[-1])
        if q_country is None:
            break
        country, state = country or q_country, state or q_state
        parts = parts[:-1]
    for part in parts:
        places = [p for p in lookup(part, country) if _matches(p, codes)]
        if state:
            places = [p for p in places if p.admin1 == state]
        if places:
            return places, True
    return [], country is not None


def geocode_all(query: str, country_codes: Iterable[str] | None = None) -> list[Place]:
    """Places for a venue form's query ("Zürich", "Paris, TX", "Trafalgar Square, London"), best first."""
    query = (query or "").strip()
    if not query:
        return []
    codes = frozenset(c.upper() for c in country_codes) if country_codes else None
    g = load_gazetteer()
    places = [p for p in lookup(query) if _matches(p, codes)]
    if places:
        return places
    parts = [part.strip() for part in query.split(",") if part.strip()]
    if len(parts) > 1:
        places, qualified = _comma_candidates(g, parts, codes)
        if places or qualified:
            return places
    hint = next(iter(codes)) if codes and len(codes) == 1 else None
    return [p for p in places_from_text(query, hint) if _matches(p, codes)]


def geocode(query: str, country_code: str | None = None) -> Place | None:
    """The best place for a place name or "City, Country", from the offline gazetteer; None if unknown."""
    places = geocode_all(query, [country_code] if country_code else None)
    return places[0] if places else None


def place_to_location(place: Place) -> Location:
    """A geopy Location for a place, its fields in `raw`."""
    return Location(place_label(place), (place.latitude, place.longitude), dataclasses.asdict(place))


def _structured_query(query: Any) -> str:
    """Nominatim also takes a dict ({"city": ..., "country": ...}): make "City, Country" of it."""
    if isinstance(query, Mapping):
        order = ("street", "city", "county", "state", "country", "postalcode")
        return ", ".join(str(query[k]) for k in order if query.get(k))
    return str(query)


class OfflineGeocoder(Geocoder):
    """A geopy geocoder over the offline gazetteer: swap it for Nominatim and back."""

    def geocode(
        self,
        query: Any,
        *,
        exactly_one: bool = True,
        timeout: Any = DEFAULT_SENTINEL,
        limit: int | None = None,
        country_codes: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Location | list[Location] | None:
        """Like Nominatim.geocode: one Location or None, or (exactly_one=False) a list, possibly empty.

        Options Nominatim has and a gazetteer cannot honour (language, addressdetails, viewbox, ...) are
        accepted and ignored.
        """
        if isinstance(country_codes, str):
            country_codes = [country_codes]
        places = geocode_all(_structured_query(query), country_codes)
        locations = [place_to_location(p) for p in places]
        if exactly_one:
            return locations[0] if locations else None
        return locations[:limit] if limit else locations


class GeocodingError(Exception):
    """The geocoding service failed (timeout, refusal, quota): try again later. Not a "not found"."""


class _ClockedRateLimiter(RateLimiter):
    """geopy's RateLimiter with an injectable clock and sleep, so tests control time."""

    def __init__(self, func: Callable, *, clock: Callable[[], float] | None = None, sleep=None, **kwargs: Any):
        super().__init__(func, **kwargs)
        self._clock_func = clock
        self._sleep_func = sleep

    def _clock(self) -> float:
        return self._clock_func() if self._clock_func else super()._clock()

    def _sleep(self, seconds: float) -> None:
        if self._sleep_func:
            self._sleep_func(seconds)
        else:
            super()._sleep(seconds)


def _location_to_json(location: Location) -> dict:
    return {
        "address": location.address,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "altitude": location.altitude,
        "raw": location.raw,
    }


def _location_from_json(data: dict) -> Location:
    return Location(data["address"], (data["latitude"], data["longitude"], data["altitude"]), data["raw"])


class CachingGeocoder:
    """Any geopy geocoder behind geopy's RateLimiter and a persistent SQLite cache.

    Answers are cached by normalised query (and options) for good; "not found" for `miss_ttl_seconds`.
    Service failures are not cached: they raise GeocodingError. Safe to share between threads and
    processes (one short SQLite connection per call).
    """

    def __init__(
        self,
        geocoder: Any,
        cache_path: str | os.PathLike,
        *,
        min_delay_seconds: float = NOMINATIM_MIN_DELAY_SECONDS,
        miss_ttl_seconds: float = MISS_TTL_SECONDS,
        max_retries: int = 2,
        error_wait_seconds: float = 5.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.geocoder = geocoder
        self.cache_path = os.fspath(cache_path)
        self.miss_ttl_seconds = miss_ttl_seconds
        self._now = now
        self._limited = _ClockedRateLimiter(
            geocoder.geocode,
            min_delay_seconds=min_delay_seconds,
            max_retries=max_retries,
            error_wait_seconds=error_wait_seconds,
            swallow_exceptions=False,
            clock=clock,
            sleep=sleep,
        )
        directory = os.path.dirname(os.path.abspath(self.cache_path))
        os.makedirs(directory, exist_ok=True)
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS geocode_cache "
                "(key TEXT PRIMARY KEY, found INTEGER NOT NULL, payload TEXT NOT NULL, stored_at REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.cache_path, timeout=30)

    @staticmethod
    def cache_key(query: Any, exactly_one: bool, options: Mapping[str, Any]) -> str:
        """The cache key: the normalised query, whether one answer was asked for, and the options."""
        if isinstance(query, Mapping):
            query_key: Any = sorted((str(k), normalise(str(v))) for k, v in query.items())
        else:
            query_key = normalise(str(query))
        return json.dumps([query_key, bool(exactly_one), sorted(options.items())], default=str, ensure_ascii=False)

    def _cached(self, key: str) -> tuple[bool, Any]:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT found, payload, stored_at FROM geocode_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return False, None
        found, payload, stored_at = row
        if not found and self._now() - stored_at > self.miss_ttl_seconds:
            return False, None
        return True, json.loads(payload)

    def _store(self, key: str, locations: list[Location]) -> None:
        payload = json.dumps([_location_to_json(loc) for loc in locations], default=str)
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO geocode_cache (key, found, payload, stored_at) VALUES (?, ?, ?, ?)",
                (key, 1 if locations else 0, payload, self._now()),
            )

    def geocode(self, query: Any, exactly_one: bool = True, **kwargs: Any) -> Location | list[Location] | None:
        """Like the wrapped geocoder's geocode, from the cache when it can."""
        key = self.cache_key(query, exactly_one, kwargs)
        hit, payload = self._cached(key)
        if hit:
            locations = [_location_from_json(item) for item in payload]
        else:
            try:
                result = self._limited(query, exactly_one=exactly_one, **kwargs)
            except GeopyError as exc:
                raise GeocodingError(f"geocoding {query!r} failed: {exc}") from exc
            locations = [result] if isinstance(result, Location) else list(result or [])
            self._store(key, locations)
        if exactly_one:
            return locations[0] if locations else None
        return locations


def make_geocoder(config: Mapping[str, Any]) -> OfflineGeocoder | CachingGeocoder:
    """The configured geocoder: offline by default; GEOCODER="nominatim" for Nominatim, rate-limited and cached.

    Nominatim needs GEOCODER_USER_AGENT (an application name with a contact) and GEOCODER_CACHE_PATH;
    GEOCODER_DOMAIN and GEOCODER_SCHEME point it at another Nominatim server, GEOCODER_TIMEOUT (seconds)
    bounds each request. Calls are at least one second apart, whatever the configuration.
    """
    kind = str(config.get("GEOCODER") or "offline").strip().lower()
    if kind == "offline":
        return OfflineGeocoder()
    if kind != "nominatim":
        raise ValueError(f"GEOCODER must be 'offline' or 'nominatim', not {kind!r}")
    user_agent = str(config.get("GEOCODER_USER_AGENT") or "").strip()
    if not user_agent or user_agent.lower().startswith("geopy/"):
        raise ValueError("GEOCODER=nominatim needs GEOCODER_USER_AGENT naming this application and a contact")
    cache_path = config.get("GEOCODER_CACHE_PATH")
    if not cache_path:
        raise ValueError("GEOCODER=nominatim needs GEOCODER_CACHE_PATH for its cache")
    nominatim = Nominatim(
        user_agent=user_agent,
        domain=config.get("GEOCODER_DOMAIN") or NOMINATIM_DOMAIN,
        scheme=config.get("GEOCODER_SCHEME") or "https",
        timeout=float(config.get("GEOCODER_TIMEOUT") or 10),
    )
    min_delay = max(NOMINATIM_MIN_DELAY_SECONDS, float(config.get("GEOCODER_MIN_DELAY_SECONDS") or 0))
    return CachingGeocoder(nominatim, cache_path, min_delay_seconds=min_delay)
