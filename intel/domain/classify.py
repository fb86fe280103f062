"""Categories and severity of feed items. Rules are data: the DB table of editable rules mirrors `Rule`.

A literal rule matches whole words or phrases, case-insensitively, also with a plural
"s"/"es" ("riot" matches "Riots", not "patriot"); spaces in a phrase match any run of
whitespace. A regex rule is used as written (case-insensitive); a regex that does not
compile is skipped, and `rule_problem` says why before such a rule is saved.

Each rule counts once per item, whatever the number of hits. The category with the highest
total weight wins; a negative weight can cancel a misleading word (e.g. "March" the month).
A few facts a feed states outright (a CAP category, a GDACS event type, a USGS quake) add
to the totals as if they were rules. With no match at all, the feed's default category
applies, then "other". Ties go to the more serious category (`TIE_ORDER`). A category in
IMPACT_CATEGORIES that loses but still weighs IMPACT_WEIGHT is reported as an impact of the
winner (`Classification.impacts`): a general strike is a protest with a transport impact.

What goes where: "security" is police and security operations (cordons, checkpoints, exclusion
zones, suspect packages, controlled explosions, motorcades); "protest" is gatherings, marches and
strikes; "civil_unrest" is disorder (riots, clashes, curfews); "terrorism" is attacks and threats.
"""

import functools
import math
import re
import re._parser as sre_parse  # the expression's syntax tree, read for the stems a match must begin with
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from intel.models import CATEGORIES, FIELDS, SEVERITIES, ClassificationRule

CATEGORY_LABELS = {
    "protest": "Protest",
    "civil_unrest": "Civil unrest",
    "crime": "Crime",
    "terrorism": "Terrorism",
    "security": "Security operation",
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
    "security",
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
# Categories that are also reported as an impact of another category's event when their own rules
# weigh at least IMPACT_WEIGHT: a general strike is a protest that stops the trains.
IMPACT_CATEGORIES = ("transport",)
IMPACT_WEIGHT = 3.0
IMPACT_LABELS = {"transport": "transport impact"}
# The longest pattern the rules table holds.
MAX_PATTERN = ClassificationRule.__table__.c.pattern.type.length
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
    """The winning category, the patterns that won it, a confidence in [0, 1], and what else it hits.

    `impacts` lists the IMPACT_CATEGORIES (other than the winner) whose rules weigh at least
    IMPACT_WEIGHT: ["transport"] for a general strike or a security operation closing roads.
    """

    category: str
    matched: list[str] = field(default_factory=list)
    confidence: float = 0.0
    impacts: list[str] = field(default_factory=list)


def _rules(category: str, weight: float, *patterns: str, where: str = "any") -> list[Rule]:
    return [Rule(category, pattern, where, weight) for pattern in patterns]


def _regexes(category: str, weight: float, *patterns: str) -> list[Rule]:
    return [Rule(category, pattern, "any", weight, is_regex=True) for pattern in patterns]


# In English, French, German, Spanish, Italian, Portuguese and Dutch. A cause wins over its effect:
# a security operation's own words (5) weigh as much as the road closure they cause (4 + 1) and
# win the tie (TIE_ORDER), as a terror word (5) wins over them; a cordon (3) is how police answer
# anything, so it wins only when nothing else is said. A general strike counts for transport too
# (3, the impact weight): a protest with a transport impact. A strike of the trains is transport.
DEFAULT_RULES: tuple[Rule, ...] = (
    # protest: demonstrations, marches, gatherings, strikes
    *_rules("protest", 3, "protest", "protester", "protestor", "demonstration", "demonstrator", "rally"),
    *_rules("protest", 3, "sit-in", "picket", "march on", "protest march"),
    *_rules("protest", 3, "manifestation", "manifestant", "manifestación", "manifestação"),
    Rule("protest", r"\bmanifestant[ei]\b", "any", 3, is_regex=True),  # "manifestantes" is "manifestant" + es
    *_rules("protest", 3, "Kundgebung", "Protestzug", "protesta", "huelga", "sciopero", "grève", "greve", "Streik"),
    *_rules("protest", 2, "strike", "walkout", "blockade", "occupation", "marchers"),
    *_rules("protest", 2, "march", "marched"),
    Rule("protest", r"(?<!\d\s)\bmarch\b\s+(?:\d{1,2}\b|\d{4}\b)", "any", -2, is_regex=True),
    Rule("protest", r"\b\d{1,2}\s+march\b", "any", -2, is_regex=True),
    *_rules("protest", 3, "vigil", "rassemblement", "Mahnwache", "Demonstrant", "Demonstranten", "protesto"),
    *_rules("protest", 3, "manifestazione", "corteo", "demonstratie", "betoging", "betoger", "staking"),
    Rule("protest", "Rassemblement national", "any", -3),  # a French party, not a gathering
    *_regexes(
        "protest",
        3,
        r"\b(?:crowds?|gather\w*|hundreds|thousands|activists|supporters)\b[^.\n]{0,40}\b(?:outside|in front of)\b"
        r"[^.\n]{0,30}\b(?:ministr|embass|consulate|parliament|city hall|town hall|palace|court)",
        r"\bDemos?\s+(?:gegen|für|vor|am|zum|zur)\b",
        r"\bmarche\s+(?:blanche|pour|contre)\b",
        r"\bconcentra(?:ci[oó]n|ciones|ção|ções)\s+(?:en\s+|em\s+)?(?:frente|ante|delante|diante|contra)\b",
        r"\bmarcha\s+(?:por|pela|pelo|contra|hacia|para)\b",
        r"\bpresidi[oa]?\s+(?:davanti|sotto|contro|di\s+protesta)\b",
        r"\bmarcia\s+(?:per|contro|su)\b",
        r"\bmars\s+(?:tegen|voor)\b",
    ),
    *_rules("protest", 6, "general strike", "grève générale", "Generalstreik", "huelga general", "sciopero generale"),
    *_rules("protest", 6, "greve geral", "algemene staking"),
    # civil unrest
    *_rules("civil_unrest", 4, "riot", "rioting", "rioters", "looting", "looters", "unrest", "curfew"),
    *_rules("civil_unrest", 4, "civil disorder", "clashes", "tear gas", "water cannon", "state of emergency"),
    *_rules("civil_unrest", 4, "émeute", "émeutes", "disturbios", "Ausschreitungen", "Unruhen", "saqueo"),
    *_rules("civil_unrest", 4, "affrontements", "heurts", "couvre-feu", "Krawalle", "Ausgangssperre"),
    *_rules("civil_unrest", 4, "toque de queda", "scontri", "disordini", "tumulti", "saccheggi", "coprifuoco"),
    *_rules("civil_unrest", 4, "confrontos", "distúrbios", "tumultos", "toque de recolher"),
    *_rules("civil_unrest", 4, "rellen", "ongeregeldheden", "avondklok"),
    *_rules("civil_unrest", 2, "violent", "barricade", "coup", "martial law"),
    # crime
    *_rules("crime", 3, "shooting", "stabbing", "robbery", "carjacking", "kidnapping", "kidnap", "armed"),
    *_rules("crime", 3, "murder", "homicide", "assault", "mugging", "gunfire", "shots fired", "hostage"),
    *_rules("crime", 3, "gunman", "coups de feu", "Schüsse", "Überfall", "Entführung", "enlèvement"),
    *_rules("crime", 3, "apuñalamiento", "atraco", "sparatoria", "accoltellamento", "rapina", "sequestro"),
    *_rules("crime", 3, "tiroteio", "esfaqueamento", "schietpartij", "steekpartij", "overval", "ontvoering"),
    *_rules("crime", 2, "theft", "burglary", "arrest", "arrested", "gang", "crime"),
    *_rules("crime", 2, "fusillade", "agression", "Schießerei", "Messerangriff", "tiroteo", "secuestro"),
    # terrorism
    *_rules("terrorism", 5, "terror", "terrorist", "terrorism", "bomb", "bombing", "suicide bomber"),
    *_rules("terrorism", 5, "IED", "car bomb", "vehicle attack", "attentat", "Anschlag", "atentado"),
    *_rules("terrorism", 5, "terror attack", "attentato", "aanslag"),
    Rule("terrorism", r"\bterror(?:ist|ism|anschlag|gefahr|verdacht)\w*", "any", 5, is_regex=True),
    *_rules("terrorism", 3, "explosion", "explosive", "blast"),
    *_rules("terrorism", 2, "explosión"),
    # ... but a controlled explosion or a bomb disposal team is a security operation
    *_rules("terrorism", -3, "controlled explosion"),
    *_rules("terrorism", -2, "explosión controlada"),
    *_rules("terrorism", -5, "bomb disposal", "bomb squad"),
    # security: police and security operations, checkpoints, exclusion zones, cordons, suspect objects
    *_rules("security", 5, "security operation", "police operation", "security alert", "checkpoint", "roadblock"),
    *_rules("security", 5, "road block", "exclusion zone", "security zone", "ring of steel", "motorcade"),
    *_rules("security", 5, "controlled explosion", "bomb disposal", "bomb squad", "unattended bag"),
    Rule("security", r"\bsuspicious\s+(?:package|device|item|object|vehicle|bag|parcel)s?\b", "any", 5, is_regex=True),
    *_rules("security", 5, "opération de police", "opération policière", "déminage", "démineurs", "levée de doute"),
    *_regexes(
        "security",
        5,
        r"\b(?:colis|objet|bagage|sac|véhicule|paquet)s?\s+(?:suspects?|abandonnés?)\b",
        r"\bzones?\s+(?:d['’]\s?exclusion|de\s+sécurité|interdite)s?\b",
        r"\b(?:points?\s+de\s+contrôle|barrages?\s+(?:de\s+police|policiers?|filtrants?))\b",
    ),
    *_rules("security", 5, "Polizeieinsatz", "Sperrzone", "Sperrgebiet", "Sicherheitszone", "Sicherheitsbereich"),
    *_rules("security", 5, "Kampfmittelräumdienst", "Bombenentschärfung", "Fliegerbombe", "kontrollierte Sprengung"),
    *_regexes(
        "security",
        5,
        r"\b(?:Polizeikontroll\w*|Kontroll(?:punkt|stelle|posten)\w*)",
        r"\bverdächtige[nrs]?\s+(?:Gegenst[aä]nd\w*|Koffer|Paket\w*|Rucksack|Fahrzeug\w*|Objekt\w*)",
    ),
    *_rules("security", 5, "zona de exclusión", "TEDAX", "explosión controlada"),
    *_regexes(
        "security",
        5,
        r"\b(?:operaci[oó]n|operativo|dispositivo)\s+(?:policial|de\s+seguridad)\b",
        r"\bcontrol(?:es)?\s+policiales?\b",
        r"\b(?:paquete|objeto|mochila|maleta|bolsa|veh[ií]culo)s?\s+sospechos[oa]s?\b",
    ),
    *_rules("security", 5, "operazione di polizia", "zona di esclusione", "artificieri", "brillamento controllato"),
    *_regexes(
        "security",
        5,
        r"\bpost[oi]\s+di\s+blocco\b",
        r"\b(?:pacc(?:o|hi)|oggett[oi]|borsa|valigia|zaino|auto)\s+sospett[oaie]\b",
    ),
    *_rules("security", 5, "operação policial", "zona de exclusão", "operação stop", "explosão controlada"),
    *_regexes(
        "security",
        5,
        r"\bpostos?\s+de\s+control[eo]\b",
        r"\b(?:pacote|obje[c]?to|mala|mochila|saco|viatura|veículo)s?\s+suspeit[oa]s?\b",
    ),
    *_rules("security", 5, "politieactie", "controlepost", "veiligheidszone", "gecontroleerde explosie", "EOD"),
    Rule("security", r"\bverdachte?\s+(?:pakket\w*|object\w*|tas|koffer|voertuig|auto|situatie)\b", "any", 5, True),
    *_rules("security", 3, "cordon", "cordoned", "sealed off", "security perimeter", "périmètre de sécurité"),
    *_rules("security", 3, "bouclage", "bouclé", "Absperrung", "abgesperrt", "cordón", "perímetro de seguridad"),
    *_rules("security", 3, "cordone", "perimetro di sicurezza", "cordão", "perímetro de segurança", "afzetting"),
    *_rules("security", 3, "afgezet"),
    *_regexes(
        "security",
        3,
        r"\bacordonad[oa]s?\b",
        r"\btransenn\w*",
        r"\b(?:área|zona|rua)s?\s+isolad[ao]s?\b",
        r"\bzet(?:ten)?\s+(?:het\s+|de\s+)?(?:gebied|omgeving|straat|straten|wijk|centrum)\s+af\b",
    ),
    *_rules("security", 2, "evacuated", "evacuation", "evakuiert", "Evakuierung", "geräumt", "ontruimd"),
    # weather
    *_rules("weather", 4, "storm", "hurricane", "typhoon", "cyclone", "tornado", "blizzard", "hail"),
    *_rules("weather", 4, "flood", "flooding", "flash flood", "heavy rain", "heatwave", "heat advisory"),
    *_rules("weather", 4, "snow", "ice storm", "gale", "thunderstorm", "severe weather", "freezing rain"),
    *_rules("weather", 4, "inondation", "tempête", "orage", "Unwetter", "Sturm", "Hochwasser", "Überschwemmung"),
    *_rules("weather", 4, "inundación", "tormenta", "huracán", "alluvione"),
    *_rules("weather", 4, "canicule", "Unwetterwarnung", "Gewitter", "Starkregen", "Hitzewelle", "ola de calor"),
    *_rules("weather", 4, "alluvioni", "nubifragio", "tempesta", "ondata di calore", "inundação", "inundações"),
    *_rules("weather", 4, "tempestade", "cheias", "onda de calor", "overstroming", "wateroverlast", "onweer"),
    *_rules("weather", 4, "hittegolf"),
    *_rules("weather", 2, "weather warning", "wind", "fog", "heat"),
    # natural hazard
    *_rules("natural_hazard", 5, "earthquake", "tsunami", "wildfire", "bushfire", "forest fire", "volcano"),
    *_rules("natural_hazard", 5, "volcanic", "eruption", "landslide", "mudslide", "avalanche", "aftershock"),
    *_rules("natural_hazard", 5, "séisme", "tremblement de terre", "Erdbeben", "terremoto", "sismo"),
    *_rules("natural_hazard", 5, "incendie de forêt", "Waldbrand", "incendio forestal", "drought"),
    *_rules("natural_hazard", 5, "feu de forêt", "feux de forêt", "glissement de terrain", "Erdrutsch"),
    *_rules("natural_hazard", 5, "deslizamiento", "incendio boschivo", "incendi boschivi", "frana"),
    *_rules("natural_hazard", 5, "incêndio florestal", "deslizamento", "aardbeving", "bosbrand", "aardverschuiving"),
    *_rules("natural_hazard", 2, "fire", "magnitude", "chemical release", "hazardous materials", "gas leak"),
    *_rules("natural_hazard", 2, "incendie", "incendio", "incêndio"),
    # transport
    *_rules("transport", 4, "road closure", "road closed", "roads closed", "rail strike", "airport", "flight"),
    *_rules("transport", 4, "flights"),
    *_rules("transport", 2, "cancellation", "cancelled", "canceled", "diversion"),
    # "closed" and "closure" alone say little: schools, embassies and borders close too.
    *_rules("transport", 1, "closure", "closed"),
    *_rules("transport", 3, "traffic", "congestion", "delays", "train", "rail", "metro", "subway", "tube"),
    *_rules("transport", 3, "bus", "ferry", "motorway", "highway", "bridge", "tunnel", "collision", "crash"),
    *_rules("transport", 3, "aéroport", "Flughafen", "aeropuerto", "Sperrung", "Stau", "corte de tráfico"),
    *_rules("transport", 4, "vuelo", "voli", "voo", "vluchten", "Flüge", "aeroporto", "luchthaven"),
    *_rules("transport", 3, "trafic", "Verkehr", "Zug", "Züge", "tren", "treni", "traffico", "tráfico"),
    *_rules("transport", 3, "comboio", "trânsito", "autocarro", "trein", "treinen", "verkeer", "autobus", "tram"),
    *_rules("transport", 2, "annulliert", "ausgefallen", "cancelado", "cancellati", "soppressi", "geannuleerd"),
    Rule("transport", r"\bannul(?:é|ée|és|ées)\b", "any", 2, is_regex=True),
    Rule(
        "transport",
        r"\b(?:Straßen|Strassen|Voll|Teil|Brücken|Tunnel|Autobahn|Strecken)sperrung(?:en)?\b",
        "any",
        4,
        True,
    ),
    # a strike of the trains, buses or planes is transport outright
    *_regexes(
        "transport",
        7,
        r"\b(?:rail|train|tube|metro|subway|bus|transport|transit|airport|ferry|air traffic control(?:lers)?)\s+"
        r"(?:workers'?\s+)?strikes?\b",
        r"\bgrèves?\s+(?:générale\s+)?(?:à\s+la\s+|de\s+la\s+|des\s+|du\s+)?"
        r"(?:transports?|trains?|SNCF|RATP|métro|cheminots|contrôleurs\s+aériens|aiguilleurs)\b",
        r"\b(?:Bahn|Lokführer|GDL|Verkehrs|Nahverkehrs|ÖPNV|Fluglotsen|Flughafen)-?streiks?\b"
        r"|\bStreiks?\s+(?:bei\s+der\s+Bahn|im\s+(?:Nah|Bahn)verkehr)",
        r"\bhuelgas?\s+(?:general\s+)?(?:de|del|en)\s+(?:(?:el|la|los)\s+)?"
        r"(?:transportes?|metro|Renfe|autobuses|trenes|taxis?|controladores)\b",
        r"\bscioper[oi]\s+(?:generale\s+)?(?:nazionale\s+)?(?:de[il]|degli|nei|del)\s+"
        r"(?:trasport[oi]|treni|mezzi|ferrovie|aere[oi]|autobus|tram|metro)\b",
        r"\bgreves?\s+(?:geral\s+)?(?:dos|do|da|nos|no|na|de|nas)\s+"
        r"(?:transportes?|comboios|metro|metrô|CP|autocarros|ônibus|trens|aeroportos?)\b",
        r"\b(?:trein|ov|bus|tram|metro|spoor)-?stakings?\b"
        r"|\bstakings?\s+(?:bij\s+de\s+NS|in\s+het\s+(?:openbaar\s+)?vervoer|op\s+Schiphol)",
    ),
    # a general strike stops transport too: its impact (see IMPACT_WEIGHT)
    *_rules("transport", 3, "general strike", "grève générale", "Generalstreik", "huelga general", "sciopero generale"),
    *_rules("transport", 3, "greve geral", "algemene staking"),
    # health
    *_rules("health", 5, "outbreak", "cholera", "epidemic", "pandemic", "measles", "ebola", "mpox", "dengue"),
    *_rules("health", 5, "quarantine", "contamination", "food poisoning", "legionella", "air quality"),
    *_rules("health", 5, "epidemia", "Epidemie", "morbillo", "sarampión", "sarampo", "mazelen", "Masern"),
    *_rules("health", 5, "rougeole", "colera", "cólera", "choléra"),
    *_rules("health", 3, "virus", "infection", "disease", "hospital", "vaccination", "épidémie", "Ausbruch"),
    # feeds' own category words
    *_rules("protest", 3, "protest", "demonstration", where="categories"),
    *_rules("civil_unrest", 3, "civil_unrest", "civil unrest", where="categories"),
    *_rules("crime", 3, "crime", where="categories"),
    *_rules("terrorism", 3, "terrorism", where="categories"),
    *_rules("security", 3, "security", "police", where="categories"),
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
    "security": "security",
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
    if len(rule.pattern) > MAX_PATTERN:
        return f"pattern longer than {MAX_PATTERN} characters"
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


_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=4096)
def _needed_words(pattern: str, is_regex: bool) -> frozenset[str] | None:
    """Words (lowercased) of which a text must hold one for a literal pattern to match; None: always search.

    Most rules never match most items: looking their first word up in the text's words is far cheaper
    than running their regular expressions over the whole text.
    """
    words = pattern.lower().split()
    if is_regex or not words or not _WORD.fullmatch(words[0]):
        return None
    if len(words) > 1:
        return frozenset((words[0],))
    return frozenset((words[0], words[0] + "s", words[0] + "es"))


# A regular expression that starts at a word boundary with literal text ("\\b(?:crowds?|gather\\w*)...")
# can only match a text holding a word that begins with one of those stems; stems are compared by their
# first STEM_CHARS characters (STEM_MIN at least, or the expression is searched on every item).
STEM_MIN, STEM_CHARS = 3, 6
# The shortest literal run an expression is required to hold (_required_groups): shorter ones are in
# most texts and would only cost the check.
REQUIRED_MIN = 3
# Words whose rules a RuleSet keeps (RuleSet._word_rules): a poll's vocabulary is a few thousand.
MAX_KEPT_WORDS = 100_000


def _leading_literal(nodes) -> list[str] | None:
    """The literal beginnings of a parsed expression (one per alternative), or None when one has none."""
    if not nodes:
        return None
    op, arg = nodes[0]
    if op is sre_parse.SUBPATTERN:
        return _leading_literal(list(arg[-1]))
    if op is sre_parse.BRANCH:
        stems = []
        for branch in arg[1]:
            found = _leading_literal(list(branch))
            if found is None:
                return None
            stems.extend(found)
        return stems
    text = ""
    for op, arg in nodes:
        if op is not sre_parse.LITERAL or not (chr(arg).isalnum() or chr(arg) == "_"):
            break
        text += chr(arg)
    return [text] if text else None


@functools.lru_cache(maxsize=4096)
def _regex_stems(pattern: str) -> frozenset[str] | None:
    """The stems (lowercased, at most STEM_CHARS long) a word of the text must begin with for the
    expression to match; None when the expression may match without one (it is then always searched)."""
    try:
        nodes = list(sre_parse.parse(pattern, re.IGNORECASE))
    except Exception:  # a syntax this reading does not know: search it every time
        return None
    if not nodes or nodes[0] != (sre_parse.AT, sre_parse.AT_BOUNDARY):
        return None
    stems = _leading_literal(nodes[1:])
    if not stems or any(len(stem) < STEM_MIN for stem in stems):
        return None
    return frozenset(stem.lower()[:STEM_CHARS] for stem in stems)


def _word_stems(words: frozenset[str]) -> set[str]:
    """Every beginning of STEM_MIN to STEM_CHARS characters of the words."""
    return {word[:length] for word in words for length in range(STEM_MIN, min(len(word), STEM_CHARS) + 1)}


def _required_groups(nodes) -> list[frozenset[str]]:
    """What any match of a parsed expression must contain, as groups of lowercased ASCII strings: a
    text can only match when, for every group, it holds one of the group's strings.

    Literal runs in sequence are required as they stand; a group or a repeat taken at least once
    brings its own; of a choice, each alternative's first requirement makes one group (whichever
    alternative matches, its string is there). Lookarounds, classes and the like require nothing.
    Non-ASCII literals end a run: under IGNORECASE a few of them match ASCII letters (the Kelvin
    sign matches "k").
    """
    groups: list[frozenset[str]] = []
    run = ""
    for op, arg in nodes:
        if op is sre_parse.LITERAL and arg < 128:
            run += chr(arg).lower()
            continue
        if len(run) >= REQUIRED_MIN:
            groups.append(frozenset((run,)))
        run = ""
        if op is sre_parse.SUBPATTERN:
            groups += _required_groups(list(arg[-1]))
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT) and arg[0] >= 1:
            groups += _required_groups(list(arg[2]))
        elif op is sre_parse.BRANCH:
            firsts = [_required_groups(list(branch)) for branch in arg[1]]
            if all(firsts):
                groups.append(frozenset().union(*(alternative[0] for alternative in firsts)))
    if len(run) >= REQUIRED_MIN:
        groups.append(frozenset((run,)))
    return groups


@functools.lru_cache(maxsize=4096)
def _required(pattern: str) -> tuple[frozenset[str], ...]:
    """_required_groups of an expression; () when it cannot be read (it is then always searched)."""
    try:
        return tuple(_required_groups(list(sre_parse.parse(pattern, re.IGNORECASE))))
    except Exception:  # a syntax this reading does not know
        return ()


@dataclass(frozen=True)
class _Usable:
    """A rule ready to run: its compiled expression, its place in the list (rules count in that order),
    and what an ASCII text must hold for it to match, checked before the expression is searched.

    A literal rule's words (lowercased) must all be words of the text, the last one possibly with its
    plural ending; a one-word literal whose word (or plural) is a word of an ASCII text matches it, so
    its expression need not run (`exact`). An expression's required strings (_required) must be in the
    lowercased text. Only for ASCII texts: lowercasing and IGNORECASE agree there, and only there.
    """

    order: int
    rule: Rule
    regex: re.Pattern
    words: tuple[str, ...] = ()
    exact: bool = False
    required: tuple[frozenset[str], ...] = ()

    def may_match(self, words: frozenset[str], lowered: str) -> bool:
        """False when the ASCII text (its words, its lowercased self) cannot match."""
        if self.words:
            *leading, last = self.words
            if not (last in words or last + "s" in words or last + "es" in words):
                return False
            return all(word in words for word in leading)
        return all(any(string in lowered for string in group) for group in self.required)


def _usable(order: int, rule: Rule, regex: re.Pattern) -> _Usable:
    if rule.is_regex:
        return _Usable(order, rule, regex, required=_required(rule.pattern))
    words = tuple(_WORD.findall(rule.pattern.lower()))
    exact = len(words) == 1 and words[0] == rule.pattern.lower() and rule.pattern.isascii()
    return _Usable(order, rule, regex, words=words if rule.pattern.isascii() else (), exact=exact)


class RuleSet:
    """Rules compiled once for many items: literal rules indexed by the words one of which a text must
    hold, expressions by the stems a word of the text must begin with (_regex_stems), and the rest
    searched on every item.

    A feed of 10,000 items and ~230 rules would otherwise look at every rule for every item; with the
    index an item looks only at the rules one of its words names.
    """

    def __init__(self, rules: Iterable[Rule]):
        self.by_word: dict[tuple[str, str], list[_Usable]] = {}
        self.always: dict[str, list[_Usable]] = {name: [] for name in FIELDS}
        self.by_stem: dict[str, list[tuple[frozenset[str], _Usable]]] = {name: [] for name in FIELDS}
        self._per_word: dict[tuple[str, str], tuple[_Usable, ...]] = {}  # _word_rules' answers
        for order, rule in enumerate(rules):
            if rule.category not in CATEGORIES or rule.field not in FIELDS:
                continue
            regex = _compiled(rule.pattern, rule.is_regex)
            if regex is None:
                continue
            usable = _usable(order, rule, regex)
            needed = _needed_words(rule.pattern, rule.is_regex)
            stems = _regex_stems(rule.pattern) if rule.is_regex else None
            if needed is not None:
                for word in needed:
                    self.by_word.setdefault((rule.field, word), []).append(usable)
            elif stems is not None:
                self.by_stem[rule.field].append((stems, usable))
            else:
                self.always[rule.field].append(usable)

    def candidates(self, words: dict[str, frozenset[str]]) -> list[_Usable]:
        """The rules that may match texts with these words, per field, each once, in the rules' order."""
        found: dict[int, _Usable] = {}
        for name, field_words in words.items():
            for usable in self.always.get(name, ()):
                found[usable.order] = usable
            for word in field_words:
                rules = self._per_word.get((name, word))
                for usable in self._word_rules(name, word) if rules is None else rules:
                    found[usable.order] = usable
        return [found[order] for order in sorted(found)]

    def _word_rules(self, name: str, word: str) -> tuple[_Usable, ...]:
        """The rules one word of a field brings in: those that need it, and the expressions one of whose stems
        it begins with. Kept per word: a feed's items share most of their words."""
        found = list(self.by_word.get((name, word), ()))
        if self.by_stem.get(name):
            beginnings = _word_stems(frozenset((word,)))
            found += [usable for stems, usable in self.by_stem[name] if not stems.isdisjoint(beginnings)]
        rules = tuple(found)
        if len(self._per_word) < MAX_KEPT_WORDS:
            self._per_word[(name, word)] = rules
        return rules


def compile_rules(rules: Iterable[Rule]) -> RuleSet:
    """The rules ready for `classify`: compile them once per poll, not once per item."""
    return rules if isinstance(rules, RuleSet) else RuleSet(rules)


_DEFAULT_RULE_SET = RuleSet(DEFAULT_RULES)


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


def classify(
    item: Any, rules: "Iterable[Rule] | RuleSet" = DEFAULT_RULES, default_category: str | None = None
) -> Classification:
    """The category of one ParsedItem (or anything with title, summary_text, categories).

    `rules` may be a RuleSet (compile_rules) when many items are classified with the same rules.
    `default_category` (else the item's own, set from its feed) is used when nothing
    matches; "other" after that. Confidence is the winner's share of all positive weight,
    scaled down while its total is under CONFIDENT_WEIGHT; a fallback has confidence 0.
    """
    texts = _texts(item)
    lowered = {name: text.lower() for name, text in texts.items()}
    words = {name: frozenset(_WORD.findall(lowered[name])) for name in ("title", "summary", "categories")}
    words["any"] = words["title"] | words["summary"] | words["categories"]  # "any" joins them with newlines
    ascii_fields = {name for name, text in texts.items() if text.isascii()}
    rule_set = _DEFAULT_RULE_SET if rules is DEFAULT_RULES else compile_rules(rules)
    totals: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for usable in rule_set.candidates(words):
        rule = usable.rule
        name = rule.field
        if name in ascii_fields:
            if not (
                usable.exact or (usable.may_match(words[name], lowered[name]) and usable.regex.search(texts[name]))
            ):
                continue
        elif not usable.regex.search(texts[name]):
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
    impacts = [c for c in IMPACT_CATEGORIES if c != best and positive.get(c, 0.0) >= IMPACT_WEIGHT]
    return Classification(best, matched.get(best, []), round(confidence, 2), impacts)


def impact_phrase(impacts: Iterable[str] | None) -> str:
    """Impacts in words for a reason ("transport impact"), or "" when there are none."""
    return ", ".join(IMPACT_LABELS.get(impact, impact) for impact in impacts or ())


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
