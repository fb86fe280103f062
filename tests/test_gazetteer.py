"""intel.domain.gazetteer: the offline gazetteer's look-ups by name."""

import pytest

from detail.domain import distance
from intel.domain import gazetteer

# --------------------------------------------------------------------------------------------------------
# Gazetteer look-ups


def test_gazetteer_is_built_once_per_process():
    assert gazetteer.load_gazetteer() is gazetteer.load_gazetteer()
    stats = gazetteer.gazetteer_stats()
    assert stats["cities"] > 30_000
    assert stats["countries"] > 200


def test_lookup_london_most_populous_first_and_by_country():
    places = gazetteer.lookup("London")
    assert places[0].country_code == "GB"
    assert places[0].kind == "city"
    assert places[0].latitude == pytest.approx(51.51, abs=0.01)
    assert places[0].longitude == pytest.approx(-0.13, abs=0.01)
    assert places[0].timezone == "Europe/London"
    assert "CA" in {p.country_code for p in places}
    assert [p.country_code for p in gazetteer.lookup("london", "ca")] == ["CA"]


def test_lookup_paris_france_before_texas_and_filter_by_country():
    places = gazetteer.lookup("Paris")
    assert (places[0].country_code, places[0].admin1) == ("FR", "11")
    texas = gazetteer.lookup("Paris", "US")
    assert [(p.country_code, p.admin1) for p in texas] == [("US", "TX")]


@pytest.mark.parametrize(
    ("query", "name", "country"),
    [
        ("Zürich", "Zürich", "CH"),
        ("Zurich", "Zürich", "CH"),
        ("ZURICH", "Zürich", "CH"),
        ("São Paulo", "São Paulo", "BR"),
        ("Sao Paulo", "São Paulo", "BR"),
        ("sao  paulo", "São Paulo", "BR"),
        ("Köln", "Köln", "DE"),
        ("Cologne", "Köln", "DE"),
        ("Kiev", "Kyiv", "UA"),
        ("Bogota", "Bogotá", "CO"),
        ("İzmir", "İzmir", "TR"),
    ],
)
def test_lookup_ignores_case_accents_and_finds_alternate_names(query, name, country):
    place = gazetteer.lookup(query)[0]
    assert (place.name, place.country_code) == (name, country)


def test_alternate_names_weigh_less_than_main_names():
    # Dayton, Ohio, has "Venice" among its alternate names and more people than Venice, Italy.
    assert gazetteer.lookup("Venice")[0].country_code == "IT"
    # But a big city's well-known other name beats a small place's own: Calcutta is Kolkata.
    assert gazetteer.lookup("Calcutta")[0].name == "Kolkata"


def test_countries_are_places_at_their_capital():
    france = gazetteer.lookup("France")[0]
    paris = gazetteer.lookup("Paris", "FR")[0]
    assert france.kind == "country"
    assert (france.latitude, france.longitude) == (paris.latitude, paris.longitude)
    assert france.population > 60_000_000
    assert gazetteer.lookup("United States")[0].name == "United States"
    assert gazetteer.lookup("USA")[0].country_code == "US"
    washington = gazetteer.lookup("United States")[0]
    assert distance_km(washington, gazetteer.lookup("Washington", "US")[0]) < 1


def test_unknown_names_give_nothing():
    assert gazetteer.lookup("Xyzzyville") == []
    assert gazetteer.lookup("") == []


@pytest.mark.parametrize(
    ("text", "key"),
    [("Zürich", "zurich"), ("St. John's", "st johns"), ("Stratford-upon-Avon", "stratford upon avon"), ("Ærø", "aero")],
)
def test_normalise(text, key):
    assert gazetteer.normalise(text) == key


def distance_km(a: gazetteer.Place, b: gazetteer.Place) -> float:
    return distance.distance_m(a.latitude, a.longitude, b.latitude, b.longitude) / 1000
