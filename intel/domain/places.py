"""Place names found in free text (feed titles and summaries): which places a text is about.

Candidates are runs of capitalised words, looked up longest first in the gazetteer's text index; stop
names, owner nouns ("U.S. Embassy"), qualifiers ("Paris, Texas") and the text's other names decide
between a word and a town, and between towns of one name. docs/development.md ("Places and distances")
says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from intel.domain.gazetteer import MIN_NAME_LENGTH, Gazetteer, Place, TextEntry, load_gazetteer, normalise

MIN_UNSUPPORTED_POPULATION = 50_000

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

_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+|\S+@\S+\.\w+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|gov|int)\S*")
_TOKEN = re.compile(r"[^\W\d_](?:[\w'’.\-]*[^\W_])?\.?")
_QUALIFIER_GAP = re.compile(r"\s*[,(/]\s*|\s+[-–—]\s+")


@dataclass(slots=True)
class _Token:
    text: str
    key: str
    gap: str  # the text between the previous token and this one
    capitalised: bool  # its first character is upper case
    joined: bool  # only white space (or nothing) between it and the previous token

    @property
    def upper(self) -> bool:
        letters = [ch for ch in self.text if ch.isalpha()]
        return len(letters) > 1 and all(ch.isupper() for ch in letters)


@dataclass
class _Mention:
    first: int  # token indexes, end exclusive
    end: int
    key: str
    entry: TextEntry
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
        word = match.group()
        if word.endswith(("'s", "’s")):  # "London's mayor" names London
            word = word[:-2]
        gap = cleaned[previous_end : match.start()]
        key = _KEYS.get(word)
        if key is None:
            key = normalise(word)
            if len(_KEYS) < MAX_KEPT_KEYS:
                _KEYS[word] = key
        tokens.append(_Token(word, key, gap, word[:1].isupper(), not gap or gap.isspace()))
        previous_end = match.end()
    return tokens


# Each word's normalised key, kept: feeds repeat their words, and normalise is most of the tokenising.
_KEYS: dict[str, str] = {}
MAX_KEPT_KEYS = 200_000


def _mention_at(g: Gazetteer, tokens: list[_Token], first: int) -> _Mention | None:
    """The longest name in the text index that starts at `first` (a capitalised token). A name runs over
    tokens with only white space between them, each capitalised or a connector ("Rio de Janeiro"), and
    ends on a capitalised one."""
    if not tokens[first].capitalised:
        return None
    limit = min(len(tokens), first + g.max_ngram)
    reach = first + 1
    while reach < limit and tokens[reach].joined and (tokens[reach].capitalised or tokens[reach].key in _CONNECTORS):
        reach += 1
    for end in range(reach, first, -1):
        if not tokens[end - 1].capitalised:
            continue
        key = " ".join(token.key for token in tokens[first:end] if token.key)
        if len(key.replace(" ", "")) < MIN_NAME_LENGTH:
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
    if after is not None and after.key in _OWNER_NOUNS and after.joined:
        return True
    before = [t.key for t in tokens[max(0, mention.first - 3) : mention.first]]
    while before and before[-1] == "the":
        before.pop()
    return len(before) >= 2 and before[-1] == "of" and before[-2] in _OWNER_NOUNS


def _code_qualifier(g: Gazetteer, token: _Token) -> tuple[str | None, str | None]:
    """A two-letter code after a comma: "Springfield, IL", "Paris, FR"."""
    code = token.text.replace(".", "").upper()
    if len(code) != 2 or not token.upper:
        return None, None
    if code in g.state_names:
        return None, code
    if code in g.countries:
        return code, None
    return None, None


def _attach_qualifiers(g: Gazetteer, tokens: list[_Token], mentions: list[_Mention]) -> None:
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
    g = load_gazetteer()
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
            place = load_gazetteer().countries.get(mention.entry.country)
            if place is not None:
                countries.append(place)
    return list(dict.fromkeys(cities + countries))


def place_from_text(text: str, country_hint: str | None = None) -> Place | None:
    """The place a feed item's title or summary is about: its first city, else its first country."""
    places = places_from_text(text, country_hint)
    return places[0] if places else None
