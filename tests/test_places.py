"""intel.domain.places: the places named in feed text."""

import pytest

from intel.domain import gazetteer
from intel.domain.places import place_from_text, places_from_text

# --------------------------------------------------------------------------------------------------------
# Places in free text


def where(place: gazetteer.Place | None) -> tuple[str, str, str] | None:
    return None if place is None else (place.name, place.country_code, place.admin1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Demonstration alert: protests expected near Trafalgar Square, London on Saturday", ("London", "GB", "ENG")),
        ("U.S. Embassy Paris – Demonstration Alert", ("Paris", "FR", "11")),
        ("Security Alert: U.S. Embassy Bogotá, Colombia", ("Bogotá", "CO", "34")),
        ("Embassy of the United States in Paris warns of strikes", ("Paris", "FR", "11")),
        ("Protest planned in Paris, Texas on Sunday", ("Paris", "US", "TX")),
        ("Rally in Springfield, IL tomorrow", ("Springfield", "US", "IL")),
        ("Rally in Portland, Maine", ("Portland", "US", "ME")),
        ("Atlanta, Georgia: march downtown", ("Atlanta", "US", "GA")),
        ("Marches in Rio de Janeiro and São Paulo", ("Rio de Janeiro", "BR", "21")),
        ("Rally planned in New York on Friday", ("New York City", "US", "NY")),
        ("Protest in Washington, D.C. on Saturday", ("Washington", "US", "DC")),
        ("Road blocks reported around Kiev", ("Kyiv", "UA", "12")),
        ("TAXI STRIKE: MUNICH AIRPORT ACCESS DISRUPTED", ("Munich", "DE", "02")),  # headlines in capitals
        ("Clashes in Nice, France after the match", ("Nice", "FR", "93")),
        ("Protests across France over pension reform", ("France", "FR", "")),
        ("Alert for U.S. Citizens in Paris", ("Paris", "FR", "11")),
        ("London's mayor bans Saturday's march", ("London", "GB", "ENG")),
        ("Strike at Frankfurt airport", ("Frankfurt am Main", "DE", "05")),
    ],
)
def test_place_from_text(text, expected):
    assert where(place_from_text(text)) == expected


def test_ambiguity_resolved_by_other_names_in_the_text():
    # Eight Springfields in the data; Missouri's is the biggest. The state named elsewhere decides.
    assert where(place_from_text("protest in Springfield near the Illinois State Capitol")) == (
        "Springfield",
        "US",
        "IL",
    )
    assert where(place_from_text("Springfield")) == ("Springfield", "US", "MO")
    # Another city of the same country: Paris next to Dallas is the Texan one.
    assert where(place_from_text("Marches in Paris and Dallas")) == ("Paris", "US", "TX")
    # A country named elsewhere: London next to Toronto and Canada.
    assert where(place_from_text("Vigil in London tonight; Toronto police on alert across Canada")) == (
        "London",
        "CA",
        "08",
    )


def test_country_hint_comes_first():
    assert where(place_from_text("Demonstration in Paris", country_hint="US")) == ("Paris", "US", "TX")
    assert where(place_from_text("Demonstration in Paris", country_hint="fr")) == ("Paris", "FR", "11")
    assert where(place_from_text("Demonstration in Paris")) == ("Paris", "FR", "11")
    # A hint with no candidate in that country does not stop the name from being placed.
    assert where(place_from_text("Demonstration in Paris", country_hint="JP")) == ("Paris", "FR", "11")
    # The hint is enough support for a small town.
    assert place_from_text("Sit-in at the town hall in Ferguson") is None
    assert where(place_from_text("Sit-in at the town hall in Ferguson", country_hint="US")) == (
        "Ferguson",
        "US",
        "MO",
    )


def test_places_from_text_lists_every_place_cities_first():
    places = places_from_text("Strikes in France: marches in Lyon, then Paris and Marseille")
    assert [(p.name, p.kind) for p in places] == [
        ("Lyon", "city"),
        ("Paris", "city"),
        ("Marseille", "city"),
        ("France", "country"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Nice weather for Reading the Mobile police report.",
        "Of course the Man from the Police said so.",
        "The meeting went well and everyone agreed.",
        "The President met the Prime Minister on Monday to discuss the Budget and the Economy.",
        "Demonstration Alert – Best Practices For Travelers",
        "Name And Shame: Gold Prices Hang Lower As Luck Runs Out",
        "Martin said the March was Best Practice.",
        "Tours of the Temple resume after Union talks",
        "Independence Day Parade: Police Advise Delays in the Central Business District",
        "Surprise inspection at the Mission; Spring Sale cancelled",
        "Man arrested after Split decision sparks anger",
    ],
)
def test_no_place_in_ordinary_sentences(text):
    assert places_from_text(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Details at https://example.com/Paris/London-protest-route",
        "See www.Berlin.de/Demonstrationen for the list",
        "Write to London.Office@example.org for updates",
        "Source: reuters.com/world/Madrid",
    ],
)
def test_names_inside_urls_are_ignored(text):
    assert place_from_text(text) is None


def test_url_next_to_a_real_name():
    text = "Demonstrations in Madrid (https://example.com/Paris/Berlin)"
    assert [p.name for p in places_from_text(text)] == ["Madrid"]


@pytest.mark.parametrize("text", ["", "   ", "lowercase london and paris are not names here", "Xyzzy Plugh", "12345"])
def test_unplaceable_text_gives_none(text):
    assert place_from_text(text) is None


def test_a_qualifier_that_fits_no_candidate_drops_the_name():
    # Berlin, New Hampshire, has 10,000 people: not in the data, and not the German capital either.
    assert place_from_text("Protest in Berlin, New Hampshire") is None
    assert where(place_from_text("Protest in Berlin")) == ("Berlin", "DE", "16")


def test_small_towns_need_support():
    # "Best" is a Dutch town of 29,000, "Gap" a French one of 42,000: words, unless the text says otherwise.
    assert place_from_text("Gap between rich and poor widens") is None
    assert where(place_from_text("Farmers block roads near Gap, France")) == ("Gap", "FR", "93")
