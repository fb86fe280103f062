"""Dates and times stated in an item's text, found by one regular-expression scan and read to local days and times.

The words (months, weekdays) come from dateparser's locale data for the languages feeds write in (English,
French, German, Spanish, Italian, Portuguese, Dutch); the grammar around them is ours. dateparser's own
search_dates costs 2-50 ms an item and reads "set", "24/7", "in 2019" and "am Mittwoch um 14" as dates, so
a 10,000-item feed cannot go through it; the scan here is tried only where a number or a word of the
vocabulary stands and costs tens of microseconds an item (bench/README.md, "bench/event_times.py"). Every
mention is local to the place: event_time.py turns them into a window in UTC. Pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from dateparser.languages.loader import default_loader

LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl")
_MONTH_KEYS = ("january february march april may june july august september october november december").split()  # noqa: SIM905
_WEEKDAY_KEYS = "monday tuesday wednesday thursday friday saturday sunday".split()  # noqa: SIM905

# Abbreviations that are everyday words in one of the languages: never a month, even next to a number.
_NOT_MONTHS = frozenset({"set", "out", "ago", "mag", "gen"})
# English months that are also common words: only when capitalised ("May 9", not "may 2 people").
_CAPITALISED_ONLY = frozenset({"march", "may", "mar"})


def _plain(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", word) if not unicodedata.combining(ch))


def _vocabulary() -> tuple[dict[str, int], dict[str, int]]:
    months: dict[str, int] = {}
    weekdays: dict[str, int] = {}
    for code in LANGUAGES:
        info = default_loader.get_locale(code).info
        for number, key in enumerate(_MONTH_KEYS, start=1):
            for name in info[key]:
                name = name.lower()
                if len(name) >= 3 and name not in _NOT_MONTHS:
                    months[name] = months[_plain(name)] = number
        for number, key in enumerate(_WEEKDAY_KEYS):
            for name in info[key]:
                name = name.lower()
                # Full names only: "mer", "sam", "Mit" are words; Portuguese "segunda" is also "second".
                if len(name) >= 5 and not (code == "pt" and name[-5:] not in ("feira",) and number < 5):
                    weekdays[name] = weekdays[_plain(name)] = number
    return months, weekdays


MONTHS, WEEKDAYS = _vocabulary()


def _alternation(words, keep_case: bool = False) -> str:
    """The words as one regular expression shaped as a trie: Python's re tries a flat alternation word by word."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word if keep_case else word.lower():
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie_pattern(trie)


def _trie_pattern(node: dict) -> str:
    ends = "" in node
    branches = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 and len(branches[0]) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


_MONTH = (
    "(?:(?-i:"
    + _alternation((w.capitalize() for w in _CAPITALISED_ONLY), keep_case=True)
    + ")|"
    + _alternation(w for w in MONTHS if w not in _CAPITALISED_ONLY)
    + r")\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_ORDINAL = r"(?:st|nd|rd|th|er|º|°)?\.?"
_YEAR = r"(?:19|20)\d\d"
_RANGE_WORD = r"(?:-|–|—|to|until|till|through|and|au|à|et|bis|und|zum|al|a|y|hasta|alle|e|fino\s+al|às|até|tot|en)"
# A zone after a time: an abbreviation, or UTC/GMT with an offset of up to 14 h ("UTC+3", "GMT-5", "UTC−03:00",
# "(GMT+1)"). After a hyphen or a dash, hours and minutes are an offset only with a leading zero ("UTC-03:00"):
# "10:00 UTC-12:00" and "14:00 UTC - 16:00" are ranges.
_ZONE_NAMES = (
    r"(?:(?:UTC|GMT)(?:\s?[+−](?:1[0-4]|0?\d)(?::?[0-5]\d)?|\s?[-–](?:0\d(?::?[0-5]\d)?|(?:1[0-4]|\d)(?![:.]?\d)))(?!\d)"
    r"|UTC|GMT|CEST|CET|BST|EDT|EST|PDT|PST|Z)\b"
)
_ZONE = rf"(?:\s*\(?(?P<zone>{_ZONE_NAMES})\)?)?"

# Relative days: offset from the publication day, and the part of day some of them name.
RELATIVE_DAYS = {
    "today": (0, None), "tonight": (0, "night"), "tomorrow": (1, None), "yesterday": (-1, None),
    "day after tomorrow": (2, None), "this morning": (0, "morning"), "this afternoon": (0, "afternoon"),
    "this evening": (0, "evening"), "tomorrow morning": (1, "morning"), "tomorrow afternoon": (1, "afternoon"),
    "tomorrow evening": (1, "evening"), "tomorrow night": (1, "night"), "last night": (-1, "night"),
    "aujourd'hui": (0, None), "ce soir": (0, "evening"), "cette nuit": (0, "night"), "ce matin": (0, "morning"),
    "cet après-midi": (0, "afternoon"), "demain": (1, None), "demain matin": (1, "morning"),
    "demain soir": (1, "evening"), "demain après-midi": (1, "afternoon"), "hier": (-1, None),
    "hier soir": (-1, "evening"), "après-demain": (2, None),
    "heute": (0, None), "heute abend": (0, "evening"), "heute nacht": (0, "night"), "heute morgen": (0, "morning"),
    "heute nachmittag": (0, "afternoon"), "morgen": (1, None), "morgen früh": (1, "morning"),
    "morgen abend": (1, "evening"), "morgen nachmittag": (1, "afternoon"), "gestern": (-1, None),
    "gestern abend": (-1, "evening"), "übermorgen": (2, None),
    "hoy": (0, None), "esta noche": (0, "night"), "esta tarde": (0, "afternoon"), "esta mañana": (0, "morning"),
    "mañana": (1, None), "mañana por la mañana": (1, "morning"), "mañana por la tarde": (1, "afternoon"),
    "mañana por la noche": (1, "night"), "ayer": (-1, None), "pasado mañana": (2, None),
    "oggi": (0, None), "stasera": (0, "evening"), "stanotte": (0, "night"), "stamattina": (0, "morning"),
    "oggi pomeriggio": (0, "afternoon"), "domani": (1, None), "domani mattina": (1, "morning"),
    "domani pomeriggio": (1, "afternoon"), "domani sera": (1, "evening"), "ieri": (-1, None),
    "dopodomani": (2, None),
    "hoje": (0, None), "esta noite": (0, "night"), "hoje à noite": (0, "night"), "hoje à tarde": (0, "afternoon"),
    "amanhã": (1, None), "amanhã de manhã": (1, "morning"), "amanhã à tarde": (1, "afternoon"),
    "amanhã à noite": (1, "night"), "ontem": (-1, None), "depois de amanhã": (2, None),
    "vandaag": (0, None), "vanavond": (0, "evening"), "vannacht": (0, "night"), "vanochtend": (0, "morning"),
    "vanmiddag": (0, "afternoon"), "morgenochtend": (1, "morning"), "morgenmiddag": (1, "afternoon"),
    "morgenavond": (1, "evening"), "gisteren": (-1, None), "overmorgen": (2, None),
}  # fmt: skip
_RELATIVE = {_plain(k): v for k, v in RELATIVE_DAYS.items()} | RELATIVE_DAYS
# "Morgen" after these is the morning, not tomorrow ("heute Morgen" is listed above).
_NOT_TOMORROW = re.compile(r"(?:\bam|\bjeden|\bguten|\bden|\bden ganzen|\bvon)\s*$", re.IGNORECASE)

# The coming weekend, by its noun: "this weekend", "ce week-end", "am Wochenende", "el fin de semana".
WEEKENDS = ("weekend", "week-end", "wochenende", "fin de semana", "fine settimana", "fim de semana")

# Parts of a day as (first hour, last hour); "night" runs to 06:00 the next morning.
PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24), "night": (18, 30)}
PART_WORDS = {
    "morning": "morning", "afternoon": "afternoon", "evening": "evening", "night": "night",
    "matin": "morning", "après-midi": "afternoon", "soir": "evening", "soirée": "evening", "nuit": "night",
    "vormittag": "morning", "früh": "morning", "nachmittag": "afternoon", "abend": "evening", "nacht": "night",
    "por la mañana": "morning", "por la tarde": "afternoon", "por la noche": "night",
    "mattina": "morning", "pomeriggio": "afternoon", "sera": "evening", "notte": "night",
    "de manhã": "morning", "à tarde": "afternoon", "à noite": "night",
    "ochtend": "morning", "middag": "afternoon", "avond": "evening",
}  # fmt: skip
_PARTS = {_plain(k): v for k, v in PART_WORDS.items()} | PART_WORDS
_NEXT = (
    r"next|this coming|coming|prochain|prochaine|nächsten|nächste|kommenden|kommende|próximo|próxima|prossimo|"
    r"prossima|volgende|aanstaande"
)
_LAST = (
    r"last|past|dernier|dernière|letzten|letzte|vergangenen|pasado|pasada|scorso|scorsa|passado|passada|afgelopen|"
    r"vorige"
)

NOON_WORDS = ("noon", "midday", "midi", "mittag", "mittags", "mediodía", "mezzogiorno", "meio-dia", "middaguur")
MIDNIGHT_WORDS = ("midnight", "minuit", "mitternacht", "medianoche", "mezzanotte", "meia-noite", "middernacht")
_ZONE_OFFSETS = {"UTC": 0, "GMT": 0, "Z": 0, "CET": 60, "CEST": 120, "BST": 60, "EST": -300, "EDT": -240,
                 "PST": -480, "PDT": -420}  # fmt: skip


def _group(name: str, pattern: str) -> str:
    return f"(?P<{name}>{pattern})"


_HOUR = r"(?:[01]?\d|2[0-3])"
# "May 2 people", "March 3 km": a number that counts something is not a day.
_NOT_COUNTED = (
    r"(?!\s*(?:%|people|persons|men|women|children|injured|dead|killed|arrested|arrests|protesters|officers|"
    r"police|km|miles|hours|days|times|of\b))"
)
_MINUTE = r"[0-5]\d"
# How far back "the 9th" may be from the publication day (_ordinal).
ORDINAL_LOOKBACK = timedelta(days=3)
# Nouns an ordinal counts instead of naming a day: "the 3rd floor", "the 2nd gate", "the 5th anniversary"
# (request_window.py reads clients' questions with them too).
COUNTED_NOUNS = (
    r"floors?|levels?|stor(?:e?y|ies)|gates?|entrances?|exits?|doors?|rows?|lanes?|streets?|st|avenues?|ave"
    r"|roads?|terminals?|halls?|wings?|towers?|blocks?|buildings?|rooms?|suites?|sections?|piers?|platforms?"
    r"|districts?|arrondissements?|precincts?|wards?|centur(?:y|ies)|anniversar(?:y|ies)|times?|rounds?|quarters?"
    r"|halves|half|places?|waves?|stages?|legs?|laps?|editions?|generations?|amendments?|divisions?|battalions?"
    r"|regiments?|units?|teams?|persons?|people|man|men|groups?|parties|party|days?|weeks?|months?|years?"
)
_PATTERNS = [
    # 2026-12-09, 2026-12-09T18:00:00+01:00
    _group(
        "iso",
        r"\b(?P<iso_y>(?:19|20)\d\d)-(?P<iso_m>\d\d)-(?P<iso_d>\d\d)"
        r"(?:[T ](?P<iso_h>\d\d):(?P<iso_min>\d\d)(?::\d\d(?:\.\d+)?)?\s*(?P<iso_z>Z|[+-]\d\d:?\d\d)?)?\b",
    ),
    # 09.12.2026, 9/12/2026, 09.12.26: always with a year, so "24/7" and "9/11" are never dates.
    _group(
        "numeric",
        r"(?<![\d./])(?P<n_a>\d{1,2})(?P<n_sep>[./-])(?P<n_b>\d{1,2})(?P=n_sep)(?P<n_y>(?:19|20)\d\d|(?<=\.)\d\d)(?![\d./])",
    ),
    # 12-14 December, du 12 au 14 décembre, vom 12. bis 14. Dezember, del 12 al 14 de diciembre
    _group(
        "dayrange",
        rf"\b(?P<dr_a>{_DAY}){_ORDINAL}\s*{_RANGE_WORD}\s*(?:the\s+)?(?P<dr_b>{_DAY}){_ORDINAL}(?:\s+of)?\s+(?:de\s+)?"
        rf"(?P<dr_m>{_MONTH})(?:,?\s+(?:de\s+)?(?P<dr_y>{_YEAR}))?\b",
    ),
    # December 12-14
    _group(
        "monthrange",
        rf"\b(?P<mr_m>{_MONTH})\s+(?P<mr_a>{_DAY})(?:st|nd|rd|th)?\s*(?:-|–|—|to|through|until|and|&)\s*(?P<mr_b>{_DAY})"
        rf"(?:st|nd|rd|th)?\b(?:,?\s+(?P<mr_y>{_YEAR}))?",
    ),
    # 9 December, 9th of December, 9. Dezember, 9 de diciembre de 2026
    _group(
        "daymonth",
        rf"\b(?P<dm_d>{_DAY}){_ORDINAL}(?:\s+of)?\s*(?:de\s+)?(?P<dm_m>{_MONTH})(?![^\W\d_])"
        rf"(?:,?\s+(?:de\s+)?(?P<dm_y>{_YEAR}))?",
    ),
    # December 9, Dec. 9th, 2026
    _group(
        "monthday",
        rf"\b(?P<md_m>{_MONTH})\s+(?P<md_d>{_DAY})(?:st|nd|rd|th)?\b(?![.:,]?\d){_NOT_COUNTED}(?:,?\s+(?P<md_y>{_YEAR}))?",
    ),
    # on the 9th, the 9th: a day of the month, in English, after "the" or "on" and before no noun it counts
    # ("the 3rd floor", "the 5th anniversary")
    _group(
        "ordinal",
        rf"(?:(?<=\bthe )|(?<=\bon ))(?P<o_d>{_DAY})(?:st|nd|rd|th)\b(?!\s+(?:of\s+)?(?:{COUNTED_NOUNS})\b)",
    ),
    _group("weekend", _alternation(WEEKENDS)),
    _group(
        "relative",
        r"(?<![^\W\d_])(?:" + _alternation(_RELATIVE) + r")(?![^\W\d_])",
    ),
    # Wednesday, next Wednesday, mercredi prochain, Mittwochabend, woensdagavond
    _group(
        "weekday",
        rf"(?:\b(?P<wd_next>{_NEXT})\s+|\b(?P<wd_last>{_LAST})\s+)?\b(?P<wd>{_alternation(WEEKDAYS)})"
        r"(?P<wd_part>abend|nachmittag|vormittag|morgen|nacht|avond|middag|ochtend|nacht)?\b"
        rf"(?:\s+(?P<wd_next2>prochain|prochaine|próximo|próxima|prossimo|prossima)\b"
        rf"|\s+(?P<wd_last2>dernier|dernière|pasado|pasada|scorso|scorsa|passado|passada)\b)?",
    ),
    _group("part", r"\b(?:" + _alternation(_PARTS) + r")\b"),
    _group("noon", r"\b(?:" + _alternation(NOON_WORDS) + r")\b"),
    _group("midnight", r"\b(?:" + _alternation(MIDNIGHT_WORDS) + r")\b"),
    # von 13 bis 16 Uhr, zwischen 8 und 12 Uhr, van 10.00 tot 16.00 uur: the unit after the second hour only
    _group(
        "hourrange",
        rf"(?<![\d:/.,])(?P<hr_a>{_HOUR})(?:[.:](?P<hr_am>{_MINUTE}))?\s*(?:h\s*)?"
        r"\s*(?:-|–|—|bis|und|tot|en|à|a|to|and|e|y|às|alle|al)\s*"
        rf"(?P<hr_b>{_HOUR})(?:[.:](?P<hr_bm>{_MINUTE}))?\s*(?:uhr|uur|h\b|heures\b|horas\b|ore\b)",
    ),
    # à 15 heures, à 15 heures 30
    _group("heures", rf"\bà\s+(?P<fh_h>{_HOUR})\s*heures?(?:\s*(?P<fh_m>{_MINUTE}))?\b"),
    # 18:00, 6:30 pm, 18:00:00, 14.00 Uhr
    _group(
        "clock",
        rf"(?<![\d:/.,])(?P<c_h>{_HOUR})(?::(?P<c_m>{_MINUTE})(?::\d\d)?|\.(?P<c_m2>{_MINUTE})(?=\s*(?:uhr|uur|h\b|hrs\b|[ap]\.?m\b)))"
        r"(?![\d/])(?!:\d)(?:\s*(?P<c_ap>a\.m\.|p\.m\.|am\b|pm\b))?(?:\s*(?:uhr|uur|h\b|hrs\b))?"
        + _ZONE.replace("zone", "c_z"),
    ),
    # 18h, 18h30, 18 h 30, 18H
    _group(
        "hclock",
        rf"(?<![\d:/.,])(?P<h_h>{_HOUR})\s?h(?:\s?(?P<h_m>{_MINUTE}))?\b(?!\s?/)" + _ZONE.replace("zone", "h_z"),
    ),
    # 6pm, 6 p.m.
    _group(
        "ampm",
        r"(?<![\d:/.,])(?P<a_h>1[0-2]|0?[1-9])\s?(?P<a_ap>a\.m\.|p\.m\.|am\b|pm\b)" + _ZONE.replace("zone", "a_z"),
    ),
    # 14 Uhr, 14 uur, 6 o'clock
    _group("word_clock", rf"(?<![\d:/.,])(?P<w_h>{_HOUR})\s*(?:uhr|uur|o'clock)\b" + _ZONE.replace("zone", "w_z")),
    # a las 12, alle 14, às 15, um 14 (prepositions that only ever take an hour)
    _group(
        "prep_clock",
        rf"\b(?P<p_lead>a las|a la|alle ore|alle|às|um|om|dalle|ab|vanaf|desde las)\s+(?P<p_h>{_HOUR})\b(?![:.,]?\d)"
        r"(?:\s+de\s+la\s+(?P<p_ap>mañana|tarde|noche|madrugada))?"
        r"(?!\s*(?:de |del |%|km|personas|persone|pessoas|menschen|personen|mensen|prozent|euro))",
    ),
    # 1800 hrs, 0600Z, 1800 UTC+1
    _group(
        "military",
        rf"\b(?P<m_h>[01]\d|2[0-3])(?P<m_m>{_MINUTE})(?=\s?(?:hrs\b|Z\b|UTC|GMT))(?:\s?hrs\b)?"
        + _ZONE.replace("zone", "m_z"),
    ),
]
_SCAN = re.compile("|".join(_PATTERNS), re.IGNORECASE)

# Punctuation to spaces, one character for one (positions stay): words are then what str.split gives.
_SPACES = str.maketrans(dict.fromkeys("-–—/.,;:!?()[]{}\"'«»“”‘’<>*|", " "))
# The words a mention can begin with: the scan is tried only where one of them (or a number) stands, since
# trying every pattern at every position of a long summary costs milliseconds.
_PREPOSITIONS = ("a", "alle", "às", "um", "om", "dalle", "ab", "vanaf")
_MODIFIERS = tuple(re.split(r"\W+", f"{_NEXT}|{_LAST}".replace("|", " ")))
_WEEKDAY_SUFFIXES = ("abend", "nachmittag", "vormittag", "morgen", "nacht", "avond", "middag", "ochtend")
TRIGGERS = frozenset(
    word.lower()
    for phrase in (
        *MONTHS, *WEEKDAYS, *_RELATIVE, *WEEKENDS, *_PARTS, *NOON_WORDS, *MIDNIGHT_WORDS, *_PREPOSITIONS,
        *_MODIFIERS, *(day + suffix for day in WEEKDAYS for suffix in _WEEKDAY_SUFFIXES),
    )
    for word in [phrase.lower().translate(_SPACES).split()[0]]
)  # fmt: skip

# What a publication dateline or a "published" stamp looks like around a mention.
STAMP_WORDS = (
    "published", "updated", "posted", "issued", "last update", "publié", "mis à jour", "veröffentlicht", "aktualisiert",
    "stand", "publicado", "actualizado", "pubblicato", "aggiornato", "atualizado", "gepubliceerd", "bijgewerkt",
)  # fmt: skip
STREET_WORDS = (
    "calle", "avenida", "av", "rua", "rue", "via", "viale", "plaza", "praça", "praca", "piazza", "largo", "straße",
    "strasse", "street", "avenue", "boulevard", "paseo", "carrer", "avinguda", "colonia",
)  # fmt: skip
DURATION_WORDS = (
    "pendant", "durant", "dans", "sous", "en", "for", "during", "within", "over", "les", "plus de", "moins de",
    "après", "after", "nach", "durante",
)  # fmt: skip


def _endings(words, joiners=("",)) -> tuple[str, ...]:
    return tuple(f" {word}{joiner}" for word in words for joiner in joiners)


# What the words right before a mention end with (checked with str.endswith: a regular expression anchored
# at the end is tried from every position before it).
_STAMP_ENDINGS = _endings(STAMP_WORDS, ("", " on", " at", " le", " am", " el", " il", " em", " op"))
_STREET_ENDINGS = _endings(STREET_WORDS, ("", ".", " de", " del", " du", " des", " dos", " do", ". de"))
_DURATION_ENDINGS = _endings(DURATION_WORDS)
_DATELINE_AFTER = re.compile(r"\s*(?:\([^)]{1,30}\)\s*)?[-–—]")
DATELINE_REACH = 60


@dataclass(slots=True)
class Mention:
    """One date or time stated in a text, local to the place.

    kind "day": `day` (and `last_day` for a range in one mention: "12-14 December", a weekend);
    kind "time": `hour`/`minute`, or a part of day as `part`; `utc_offset` (minutes) when the text names a zone.
    """

    start: int
    end: int
    kind: str
    day: date | None = None
    last_day: date | None = None
    hour: int | None = None
    minute: int = 0
    part: str | None = None
    utc_offset: int | None = None
    weekday: bool = False  # named by its weekday only ("Wednesday"): a date beside it wins
    lead: str = ""  # a preposition the mention begins with ("alle 12"): it may say "to"


# How a place writes numeric dates: 9/12/2026 is 9 December, 12 September, or (where both are written) unclear.
DAY_FIRST, MONTH_FIRST, EITHER_ORDER = "day first", "month first", "either order"

_NUMBER = re.compile(r" (\d\S*)")


def _lowered(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower to two ("İ"): keep each character in its place
        lowered = "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)
    return lowered.translate(_SPACES)


def _starts(text: str) -> list[int]:
    """Where a mention may begin: at a number or a word of the vocabulary. The words are found with set and
    string operations: any regular expression over the whole text costs several times more."""
    spaced = _lowered(text)
    positions: list[int] = []
    for word in TRIGGERS.intersection(spaced.split()).union(_NUMBER.findall(" " + spaced)):
        at = spaced.find(word)
        while at >= 0:
            end = at + len(word)
            if (at == 0 or spaced[at - 1].isspace()) and (end == len(spaced) or spaced[end].isspace()):
                positions.append(at)
            at = spaced.find(word, end)
    positions.sort()
    return positions


def maybe_dated(text: str) -> bool:
    """Whether a text has anything a date or time could be made of (a cheap test before the scan)."""
    return bool(_starts(text))


def _nearest_year(month: int, day: int, today: date) -> date | None:
    """A day and month without a year: the occurrence nearest the publication day."""
    best = None
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if best is None or abs(candidate - today) < abs(best - today):
            best = candidate
    return best


def _dated(year: str | None, month: int, day: int, today: date) -> date | None:
    if year is None:
        return _nearest_year(month, day, today)
    try:
        return date(int(year), month, day)
    except ValueError:
        return None


def _month(word: str) -> int:
    return MONTHS[word.lower().rstrip(".")]


def _weekday(m: re.Match, today: date) -> Mention:
    wanted = WEEKDAYS[m["wd"].lower()]
    ahead = (wanted - today.weekday()) % 7
    if m["wd_last"] or m["wd_last2"]:
        day = today - timedelta(days=(today.weekday() - wanted) % 7 or 7)
    elif (m["wd_next"] or m["wd_next2"]) and ahead == 0:
        day = today + timedelta(days=7)
    else:
        day = today + timedelta(days=ahead)
    suffix = (m["wd_part"] or "").lower()
    part = "morning" if suffix in ("morgen", "vormittag", "ochtend") else _PARTS.get(suffix)
    return Mention(m.start(), m.end(), "day", day=day, part=part, weekday=True)


def _hour_12(hour: int, marker: str | None) -> int:
    if not marker:
        return hour
    pm = marker.lower().startswith("p")
    return (hour % 12) + (12 if pm else 0)


_STATED_OFFSET = re.compile(r"(?:UTC|GMT)?\s?([+\-−–])(\d{1,2})(?::?(\d\d))?", re.IGNORECASE)


def _offset(zone: str | None) -> int | None:
    """Minutes east of UTC of a zone stated after a time ("CET", "UTC+3", "GMT-5", "−03:00", "+0530")."""
    if not zone:
        return None
    stated = _STATED_OFFSET.fullmatch(zone)
    if stated is None:
        return _ZONE_OFFSETS[zone.upper()]
    sign = 1 if stated[1] == "+" else -1
    return sign * (int(stated[2]) * 60 + int(stated[3] or 0))


@dataclass(frozen=True, slots=True)
class _Context:
    """What reading one match needs besides the match: the text, the publication's local day, the date order."""

    text: str
    today: date
    date_order: str  # DAY_FIRST, MONTH_FIRST or EITHER_ORDER


def _iso(m: re.Match, c: _Context) -> list[Mention]:
    try:
        day = date(int(m["iso_y"]), int(m["iso_m"]), int(m["iso_d"]))
    except ValueError:
        return []
    found = [Mention(m.start(), m.end(), "day", day=day)]
    if m["iso_h"] and int(m["iso_h"]) < 24 and int(m["iso_min"]) < 60:
        hour, minute = int(m["iso_h"]), int(m["iso_min"])
        found.append(Mention(m.start(), m.end(), "time", hour=hour, minute=minute, utc_offset=_offset(m["iso_z"])))
    return found


def _calendar_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _numeric(m: re.Match, c: _Context) -> list[Mention]:
    """9/12/2026: day first, month first where the zone writes so (with a slash; dots and dashes are day
    first everywhere), or, where both orders are written, only when one order alone makes a day."""
    a, b = int(m["n_a"]), int(m["n_b"])
    year = int(m["n_y"]) if len(m["n_y"]) == 4 else 2000 + int(m["n_y"])
    day_first, month_first = _calendar_day(year, b, a), _calendar_day(year, a, b)
    order = c.date_order if m["n_sep"] == "/" else DAY_FIRST
    if order == EITHER_ORDER and day_first and month_first and day_first != month_first:
        return []
    found = (month_first or day_first) if order == MONTH_FIRST else (day_first or month_first)
    return [Mention(m.start(), m.end(), "day", day=found)] if found else []


def _days(prefix: str):
    """A reader for a range of days in one month: "12-14 December" (dr_), "December 12-14" (mr_)."""

    def read(m: re.Match, c: _Context) -> list[Mention]:
        month = _month(m[f"{prefix}_m"])
        first = _dated(m[f"{prefix}_y"], month, int(m[f"{prefix}_a"]), c.today)
        last = _dated(m[f"{prefix}_y"], month, int(m[f"{prefix}_b"]), c.today)
        if first is None or last is None or last < first:
            return []
        return [Mention(m.start(), m.end(), "day", day=first, last_day=last)]

    return read


def _day(prefix: str):
    """A reader for one day and month: "9 December" (dm_), "December 9" (md_)."""

    def read(m: re.Match, c: _Context) -> list[Mention]:
        day = _dated(m[f"{prefix}_y"], _month(m[f"{prefix}_m"]), int(m[f"{prefix}_d"]), c.today)
        return [Mention(m.start(), m.end(), "day", day=day)] if day else []

    return read


def _ordinal(m: re.Match, c: _Context) -> list[Mention]:
    """The 9th: the first such day from ORDINAL_LOOKBACK before the publication day on. A feed reports the
    last few days ("clashes on the 29th", published on the 1st) and announces what is ahead ("march on the
    5th"); an event further back would be in the past tense of an older item."""
    number = int(m["o_d"])
    earliest = c.today - ORDINAL_LOOKBACK
    start = earliest.replace(day=1)
    for _ in range(3):  # a 31st comes round within three months
        day = _calendar_day(start.year, start.month, number)
        if day is not None and day >= earliest:
            return [Mention(m.start(), m.end(), "day", day=day)]
        start = (start + timedelta(days=32)).replace(day=1)
    return []


def _weekend(m: re.Match, c: _Context) -> list[Mention]:
    """The coming Saturday and Sunday; on a weekend day, the rest of that weekend."""
    saturday = c.today + timedelta(days=(5 - c.today.weekday()) % 7)
    if c.today.weekday() == 6:
        saturday = c.today - timedelta(days=1)
    return [Mention(m.start(), m.end(), "day", day=max(saturday, c.today), last_day=saturday + timedelta(days=1))]


def _relative(m: re.Match, c: _Context) -> list[Mention]:
    word, start = m.group("relative").lower(), m.start()
    if word == "morgen" and _NOT_TOMORROW.search(c.text, 0, start):
        return []
    if word == "mañana" and re.search(r"\b(?:la|por la|de la|esta)\s*$", c.text[max(0, start - 12) : start], re.I):
        return []
    offset, part = _RELATIVE[word]
    return [Mention(start, m.end(), "day", day=c.today + timedelta(days=offset), part=part)]


def _weekday_reader(m: re.Match, c: _Context) -> list[Mention]:
    return [_weekday(m, c.today)]


def _clock(m: re.Match, c: _Context) -> list[Mention]:
    hour, minute = int(m["c_h"]), int(m["c_m"] or m["c_m2"])
    if m["c_ap"]:
        if not 1 <= hour <= 12:
            return []
        hour = _hour_12(hour, m["c_ap"])
    return [Mention(m.start(), m.end(), "time", hour=hour, minute=minute, utc_offset=_offset(m["c_z"]))]


def _prep_clock(m: re.Match, c: _Context) -> list[Mention]:
    hour = int(m["p_h"])
    if m["p_ap"] in ("tarde", "noche") and hour < 12:
        hour += 12  # "a las 8 de la tarde"
    return [Mention(m.start(), m.end(), "time", hour=hour, lead=m["p_lead"].lower())]


def _military(m: re.Match, c: _Context) -> list[Mention]:
    return [Mention(m.start(), m.end(), "time", hour=int(m["m_h"]), minute=int(m["m_m"]), utc_offset=_offset(m["m_z"]))]


def _hour_range(m: re.Match, c: _Context) -> list[Mention]:
    first_end = m.end("hr_am") if m["hr_am"] else m.end("hr_a")
    return [
        Mention(m.start("hr_a"), first_end, "time", hour=int(m["hr_a"]), minute=int(m["hr_am"] or 0)),
        Mention(m.start("hr_b"), m.end(), "time", hour=int(m["hr_b"]), minute=int(m["hr_bm"] or 0)),
    ]


def _at(
    hour_group: str, minute_group: str | None = None, marker_group: str | None = None, zone_group: str | None = None
):
    """A reader for a plain hour (and minute, and am/pm, and zone) in named groups."""

    def read(m: re.Match, c: _Context) -> list[Mention]:
        hour = int(m[hour_group])
        if marker_group:
            hour = _hour_12(hour, m[marker_group])
        minute = int(m[minute_group] or 0) if minute_group else 0
        offset = _offset(m[zone_group]) if zone_group else None
        return [Mention(m.start(), m.end(), "time", hour=hour, minute=minute, utc_offset=offset)]

    return read


def _fixed(hour: int):
    def read(m: re.Match, c: _Context) -> list[Mention]:
        return [Mention(m.start(), m.end(), "time", hour=hour)]

    return read


def _part(m: re.Match, c: _Context) -> list[Mention]:
    return [Mention(m.start(), m.end(), "time", part=_PARTS[m.group("part").lower()])]


# Each kind of match (a named group of _SCAN) and how it is read; the order is _SCAN's.
_READERS = {
    "iso": _iso,
    "numeric": _numeric,
    "dayrange": _days("dr"),
    "monthrange": _days("mr"),
    "daymonth": _day("dm"),
    "monthday": _day("md"),
    "ordinal": _ordinal,
    "weekend": _weekend,
    "relative": _relative,
    "weekday": _weekday_reader,
    "part": _part,
    "noon": _fixed(12),
    "midnight": _fixed(0),
    "hourrange": _hour_range,
    "heures": _at("fh_h", "fh_m"),
    "clock": _clock,
    "hclock": _at("h_h", "h_m", zone_group="h_z"),
    "ampm": _at("a_h", marker_group="a_ap", zone_group="a_z"),
    "word_clock": _at("w_h", zone_group="w_z"),
    "prep_clock": _prep_clock,
    "military": _military,
}


def _is_stamp(text: str, mention: Mention, today: date) -> bool:
    """Not the event's time: a publication stamp ("Updated 9 Dec 07:10"), a dateline ("PARIS, 9 Dec (AFP) -"),
    a street named after a date ("calle 14 de Abril"), a duration ("pendant 12h")."""
    before = " " + text[max(0, mention.start - 40) : mention.start].lower().rstrip(" :,\t\n")
    if before.endswith(_STAMP_ENDINGS):
        return True
    if before.endswith(_STREET_ENDINGS if mention.kind == "day" else _DURATION_ENDINGS):
        return True
    # a dateline opens the text and dates the publication itself (that day, or the evening before)
    return (
        mention.kind == "day"
        and mention.end <= DATELINE_REACH
        and timedelta(days=-1) <= mention.day - today <= timedelta(0)
        and bool(_DATELINE_AFTER.match(text, mention.end))
    )


def find_mentions(text: str, today: date, date_order: str = DAY_FIRST) -> list[Mention]:
    """The dates and times stated in `text`, in order, read against the publication's local day `today`
    (impossible dates, publication stamps, streets and durations left out); numeric dates in `date_order`."""
    mentions: list[Mention] = []
    stamp_end = scanned_to = -10
    context = _Context(text, today, date_order)
    for position in _starts(text):
        if position < scanned_to or (m := _SCAN.match(text, position)) is None:
            continue
        scanned_to = m.end()
        for mention in _READERS[m.lastgroup](m, context):  # each kind's group holds its inner ones: it closes last
            # the time right after a stamped day is part of the stamp: "Updated 9 Dec 07:10"
            if _is_stamp(text, mention, today) or (mention.kind == "time" and 0 <= mention.start - stamp_end <= 3):
                stamp_end = mention.end
            else:
                mentions.append(mention)
    return mentions
