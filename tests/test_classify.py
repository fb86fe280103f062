"""intel.classify: categories from rules that are data, and one severity scale."""

from pathlib import Path

import pytest

from intel.domain.classify import (
    CATEGORIES,
    CATEGORY_LABELS,
    DEFAULT_RULES,
    SEVERITIES,
    Classification,
    Rule,
    classify,
    rule_problem,
    severity_rank,
    source_severity,
)
from intel.domain.parse import parse
from intel.domain.parse.items import ParsedItem

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
        "weather",
        "natural_hazard",
        "transport",
        "health",
        "other",
    )
    assert set(CATEGORY_LABELS) == set(CATEGORIES)
    assert CATEGORY_LABELS["civil_unrest"] == "Civil unrest"


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
        ("w3c_geo.xml", ["transport", "transport", "transport"]),
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
