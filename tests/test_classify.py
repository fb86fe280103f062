"""intel.classify: categories from rules that are data, and one severity scale."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intel.domain.classify import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEFAULT_RULES,
    HINT_WEIGHT,
    SEVERITIES,
    TIE_ORDER,
    Classification,
    Rule,
    _compiled,
    _hints,
    _regex_stems,
    _required,
    classify,
    compile_rules,
    impact_phrase,
    rule_problem,
    severity_rank,
    source_severity,
)
from intel.domain.parse import parse
from intel.domain.parse.items import ParsedItem
from intel.domain.severity import REACH

FEEDS = Path(__file__).parent / "data" / "feeds"


def item(title="", summary="", categories=(), **fields) -> ParsedItem:
    return ParsedItem(
        guid="g",
        link=None,
        title=title,
        summary_html=summary,
        summary_text=summary,
        published=None,
        updated=None,
        categories=list(categories),
        **fields,
    )


def test_categories_and_labels():
    assert CATEGORIES == (
        "protest",
        "civil_unrest",
        "crime",
        "terrorism",
        "security",
        "weather",
        "natural_hazard",
        "transport",
        "health",
        "other",
    )
    assert set(CATEGORY_LABELS) == set(CATEGORIES)
    assert CATEGORY_LABELS["civil_unrest"] == "Civil unrest"
    assert CATEGORY_LABELS["security"] == "Security operation"


def test_every_category_has_a_reach():
    assert set(REACH) == set(CATEGORIES)


def test_default_rules_are_all_valid():
    assert all(rule_problem(rule) is None for rule in DEFAULT_RULES)
    assert {rule.category for rule in DEFAULT_RULES} == set(CATEGORIES) - {"other"}


@pytest.mark.parametrize(
    ("title", "category"),
    [
        ("Protest outside the embassy", "protest"),
        ("PROTESTERS gather at city hall", "protest"),
        ("Demonstration planned on Saturday", "protest"),
        ("Große Demonstration am Brandenburger Tor", "protest"),
        ("Manifestation contre la réforme", "protest"),
        ("Appel à la grève nationale", "protest"),
        ("Huelga general en Madrid", "protest"),
        ("Thousands march on parliament", "protest"),
        ("Riots after the match", "civil_unrest"),
        ("Looting reported, curfew declared", "civil_unrest"),
        ("Stabbing near the station", "crime"),
        ("Shooting in the financial district", "crime"),
        ("Bomb threat at the airport terminal", "terrorism"),
        ("Terror attack suspect arrested", "terrorism"),
        ("Hurricane makes landfall", "weather"),
        ("Severe storm warning for the coast", "weather"),
        ("Earthquake of magnitude 6.1", "natural_hazard"),
        ("Wildfire spreads towards the town", "natural_hazard"),
        ("Tsunami warning issued", "natural_hazard"),
        ("Road closure on the A40", "transport"),
        ("Rail strike: services suspended", "transport"),
        ("Cholera outbreak in the region", "health"),
    ],
)
def test_default_rules_classify(title, category):
    assert classify(item(title), DEFAULT_RULES).category == category


# Realistic titles in the languages of the feeds we read, as a tester found them.
@pytest.mark.parametrize(
    ("title", "category"),
    [
        # cordons, checkpoints, exclusion zones, police and security operations: security
        ("Police cordon in place around Whitehall", "security"),
        ("Security cordon around the conference centre", "security"),
        ("Ring of steel around the summit venue", "security"),
        ("Road closures for a security operation", "security"),
        ("Checkpoints set up on roads into the city", "security"),
        ("Exclusion zone declared around the port", "security"),
        ("Security alert: controlled explosion", "security"),
        ("Suspicious package, area cordoned off", "security"),
        ("Bomb disposal team called to suspicious vehicle", "security"),
        ("VIP motorcade: roads closed", "security"),
        ("Straßensperrung wegen Polizeieinsatz", "security"),
        ("Polizeikontrollen an den Zufahrten", "security"),
        ("Sperrzone um den Gipfel", "security"),
        ("Verdächtiger Gegenstand: Bahnhof geräumt", "security"),
        ("Colis suspect : périmètre de sécurité établi", "security"),
        ("Zone d'exclusion autour du sommet", "security"),
        ("Paquete sospechoso en la estación", "security"),
        ("Controles policiales en los accesos", "security"),
        ("Pacco sospetto, zona transennata", "security"),
        ("Posti di blocco in centro", "security"),
        ("Pacote suspeito: área isolada", "security"),
        ("Verdacht pakketje: politie zet gebied af", "security"),
        # gatherings outside ministries, embassies, parliament: protest
        ("Manifestation devant le ministère", "protest"),
        ("Rassemblement devant l'ambassade de Russie", "protest"),
        ("Kundgebung vor dem Innenministerium", "protest"),
        ("Demonstratie bij het ministerie", "protest"),
        ("Crowd gathers outside parliament", "protest"),
        ("Hundreds gather in front of the Ministry of Finance", "protest"),
        ("Vigil outside the embassy", "protest"),
        ("Concentración frente al ministerio", "protest"),
        ("Presidio davanti al ministero", "protest"),
        ("Concentração em frente ao ministério", "protest"),
        ("Betoging in Brussel", "protest"),
        ("Demo gegen Rechts am Samstag", "protest"),
        ("Marcha por la vivienda en Madrid", "protest"),
        ("Marcia per la pace", "protest"),
        # strikes: a general strike is a protest; a strike of the trains is transport
        ("General strike called for Thursday", "protest"),
        ("Grève générale le 5 décembre", "protest"),
        ("Generalstreik in Belgien", "protest"),
        ("Huelga general", "protest"),
        ("Sciopero generale", "protest"),
        ("Greve geral", "protest"),
        ("Algemene staking in België", "protest"),
        ("Sciopero generale dei trasporti", "transport"),
        ("Bahnstreik: Züge fallen aus", "transport"),
        ("Grève SNCF : trafic perturbé", "transport"),
        ("Huelga de metro en Madrid", "transport"),
        ("Greve dos comboios", "transport"),
        ("Treinstaking op maandag", "transport"),
        # unrest, crime and terrorism in other languages
        ("Scontri tra manifestanti e polizia", "civil_unrest"),
        ("Confrontos entre manifestantes e polícia", "civil_unrest"),
        ("Rellen in Rotterdam", "civil_unrest"),
        ("Couvre-feu à Nouméa", "civil_unrest"),
        ("Sparatoria a Milano", "crime"),
        ("Schietpartij in Amsterdam", "crime"),
        ("Accoltellamento alla stazione", "crime"),
        ("Esfaqueamento no metro", "crime"),
        ("Attentato a Roma", "terrorism"),
        ("Aanslag in Brussel", "terrorism"),
        ("Ataque terrorista em Lisboa", "terrorism"),
        ("Police operation after terror attack", "terrorism"),
        # hazards, transport and health in other languages
        ("Unwetterwarnung für Bayern", "weather"),
        ("Overstroming in Limburg", "weather"),
        ("Incêndio florestal no Algarve", "natural_hazard"),
        ("Incendio boschivo in Sicilia", "natural_hazard"),
        ("Aardbeving in Groningen", "natural_hazard"),
        ("Voli cancellati a Fiumicino", "transport"),
        ("Vuelos cancelados en Barajas", "transport"),
        ("Vluchten geannuleerd op Schiphol", "transport"),
        ("Epidemia di morbillo", "health"),
        ("Uitbraak van mazelen", "health"),
        # and what must stay as it was
        ("Rassemblement national: résultats du scrutin", "other"),
        ("Leaders gather for the summit dinner", "other"),
        ("Product demo at the trade fair", "other"),
    ],
)
def test_realistic_titles_in_seven_languages(title, category):
    assert classify(item(title), DEFAULT_RULES).category == category


@pytest.mark.parametrize(
    "title",
    [
        "General strike called for Thursday",
        "Grève générale le 5 décembre",
        "Generalstreik in Belgien",
        "Huelga general",
        "Sciopero generale",
        "Greve geral",
        "Algemene staking in België",
        "Straßensperrung wegen Polizeieinsatz",
        "Road closures for a security operation",
    ],
)
def test_a_general_strike_or_a_cordon_closing_roads_has_a_transport_impact(title):
    result = classify(item(title), DEFAULT_RULES)

    assert result.category != "transport" and result.impacts == ["transport"]
    assert impact_phrase(result.impacts) == "transport impact"


def test_no_impact_without_one_and_none_on_its_own_category():
    assert classify(item("Riots after the match"), DEFAULT_RULES).impacts == []
    assert classify(item("Rail strike: services suspended"), DEFAULT_RULES).impacts == []
    assert classify(item("Quarterly report"), DEFAULT_RULES).impacts == []
    assert impact_phrase([]) == ""


def test_an_impact_needs_the_impact_weight():
    rules = [Rule("protest", "march", "any", 5), Rule("transport", "bus", "any", 2)]

    assert classify(item("March by the bus stop"), rules).impacts == []
    assert classify(item("March by the bus stop"), [*rules, Rule("transport", "stop", "any", 1)]).impacts == [
        "transport"
    ]


def test_cap_security_is_a_security_operation():
    assert classify(item("Alert", cap={"category": "Security"}), DEFAULT_RULES).category == "security"


def _shouted(text: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in text)


@pytest.mark.parametrize("rule", [r for r in DEFAULT_RULES if not r.is_regex and r.weight > 0], ids=lambda r: r.pattern)
def test_every_literal_default_rule_finds_its_words_in_any_case_and_plural(rule):
    # Literal rules are looked up by their first word before their expression runs: never a match lost.
    for text in (rule.pattern, f"Update: {_shouted(rule.pattern)}s, more to follow", f"({rule.pattern}es)"):
        assert classify(item(categories=[text]) if rule.field == "categories" else item(text), [rule]).matched == [
            rule.pattern
        ], text


def test_matching_is_on_word_boundaries():
    assert classify(item("Patriot missile display"), DEFAULT_RULES).category == "other"
    assert classify(item("Riot police deployed"), DEFAULT_RULES).category == "civil_unrest"
    assert classify(item("Stormont talks resume"), DEFAULT_RULES).category == "other"


def test_march_the_month_is_not_a_protest():
    for title in ("Budget published 11 March 2025", "Conference on March 3", "Results for March 2025"):
        assert classify(item(title), DEFAULT_RULES).category == "other", title


def test_highest_total_weight_wins_and_matched_lists_the_winners_patterns():
    rules = [
        Rule("crime", "police", "any", 2),
        Rule("protest", "crowd", "any", 1),
        Rule("protest", "banners", "any", 2),
    ]

    result = classify(item("Police watch a crowd with banners"), rules)

    assert result.category == "protest"
    assert result.matched == ["crowd", "banners"]
    assert 0 < result.confidence <= 1


def test_a_rule_counts_once_however_often_it_matches():
    rules = [Rule("crime", "theft", "any", 1), Rule("protest", "strike", "any", 2)]

    assert classify(item("Theft, theft and theft at the strike"), rules).category == "protest"


def test_fields_restrict_where_a_rule_looks():
    rules = [Rule("weather", "flood", "title", 5)]

    assert classify(item("River levels", "Risk of flood tonight"), rules).category == "other"
    assert classify(item("Flood risk", "River levels"), rules).category == "weather"
    assert classify(item("x", categories=["Flood"]), [Rule("weather", "flood", "categories", 1)]).category == "weather"
    assert classify(item("Flood"), [Rule("weather", "flood", "categories", 1)]).category == "other"
    assert classify(item("x", "a flood"), [Rule("weather", "flood", "summary", 1)]).category == "weather"


def test_phrases_match_across_any_whitespace_and_plurals():
    rules = [Rule("transport", "road closure", "any", 1)]

    assert classify(item("Road\n   closures today"), rules).category == "transport"
    assert classify(item("Roadclosure"), rules).category == "other"


def test_regex_rules_and_broken_regexes():
    rules = [
        Rule("crime", r"\b\d+ (?:people )?arrested\b", "any", 3, is_regex=True),
        Rule("crime", "(", "any", 9, True),
    ]

    assert classify(item("12 people arrested overnight"), rules).category == "crime"
    assert rule_problem(rules[1]) == "the regular expression does not compile"
    assert classify(item("( ( ("), rules).category == "other"


def test_negative_weights_cancel():
    rules = [Rule("protest", "march", "any", 2), Rule("protest", "march madness", "any", -2)]

    assert classify(item("March madness tickets"), rules).category == "other"


def test_fallbacks_default_category_then_the_items_then_other():
    nothing = item("Quarterly report")

    assert classify(nothing, DEFAULT_RULES, default_category="crime") == Classification("crime", [], 0.0)
    assert classify(item("Quarterly report", default_category="health"), DEFAULT_RULES).category == "health"
    assert classify(nothing, DEFAULT_RULES).category == "other"
    assert classify(nothing, DEFAULT_RULES, default_category="not-a-category").category == "other"


def test_the_default_category_does_not_beat_a_match():
    assert classify(item("Riot downtown"), DEFAULT_RULES, default_category="weather").category == "civil_unrest"


def test_ties_go_to_the_more_serious_category():
    rules = [Rule("transport", "station", "any", 2), Rule("terrorism", "device", "any", 2)]

    assert classify(item("Device found at station"), rules).category == "terrorism"


def test_rule_problem_names_the_fault():
    assert rule_problem(Rule("fashion", "x")) == "unknown category 'fashion'"
    assert rule_problem(Rule("crime", "x", "body")).startswith("unknown field 'body'")
    assert rule_problem(Rule("crime", "   ")) == "empty pattern"
    assert rule_problem(Rule("crime", "x" * 201)) == "pattern longer than 200 characters"
    assert rule_problem(Rule("crime", "x", "any", 0)) == "weight must be a non-zero number"
    assert rule_problem(Rule("crime", "x", "any", -1)) is None


def test_unknown_categories_and_fields_in_rules_are_ignored():
    rules = [Rule("fashion", "riot", "any", 9), Rule("crime", "riot", "body", 9)]

    assert classify(item("Riot"), rules).category == "other"


@pytest.mark.parametrize(
    ("name", "categories"),
    [
        ("rss_georss_point.xml", ["protest", "protest", "other"]),
        ("cap_atom.xml", ["weather", "natural_hazard", "weather"]),
        ("gdacs.xml", ["natural_hazard", "weather"]),
        ("usgs_earthquakes.atom", ["natural_hazard"] * 3),
        # "Airport: security alert at BER ... Terminal 1 partially closed": security, with a transport impact
        ("w3c_geo.xml", ["transport", "security", "transport"]),
        ("wrong_encoding.xml", ["protest"]),
    ],
)
def test_classify_fixture_feeds(name, categories):
    parsed = parse((FEEDS / name).read_bytes())

    assert [classify(entry, DEFAULT_RULES).category for entry in parsed.items] == categories


# --------------------------------------------------------------------------- severity


def test_one_severity_scale():
    assert SEVERITIES == ("info", "low", "moderate", "high", "critical")
    assert [severity_rank(name) for name in SEVERITIES] == [0, 1, 2, 3, 4]
    assert severity_rank(None) == -1 and severity_rank("apocalyptic") == -1


@pytest.mark.parametrize(
    ("cap_severity", "expected"),
    [("Extreme", "critical"), ("Severe", "high"), ("Moderate", "moderate"), ("Minor", "low"), ("Unknown", None)],
)
def test_cap_severity(cap_severity, expected):
    assert source_severity(item(cap={"severity": cap_severity, "status": "Actual"})) == expected


def test_cap_tests_exercises_and_cancellations_are_info():
    assert source_severity(item(cap={"severity": "Extreme", "status": "Exercise"})) == "info"
    assert source_severity(item(cap={"severity": "Extreme", "status": "Test"})) == "info"
    assert source_severity(item(cap={"severity": "Severe", "msg_type": "Cancel"})) == "info"


@pytest.mark.parametrize(("level", "expected"), [("Red", "critical"), ("Orange", "high"), ("Green", "low"), ("", None)])
def test_gdacs_alert_level(level, expected):
    assert source_severity(item(gdacs={"alertlevel": level})) == expected


@pytest.mark.parametrize(
    ("magnitude", "expected"),
    [
        (8.2, "critical"),
        (7.0, "critical"),
        (6.99, "high"),
        (6.0, "high"),
        (5.0, "moderate"),
        (4.0, "low"),
        (3.9, "info"),
        (None, None),
        (float("nan"), None),
    ],
)
def test_usgs_magnitude(magnitude, expected):
    assert source_severity(item(usgs={"magnitude": magnitude})) == expected


def test_no_source_severity_without_cap_gdacs_or_usgs():
    assert source_severity(item("Protest")) is None


def test_the_highest_stated_severity_wins():
    both = item(gdacs={"alertlevel": "Green"}, usgs={"magnitude": 6.3})

    assert source_severity(both) == "high"


def test_source_severity_of_fixture_feeds():
    severities = {}
    for name in ("cap_atom.xml", "gdacs.xml", "usgs_earthquakes.atom"):
        for entry in parse((FEEDS / name).read_bytes()).items:
            severities[entry.guid] = source_severity(entry)

    assert severities["urn:oid:2.49.0.1.840.0.example.hazmat.1"] == "critical"
    assert severities["EQ1450001"] == "high"
    assert severities["TC1001150"] == "critical"
    assert severities["urn:earthquake-usgs-gov:us:7000pq3x"] == "low"
    assert severities["urn:earthquake-usgs-gov:ak:0250a1b2c3"] == "critical"
    assert severities["urn:earthquake-usgs-gov:nc:75001234"] == "info"


# ---------------------------------------------------------------- the compiled rule set is exact


def _every_rule_searched(entry, rules) -> tuple[str, list[str], list[str]]:
    """The plain reading the index must equal: every rule's expression run over its field."""
    texts = {
        "title": entry.title or "",
        "summary": entry.summary_text or "",
        "categories": "\n".join(entry.categories or []),
    }
    texts["any"] = "\n".join((texts["title"], texts["summary"], texts["categories"]))
    totals, matched = {}, {}
    for rule in rules:
        regex = _compiled(rule.pattern, rule.is_regex)
        if regex is not None and regex.search(texts[rule.field]):
            totals[rule.category] = totals.get(rule.category, 0.0) + rule.weight
            if rule.weight > 0 and rule.pattern not in matched.setdefault(rule.category, []):
                matched[rule.category].append(rule.pattern)
    for category, reason in _hints(entry):
        totals[category] = totals.get(category, 0.0) + HINT_WEIGHT
        matched.setdefault(category, []).append(reason)
    positive = {c: t for c, t in totals.items() if t > 0}
    if not positive:
        return "other", [], []
    best = max(positive, key=lambda c: (positive[c], -TIE_ORDER.index(c)))
    return best, matched.get(best, []), sorted(c for c in positive if c != best)


def _corpus() -> list[ParsedItem]:
    labelled = json.loads((Path(__file__).parent / "data" / "event_times.json").read_text())["items"]
    entries = [item(title=x["title"], summary=x["summary"]) for x in labelled]
    for path in sorted(FEEDS.iterdir()):
        entries.extend(parse(path.read_bytes()).items)
    entries.append(item("Polizeikontrolle am Hauptbahnhof", "Kontrollpunkte und STRASSENSPERRUNG in der Innenstadt"))
    entries.append(item("Colis suspect gare du Nord", "Zone d'exclusion, trains annulés; grève des cheminots"))
    entries.append(item("Mochila sospechosa en Atocha", "Operativo policial; huelga de Renfe"))
    return entries


def test_the_compiled_rules_classify_exactly_as_searching_every_rule():
    """The word and stem index only skips rules that cannot match: the category and the patterns that
    won it are those of running every rule, over the labelled set and every fixture feed."""
    entries = _corpus()
    assert len(entries) > 250
    for entry in entries:
        expected_category, expected_matched, _ = _every_rule_searched(entry, DEFAULT_RULES)
        got = classify(entry, compile_rules(DEFAULT_RULES))
        if expected_category == "other":  # nothing matched: the fallback, with nothing to show for it
            assert (got.category, got.matched, got.confidence) == ("other", [], 0.0), entry.title
            continue
        assert (got.category, got.matched) == (expected_category, expected_matched), entry.title


def test_an_expression_without_a_literal_start_is_searched_on_every_item():
    assert _regex_stems(r"\b\d{1,2}\s+march\b") is None
    assert _regex_stems(r"(?<!\d\s)\bmarch\b") is None
    assert _regex_stems(r"\b(?:ab|cde)x") is None  # "ab" is too short a stem to look up
    assert _regex_stems(r"\b(?:crowds?|gather\w*)\b") == {"crowd", "gather"}
    assert _regex_stems(r"\bannul(?:é|ée)\b") == {"annulé"}


def test_what_an_expression_requires_is_read_from_its_syntax():
    assert _required(r"\b\d{1,2}\s+march\b") == (frozenset({"march"}),)
    assert _required(r"(?<!\d\s)\bmarch\b\s+(?:\d{1,2}\b|\d{4}\b)") == (frozenset({"march"}),)
    # a choice: one string of each alternative; a repeat taken at least once brings its own
    assert _required(r"\b(?:rail|train)\s+(?:workers'?\s+)?strikes?\b") == (
        frozenset({"rail", "train"}),
        frozenset({"strike"}),
    )
    assert _required(r"(?:x|abc)def") == (frozenset({"def"}),)  # "x" is too short to be worth checking
    assert _required(r"\bK\u212aelvin") == (frozenset({"elvin"}),)  # the Kelvin sign matches "k": not required
    assert _required(r"(unclosed") == ()


# Texts made of the default rules' literal patterns and words (any case, plurals, punctuation around them)
# and phrases their expressions match, with a few non-ASCII words (where the checks before the search do
# not apply): the checks must let through every rule that matches.
_PHRASES = sorted({rule.pattern for rule in DEFAULT_RULES if not rule.is_regex}) + [
    word for rule in DEFAULT_RULES for word in rule.pattern.split() if word.isalpha()
]
_PHRASES += [
    "12 March",
    "March 2027",
    "rail workers' strike",
    "crowds gathered outside the ministry",
    "operativo policial",
    "treinstakingen",
    "Kelvin",
    "Straße",
    "ſtrike",
    "İstanbul",
    "the",
]
_TOKEN = st.tuples(
    st.sampled_from(sorted(set(_PHRASES))),
    st.sampled_from(["", "s", "es", "-in", "'"]),
    st.sampled_from([" ", ", ", ". ", "\n", "-"]),
)
_TEXT = st.lists(_TOKEN, max_size=12).map(lambda tokens: "".join(w + suffix + sep for w, suffix, sep in tokens))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_TEXT, _TEXT, st.lists(st.sampled_from(sorted(set(_PHRASES))), max_size=3), st.booleans())
def test_the_checks_before_searching_never_change_a_classification(title, summary, categories, upper):
    entry = item(title.upper() if upper else title, summary, categories)
    expected_category, expected_matched, _ = _every_rule_searched(entry, DEFAULT_RULES)
    got = classify(entry, compile_rules(DEFAULT_RULES))
    if expected_category == "other":
        assert got.category == "other"
    else:
        assert (got.category, got.matched) == (expected_category, expected_matched)
