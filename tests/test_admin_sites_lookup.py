"""The venue form's position from the intel gazetteer: look-up, other places, time zone from the position."""

import html
import re

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import Site

CITY_LEVEL = "city-level position: move the pin or type the exact coordinates of the venue"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Site))


def value_of(page: str, name: str) -> str:
    """The value an input of the page holds (the page as text, entities decoded)."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    assert tag, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def choices(page: str) -> dict[str, str]:
    """The other places offered after a look-up: label -> the value its button posts."""
    return {
        label.strip(): value
        for value, label in re.findall(r'<button type="submit" name="pick" value="(\d+)"[^>]*>([^<]+)</button>', page)
    }


def form_of(page: str) -> dict[str, str]:
    names = ["name", "address", "latitude", "longitude", "arrival_radius_m", "timezone", "lookup", "lookup_zone"]
    return {n: value_of(page, n) for n in names if f'name="{n}"' in page}


@pytest.fixture
def coordinator(world, as_user):
    return as_user(world.coordinator)


def venue(**overrides) -> dict[str, str]:
    data = {
        "name": "Hôtel Lutetia",
        "address": "Paris, France",
        "latitude": "",
        "longitude": "",
        "arrival_radius_m": "100",
        "timezone": "Europe/London",  # the organisation's zone, which the form starts with
    }
    return {**data, **overrides}


def test_the_form_lets_the_browser_send_empty_coordinates_and_zone(world, coordinator):
    page = coordinator.get("/admin/sites/new").get_data(as_text=True)
    for name in ("latitude", "longitude", "timezone"):
        tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page).group(0)
        assert "required" not in tag, tag
    assert 'id="site-map"' in page and "js/site_form.js" in page


def test_lookup_fills_coordinates_and_zone_without_saving_then_saving_works(world, coordinator):
    before = count()
    r = coordinator.post("/admin/sites/new", data=venue())
    assert r.status_code == 200
    page = text(r)
    assert "Found Paris, France — check the position and save" in page
    assert CITY_LEVEL in page
    assert "Time zone set to Europe/Paris." in page
    data = form_of(page)
    assert (float(data["latitude"]), float(data["longitude"])) == pytest.approx((48.853, 2.349), abs=0.01)
    assert data["timezone"] == "Europe/Paris"
    assert (data["name"], data["address"], data["arrival_radius_m"]) == ("Hôtel Lutetia", "Paris, France", "100")
    assert count() == before

    # The coordinator types the venue's own position over the city centre's, and saves.
    r = coordinator.post("/admin/sites/new", data={**data, "latitude": "48.85118", "longitude": "2.32713"})
    assert r.status_code == 302
    site = db.session.scalars(sa.select(Site).where(Site.name == "Hôtel Lutetia")).one()
    assert (site.latitude, site.longitude, site.timezone) == (48.85118, 2.32713, "Europe/Paris")
    assert (site.address, site.arrival_radius_m, site.organisation_id) == ("Paris, France", 100, world.org.id)


@pytest.mark.parametrize(
    ("address", "label", "zone"),
    [
        ("Trafalgar Square, London", "London, United Kingdom", "Europe/London"),
        ("Springfield, IL", "Springfield, Illinois, United States", "America/Chicago"),
    ],
)
def test_addresses_and_qualified_places_are_found(world, coordinator, address, label, zone):
    r = coordinator.post("/admin/sites/new", data=venue(address=address))
    assert r.status_code == 200
    page = text(r)
    assert f"Found {label} — check the position and save" in page
    assert value_of(page, "timezone") == zone


def test_the_name_is_looked_up_when_there_is_no_address(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(name="ExCeL London", address=""))
    assert r.status_code == 200
    assert "Found London, United Kingdom" in text(r)
    assert count() == 3


def test_choosing_another_place(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(name="Paris Conference Centre", address="Paris"))
    assert r.status_code == 200
    page = text(r)
    assert "Found Paris, France" in page
    offered = choices(page)
    assert 1 <= len(offered) <= 5
    texas = next(value for label, value in offered.items() if label.startswith("Paris, Texas, United States"))

    r = coordinator.post("/admin/sites/new", data={**form_of(page), "pick": texas})
    assert r.status_code == 200
    page = text(r)
    assert "Found Paris, Texas, United States — check the position and save" in page
    data = form_of(page)
    assert (float(data["latitude"]), float(data["longitude"])) == pytest.approx((33.66, -95.56), abs=0.01)
    # The zone the first look-up filled in was the gazetteer's: it follows the place chosen.
    assert data["timezone"] == "America/Chicago"
    assert any(label.startswith("Paris, France") for label in choices(page))  # the first place is on offer now
    assert count() == 3

    r = coordinator.post("/admin/sites/new", data=data)
    assert r.status_code == 302
    site = db.session.scalars(sa.select(Site).where(Site.name == "Paris Conference Centre")).one()
    assert (site.latitude, site.timezone) == (pytest.approx(33.66, abs=0.01), "America/Chicago")


def test_a_zone_the_coordinator_typed_is_kept(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(timezone="Asia/Tokyo"))
    assert r.status_code == 200
    page = text(r)
    assert value_of(page, "timezone") == "Asia/Tokyo"
    assert "The time zone stays Asia/Tokyo as typed, though this place is in Europe/Paris." in page


def test_a_stale_choice_is_refused(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(lookup="Paris", pick="99"))
    assert r.status_code == 400
    assert "no longer on offer" in text(r)
    assert count() == 3


def test_unknown_place_is_refused_and_nothing_saved(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(name="Grand Hotel", address="Nowhere Special Xyzzy"))
    assert r.status_code == 400
    page = text(r)
    assert "No place called “Nowhere Special Xyzzy” in the gazetteer; enter latitude and longitude" in page
    assert count() == 3


def test_nothing_to_look_up_is_refused(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(name="", address=""))
    assert r.status_code == 400
    assert "Type an address or place to look up, or enter latitude and longitude." in text(r)
    assert count() == 3


def test_lookup_still_checks_the_other_fields(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(name="", arrival_radius_m="0"))
    assert r.status_code == 400
    page = text(r)
    assert "Found Paris, France" in page and "The radius must be between 1 and 100000 metres." in page
    assert count() == 3


@pytest.mark.parametrize(("given", "missing"), [("latitude", "longitude"), ("longitude", "latitude")])
def test_one_coordinate_is_refused(world, coordinator, given, missing):
    r = coordinator.post("/admin/sites/new", data=venue(**{given: "48.85"}))
    assert r.status_code == 400
    page = text(r)
    assert "Give both latitude and longitude, or leave both empty to look the address up." in page
    assert "Found" not in page
    assert count() == 3


def test_zone_is_filled_from_the_coordinates(world, coordinator):
    r = coordinator.post(
        "/admin/sites/new",
        data=venue(name="Lotte Palace", address="", latitude="40.758", longitude="-73.975", timezone=""),
    )
    assert r.status_code == 302
    site = db.session.scalars(sa.select(Site).where(Site.name == "Lotte Palace")).one()
    assert (site.latitude, site.longitude, site.timezone) == (40.758, -73.975, "America/New_York")


def test_zone_from_bad_coordinates_is_refused(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(latitude="91", longitude="0", timezone=""))
    assert r.status_code == 400
    page = text(r)
    assert "Latitude must be between -90 and 90." in page and "Type a time zone" in page
    assert count() == 3


def test_a_typed_zone_is_still_checked(world, coordinator):
    r = coordinator.post("/admin/sites/new", data=venue(latitude="48.85", longitude="2.35", timezone="Mars/Base"))
    assert r.status_code == 400
    assert "Not a known time zone" in text(r)
    assert count() == 3


def test_editing_a_venue_can_look_it_up_anew(world, coordinator):
    hotel = world.hotel
    data = venue(name=hotel.name, address="Zürich", arrival_radius_m="150", timezone=hotel.timezone)
    r = coordinator.post(f"/admin/sites/{hotel.id}/edit", data=data)
    assert r.status_code == 200
    page = text(r)
    assert "Found Zürich, Switzerland" in page
    assert value_of(page, "timezone") == "Europe/Zurich"  # the stored zone counts as untouched
    assert (hotel.latitude, hotel.longitude, hotel.timezone) == (51.5101, -0.1340, "Europe/London")

    r = coordinator.post(f"/admin/sites/{hotel.id}/edit", data=form_of(page))
    assert r.status_code == 302
    assert (hotel.latitude, hotel.timezone, hotel.address) == (
        pytest.approx(47.37, abs=0.01),
        "Europe/Zurich",
        "Zürich",
    )


def test_editing_to_an_unknown_place_keeps_the_stored_venue(world, coordinator):
    hotel = world.hotel
    data = venue(name=hotel.name, address="Nowhere Special Xyzzy", timezone=hotel.timezone)
    r = coordinator.post(f"/admin/sites/{hotel.id}/edit", data=data)
    assert r.status_code == 400
    assert (hotel.latitude, hotel.longitude, hotel.address) == (51.5101, -0.1340, "")
