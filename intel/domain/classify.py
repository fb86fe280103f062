"""Categories and severity of feed items. Rules are data: the DB table of editable rules mirrors `Rule`.

A literal rule matches whole words or phrases, case-insensitively, also with a plural
"s"/"es" ("riot" matches "Riots", not "patriot"); spaces in a phrase match any run of
whitespace. A regex rule is used as written (case-insensitive); a regex that does not
compile is skipped, and `rule_problem` says why before such a rule is saved.

Each rule counts once per item, whatever the number of hits. The category with the highest
total weight wins; a negative weight can cancel a misleading word (e.g. "March" the month).
A few facts a feed states outright (a CAP category, a GDACS event type, a USGS quake) add
to the totals as if they were rules. With no match at all, the feed's default category
applies, then "other". Ties go to the more serious category (`TIE_ORDER`).
"""

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from intel.models import CATEGORIES, FIELDS, SEVERITIES

CATEGORY_LABELS = {
    "protest": "Protest",
    "civil_unrest": "Civil unrest",
    "crime": "Crime",
    "terrorism": "Terrorism",
    "weather": "Weather",
    "natural_hazard": "Natural hazard",
    "transport": "Transport disruption",
    "health": "Health",
    "other": "Other",
}
# Most serious first: who wins when two categories weigh the same.
TIE_ORDER = (
    "terrorism",
    "civil_unrest",
    "crime",
    "natural_hazard",
    "protest",
    "weather",
    "health",
    "transport",
    "other",
)

SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
SEVERITY_LABELS = {name: name.capitalize() for name in SEVERITIES}

# Weight at which a lone category is fully trusted; see `classify`.
CONFIDENT_WEIGHT = 4.0
# Text beyond this many characters is not searched (long summaries add little, cost a lot).
MAX_TEXT = 20_000


@dataclass(frozen=True)
class Rule:
    """Text matching `pattern` in `field` adds `weight` to `category`."""

    category: str
    pattern: str
    field: str = "any"
    weight: float = 1.0
    is_regex: bool = False


@dataclass
class Classification:
    """The winning category, the patterns that won it, and a confidence in [0, 1]."""

    category: str
    matched: list[str] = field(default_factory=list)
    confidence: float = 0.0


def _rules(category: str, weight: float, *patterns: str, where: str = "any") -> list[Rule]:
    return [Rule(category, pattern, where, weight) for pattern in patterns]


DEFAULT_RULES: tuple[Rule, ...] = (
    # protest: demonstrations, marches, strikes (English, French, German, Spanish, Italian, Portuguese)
    *_rules("protest", 3, "protest", "protester", "protestor", "demonstration", "demonstrator", "rally"),
    *_rules("protest", 3, "sit-in", "picket", "march on", "protest march"),
    *_rules("protest", 3, "manifestation", "manifestant", "manifestación", "manifestante", "manifestação"),
    *_rules("protest", 3, "Kundgebung", "Protestzug", "protesta", "huelga", "sciopero", "grève", "greve", "Streik"),
    *_rules("protest", 2, "strike", "walkout", "blockade", "occupation", "marchers"),
    *_rules("protest", 2, "march", "marched"),
    Rule("protest", r"(?<!\d\s)\bmarch\b\s+(?:\d{1,2}\b|\d{4}\b)", "any", -2, is_regex=True),
    Rule("protest", r"\b\d{1,2}\s+march\b", "any", -2, is_regex=True),
    # civil unrest
    *_rules("civil_unrest", 4, "riot", "rioting", "rioters", "looting", "looters", "unrest", "curfew"),
    *_rules("civil_unrest", 4, "civil disorder", "clashes", "tear gas", "water cannon", "state of emergency"),
    *_rules("civil_unrest", 4, "émeute", "émeutes", "disturbios", "Ausschreitungen", "Unruhen", "saqueo"),
    *_rules("civil_unrest", 2, "violent", "barricade", "coup", "martial law"),
    # crime
    *_rules("crime", 3, "shooting", "stabbing", "robbery", "carjacking", "kidnapping", "kidnap", "armed"),
    *_rules("crime", 3, "murder", "homicide", "assault", "mugging", "gunfire", "shots fired", "hostage"),
    *_rules("crime", 2, "theft", "burglary", "police operation", "arrest", "arrested", "gang", "crime"),
    *_rules("crime", 2, "fusillade", "agression", "Schießerei", "Messerangriff", "tiroteo", "secuestro"),
    # terrorism
    *_rules("terrorism", 5, "terror", "terrorist", "terrorism", "bomb", "bombing", "suicide bomber"),
    *_rules("terrorism", 5, "IED", "car bomb", "vehicle attack", "attentat", "Anschlag", "atentado"),
    *_rules("terrorism", 3, "explosion", "explosive", "blast", "suspicious package", "suspicious device"),
    *_rules("terrorism", 2, "security alert", "cordon", "explosión"),
    # weather
    *_rules("weather", 4, "storm", "hurricane", "typhoon", "cyclone", "tornado", "blizzard", "hail"),
    *_rules("weather", 4, "flood", "flooding", "flash flood", "heavy rain", "heatwave", "heat advisory"),
    *_rules("weather", 4, "snow", "ice storm", "gale", "thunderstorm", "severe weather", "freezing rain"),
    *_rules("weather", 4, "inondation", "tempête", "orage", "Unwetter", "Sturm", "Hochwasser", "Überschwemmung"),
    *_rules("weather", 4, "inundación", "tormenta", "huracán", "alluvione"),
    *_rules("weather", 2, "weather warning", "wind", "fog", "heat"),
    # natural hazard
    *_rules("natural_hazard", 5, "earthquake", "tsunami", "wildfire", "bushfire", "forest fire", "volcano"),
    *_rules("natural_hazard", 5, "volcanic", "eruption", "landslide", "mudslide", "avalanche", "aftershock"),
    *_rules("natural_hazard", 5, "séisme", "tremblement de terre", "Erdbeben", "terremoto", "sismo"),
    *_rules("natural_hazard", 5, "incendie de forêt", "Waldbrand", "incendio forestal", "drought"),
    *_rules("natural_hazard", 2, "fire", "magnitude", "chemical release", "hazardous materials", "gas leak"),
    # transport
    *_rules("transport", 4, "road closure", "road closed", "rail strike", "airport", "flight", "flights"),
    *_rules("transport", 2, "cancellation", "cancelled", "canceled", "diversion", "closure", "closed"),
    *_rules("transport", 3, "traffic", "congestion", "delays", "train", "rail", "metro", "subway", "tube"),
    *_rules("transport", 3, "bus", "ferry", "motorway", "highway", "bridge", "tunnel", "collision", "crash"),
    *_rules("transport", 3, "aéroport", "Flughafen", "aeropuerto", "Sperrung", "Stau", "corte de tráfico"),
    # health
    *_rules("health", 5, "outbreak", "cholera", "epidemic", "pandemic", "measles", "ebola", "mpox", "dengue"),
    *_rules("health", 5, "quarantine", "contamination", "food poisoning", "legionella", "air quality"),
    *_rules("health", 3, "virus", "infection", "disease", "hospital", "vaccination", "épidémie", "Ausbruch"),
    # feeds' own category words
    *_rules("protest", 3, "protest", "demonstration", where="categories"),
    *_rules("civil_unrest", 3, "civil_unrest", "civil unrest", where="categories"),
    *_rules("crime", 3, "crime", where="categories"),
    *_rules("terrorism", 3, "terrorism", where="categories"),
    *_rules("weather", 3, "weather", where="categories"),
    *_rules("natural_hazard", 3, "natural hazard", "natural_hazard", where="categories"),
    *_rules("transport", 3, "transport", "traffic", where="categories"),
    *_rules("health", 3, "health", where="categories"),
)

# Facts stated outright by CAP, GDACS and USGS, weighed as if they were rules.
CAP_CATEGORY_HINTS = {
    "met": "weather",
    "geo": "natural_hazard",
    "fire": "natural_hazard",
    "health": "health",
    "transport": "transport",
    "security": "crime",
}
GDACS_EVENT_HINTS = {
    "EQ": "natural_hazard",
    "TS": "natural_hazard",
    "VO": "natural_hazard",
    "WF": "natural_hazard",
    "DR": "natural_hazard",
    "TC": "weather",
    "FL": "weather",
}
HINT_WEIGHT = 6.0


def rule_problem(rule: Rule) -> str | None:
    """Why a rule cannot be used, or None: for the form that edits the rules table."""
    if rule.category not in CATEGORIES:
        return f"unknown category {rule.category!r}"
    if rule.field not in FIELDS:
        return f"unknown field {rule.field!r}: one of {', '.join(FIELDS)}"
    if not isinstance(rule.pattern, str) or not rule.pattern.strip():
        return "empty pattern"
    if not isinstance(rule.weight, int | float) or not math.isfinite(rule.weight) or rule.weight == 0:
        return "weight must be a non-zero number"
    if _compiled(rule.pattern, rule.is_regex) is None:
        return "the regular expression does not compile"
    return None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, is_regex: bool) -> re.Pattern | None:
    if is_regex:
        try:
            return re.compile(pattern, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError):
            return None
    words = [re.escape(word) for word in pattern.split()]
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?:e?s)?(?!\w)", re.IGNORECASE)


def _texts(item: Any) -> dict[str, str]:
    title = (getattr(item, "title", "") or "")[:MAX_TEXT]
    summary = (getattr(item, "summary_text", "") or "")[:MAX_TEXT]
    categories = "\n".join(getattr(item, "categories", None) or [])[:MAX_TEXT]
    return {
        "title": title,
        "summary": summary,
        "categories": categories,
        "any": "\n".join((title, summary, categories)),
    }


def _hints(item: Any) -> list[tuple[str, str]]:
    """(category, reason) for what CAP, GDACS and USGS data say outright."""
    hints = []
    cap = getattr(item, "cap", None) or {}
    cap_category = (cap.get("category") or "").strip().lower()
    if cap_category in CAP_CATEGORY_HINTS:
        hints.append((CAP_CATEGORY_HINTS[cap_category], f"cap:category={cap.get('category')}"))
    gdacs = getattr(item, "gdacs", None) or {}
    event_type = (gdacs.get("eventtype") or "").strip().upper()
    if event_type in GDACS_EVENT_HINTS:
        hints.append((GDACS_EVENT_HINTS[event_type], f"gdacs:eventtype={event_type}"))
    if getattr(item, "usgs", None):
        hints.append(("natural_hazard", "usgs:earthquake"))
    return hints


def classify(item: Any, rules: Iterable[Rule] = DEFAULT_RULES, default_category: str | None = None) -> Classification:
    """The category of one ParsedItem (or anything with title, summary_text, categories).

    `default_category` (else the item's own, set from its feed) is used when nothing
    matches; "other" after that. Confidence is the winner's share of all positive weight,
    scaled down while its total is under CONFIDENT_WEIGHT; a fallback has confidence 0.
    """
    texts = _texts(item)
    totals: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for rule in rules:
        if rule.category not in CATEGORIES or rule.field not in FIELDS:
            continue
        regex = _compiled(rule.pattern, rule.is_regex)
        if regex is None or not regex.search(texts[rule.field]):
            continue
        totals[rule.category] = totals.get(rule.category, 0.0) + rule.weight
        if rule.weight > 0 and rule.pattern not in matched.setdefault(rule.category, []):
            matched[rule.category].append(rule.pattern)
    for category, reason in _hints(item):
        totals[category] = totals.get(category, 0.0) + HINT_WEIGHT
        matched.setdefault(category, []).append(reason)

    positive = {category: total for category, total in totals.items() if total > 0}
    if not positive:
        return Classification(category=_fallback(item, default_category))
    best = max(positive, key=lambda category: (positive[category], -TIE_ORDER.index(category)))
    share = positive[best] / sum(positive.values())
    confidence = share * min(1.0, positive[best] / CONFIDENT_WEIGHT)
    return Classification(category=best, matched=matched.get(best, []), confidence=round(confidence, 2))


def _fallback(item: Any, default_category: str | None) -> str:
    for candidate in (default_category, getattr(item, "default_category", None)):
        if candidate in CATEGORIES:
            return candidate
    return "other"


# --------------------------------------------------------------------------- severity

CAP_SEVERITY = {"extreme": "critical", "severe": "high", "moderate": "moderate", "minor": "low", "unknown": None}
GDACS_ALERT_LEVEL = {"red": "critical", "orange": "high", "green": "low"}
# CAP messages that are not a real, live alert.
CAP_NOT_LIVE_STATUS = {"test", "exercise", "draft", "system"}
CAP_NOT_LIVE_MSG_TYPE = {"cancel"}
USGS_MAGNITUDE_STEPS: Sequence[tuple[float, str]] = ((7.0, "critical"), (6.0, "high"), (5.0, "moderate"), (4.0, "low"))


def severity_rank(severity: str | None) -> int:
    """0 (info) to 4 (critical); -1 for None or an unknown name."""
    return SEVERITY_RANK.get(severity or "", -1)


def source_severity(item: Any) -> str | None:
    """The severity a feed states itself (CAP, GDACS alert level, USGS magnitude), or None.

    When more than one is stated, the highest wins. A CAP test, exercise, draft or
    cancellation is "info", whatever severity it carries.
    """
    found = [severity for severity in (_cap_severity(item), _gdacs_severity(item), _usgs_severity(item)) if severity]
    if not found:
        return None
    return max(found, key=severity_rank)


def _cap_severity(item: Any) -> str | None:
    cap = getattr(item, "cap", None) or {}
    severity = CAP_SEVERITY.get((cap.get("severity") or "").strip().lower())
    if severity is None:
        return None
    status = (cap.get("status") or "").strip().lower()
    msg_type = (cap.get("msg_type") or "").strip().lower()
    if status in CAP_NOT_LIVE_STATUS or msg_type in CAP_NOT_LIVE_MSG_TYPE:
        return "info"
    return severity


def _gdacs_severity(item: Any) -> str | None:
    gdacs = getattr(item, "gdacs", None) or {}
    return GDACS_ALERT_LEVEL.get((gdacs.get("alertlevel") or "").strip().lower())


def _usgs_severity(item: Any) -> str | None:
    usgs = getattr(item, "usgs", None) or {}
    magnitude = usgs.get("magnitude")
    if not isinstance(magnitude, int | float) or not math.isfinite(magnitude):
        return None
    for threshold, severity in USGS_MAGNITUDE_STEPS:
        if magnitude >= threshold:
            return severity
    return "info"
